package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// signedTransfer is a transfer request signed by key.
func signedTransfer(key ed25519.PrivateKey, buyer string, amount uint64, id string) *cohortv1.TransferPayoutRequest {
	pub := key.Public().(ed25519.PublicKey)
	sig := attest.Sign(key, attest.PayoutTransfer{PayoutKey: [32]byte(pub), BuyerID: buyer, Amount: amount, TransferID: id})
	return &cohortv1.TransferPayoutRequest{PayoutKey: pub, BuyerId: buyer, Amount: amount, TransferId: id, Signature: sig}
}

// wantPayoutLedger checks a payout account and a buyer's balance on every
// node.
func (f *testFederation) wantPayoutLedger(t *testing.T, what string, key ed25519.PublicKey, credited, transferred uint64, buyer string, buyerCredited uint64) {
	t.Helper()
	for i, tn := range f.nodes {
		p, err := tn.store.GetPayout(context.Background(), [32]byte(key))
		if err != nil || p.Credited != credited || p.Transferred != transferred {
			t.Fatalf("%s: node %d: payout %+v (%v), want credited %d, transferred %d", what, i, p, err, credited, transferred)
		}
		b, err := tn.store.BuyerBalance(context.Background(), buyer)
		if err != nil || b.Credited != buyerCredited {
			t.Fatalf("%s: node %d: buyer %s balance %+v (%v), want credited %d", what, i, buyer, b, err, buyerCredited)
		}
	}
}

// testDescriptor is the federation as a contributor pins it: enough of it
// to check the nodes' signatures.
func (f *testFederation) testDescriptor() *federation.Descriptor {
	d := &federation.Descriptor{Name: "test"}
	for i, m := range f.nodes[0].opts.Members {
		d.Nodes = append(d.Nodes, federation.NodeEntry{Index: uint32(i), Name: m.Name, APIAddress: m.APIAddress, SigningPublicKey: m.Signing})
	}
	return d
}

// TestTransferPayout claims a priced job's reward on three nodes, then
// moves part of the payout account to a buyer's balance at a node that is
// not the sequencer: the account is debited and the buyer credited on
// every node, and the ledgers agree. A bad signature, more than the
// balance, an unknown buyer, a replay and a zero amount are refused with
// nothing changed on any node. Every node signs a statement of the
// account that verifies against the federation's keys; a tampered one
// does not.
func TestTransferPayout(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and claims and runs a federation")
	}
	f := newTestFederation(t, 3)
	const price, fee = 3, 10
	desc := f.installPricedDataset(t, price, fee)
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())
	counted := f.contributeFour(t, desc.GetId())
	alice := f.buyer(t, 0, "alice")
	f.credit(t, 0, "alice-1", "alice", price*testSchema().MaxCohort+fee)
	spec := &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "transfers-1"})
	if err != nil {
		t.Fatal(err)
	}
	done, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
	if done.GetState() != cohortv1.JobState_JOB_STATE_DONE || done.GetCohortSize() != 4 {
		t.Fatalf("job %s over %d records: %s", done.GetState(), done.GetCohortSize(), done.GetReason())
	}
	jobID := done.GetJobId()
	charged := f.balances(t, "alice")[0]
	f.buyer(t, 0, "bob")

	// Two counted contributors claim into one payout account.
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	job := f.claimJob(t, jobID)
	for i := range 2 {
		if _, err := f.contributor(i).ClaimReward(ctx, f.proveClaim(t, job, counted[i].secret, cur, pub)); err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	f.wantPayoutLedger(t, "after the claims", pub, 2*price, 0, "bob", 0)

	// Through the client, at node 1: forwarded to the sequencer and
	// recorded on every node.
	cl, err := client.Dial(f.nodes[1].api, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	const moved = 4
	resp, err := cl.TransferPayout(ctx, key, "bob", moved, "tr-1")
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.GetPayout(); p.GetCredited() != 2*price || p.GetTransferred() != moved || p.GetBalance() != 2*price-moved || resp.GetTransferredAt() == nil {
		t.Fatalf("transfer: %v", resp)
	}
	f.wantPayoutLedger(t, "after the transfer", pub, 2*price, moved, "bob", moved)
	f.awaitBalances(t, "the transfer left alice alone", "alice", charged)
	f.checkAgree(t, 2)

	// Refusals, at every node, change nothing anywhere.
	_, otherKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := signedTransfer(otherKey, "bob", 1, "tr-forged")
	forged.PayoutKey = pub
	for i := range f.nodes {
		for _, c := range []struct {
			name string
			req  *cohortv1.TransferPayoutRequest
			code codes.Code
		}{
			{"a signature by another key", forged, codes.PermissionDenied},
			{"a signature over another amount", func() *cohortv1.TransferPayoutRequest {
				r := signedTransfer(key, "bob", 1, "tr-edited")
				r.Amount = 2
				return r
			}(), codes.PermissionDenied},
			{"more than the balance", signedTransfer(key, "bob", 2*price-moved+1, "tr-much"), codes.FailedPrecondition},
			{"an unknown buyer", signedTransfer(key, "carol", 1, "tr-carol"), codes.NotFound},
			{"a replay", signedTransfer(key, "bob", moved, "tr-1"), codes.AlreadyExists},
			{"a zero amount", signedTransfer(key, "bob", 0, "tr-zero"), codes.InvalidArgument},
			{"a malformed transfer id", signedTransfer(key, "bob", 1, "tr/1"), codes.InvalidArgument},
		} {
			_, err := f.contributor(i).TransferPayout(ctx, c.req)
			wantCode(t, fmt.Sprintf("%s at node %d", c.name, i), err, c.code)
		}
	}
	f.wantPayoutLedger(t, "after refusals", pub, 2*price, moved, "bob", moved)
	for i, tn := range f.nodes {
		if _, err := tn.store.GetPayoutTransfer(ctx, "tr-much"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("node %d stored a refused transfer: %v", i, err)
		}
	}
	// Only the sequencer orders transfers, and only it sends them.
	_, err = call(ctx, f.nodes[1].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.StorePayoutTransferResponse, error) {
		return c.StorePayoutTransfer(ctx, &cohortv1.StorePayoutTransferRequest{Transfer: signedTransfer(key, "bob", 1, "tr-peer"), TransferredAt: time.Now().Unix()})
	})
	wantCode(t, "a transfer stored by a node that is not the sequencer", err, codes.PermissionDenied)
	_, err = call(ctx, f.nodes[1].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.OrderPayoutTransferResponse, error) {
		return c.OrderPayoutTransfer(ctx, &cohortv1.OrderPayoutTransferRequest{Transfer: signedTransfer(key, "bob", 1, "tr-order")})
	})
	wantCode(t, "a transfer ordered at a node that is not the sequencer", err, codes.FailedPrecondition)
	f.wantPayoutLedger(t, "after transfers sent to the wrong node", pub, 2*price, moved, "bob", moved)
	if _, err := cl.PayoutStatement(ctx, pub); !errors.Is(err, client.ErrNoFederation) {
		t.Fatalf("a statement without a pinned federation: %v", err)
	}

	// Every node signs its statement of the account.
	fed := f.testDescriptor()
	for i := range f.nodes {
		r, err := f.contributor(i).SignPayoutStatement(ctx, &cohortv1.SignPayoutStatementRequest{PayoutKey: pub})
		if err != nil {
			t.Fatal(err)
		}
		st := r.GetStatement()
		if st.GetNodeIndex() != uint32(i) || st.GetCredited() != 2*price || st.GetClaims() != 2 {
			t.Fatalf("node %d's statement: %v", i, st)
		}
		if err := client.VerifyPayoutStatement(fed, pub, st); err != nil {
			t.Fatalf("node %d's statement: %v", i, err)
		}
		for name, tamper := range map[string]func(s *cohortv1.PayoutStatement){
			"balance":      func(s *cohortv1.PayoutStatement) { s.Balance++; s.Credited++ },
			"time":         func(s *cohortv1.PayoutStatement) { s.At++ },
			"node":         func(s *cohortv1.PayoutStatement) { s.NodeIndex = (s.NodeIndex + 1) % 3 },
			"signature":    func(s *cohortv1.PayoutStatement) { s.Signature[0] ^= 1 },
			"inconsistent": func(s *cohortv1.PayoutStatement) { s.Balance++ },
		} {
			bad := cloneStatement(st)
			tamper(bad)
			if err := client.VerifyPayoutStatement(fed, pub, bad); !errors.Is(err, client.ErrBadStatement) {
				t.Fatalf("node %d's statement with another %s: %v", i, name, err)
			}
		}
		if err := client.VerifyPayoutStatement(fed, otherKey.Public().(ed25519.PublicKey), st); !errors.Is(err, client.ErrBadStatement) {
			t.Fatalf("node %d's statement for another key: %v", i, err)
		}
	}
}

func cloneStatement(s *cohortv1.PayoutStatement) *cohortv1.PayoutStatement {
	return proto.Clone(s).(*cohortv1.PayoutStatement)
}

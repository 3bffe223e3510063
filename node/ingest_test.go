package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
)

func wantCode(t *testing.T, what string, err error, code codes.Code) {
	t.Helper()
	t.Logf("%s: %v", what, err)
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
	if code != codes.OK && status.Convert(err).Message() == "" {
		t.Fatalf("%s: status without a message", what)
	}
}

func (f *testFederation) wantStored(t *testing.T, want uint64) {
	t.Helper()
	if got := f.stored(t); !slices.Equal(got, []uint64{want, want, want}) {
		t.Fatalf("stored per node = %v, want %d everywhere", got, want)
	}
}

func TestContributeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records")
	}
	f := newTestFederation(t, 3)
	desc := f.installDataset(t)
	ctx := context.Background()

	// Registration through a node that is not the sequencer: every node
	// has the same root afterwards.
	c := f.register(t, 2)
	roots := map[string]bool{}
	for i := range f.nodes {
		mp, err := f.contributor(i).GetMembershipPath(ctx, &cohortv1.GetMembershipPathRequest{MemberIndex: c.index})
		if err != nil {
			t.Fatal(err)
		}
		roots[string(mp.GetRoot())] = true
	}
	if len(roots) != 1 {
		t.Fatalf("nodes disagree on the registry root: %d roots", len(roots))
	}

	payload := f.payload(t, c, 1, payloadOptions{})
	resp, err := f.contributor(1).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetReceipt()
	digest := sha256.Sum256(payload)
	if len(r.GetAcks()) != 3 || !bytes.Equal(r.GetPayloadDigest(), digest[:]) || r.GetStatus() != cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED {
		t.Fatalf("receipt = %v", r)
	}
	for i, a := range r.GetAcks() {
		st := attest.ContributionAck{DatasetID: desc.GetId(), Nullifier: [32]byte(r.GetNullifier()), PayloadDigest: digest, Node: uint32(i), StoredAt: a.GetStoredAt()}
		if err := attest.Verify(desc.GetNodes()[i].GetSigningPublicKey(), st, a.GetSignature().GetSignature()); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	f.wantStored(t, 1)

	// Each node holds only its own share, which opens with its key.
	for _, tn := range f.nodes {
		row, err := tn.store.GetContribution(ctx, desc.GetId(), [32]byte(r.GetNullifier()))
		if err != nil || len(row.Share) == 0 {
			t.Fatalf("node %d: %v", tn.opts.Index, err)
		}
	}

	// Replay: the identical payload, to another node, gives the same receipt.
	again, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(again.GetReceipt(), r) {
		t.Fatalf("retry receipt differs:\n%v\n%v", again.GetReceipt(), r)
	}
	// A different payload with the same nullifier (same person, dataset,
	// epoch; another record) is AlreadyExists, with the receipt attached.
	other := f.payload(t, c, 0, payloadOptions{record: schema.Record{
		"age": schema.IntValue(41), "steps": schema.IntValue(100), "resting_hr": schema.IntValue(70),
		"sleep_h": schema.ScaledValue(600, 2), "smoker": schema.BoolValue(true), "region": schema.CategoryValue("west"),
	}})
	for i := range f.nodes {
		_, err = f.contributor(i).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: other})
		wantCode(t, "same nullifier, other payload", err, codes.AlreadyExists)
	}
	if d := status.Convert(err).Details(); len(d) != 1 || !proto.Equal(d[0].(*cohortv1.Receipt), r) {
		t.Fatalf("AlreadyExists details = %v", d)
	}
	f.wantStored(t, 1)

	rec, err := f.contributor(2).GetReceipt(ctx, &cohortv1.GetReceiptRequest{DatasetId: desc.GetId(), Nullifier: r.GetNullifier()})
	if err != nil || !proto.Equal(rec.GetReceipt(), r) {
		t.Fatalf("GetReceipt = %v, %v", rec, err)
	}

	// Revocation by token, recorded and signed on every node.
	rt := feBytes(circuits.RevocationTokenOf(c.secret, circuits.DatasetField(desc.GetId()), r.GetEpoch()))
	rv, err := f.contributor(0).Revoke(ctx, &cohortv1.RevokeRequest{DatasetId: desc.GetId(), RevocationToken: rt[:]})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rv.GetNullifier(), r.GetNullifier()) || len(rv.GetSignatures()) != 3 {
		t.Fatalf("revoke = %v", rv)
	}
	for i, sig := range rv.GetSignatures() {
		st := attest.Revocation{DatasetID: desc.GetId(), Nullifier: [32]byte(rv.GetNullifier()), RevokedAt: rv.GetRevokedAt()}
		if err := attest.Verify(desc.GetNodes()[i].GetSigningPublicKey(), st, sig.GetSignature()); err != nil {
			t.Fatalf("revocation signature %d: %v", i, err)
		}
	}
	for _, tn := range f.nodes {
		row, err := tn.store.GetContribution(ctx, desc.GetId(), [32]byte(r.GetNullifier()))
		if err != nil || !row.Revoked() {
			t.Fatalf("node %d: not revoked: %v", tn.opts.Index, err)
		}
	}
	var wrong fr.Element
	wrong.SetUint64(7)
	wb := wrong.Bytes()
	_, err = f.contributor(1).Revoke(ctx, &cohortv1.RevokeRequest{DatasetId: desc.GetId(), RevocationToken: wb[:]})
	wantCode(t, "revoke with a wrong token", err, codes.NotFound)
}

func TestContributeRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records")
	}
	f := newTestFederation(t, 3)
	desc := f.installDataset(t)
	ctx := context.Background()
	c := f.register(t, 0)
	good := f.payload(t, c, 0, payloadOptions{})
	send := func(p []byte) error {
		_, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: p})
		return err
	}
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x01
		return b
	}
	// Locate the parts of the payload to flip a byte in each.
	dec, err := mpc.UnmarshalPayload(good, mpc.PayloadLimits{Nodes: 3, Len: testSchema().Layout().Len})
	if err != nil {
		t.Fatal(err)
	}
	pubBytes, _ := dec.Public.MarshalBinary()
	proofBytes, _ := dec.Proof.MarshalBinary()
	at := func(part []byte) int {
		i := bytes.Index(good, part)
		if i < 0 {
			t.Fatal("part not found in payload")
		}
		return i
	}
	// Public input encoding: version, count, dataset (32), epoch (8), root
	// (32), nullifier (32), purposes (8): the purposes' low byte is at 112.
	purposesLow := at(pubBytes) + 2 + 32 + 8 + 32 + 32 + 7
	cases := []struct {
		name    string
		payload []byte
		code    codes.Code
	}{
		{"byte flipped in a public input (purposes)", flip(purposesLow), codes.InvalidArgument},
		{"byte flipped in the proof", flip(at(proofBytes) + 40), codes.InvalidArgument},
		{"byte flipped in node 0's sealed share", flip(at(dec.Sealed[0]) + 100), codes.InvalidArgument},
		{"byte flipped in node 2's sealed share (a peer refuses)", flip(at(dec.Sealed[2]) + 100), codes.InvalidArgument},
		{"truncated", good[:len(good)-1], codes.InvalidArgument},
		{"empty", nil, codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, send(tc.payload), tc.code)
			f.wantStored(t, 0)
		})
	}
	t.Run("oversized message", func(t *testing.T) {
		big := make([]byte, 2<<20) // the test nodes accept at most MinMessageBytes
		wantCode(t, "oversized", send(big), codes.ResourceExhausted)
		f.wantStored(t, 0)
	})
	t.Run("unknown dataset", func(t *testing.T) {
		_, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: "no-such-dataset", Payload: good})
		wantCode(t, "unknown dataset", err, codes.NotFound)
	})
	t.Run("wrong dataset", func(t *testing.T) {
		p := f.payload(t, c, 0, payloadOptions{dataset: "another-dataset"})
		wantCode(t, "payload for another dataset", send(p), codes.InvalidArgument)
		f.wantStored(t, 0)
	})
	t.Run("expired consent", func(t *testing.T) {
		p := f.payload(t, c, 0, payloadOptions{expiry: time.Now().Add(-time.Minute)})
		wantCode(t, "expired", send(p), codes.FailedPrecondition)
		f.wantStored(t, 0)
	})
	t.Run("future epoch", func(t *testing.T) {
		e := testSchema().Epoch.Index(time.Now()) + 5
		p := f.payload(t, c, 0, payloadOptions{epoch: &e})
		wantCode(t, "future epoch", send(p), codes.FailedPrecondition)
		f.wantStored(t, 0)
	})
	t.Run("unknown root", func(t *testing.T) {
		// A tree the federation never had: c alone, at index 0 of a fresh tree.
		tree, _ := merkle.New(testDepth)
		tree.Append(circuits.IdentityCommitment(c.secret))
		tree.Append(circuits.IdentityCommitment(c.secret))
		path, _ := tree.Path(c.index)
		root := tree.Root()
		p := f.payload(t, c, 0, payloadOptions{root: &root, path: &path})
		wantCode(t, "unknown root", send(p), codes.FailedPrecondition)
		f.wantStored(t, 0)
	})
	// After all refusals the valid payload is still accepted.
	if err := send(good); err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, 1)
}

func TestPeerDownMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records")
	}
	f := newTestFederation(t, 3)
	desc := f.installDataset(t)
	ctx := context.Background()
	c := f.register(t, 0)
	p := f.payload(t, c, 0, payloadOptions{})
	// Two nodes of three down: refused, nothing kept.
	f.nodes[1].stop()
	f.nodes[2].stop()
	_, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: p})
	wantCode(t, "two peers down", err, codes.Unavailable)
	if held, _ := f.held(t, desc.GetId(), f.nfOf(t, desc.GetId(), p)); held[0] {
		t.Fatal("node 0 kept a record two nodes did not acknowledge")
	}
	// One node down: acknowledged by the live nodes, node 2 pending, and
	// counted by no job meanwhile (TestCatchUp follows it further).
	relisten(t, f.nodes[1])
	f.start(f.nodes[1])
	f.awaitPeersExcept(t, 1, 2)
	r, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: p})
	if err != nil {
		t.Fatalf("one peer down: %v", err)
	}
	wantPending(t, r.GetReceipt(), 2)
	f.wantStored(t, 0)
}

func TestAdminAuthentication(t *testing.T) {
	f := newTestFederation(t, 3)
	ctx := context.Background()
	req := &cohortv1.IssueInvitesRequest{Count: 1, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}
	_, err := f.admin(0).IssueInvites(ctx, req)
	wantCode(t, "no token", err, codes.Unauthenticated)
	_, err = f.admin(0).IssueInvites(metadataCtx("Bearer wrong"), req)
	wantCode(t, "wrong token", err, codes.PermissionDenied)
	_, err = f.admin(0).CreateDataset(ctx, &cohortv1.CreateDatasetRequest{})
	wantCode(t, "CreateDataset without token", err, codes.Unauthenticated)
	_, err = f.admin(0).NodeStatus(ctx, &cohortv1.NodeStatusRequest{})
	wantCode(t, "NodeStatus without token", err, codes.Unauthenticated)
	st, err := f.admin(1).NodeStatus(adminCtx(), &cohortv1.NodeStatusRequest{})
	if err != nil || st.GetNodeIndex() != 1 {
		t.Fatalf("NodeStatus = %v, %v", st, err)
	}
}

func TestRegistration(t *testing.T) {
	f := newTestFederation(t, 3)
	ctx := context.Background()
	var s fr.Element
	s.SetUint64(99)
	ic := feBytes(circuits.IdentityCommitment(s))
	_, err := f.contributor(1).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: "not-a-token"})
	wantCode(t, "unknown token", err, codes.PermissionDenied)
	_, err = f.contributor(1).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:]})
	wantCode(t, "no token", err, codes.PermissionDenied)
	_, err = f.contributor(1).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: []byte{1, 2}, InviteToken: "x"})
	wantCode(t, "malformed commitment", err, codes.InvalidArgument)

	inv, err := f.admin(2).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: 2, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := f.contributor(1).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[0]})
	if err != nil {
		t.Fatal(err)
	}
	// The same commitment again: its membership, no token consumed.
	r2, err := f.contributor(2).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[0]})
	if err != nil || r2.GetMemberIndex() != r1.GetMemberIndex() {
		t.Fatalf("re-register = %v, %v", r2, err)
	}
	var s2 fr.Element
	s2.SetUint64(100)
	ic2 := feBytes(circuits.IdentityCommitment(s2))
	_, err = f.contributor(0).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic2[:], InviteToken: inv.GetTokens()[0]})
	wantCode(t, "used token", err, codes.PermissionDenied)
	r3, err := f.contributor(0).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic2[:], InviteToken: inv.GetTokens()[1]})
	if err != nil || r3.GetMemberIndex() != 1 || r3.GetSequence() != 2 {
		t.Fatalf("second member = %v, %v", r3, err)
	}
	for i := range f.nodes {
		mp, err := f.contributor(i).GetMembershipPath(ctx, &cohortv1.GetMembershipPathRequest{MemberIndex: 1})
		if err != nil || !bytes.Equal(mp.GetRoot(), r3.GetRoot()) || len(mp.GetSiblings()) != testDepth {
			t.Fatalf("node %d path = %v, %v", i, mp, err)
		}
	}
	_, err = f.contributor(0).GetMembershipPath(ctx, &cohortv1.GetMembershipPathRequest{MemberIndex: 2})
	wantCode(t, "empty position", err, codes.NotFound)

	// A node that was down catches up from the sequencer when it returns.
	f.nodes[2].stop()
	var s3 fr.Element
	s3.SetUint64(101)
	ic3 := feBytes(circuits.IdentityCommitment(s3))
	inv2, err := f.admin(0).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: 1, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.contributor(1).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic3[:], InviteToken: inv2.GetTokens()[0]})
	wantCode(t, "registration with a node down", err, codes.Unavailable)
	relisten(t, f.nodes[2])
	f.start(f.nodes[2])
	deadline := time.Now().Add(10 * time.Second)
	for {
		head, err := f.nodes[2].store.RegistryHead(ctx)
		if err == nil && head.Version == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 did not catch up: %+v, %v", head, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metadataCtx(auth string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", auth)
}

// relisten binds a stopped node's addresses again.
func relisten(t testing.TB, tn *testNode) {
	t.Helper()
	var err error
	if tn.apiLis, err = net.Listen("tcp", tn.api); err != nil {
		t.Fatal(err)
	}
	if tn.peerLis, err = net.Listen("tcp", tn.opts.Members[tn.opts.Index].PeerAddress); err != nil {
		t.Fatal(err)
	}
}

package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// TestUnsubmittedJobRefused: a node runs a job no buyer asked for, under
// an existing buyer's name, through the real peer API. Every peer refuses
// to prepare it — with no submission, a forged or tampered one, one
// naming another job, a stale one, or a genuine one another coordinator
// already prepared — stores no record of it, refuses a partial for it,
// and debits no budget.
func TestUnsubmittedJobRefused(t *testing.T) {
	f := newTestFederation(t, 3)
	desc := f.installDatasetWith(t, dpPolicy("1", "1/2"))
	cur := testSchema().Epoch.Index(time.Now())
	alice := f.buyer(t, 0, "alice")
	spec := dpSpec(desc, cur, "1/4")
	ctx := context.Background()
	at := time.Now().Unix()

	genuine := f.prepareRequest(t, alice, spec, "genuine", at)
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := proto.Clone(genuine).(*cohortv1.PrepareJobRequest)
	forged.Submission, err = signSubmission(&testBuyerKey{id: "alice", key: forger}, spec, desc, "forged", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := submissionStatement(forged.Submission, spec); err == nil {
		forged.JobId = st.JobID()
	}
	tampered := proto.Clone(genuine).(*cohortv1.PrepareJobRequest)
	tampered.Spec.EpochFrom = cur - 1
	renamed := proto.Clone(genuine).(*cohortv1.PrepareJobRequest)
	renamed.JobId = "evil-1"
	stale := f.prepareRequest(t, alice, spec, "stale", at)
	k := alice.Value(buyerKeyCtx{}).(*testBuyerKey)
	if stale.Submission, err = signSubmission(k, spec, desc, "stale", time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st, err := submissionStatement(stale.Submission, spec); err == nil {
		stale.JobId = st.JobID()
	}
	other := proto.Clone(genuine).(*cohortv1.PrepareJobRequest)
	other.BuyerId = "mallory"

	for _, tc := range []struct {
		name  string
		req   *cohortv1.PrepareJobRequest
		code  codes.Code
		words []string
	}{
		{"no submission", &cohortv1.PrepareJobRequest{JobId: "evil-0", Spec: spec, JobTime: at, BuyerId: "alice"}, codes.Unauthenticated, []string{"no submission signed by its buyer"}},
		{"a signature by another key", forged, codes.PermissionDenied, []string{`buyer "alice"`, "does not verify"}},
		{"a spec the buyer did not sign", tampered, codes.PermissionDenied, []string{"does not verify"}},
		{"another job id", renamed, codes.PermissionDenied, []string{"names job " + genuine.GetJobId()}},
		{"charged to another buyer", other, codes.PermissionDenied, []string{`charged to buyer "mallory"`}},
		{"a stale submission", stale, codes.FailedPrecondition, []string{"not within 1h0m0s"}},
	} {
		for _, to := range []int{1, 2} {
			_, err := f.peerClient(t, 0, to).PrepareJob(ctx, tc.req)
			wantCode(t, tc.name, err, tc.code)
			wantMessage(t, tc.name, err, tc.words...)
			_, err = f.peerClient(t, 0, to).ComputePartial(ctx, &cohortv1.ComputePartialRequest{JobId: tc.req.GetJobId(), Spec: spec, JobTime: at, SetDigest: make([]byte, 32)})
			wantCode(t, tc.name+": partial", err, codes.FailedPrecondition)
			if _, err := f.nodes[to].store.GetPeerJob(ctx, tc.req.GetJobId()); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: node %d stored a record of the refused job: %v", tc.name, to, err)
			}
		}
	}

	// The genuine submission, prepared on node 2 by node 0, cannot be run
	// again by node 1: a submission is run once, by one coordinator.
	if _, err := f.peerClient(t, 0, 2).PrepareJob(ctx, genuine); err != nil {
		t.Fatalf("the buyer's own job: %v", err)
	}
	_, err = f.peerClient(t, 1, 2).PrepareJob(ctx, genuine)
	wantCode(t, "a submission replayed by another coordinator", err, codes.AlreadyExists)
	wantMessage(t, "a submission replayed by another coordinator", err, "for coordinator 0 already")
	rec, err := f.nodes[2].store.GetPeerJob(ctx, genuine.GetJobId())
	if err != nil || rec.Coordinator != 0 || rec.Buyer != "alice" {
		t.Fatalf("node 2's record of the genuine job: %+v, %v", rec, err)
	}

	for i := range f.nodes {
		if all, mine := f.spent(t, i, desc.GetId(), "alice", cur); all != "0" || mine != "0" {
			t.Errorf("node %d spent %s (alice %s), want nothing", i, all, mine)
		}
	}
}

// TestSubmitJobRefusesUnsigned: the buyer API refuses a job without the
// buyer's signature, or signed for another request, and stores nothing.
func TestSubmitJobRefusesUnsigned(t *testing.T) {
	f := newTestFederation(t, 3)
	desc := f.installDatasetWith(t, dpPolicy("1", "1/2"))
	cur := testSchema().Epoch.Index(time.Now())
	alice := f.buyer(t, 0, "alice")
	spec := dpSpec(desc, cur, "1/4")
	k := alice.Value(buyerKeyCtx{}).(*testBuyerKey)
	bare := context.WithValue(alice, buyerKeyCtx{}, (*testBuyerKey)(nil)) // the token, no signing
	_, err := f.buyerClient(0).SubmitJob(bare, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "unsigned"})
	wantCode(t, "an unsigned job", err, codes.Unauthenticated)
	sub, err := signSubmission(k, spec, desc, "elsewhere", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.buyerClient(0).SubmitJob(bare, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "here", Submission: sub})
	wantCode(t, "a submission for another request", err, codes.PermissionDenied)
	rows, _, err := f.nodes[0].store.ListJobs(context.Background(), store.JobFilter{Buyer: "alice"}, "", 10)
	if err != nil || len(rows) != 0 {
		t.Fatalf("alice has %d jobs stored after refusals (%v)", len(rows), err)
	}
	_, err = f.admin(0).CreateBuyer(adminCtx(), &cohortv1.CreateBuyerRequest{BuyerId: "keyless"})
	wantCode(t, "a buyer without a public key", err, codes.InvalidArgument)
}

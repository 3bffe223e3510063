package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// TestRollbackRule walks the rollback rule of pending.go through each
// refusal: another node than the forwarder, a committed record (which a job
// may have counted), whoever asks.
func TestRollbackRule(t *testing.T) {
	pending := store.Contribution{Pending: true, Forwarder: 0}
	committed := store.Contribution{Forwarder: 0}
	own := store.Contribution{Pending: true, Forwarder: 1} // received by node 1 itself
	for _, tc := range []struct {
		name string
		row  store.Contribution
		from uint32
		want error
	}{
		{"the forwarder, pending", pending, 0, nil},
		{"another node, pending", pending, 2, errNotForwarder},
		{"the forwarder, committed", committed, 0, errCommitted},
		{"another node, committed", committed, 2, errNotForwarder},
		{"another node, a record the node received itself", own, 0, errNotForwarder},
		{"the node itself, its own pending record", own, 1, nil},
	} {
		if err := mayRollBack(tc.row, tc.from); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// abortOn sends AbortContribution for (datasetID, nf) from node `from` to
// node `to`, as a peer.
func (f *testFederation) abortOn(from, to int, datasetID string, nf []byte) (*cohortv1.AbortContributionResponse, error) {
	return call(context.Background(), f.nodes[from].n, uint32(to), func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.AbortContributionResponse, error) {
		return c.AbortContribution(ctx, &cohortv1.AbortContributionRequest{DatasetId: datasetID, Nullifier: nf, Reason: "test"})
	})
}

// TestDeleteThenDifferenceAttack is a node that removes a record from the
// other nodes after a job counted it, to run the job again without it and
// difference the two results (docs/design.md §2.2). Every AbortContribution
// is refused — PermissionDenied from a node that did not forward the
// record, FailedPrecondition once a job selected from the dataset — nothing
// is deleted, and the job run again gets the same cohort and result.
func TestDeleteThenDifferenceAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	f := newTestFederation(t, 3)
	desc := f.installDataset(t)
	id := desc.GetId()
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())

	recs := []schema.Record{
		fitness(25, 12000, 58, 720, false, "north"),
		fitness(37, 8000, 64, 655, true, "south"),
		fitness(52, 4000, 71, 810, false, "east"),
		fitness(61, 3000, 77, 590, true, "south"), // the victim's
	}
	var nfs [][]byte
	for i, rec := range recs {
		c := f.register(t, 0)
		p := f.payload(t, c, 0, payloadOptions{record: rec})
		r, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: p})
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		nfs = append(nfs, r.GetReceipt().GetNullifier())
	}
	victim := nfs[3]
	f.wantStored(t, 4)

	// Before any job: node 0 forwarded every record, so node 2 may remove
	// none of them from node 1, nor node 1 from node 2.
	_, err := f.abortOn(2, 1, id, victim)
	wantCode(t, "node 2 aborts node 0's record on node 1", err, codes.PermissionDenied)
	_, err = f.abortOn(1, 2, id, victim)
	wantCode(t, "node 1 aborts node 0's record on node 2", err, codes.PermissionDenied)
	// Nor one node 0 holds as the node that received it.
	_, err = f.abortOn(2, 0, id, victim)
	wantCode(t, "node 2 aborts on node 0 the record node 0 received", err, codes.PermissionDenied)
	f.wantStored(t, 4)

	buyer := f.buyer(t, 0, "alice")
	spec := &cohortv1.JobSpec{
		DatasetId: id, EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
		},
	}
	run := func(req string) *cohortv1.Job {
		t.Helper()
		sub, err := f.buyerClient(0).SubmitJob(buyer, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: req})
		if err != nil {
			t.Fatal(err)
		}
		job, _ := f.awaitJob(t, buyer, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
			t.Fatalf("job %s ended %s: %s", req, job.GetState(), job.GetReason())
		}
		return job
	}
	first := run("before")
	if first.GetCohortSize() != 4 {
		t.Fatalf("cohort %d, want 4", first.GetCohortSize())
	}

	// The attack: remove the victim's record everywhere but on the attacker.
	for _, tc := range []struct {
		name     string
		from, to int
		code     codes.Code
	}{
		{"node 2 on node 1", 2, 1, codes.PermissionDenied},
		{"node 1 on node 2", 1, 2, codes.PermissionDenied},
		{"node 2 on node 0", 2, 0, codes.PermissionDenied},
		{"node 1 on node 0", 1, 0, codes.PermissionDenied},
		// Even the node that forwarded it: a job counted it.
		{"node 0 on node 1", 0, 1, codes.FailedPrecondition},
		{"node 0 on node 2", 0, 2, codes.FailedPrecondition},
	} {
		_, err := f.abortOn(tc.from, tc.to, id, victim)
		wantCode(t, tc.name, err, tc.code)
	}
	f.wantStored(t, 4)
	for i, tn := range f.nodes {
		var key [32]byte
		copy(key[:], victim)
		if _, err := tn.store.GetContribution(ctx, id, key); err != nil {
			t.Fatalf("node %d lost the victim's record: %v", i, err)
		}
	}

	second := run("after")
	if second.GetCohortSize() != first.GetCohortSize() || second.GetEligibleRecords() != first.GetEligibleRecords() {
		t.Fatalf("re-run: cohort %d of %d eligible, first run %d of %d",
			second.GetCohortSize(), second.GetEligibleRecords(), first.GetCohortSize(), first.GetEligibleRecords())
	}

	// A record not held anywhere: nothing to do, for any node.
	resp, err := f.abortOn(2, 1, id, make([]byte, 32))
	if err != nil || resp.GetRemoved() {
		t.Fatalf("abort of a record never stored: %v, removed %v; want OK, nothing removed", err, resp.GetRemoved())
	}
}

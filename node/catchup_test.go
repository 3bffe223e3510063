package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// wantPending checks a receipt acknowledged by every node but pending,
// which it lists as pending with an empty entry.
func wantPending(t *testing.T, r *cohortv1.Receipt, pending int) {
	t.Helper()
	if !slices.Equal(r.GetPendingNodes(), []uint32{uint32(pending)}) {
		t.Fatalf("receipt pending nodes %v, want [%d]", r.GetPendingNodes(), pending)
	}
	for i, a := range r.GetAcks() {
		if signed := a.GetSignature() != nil; signed == (i == pending) {
			t.Fatalf("receipt: node %d signed %v", i, signed)
		}
	}
}

// awaitPeersExcept is awaitPeers among the nodes other than down.
func (f *testFederation) awaitPeersExcept(t *testing.T, i, down int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for j := range f.nodes {
		if j == i || j == down {
			continue
		}
		for _, pair := range [][2]int{{i, j}, {j, i}} {
			for {
				_, err := f.abortOn(pair[0], pair[1], testSchema().ID, make([]byte, 32))
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d does not reach node %d: %v", pair[0], pair[1], err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// TestCatchUp stops node 2 and uploads through nodes 0 and 1: each
// upload is acknowledged by the live nodes with node 2 pending, counted by
// no job, and held for node 2 until the backlog is full, beyond which an
// upload is refused with nothing stored; a job meanwhile fails, releasing
// nothing (the MPC backend needs every node). Node 2 comes back, verifies and
// acknowledges what it missed, and refuses a record whose share sealed to
// it does not open: that record is removed from nodes 0 and 1. Then every
// receipt is complete, and a job through every node counts every record
// kept, the nodes agreeing on the eligible set.
func TestCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	f := newTestFederation(t, 3, func(o *Options) { o.Limits.MaxCatchUpBacklog = 3 })
	desc := f.installDataset(t)
	id := desc.GetId()
	ctx := context.Background()
	recs := []schema.Record{
		fitness(25, 12000, 58, 720, false, "north"),
		fitness(37, 8000, 64, 655, true, "south"),
		fitness(52, 4000, 71, 810, false, "east"),
		fitness(61, 3000, 77, 590, true, "south"),
		fitness(44, 6000, 66, 700, false, "north"),
	}
	stranger, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payloads := make([][]byte, len(recs))
	for i, rec := range recs {
		o := payloadOptions{record: rec}
		if i == 3 {
			// Node 2's share is sealed to a key it does not hold.
			o.sealTo = map[int]*seal.PublicKey{2: stranger.Public()}
		}
		payloads[i] = f.payload(t, f.register(t, 0), 0, o)
	}
	bad := payloads[3]
	buyer := f.buyer(t, 0, "alice")
	contribute := func(via int, p []byte) (*cohortv1.Receipt, error) {
		r, err := f.contributor(via).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: p})
		return r.GetReceipt(), err
	}

	f.nodes[2].stop()
	for k, via := range []int{0, 1, 0, 0} {
		r, err := contribute(via, payloads[k])
		if err != nil {
			t.Fatalf("upload %d through node %d with node 2 down: %v", k, via, err)
		}
		wantPending(t, r, 2)
	}
	// Counted by no job: not committed on node 2.
	if got := f.stored(t); got[0] != 0 || got[1] != 0 {
		t.Fatalf("records counted on nodes 0 and 1 while node 2 is down: %v", got)
	}
	// A job now cannot count them: it fails, releasing nothing.
	cur := testSchema().Epoch.Index(time.Now())
	sub, err := f.buyerClient(0).SubmitJob(buyer, &cohortv1.SubmitJobRequest{RequestId: "while-node-2-is-down", Spec: &cohortv1.JobSpec{
		DatasetId: id, EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}},
	}})
	if err != nil {
		t.Fatalf("submit a job while node 2 is down: %v", err)
	}
	job, _ := f.awaitJob(t, buyer, 0, sub.GetJob().GetJobId())
	t.Logf("job while node 2 is down: %s: %s", job.GetState(), job.GetReason())
	if job.GetState() != cohortv1.JobState_JOB_STATE_FAILED || job.GetEligibleRecords() != 0 || !strings.Contains(job.GetReason(), "node 2") {
		t.Fatalf("job while node 2 is down ended %s (%s) with %d eligible records; want FAILED naming node 2, none counted",
			job.GetState(), job.GetReason(), job.GetEligibleRecords())
	}
	// Any node that holds it answers the same receipt, node 2 pending.
	r, err := f.contributor(1).GetReceipt(ctx, &cohortv1.GetReceiptRequest{DatasetId: id, Nullifier: f.nfOf(t, id, payloads[0])})
	if err != nil {
		t.Fatal(err)
	}
	wantPending(t, r.GetReceipt(), 2)
	// A retry to the forwarder answers the receipt given.
	if r, err := contribute(0, payloads[0]); err != nil {
		t.Fatalf("retry with node 2 down: %v", err)
	} else {
		wantPending(t, r, 2)
	}

	// Node 0 holds three payloads for node 2: its backlog is full.
	_, err = contribute(0, payloads[4])
	wantCode(t, "backlog full", err, codes.Unavailable)
	if want := "node 2 is down and its backlog is full"; !strings.Contains(err.Error(), want) {
		t.Fatalf("backlog full: %v, want %q", err, want)
	}
	nf4 := f.nfOf(t, id, payloads[4])
	f.awaitHeld(t, id, nf4, false)
	if n, err := f.nodes[0].store.CountCatchUps(ctx, 2); err != nil || n != 3 {
		t.Fatalf("payloads held by node 0 for node 2: %d, %v; want 3", n, err)
	}

	// Node 2 returns and catches up.
	relisten(t, f.nodes[2])
	f.start(f.nodes[2])
	f.awaitPeers(t, 2)
	nfBad := f.nfOf(t, id, bad)
	f.awaitHeld(t, id, nfBad, false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n0, _ := f.nodes[0].store.CountCatchUps(ctx, 2)
		n1, _ := f.nodes[1].store.CountCatchUps(ctx, 2)
		if got := f.stored(t); slices.Equal(got, []uint64{3, 3, 3}) && n0 == 0 && n1 == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after node 2 returned: counted %v, held for it %d and %d", f.stored(t), n0, n1)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for k, p := range payloads[:3] {
		r, err := f.contributor(2).GetReceipt(ctx, &cohortv1.GetReceiptRequest{DatasetId: id, Nullifier: f.nfOf(t, id, p)})
		if err != nil {
			t.Fatalf("receipt %d: %v", k, err)
		}
		if len(r.GetReceipt().GetPendingNodes()) != 0 {
			t.Fatalf("receipt %d still pending %v", k, r.GetReceipt().GetPendingNodes())
		}
		for i, a := range r.GetReceipt().GetAcks() {
			if a.GetSignature() == nil {
				t.Fatalf("receipt %d: node %d did not sign", k, i)
			}
		}
	}
	_, err = f.contributor(0).GetReceipt(ctx, &cohortv1.GetReceiptRequest{DatasetId: id, Nullifier: nfBad})
	wantCode(t, "receipt of the refused record", err, codes.NotFound)

	// The upload refused for the full backlog is accepted now.
	if r, err := contribute(0, payloads[4]); err != nil || len(r.GetPendingNodes()) != 0 {
		t.Fatalf("upload after the catch-up: %v, %v", r, err)
	}
	f.wantStored(t, 4)
	for via := range f.nodes {
		job := f.runCountJob(t, via, buyer, fmt.Sprintf("after-catch-up-%d", via))
		if job.GetEligibleRecords() != 4 {
			t.Fatalf("job via node %d: %d eligible records, want 4", via, job.GetEligibleRecords())
		}
	}
}

// TestCatchUpAfterPeerCrash: a peer dies after storing its share, without
// answering. The forwarder acknowledges the record with that node pending;
// when the node comes back on what it had stored, the record is completed
// on every node, and its receipt carries every acknowledgment.
func TestCatchUpAfterPeerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	f := newTestFederation(t, 3)
	desc := f.installDataset(t)
	id := desc.GetId()
	ctx := context.Background()
	p := f.payload(t, f.register(t, 0), 0, payloadOptions{})
	nf := f.nfOf(t, id, p)
	f.restart(t, 2, &crashingStore{Store: f.nodes[2].store, at: "store"})
	r, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: p})
	if err != nil {
		t.Fatalf("contribute with node 2 dying: %v", err)
	}
	wantPending(t, r.GetReceipt(), 2)
	if held, pending := f.held(t, id, nf); !held[2] || !pending[2] {
		t.Fatalf("after the crash: held %v pending %v; want node 2 to hold it pending", held, pending)
	}
	f.wantStored(t, 0)
	f.restart(t, 2, nil)
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Equal(f.stored(t), []uint64{1, 1, 1}) {
		if time.Now().After(deadline) {
			t.Fatalf("after node 2 returned: counted %v, want 1 everywhere", f.stored(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := f.contributor(1).GetReceipt(ctx, &cohortv1.GetReceiptRequest{DatasetId: id, Nullifier: nf})
	if err != nil || len(got.GetReceipt().GetPendingNodes()) != 0 || got.GetReceipt().GetAcks()[2].GetSignature() == nil {
		t.Fatalf("receipt after the catch-up: %v, %v", got, err)
	}
}

package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// readCounter wraps a node's store and counts how its contributions are
// read (docs/design.md §7.6).
type readCounter struct {
	store.Store
	metaScans  atomic.Int32 // scans of the eligibility columns only
	proofScans atomic.Int32 // scans of the proofs without the shares
	shareScans atomic.Int32 // scans that read the shares
	shareRows  atomic.Int64 // shares read by scans
	lists      atomic.Int32 // pages of whole rows
}

func (s *readCounter) ScanContributions(ctx context.Context, datasetID string, from, to uint64, fields store.ContributionFields,
	fn func(*store.Contribution) error) error {
	if fields&store.WithShare == 0 {
		if fields == 0 {
			s.metaScans.Add(1)
		} else {
			s.proofScans.Add(1)
		}
		return s.Store.ScanContributions(ctx, datasetID, from, to, fields, fn)
	}
	s.shareScans.Add(1)
	return s.Store.ScanContributions(ctx, datasetID, from, to, fields, func(c *store.Contribution) error {
		s.shareRows.Add(1)
		return fn(c)
	})
}

func (s *readCounter) ListContributions(ctx context.Context, datasetID string, from, to uint64, after [32]byte, limit int) ([]store.Contribution, error) {
	s.lists.Add(1)
	return s.Store.ListContributions(ctx, datasetID, from, to, after, limit)
}

func (s *readCounter) reset() {
	s.metaScans.Store(0)
	s.proofScans.Store(0)
	s.shareScans.Store(0)
	s.shareRows.Store(0)
	s.lists.Store(0)
}

// TestJobStreams runs the demo's statistics job over a seeded cohort and
// checks that every node read its rows in one scan for the job — it
// selects, sums and writes its records section in the same scan at
// PrepareJob, uses them at ComputePartial, and a peer checks the
// transcript without another — never paged whole rows, and that the
// result is the plaintext's.
func TestJobStreams(t *testing.T) {
	// About 500 bytes a record: the records section spans several 1 MiB
	// chunks, spliced into each peer's transcript.
	records := 2500
	if testing.Short() {
		records = 200
	}
	var counters []*readCounter
	f := newTestFederation(t, 3, func(o *Options) {
		c := &readCounter{Store: o.Store}
		counters = append(counters, c)
		o.Store = c
		o.Limits.MaxMessageBytes = 0 // a transcript of this size needs more than the harness's limit
	})
	desc := f.installDatasetWith(t, exactPolicy())
	recs := f.seedRecords(t, desc.GetId(), records)
	buyer := f.benchBuyer(t, "streaming")
	for _, c := range counters {
		c.reset()
	}
	cur := testSchema().Epoch.Index(time.Now())
	// The outputs checkAgainstPlaintext checks.
	spec := &cohortv1.JobSpec{
		DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Fields: []string{"sleep_h"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"smoker"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Fields: []string{"age", "steps"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age"}},
		},
	}
	id := f.runJob(t, buyer, spec, "stream-1")
	res, err := f.buyerClient(0).GetResult(buyer, &cohortv1.GetResultRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.GetResult().GetCohortSize(); got != uint64(records) {
		t.Fatalf("cohort of %d records, want %d", got, records)
	}
	checkAgainstPlaintext(t, testSchema(), res.GetResult(), recs)
	for i, c := range counters {
		if n := c.lists.Load(); n != 0 {
			t.Errorf("node %d paged whole rows %d times", i, n)
		}
		if n := c.shareScans.Load(); n != 1 {
			t.Errorf("node %d scanned the shares %d times for one job, want once", i, n)
		}
		if n := c.shareRows.Load(); n != int64(records) {
			t.Errorf("node %d read %d shares for a cohort of %d", i, n, records)
		}
		// Every node selects, sums and writes its records section in
		// one scan at PrepareJob, and nothing changed before
		// ComputePartial: no node reads the eligibility columns alone.
		if n := c.metaScans.Load(); n != 0 {
			t.Errorf("node %d scanned the eligibility columns alone %d times, want none", i, n)
		}
		// No node scans the proofs apart: the coordinator writes the
		// transcript's records in its one scan of the shares, and a peer
		// reads them in its own (its cohort witness) and checks the
		// transcript against that, reading no row again.
		if n := c.proofScans.Load(); n != 0 {
			t.Errorf("node %d scanned the proofs %d times apart from the shares, want none", i, n)
		}
		// Each peer signs the transcript with the records section it
		// wrote in that scan spliced in: it is not sent them.
		if own, sent := f.signedBy(t, i); i > 0 && (own != 1 || sent != 0) {
			t.Errorf("node %d signed %v transcripts with its own records section and %v sent whole, want 1 and 0", i, own, sent)
		}
		// The coordinator (node 0) timed each phase of the round once;
		// the peers coordinated nothing.
		for p, name := range phaseNames {
			switch n, sum := f.phaseTimes(t, i, p); {
			case i == 0 && (n != 1 || sum <= 0):
				t.Errorf("coordinator: phase %s observed %d times, %v s; want once, above 0", name, n, sum)
			case i > 0 && n != 0:
				t.Errorf("node %d: phase %s observed %d times, want none", i, name, n)
			}
		}
	}

	// A second job over the same records takes each full claim subtree
	// (1,024 records) from what each node hashed for the first, and
	// releases the root of the records' nullifiers.
	id2 := f.runJob(t, buyer, spec, "stream-2")
	for i, tn := range f.nodes {
		if got, want := tn.n.subtrees.Hits(), records/1024; got != want {
			t.Errorf("node %d took %d claim subtrees from its cache, want %d", i, got, want)
		}
	}
	job := f.claimJob(t, id2)
	if got, want := job.t.ClaimRoot, job.tree.Root(); got != want.Bytes() {
		t.Fatalf("the second job's claim root %x…, want the root of its records' nullifiers %x…", got[:4], want.Bytes())
	}
}

// TestPartialAfterCohortChanged: a peer that prepared a job read its
// cohort's shares in the scan that selected it, and sums them at
// ComputePartial when nothing changed since; a record that became
// eligible since, or one revoked, gives another cohort — the peer
// selects and sums again (cohortPass) — and the partial is refused with
// nothing released. The prepared cohort, as it was, is summed.
func TestPartialAfterCohortChanged(t *testing.T) {
	const records = 40
	f := newTestFederation(t, 3)
	desc := f.installDatasetWith(t, exactPolicy())
	f.seedContributions(t, desc.GetId(), records)
	ctx := context.Background()
	peer, st := f.nodes[1].n, f.nodes[1].store
	spec := statisticsSpec(testSchema(), testSchema().Epoch.Index(time.Now()), "")
	buyer := f.buyer(t, 0, "acme")
	type prepared struct {
		req  *cohortv1.PrepareJobRequest
		resp *cohortv1.PrepareJobResponse
	}
	prepare := func(requestID string, want uint64) prepared {
		t.Helper()
		req := f.prepareRequest(t, buyer, spec, requestID, time.Now().Unix())
		prep, _, err := peer.prepareJob(ctx, 0, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := prep.GetSet().GetCohort(); got != want {
			t.Fatalf("prepared a cohort of %d, want %d", got, want)
		}
		return prepared{req, prep}
	}
	partial := func(p prepared) error {
		_, err := peer.computePartial(ctx, 0, &cohortv1.ComputePartialRequest{
			JobId: p.req.GetJobId(), Spec: spec, JobTime: p.req.GetJobTime(), SetDigest: p.resp.GetSet().GetDigest(),
		}, nil)
		return err
	}

	// The prepared cohort, as it was, is summed in one scan.
	first := prepare("changed-1", records)
	if r, ok := peer.reads.take(first.req.GetJobId()); !ok || r.sel.sum == nil || r.sel.witness == nil {
		t.Fatalf("the peer kept no read of the prepared cohort: %+v, %v", r, ok)
	} else {
		peer.reads.put(first.req.GetJobId(), r.spec, r.sel)
	}
	if err := partial(first); err != nil {
		t.Fatalf("partial over the prepared cohort: %v", err)
	}
	rec, err := st.GetPeerJob(ctx, first.req.GetJobId())
	if err != nil || rec.State != store.PeerJobState(enclave.PeerReleased) || len(rec.Partial) == 0 {
		t.Fatalf("after the partial the peer's record is %+v, %v; want released", rec, err)
	}

	// A record committed between PrepareJob and ComputePartial makes
	// another cohort: the partial is refused and nothing is released.
	second := prepare("changed-2", records)
	rows, err := st.ListContributions(ctx, desc.GetId(), 0, 1<<62, [32]byte{}, 1)
	if err != nil || len(rows) != 1 {
		t.Fatalf("a stored row: %v, %v", rows, err)
	}
	extra := rows[0]
	extra.Nullifier[31] ^= 0xFF // still a field element: its values can be read
	extra.PayloadDigest[0] ^= 0xFF
	extra.Pending = false
	if _, err := st.PutContribution(ctx, extra); err != nil {
		t.Fatal(err)
	}
	err = partial(second)
	wantCode(t, "partial over a cohort one record larger than prepared", err, codes.FailedPrecondition)
	if !strings.Contains(status.Convert(err).Message(), "another cohort") {
		t.Errorf("refusal %q does not say the cohort differs", status.Convert(err).Message())
	}
	rec, err = st.GetPeerJob(ctx, second.req.GetJobId())
	if err != nil || rec.State != store.PeerJobState(enclave.PeerPrepared) || rec.Partial != nil {
		t.Fatalf("after the refusal the peer's record is %+v, %v; want prepared, no partial", rec, err)
	}
	if _, ok := peer.reads.take(second.req.GetJobId()); ok {
		t.Error("the peer still keeps the read of a cohort that changed")
	}

	// A record of the cohort revoked between PrepareJob and
	// ComputePartial: the same refusal.
	third := prepare("changed-3", records+1) // the record committed above
	if r, ok := peer.reads.take(third.req.GetJobId()); !ok || r.sel.sum == nil {
		t.Fatalf("the peer kept no read of the prepared cohort: %+v, %v", r, ok)
	} else {
		peer.reads.put(third.req.GetJobId(), r.spec, r.sel)
	}
	rows, err = st.ListContributions(ctx, desc.GetId(), 0, 1<<62, [32]byte{}, 2)
	if err != nil || len(rows) != 2 {
		t.Fatalf("stored rows: %v, %v", rows, err)
	}
	victim := rows[0]
	if victim.Nullifier == extra.Nullifier {
		victim = rows[1]
	}
	if err := st.Revoke(ctx, desc.GetId(), victim.RevocationCommitment, [32]byte{7}, time.Now()); err != nil {
		t.Fatal(err)
	}
	err = partial(third)
	wantCode(t, "partial over a cohort with a record revoked since it was prepared", err, codes.FailedPrecondition)
	rec, err = st.GetPeerJob(ctx, third.req.GetJobId())
	if err != nil || rec.State != store.PeerJobState(enclave.PeerPrepared) || rec.Partial != nil {
		t.Fatalf("after the refusal the peer's record is %+v, %v; want prepared, no partial", rec, err)
	}
}

// TestPreparedReads: a peer keeps at most maxPreparedReads reads of
// prepared cohorts, drops the oldest first with its records section, and
// hands each out once.
func TestPreparedReads(t *testing.T) {
	n := &Node{env: &env{opts: Options{TempDir: t.TempDir()}}}
	p := newPreparedReads()
	sels := make([]*selected, maxPreparedReads+1)
	for i := range sels {
		sp, err := n.newRecordSpooler()
		if err != nil {
			t.Fatal(err)
		}
		sels[i] = &selected{witness: sp}
		p.put(fmt.Sprint("job-", i), nil, sels[i])
	}
	if _, ok := p.take("job-0"); ok {
		t.Fatal("the oldest read is still kept past the bound")
	}
	if err := sels[0].witness.file.Close(); err == nil {
		t.Error("the dropped read's records section is still open")
	}
	r, ok := p.take("job-1")
	if !ok || r.sel != sels[1] {
		t.Fatalf("take(job-1) = %+v, %v", r, ok)
	}
	if _, ok := p.take("job-1"); ok {
		t.Error("a read was handed out twice")
	}
	// Kept again for the same job, the older read is dropped.
	sp, err := n.newRecordSpooler()
	if err != nil {
		t.Fatal(err)
	}
	p.put("job-2", nil, &selected{witness: sp})
	if err := sels[2].witness.file.Close(); err == nil {
		t.Error("a read replaced for its job is still open")
	}
	p.clear()
	for i := 3; i < len(sels); i++ {
		if err := sels[i].witness.file.Close(); err == nil {
			t.Errorf("read %d is still open after clear", i)
		}
	}
	if err := sp.file.Close(); err == nil {
		t.Error("the last read is still open after clear")
	}
}

// TestJobClaimLeaves: a job's claim tree is built from the leaves each
// node stored with its records when it ingested them, and from the
// nullifiers of rows stored without one (written before records kept
// their leaves). Over a mix — the coordinator's rows all with leaves, a
// peer's every other one, the last peer's none — the job is released
// with the claim root of its records' nullifiers. A peer whose stored
// leaf is wrong takes another claim root and refuses to sign, so the job
// fails with nothing released: the stored leaves are what the nodes
// compare.
func TestJobClaimLeaves(t *testing.T) {
	const records = 60
	seed := func(leaf func(j, k int, nf fr.Element) [32]byte) (*testFederation, *cohortv1.DatasetDescriptor) {
		f := newTestFederation(t, 3)
		desc := f.installDatasetWith(t, exactPolicy())
		f.seedRecordsWith(t, desc.GetId(), records, leaf)
		return f, desc
	}
	spec := func(desc *cohortv1.DatasetDescriptor) *cohortv1.JobSpec {
		cur := testSchema().Epoch.Index(time.Now())
		return &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
			Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	}

	f, desc := seed(func(j, k int, nf fr.Element) [32]byte {
		if j == 2 || j == 1 && k%2 == 0 {
			return [32]byte{}
		}
		return claimLeaf(nf)
	})
	id := f.runJob(t, f.benchBuyer(t, "leaves"), spec(desc), "leaves-1")
	job := f.claimJob(t, id)
	if n := len(job.t.Records); n != records {
		t.Fatalf("transcript of %d records, want %d", n, records)
	}
	if got, want := job.t.ClaimRoot, job.tree.Root(); got != want.Bytes() {
		t.Fatalf("claim root %x…, want the root of the records' nullifiers %x…", got[:4], want.Bytes())
	}

	f, desc = seed(func(j, k int, nf fr.Element) [32]byte {
		if j == 1 && k == 7 {
			var other fr.Element
			return claimLeaf(*other.SetUint64(8)) // another nullifier's leaf
		}
		return claimLeaf(nf)
	})
	buyer := f.benchBuyer(t, "wrong-leaf")
	sub, err := f.buyerClient(0).SubmitJob(buyer, &cohortv1.SubmitJobRequest{Spec: spec(desc), RequestId: "wrong-leaf"})
	if err != nil {
		t.Fatal(err)
	}
	id = sub.GetJob().GetJobId()
	final, _ := f.awaitJob(t, buyer, 0, id)
	if final.GetState() != cohortv1.JobState_JOB_STATE_FAILED || !strings.Contains(final.GetReason(), "claim root") {
		t.Fatalf("job over a peer's wrong leaf ended %s: %q; want FAILED, its claim root refused", final.GetState(), final.GetReason())
	}
	for i, tn := range f.nodes {
		if _, err := tn.store.GetTranscript(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("node %d holds a transcript of the failed job: %v", i, err)
		}
	}
}

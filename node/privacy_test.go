package node

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// dpPolicy is the discrete Gaussian policy with the given budgets.
func dpPolicy(epoch, buyer string) *cohortv1.PrivacyPolicy {
	p := enclave.DefaultPolicy()
	p.EpochRho, p.BuyerRho = epoch, buyer
	return p
}

// dpRecords contributes n records of the current epoch and returns them.
func (f *testFederation) dpRecords(t *testing.T, desc *cohortv1.DatasetDescriptor, n int) []schema.Record {
	t.Helper()
	regions := []string{"north", "south", "east", "west"}
	var recs []schema.Record
	for i := range n {
		r := fitness(int64(20+5*i), int64(3000+700*i), int64(55+2*i), int64(500+30*i), i%3 == 0, regions[i%4])
		c := f.register(t, i%3)
		p := f.payload(t, c, i%3, payloadOptions{record: r})
		if _, err := f.contributor(i%3).Contribute(context.Background(), &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: p}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// released submits spec through node 0 for the buyer of ctx, waits for the
// job to be DONE and returns its result.
func (f *testFederation) released(t *testing.T, ctx context.Context, spec *cohortv1.JobSpec, requestID string) *cohortv1.Result {
	t.Helper()
	sub, err := f.buyerClient(0).SubmitJob(ctx, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: requestID})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.awaitJob(t, ctx, 0, sub.GetJob().GetJobId())
	if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
		t.Fatalf("job %s ended %s: %s", requestID, job.GetState(), job.GetReason())
	}
	res, err := f.buyerClient(0).GetResult(ctx, &cohortv1.GetResultRequest{JobId: job.GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetResult()
}

func dpSpec(desc *cohortv1.DatasetDescriptor, epoch uint64, rho string) *cohortv1.JobSpec {
	return &cohortv1.JobSpec{
		DatasetId: desc.GetId(), EpochFrom: epoch, EpochTo: epoch, Purpose: "public-health",
		Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: rho}},
		Outputs: []*cohortv1.Output{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_SUM, Fields: []string{"steps"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
		},
	}
}

// spent reads node i's ledger for one epoch: overall and for buyer.
func (f *testFederation) spent(t *testing.T, i int, dataset, buyer string, epoch uint64) (string, string) {
	t.Helper()
	e, err := f.nodes[i].store.PrivacySpent(context.Background(), dataset, buyer, epoch, epoch)
	if err != nil || len(e) != 1 {
		t.Fatalf("node %d ledger: %v, %v", i, e, err)
	}
	return e[0].Spent.RatString(), e[0].BuyerSpent.RatString()
}

// TestPrivateJobs runs jobs under the discrete Gaussian policy: every node
// debits its own ledger once per job, the result carries noise and
// intervals and no exact value of a noised output, the buyer's budget is
// quoted and enforced at submission, and a node whose ledger is spent
// refuses to release even when the coordinator's ledger has room.
func TestPrivateJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	f := newTestFederation(t, 3)
	desc := f.installDatasetWith(t, dpPolicy("1", "1/2"))
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())
	recs := f.dpRecords(t, desc, 6)
	alice := f.buyer(t, 0, "alice")

	sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/4"), RequestId: "dp-1"})
	if err != nil {
		t.Fatal(err)
	}
	if sub.GetJob().GetRho() != "1/4" {
		t.Errorf("job charges %q, want 1/4", sub.GetJob().GetRho())
	}
	job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
	if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
		t.Fatalf("job ended %s: %s", job.GetState(), job.GetReason())
	}
	res, err := f.buyerClient(0).GetResult(alice, &cohortv1.GetResultRequest{JobId: job.GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	r := res.GetResult()
	rel := r.GetRelease()
	if rel.GetMechanism() != cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN || rel.GetRho() != "1/4" || rel.GetNoisingNodes() != 3 || rel.GetConfidence() != enclave.Confidence {
		t.Errorf("release info %v", rel)
	}
	for _, sn := range rel.GetSums() {
		if (sn.GetCoordinate() == enclave.CountCoordinate) != (sn.GetNodeVariance() == "") || (sn.GetCoordinate() != 0 && sn.GetStddev() <= 0) {
			t.Errorf("sum %d noise %v", sn.GetCoordinate(), sn)
		}
	}
	if r.GetCohortSize() != uint64(len(recs)) || r.GetOutputs()[0].GetScalar().GetValue() != float64(len(recs)) {
		t.Errorf("the count is public and exact: cohort %d, count %v", r.GetCohortSize(), r.GetOutputs()[0].GetScalar())
	}
	for i, o := range r.GetOutputs()[1:] {
		if n := o.GetScalar(); n != nil && (n.GetExact() != "" || n.GetInterval() == nil) {
			t.Errorf("output %d: a noised value with exact %q and interval %v", i+1, n.GetExact(), n.GetInterval())
		}
		for _, b := range o.GetHistogram().GetBins() {
			if b.GetInterval() == nil {
				t.Errorf("histogram bin %q without an interval", b.GetValue())
			}
		}
	}
	for i := range f.nodes {
		if all, mine := f.spent(t, i, desc.GetId(), "alice", cur); all != "1/4" || mine != "1/4" {
			t.Errorf("node %d spent %s (alice %s), want 1/4", i, all, mine)
		}
	}

	// A second job reaches alice's cap; a third is refused at submission
	// with nothing stored or charged, and GetBudget says why.
	sub, err = f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/4"), RequestId: "dp-2"})
	if err != nil {
		t.Fatal(err)
	}
	if job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId()); job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
		t.Fatalf("second job ended %s: %s", job.GetState(), job.GetReason())
	}
	before, _, err := f.nodes[0].store.ListJobs(ctx, store.JobFilter{Buyer: "alice"}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/8"), RequestId: "dp-3"})
	wantCode(t, "a job beyond the buyer's cap", err, codes.FailedPrecondition)
	if err == nil || !strings.Contains(err.Error(), "buyer budget") {
		t.Errorf("refusal %v does not name the buyer budget", err)
	}
	after, _, _ := f.nodes[0].store.ListJobs(ctx, store.JobFilter{Buyer: "alice"}, "", 100)
	if len(after) != len(before) {
		t.Errorf("a refused job was stored: %d jobs, then %d", len(before), len(after))
	}
	b, err := f.buyerClient(0).GetBudget(alice, &cohortv1.GetBudgetRequest{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur})
	if err != nil {
		t.Fatal(err)
	}
	if b.GetAvailableRho() != "0" || len(b.GetEpochs()) != 1 || b.GetEpochs()[0].GetBuyerSpentAfter() != "1/2" || b.GetEpochs()[0].GetEpochSpentAfter() != "1/2" {
		t.Errorf("budget %v", b)
	}
	_, err = f.buyerClient(0).GetBudget(alice, &cohortv1.GetBudgetRequest{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur - 1})
	wantCode(t, "a backwards epoch range", err, codes.InvalidArgument)
	_, err = f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1e-3"), RequestId: "dp-4"})
	wantCode(t, "ρ with an exponent", err, codes.InvalidArgument)
	noLoss := dpSpec(desc, cur, "1/8")
	noLoss.Privacy = nil
	_, err = f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: noLoss, RequestId: "dp-5"})
	wantCode(t, "a job that states no privacy loss", err, codes.InvalidArgument)

	// A job that asks only the cohort's size spends nothing, even with
	// alice's budget gone: the count is public.
	countOnly := &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	if r := f.released(t, alice, countOnly, "dp-count"); r.GetOutputs()[0].GetScalar().GetExact() != fmt.Sprint(len(recs)) ||
		r.GetRelease().GetRho() != "" {
		t.Errorf("count-only result %v", r)
	}
	if all, _ := f.spent(t, 1, desc.GetId(), "alice", cur); all != "1/2" {
		t.Errorf("node 1 spent %s after a count-only job, want 1/2", all)
	}

	// Node 2's ledger is spent by its own account; node 0's (the
	// coordinator's) is not. Node 2 refuses to release: the job fails
	// and node 2's ledger is unchanged.
	if _, err := f.nodes[2].store.DebitPrivacy(ctx, store.PrivacyDebit{JobID: "elsewhere", DatasetID: desc.GetId(), Buyer: "other",
		EpochFrom: cur, EpochTo: cur, Rho: big.NewRat(1, 2), EpochTotal: big.NewRat(1, 1), BuyerTotal: big.NewRat(1, 2), At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	bob := f.buyer(t, 0, "bob")
	sub, err = f.buyerClient(0).SubmitJob(bob, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/4"), RequestId: "dp-6"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ = f.awaitJob(t, bob, 0, sub.GetJob().GetJobId())
	if job.GetState() != cohortv1.JobState_JOB_STATE_FAILED || !strings.Contains(job.GetReason(), "privacy budget") {
		t.Fatalf("job over node 2's spent ledger ended %s: %q", job.GetState(), job.GetReason())
	}
	if all, mine := f.spent(t, 2, desc.GetId(), "bob", cur); all != "1" || mine != "0" {
		t.Errorf("node 2 spent %s (bob %s) after refusing, want 1 and 0", all, mine)
	}
	if _, err := f.buyerClient(0).GetResult(bob, &cohortv1.GetResultRequest{JobId: job.GetJobId()}); err == nil {
		t.Error("a result for a job no node 2 released")
	}
}

// TestPrivateIntervals: over many jobs under the discrete Gaussian
// mechanism, the stated 95% intervals of the linear outputs contain the
// plaintext truth at about the stated rate.
func TestPrivateIntervals(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	f := newTestFederation(t, 3)
	desc := f.installDatasetWith(t, dpPolicy("1000", "1000"))
	cur := testSchema().Epoch.Index(time.Now())
	const n = 8
	f.dpRecords(t, desc, n)
	alice := f.buyer(t, 0, "alice")
	var steps int64
	regions := map[string]uint64{}
	for i := range n { // as dpRecords makes them
		steps += int64(3000 + 700*i)
		regions[[]string{"north", "south", "east", "west"}[i%4]]++
	}
	const jobs = 12
	inside, total := 0, 0
	check := func(what string, v float64, iv *cohortv1.Interval, truth float64) {
		t.Helper()
		total++
		if iv == nil || iv.GetLow() > iv.GetHigh() || iv.GetStandardError() <= 0 {
			t.Fatalf("%s: interval %v", what, iv)
		}
		if iv.GetLow() <= truth && truth <= iv.GetHigh() {
			inside++
		}
	}
	for k := range jobs {
		outs := f.released(t, alice, dpSpec(desc, cur, "1/2"), "iv-"+string(rune('a'+k))).GetOutputs()
		check("sum of steps", outs[1].GetScalar().GetValue(), outs[1].GetScalar().GetInterval(), float64(steps))
		for _, b := range outs[3].GetHistogram().GetBins() {
			check("region "+b.GetValue(), float64(b.GetCount()), b.GetInterval(), float64(regions[b.GetValue()]))
		}
	}
	rate := float64(inside) / float64(total)
	t.Logf("%d of %d stated 95%% intervals contain the truth (%.3f)", inside, total, rate)
	// 60 intervals at 95%: fewer than 50 inside has probability < 1e-4.
	if inside < total*5/6 {
		t.Errorf("only %d of %d intervals contain the truth", inside, total)
	}
}

// TestHEPrivateJobs: on HE the decryption set's nodes each add their own
// noise through their decryption shares and debit their own ledgers; the
// nodes outside the set debit nothing, the result states the noise of the
// set and its intervals contain the plaintext at about the stated rate.
func TestHEPrivateJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a collective key, sets up the HE circuit and proves records")
	}
	h := newHEFixtureWith(t, dpPolicy("1000", "1000"))
	f, id := h.f, h.ds.Desc.GetId()
	var steps int64
	regions := map[string]uint64{}
	for i := range 4 {
		region := []string{"north", "south", "east", "west"}[i%4]
		h.contribute(t, i%3, fitness(int64(25+9*i), int64(4000+900*i), int64(58+3*i), int64(600+40*i), i%2 == 0, region))
		steps += int64(4000 + 900*i)
		regions[region]++
	}
	alice := f.buyer(t, 0, "alice")
	desc := h.ds.Desc
	inside, total := 0, 0
	for k := range 6 {
		r := f.released(t, alice, dpSpec(desc, h.cur, "1/2"), "he-dp-"+string(rune('a'+k)))
		if r.GetRelease().GetNoisingNodes() != 2 || r.GetRelease().GetRho() != "1/2" {
			t.Fatalf("release %v: want ρ = 1/2 from the 2 nodes of the decryption set", r.GetRelease())
		}
		outs := r.GetOutputs()
		if outs[0].GetScalar().GetValue() != 4 {
			t.Errorf("count %v, want exactly 4", outs[0].GetScalar())
		}
		in := func(v float64, iv *cohortv1.Interval, truth float64) {
			total++
			if iv != nil && iv.GetLow() <= truth && truth <= iv.GetHigh() {
				inside++
			}
		}
		in(outs[1].GetScalar().GetValue(), outs[1].GetScalar().GetInterval(), float64(steps))
		for _, b := range outs[3].GetHistogram().GetBins() {
			in(float64(b.GetCount()), b.GetInterval(), float64(regions[b.GetValue()]))
		}
	}
	t.Logf("%d of %d stated 95%% intervals contain the truth", inside, total)
	if inside < total*4/5 {
		t.Errorf("only %d of %d intervals contain the truth", inside, total)
	}
	// The decryption set is the two lowest live nodes, 0 and 1: each spent
	// 6 × 1/2; node 2 released nothing and debited nothing.
	for i, want := range []string{"3", "3", "0"} {
		if all, _ := f.spent(t, i, id, "alice", h.cur); all != want {
			t.Errorf("node %d spent %s, want %s", i, all, want)
		}
	}
}

// TestPrivateJobsConcurrent: jobs submitted together all pass the quote
// (nothing is spent yet), but no node's ledger lets them overspend: at most
// the budget's worth of jobs is released, and every node's ledger ends at
// or below its total.
func TestPrivateJobsConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	f := newTestFederation(t, 3)
	desc := f.installDatasetWith(t, dpPolicy("1", "1/2"))
	cur := testSchema().Epoch.Index(time.Now())
	f.dpRecords(t, desc, 5)
	alice := f.buyer(t, 0, "alice")
	const jobs = 5
	ids := make(chan string, jobs)
	errs := make(chan error, jobs)
	for k := range jobs {
		go func() {
			sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/4"), RequestId: "c-" + string(rune('a'+k))})
			if err != nil {
				errs <- err
				return
			}
			ids <- sub.GetJob().GetJobId()
		}()
	}
	done := 0
	for range jobs {
		select {
		case err := <-errs:
			wantCode(t, "a submission the quote refuses", err, codes.FailedPrecondition)
		case id := <-ids:
			job, _ := f.awaitJob(t, alice, 0, id)
			switch job.GetState() {
			case cohortv1.JobState_JOB_STATE_DONE:
				done++
			case cohortv1.JobState_JOB_STATE_FAILED:
				if !strings.Contains(job.GetReason(), "privacy budget") {
					t.Errorf("job %s failed for another reason: %s", id, job.GetReason())
				}
			default:
				t.Errorf("job %s ended %s: %s", id, job.GetState(), job.GetReason())
			}
		}
	}
	// Safety: never more than the cap's worth. Jobs racing each other may
	// each be refused by some node that debited the others first (every
	// node orders its own debits), so the burst may release none; what
	// must hold then is liveness once the race is over, checked below.
	if done > 2 {
		t.Errorf("%d jobs of ρ = 1/4 released under a buyer cap of 1/2", done)
	}
	roomEverywhere := true
	for i := range f.nodes {
		all, mine := f.spent(t, i, desc.GetId(), "alice", cur)
		a, _ := new(big.Rat).SetString(all)
		if a.Cmp(big.NewRat(1, 2)) > 0 || all != mine {
			t.Errorf("node %d spent %s (alice %s): beyond the cap of 1/2", i, all, mine)
		}
		if a.Cmp(big.NewRat(1, 4)) > 0 {
			roomEverywhere = false
		}
	}
	// Liveness: with room for one more job of ρ = 1/4 on every node, a job
	// submitted alone is released.
	if roomEverywhere {
		sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/4"), RequestId: "c-after"})
		if err != nil {
			t.Fatalf("a job alone with room on every node: %v", err)
		}
		if job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId()); job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
			t.Errorf("a job alone with room on every node ended %s: %s", job.GetState(), job.GetReason())
		}
	} else if done == 0 {
		t.Logf("the burst released nothing and some node has no room left")
	}
}

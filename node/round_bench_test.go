package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// roundRecords is the cohort size of BenchmarkJobRound.
const roundRecords = 10_000

// BenchmarkJobRound runs the demo's statistics job (statisticsSpec) over a
// cohort of 10,000 records on the 3-node harness, from SubmitJob to DONE:
// admission, every node's cohort selection from its store, partial sums,
// combination, release, transcript signed by every node, result stored.
// It runs two federations side by side: one under the exact development
// policy, one under the discrete Gaussian policy at ρ = 1/2, where each
// node also draws its noise, embeds it in its partial and debits its
// ledger, and the coordinator checks the debits and releases with
// intervals (ReleaseNoisy). Each iteration runs one round on each,
// alternating which goes first, so that both see the same load; it
// reports the median time of each and the overhead of the noised round,
// the cost of differential privacy in a round.
//
// One record is proved and ingested; the other 9,999 are seeded into every
// node's store directly (seedContributions): real additive shares of
// random records, with that record's public inputs and proof. The round
// never re-verifies a proof (it is checked once, at ingest), so it runs
// on them as on ingested records; their transcript would not pass an
// audit. Run with a fixed count, e.g. -benchtime=5x.
func BenchmarkJobRound(b *testing.B) {
	type side struct {
		f     *testFederation
		buyer context.Context
		spec  *cohortv1.JobSpec
		times []time.Duration
	}
	epoch := testSchema().Epoch.Index(time.Now())
	var sides [2]*side
	for i, p := range []struct {
		policy *cohortv1.PrivacyPolicy
		rho    string
	}{
		{exactPolicy(), ""},
		// Budgets that no run of the benchmark exhausts.
		{dpPolicy("1000000", "1000000"), "1/2"},
	} {
		// The default message limit: the harness's 1 MiB is below a
		// transcript chunk with its framing.
		f := newTestFederation(b, 3, func(o *Options) { o.Logger, o.Limits.MaxMessageBytes = nil, 0 })
		desc := f.installDatasetWith(b, p.policy)
		f.seedContributions(b, desc.GetId(), roundRecords)
		sides[i] = &side{f: f, buyer: f.benchBuyer(b, "bench"), spec: statisticsSpec(testSchema(), epoch, p.rho)}
	}
	exact, noised := sides[0], sides[1]
	round := func(s *side, id string) {
		start := time.Now()
		s.f.runJob(b, s.buyer, s.spec, id)
		s.times = append(s.times, time.Since(start))
	}
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("round-%d", i)
		if i%2 == 0 {
			round(exact, id)
			round(noised, id)
		} else {
			round(noised, id)
			round(exact, id)
		}
	}
	// Medians: a round on a shared machine now and then takes much longer.
	ms := func(ts []time.Duration) float64 {
		slices.Sort(ts)
		k := len(ts)
		return float64((ts[(k-1)/2] + ts[k/2]).Microseconds()) / 2e3
	}
	e, d := ms(exact.times), ms(noised.times)
	b.ReportMetric(roundRecords, "records")
	b.ReportMetric(e, "exact-ms/round")
	b.ReportMetric(d, "dp-ms/round")
	b.ReportMetric(100*(d/e-1), "dp-overhead-%")
}

// statisticsSpec is the demo's statistics job on s for one epoch: the
// count; the mean of every numeric field and the variance of those among
// the moments (all of them in the demo schema); a histogram of every
// category and bool field; the correlation of the moment fields. rho is
// its privacy loss, "" for none.
func statisticsSpec(s *schema.Schema, epoch uint64, rho string) *cohortv1.JobSpec {
	spec := &cohortv1.JobSpec{DatasetId: s.ID, EpochFrom: epoch, EpochTo: epoch, Purpose: "public-health"}
	add := func(kind cohortv1.OutputKind, fields ...string) {
		spec.Outputs = append(spec.Outputs, &cohortv1.Output{Kind: kind, Fields: fields})
	}
	add(cohortv1.OutputKind_OUTPUT_KIND_COUNT)
	for _, f := range s.Fields {
		if f.Type.Numeric() {
			add(cohortv1.OutputKind_OUTPUT_KIND_MEAN, f.Name)
		}
		if f.Type.Numeric() && slices.Contains(s.Moments, f.Name) {
			add(cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, f.Name)
		}
	}
	for _, f := range s.Fields {
		if f.Type == schema.Category || f.Type == schema.Bool {
			add(cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, f.Name)
		}
	}
	add(cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, s.Moments...)
	if rho != "" {
		spec.Privacy = &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: rho}}
	}
	return spec
}

// benchBuyer creates a buyer through node 0 and returns a context carrying
// its token.
func (f *testFederation) benchBuyer(tb testing.TB, id string) context.Context {
	tb.Helper()
	return f.buyer(tb, 0, id)
}

// runJob submits spec through node 0, follows it until it ends and returns
// its id; any end but DONE fails tb.
func (f *testFederation) runJob(tb testing.TB, buyer context.Context, spec *cohortv1.JobSpec, requestID string) string {
	tb.Helper()
	sub, err := f.buyerClient(0).SubmitJob(buyer, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: requestID})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(buyer, 30*time.Minute)
	defer cancel()
	w, err := f.buyerClient(0).WatchJob(ctx, &cohortv1.WatchJobRequest{JobId: sub.GetJob().GetJobId()})
	if err != nil {
		tb.Fatal(err)
	}
	var last *cohortv1.Job
	for {
		m, err := w.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		last = m.GetJob()
	}
	if last.GetState() != cohortv1.JobState_JOB_STATE_DONE {
		tb.Fatalf("job %s ended %s: %s", last.GetJobId(), last.GetState(), last.GetReason())
	}
	return last.GetJobId()
}

// seedContributions gives dataset id n records of the current epoch on
// every node: one proved and ingested through Contribute, and n−1 written
// into each node's store directly, in a few transactions. A seeded record
// is a random record of the test schema (fixed seed), split into real
// additive shares, one per node, under its own nullifier, with the
// ingested record's public inputs, proof and terms: selection and
// summation read only the stored columns and shares, so a round runs on
// seeded records as on ingested ones, but their proofs do not bind their
// shares. For benchmarks, and for tests of what a job reads.
func (f *testFederation) seedContributions(tb testing.TB, id string, n int) {
	tb.Helper()
	f.seedRecords(tb, id, n)
}

// seedRecords is seedContributions, returning the n records seeded.
func (f *testFederation) seedRecords(tb testing.TB, id string, n int) []schema.Record {
	tb.Helper()
	return f.seedRecordsWith(tb, id, n, func(_, _ int, nf fr.Element) [32]byte { return claimLeaf(nf) })
}

// seedRecordsWith is seedRecords with the claim leaf node j stores with
// the k-th seeded record (k ≥ 1), of nullifier nf, given by leaf (the
// zero leaf: none, as for a row stored before records kept their
// leaves).
func (f *testFederation) seedRecordsWith(tb testing.TB, id string, n int, leaf func(j, k int, nf fr.Element) [32]byte) []schema.Record {
	tb.Helper()
	ctx := context.Background()
	c := f.register(tb, 0)
	first := schema.Record{
		"age": schema.IntValue(40), "steps": schema.IntValue(8000), "resting_hr": schema.IntValue(60),
		"sleep_h": schema.ScaledValue(750, 2), "smoker": schema.BoolValue(false), "region": schema.CategoryValue("north"),
	}
	recs := []schema.Record{first}
	if _, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: f.payload(tb, c, 0, payloadOptions{record: first})}); err != nil {
		tb.Fatal(err)
	}
	rows, err := f.nodes[0].store.ListContributions(ctx, id, 0, 1<<62, [32]byte{}, 1)
	if err != nil || len(rows) != 1 {
		tb.Fatalf("the ingested record: %v, %v", rows, err)
	}
	proved := rows[0]
	s := testSchema()
	rng := mrand.New(mrand.NewPCG(1, uint64(n)))
	const batch = 1000
	for start := 1; start < n; start += batch {
		shares := make([][]store.Contribution, len(f.nodes))
		for k := start; k < min(start+batch, n); k++ {
			rec := s.RandomRecord(rng)
			recs = append(recs, rec)
			v, err := s.Encode(rec)
			if err != nil {
				tb.Fatal(err)
			}
			split, err := mpc.Split(v, len(f.nodes), rand.Reader)
			if err != nil {
				tb.Fatal(err)
			}
			// A nullifier is a hash: records arrive in no order of
			// theirs, as in ingest, so that a scan in nullifier order
			// reads the rows in another order than they were written.
			kb := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("seed"), uint64(k)))
			var nf fr.Element
			nf.SetBytes(kb[:])
			row := proved
			row.Nullifier = nf.Bytes()
			row.PayloadDigest = sha256.Sum256(row.Nullifier[:])
			for j, sh := range split {
				row.ClaimLeaf = leaf(j, k, nf)
				if row.Share, err = mpc.MarshalShare(sh); err != nil {
					tb.Fatal(err)
				}
				shares[j] = append(shares[j], row)
			}
		}
		for j, tn := range f.nodes {
			err := tn.store.InTx(ctx, func(tx store.Tx) error {
				for _, row := range shares[j] {
					if _, err := tx.PutContribution(ctx, row); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
	for j, got := range f.stored(tb) {
		if got != uint64(n) {
			tb.Fatalf("node %d holds %d records, want %d", j, got, n)
		}
	}
	return recs
}

package node

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// jobPassRecords are the cohort sizes BenchmarkJobPass seeds, comma
// separated.
var jobPassRecords = flag.String("jobpass.records", "10000,100000", "cohort sizes of BenchmarkJobPass")

// BenchmarkJobPass measures one node's work for one job as a peer, against
// the cohort's size: PrepareJob (select the cohort, sign its digest) then
// ComputePartial (select it again and sum its shares) for the demo's
// statistics job, exact release, on SQLite. Records are seeded as in
// BenchmarkJobRound. It reports the time and bytes allocated per pass
// (b.ReportAllocs) and the peak heap in use during the passes above what
// was in use before them (peak-heap-MB, sampled every millisecond with
// startHeapSampler). Sizes: -jobpass.records (10,000 and 100,000 by
// default; seeding 100,000 records on 3 nodes takes a few minutes).
//
//	go test ./node/ -run '^$' -bench BenchmarkJobPass -benchtime=3x
func BenchmarkJobPass(b *testing.B) {
	benchSizes(b, "jobpass.records", *jobPassRecords, benchJobPass)
}

func benchJobPass(b *testing.B, records int) {
	f := newTestFederation(b, 3, func(o *Options) { o.Logger, o.Limits.MaxMessageBytes = nil, 0 })
	desc := f.installDatasetWith(b, exactPolicy())
	f.seedContributions(b, desc.GetId(), records)
	ctx := context.Background()
	spec := statisticsSpec(testSchema(), testSchema().Epoch.Index(time.Now()), "")
	peer := f.nodes[1].n

	alice := f.buyer(b, 0, "alice")
	peakHeap := startHeapSampler()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// The buyer's signed submission, made outside the timed pass.
		b.StopTimer()
		req := f.prepareRequest(b, alice, spec, fmt.Sprintf("pass-%d", i), time.Now().Unix())
		b.StartTimer()
		id, at := req.GetJobId(), req.GetJobTime()
		prep, _, err := peer.prepareJob(ctx, 0, req)
		if err != nil {
			b.Fatal(err)
		}
		if got := prep.GetSet().GetCohort(); got != uint64(records) {
			b.Fatalf("cohort of %d records, want %d", got, records)
		}
		if _, err := peer.computePartial(ctx, 0, &cohortv1.ComputePartialRequest{
			JobId: id, Spec: spec, JobTime: at, SetDigest: prep.GetSet().GetDigest(),
		}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records), "records")
	b.ReportMetric(peakHeap(), "peak-heap-MB")
}

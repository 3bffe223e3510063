package node

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// restartRecords is how many records BenchmarkNodeRestart seeds.
var restartRecords = flag.Int("restart.records", 10000, "records stored before BenchmarkNodeRestart restarts a node")

// BenchmarkNodeRestart measures how long a node takes to be back in
// service after a restart with -restart.records records (10,000 by
// default) stored on every node, seeded as in BenchmarkJobPass: node 1 is
// stopped and started again on its store (New, which recovers the ingests
// and jobs it was running, then Serve). It reports ready-s, from the start
// to CheckReady answering ready (its store and every peer reachable), and
// job-s, from the start to a COUNT job over the stored records, submitted
// through that node, ending DONE; baseline-job-s is that job's time
// through the same node before any restart. ns/op is a whole iteration.
//
//	go test ./node/ -run '^$' -bench NodeRestart -benchtime=5x
func BenchmarkNodeRestart(b *testing.B) {
	// The production peer timeout (30 s) rather than the tests' 5 s: on a
	// loaded machine a peer's check of a 10,000-record transcript can take
	// longer than 5 s.
	f := newTestFederation(b, 3, func(o *Options) {
		o.Logger, o.Limits.MaxMessageBytes, o.Limits.PeerTimeout = nil, 0, 30*time.Second
	})
	desc := f.installDatasetWith(b, exactPolicy())
	f.seedContributions(b, desc.GetId(), *restartRecords)
	buyer := f.buyer(b, 1, "bench")
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())
	tn := f.nodes[1]
	spec := &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	// runJob submits a COUNT job through node 1 and waits for it DONE.
	runJob := func(req string, since time.Time) {
		var sub *cohortv1.SubmitJobResponse
		var err error
		for {
			// A peer may still be reconnecting to the restarted node.
			sub, err = f.buyerClient(1).SubmitJob(buyer, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: req})
			if err == nil || time.Since(since) > time.Minute {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			b.Fatal(err)
		}
		for {
			j, err := f.buyerClient(1).GetJob(buyer, &cohortv1.GetJobRequest{JobId: sub.GetJob().GetJobId()})
			if err != nil {
				b.Fatal(err)
			}
			switch st := j.GetJob().GetState(); st {
			case cohortv1.JobState_JOB_STATE_DONE:
				if j.GetJob().GetEligibleRecords() != uint64(*restartRecords) {
					b.Fatalf("job %s counted %d records, want %d", req, j.GetJob().GetEligibleRecords(), *restartRecords)
				}
				return
			case cohortv1.JobState_JOB_STATE_SUBMITTED, cohortv1.JobState_JOB_STATE_ADMITTED,
				cohortv1.JobState_JOB_STATE_AGGREGATING, cohortv1.JobState_JOB_STATE_RELEASING:
			default:
				b.Fatalf("job %s ended %s: %s", req, st, j.GetJob().GetReason())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The same job through a node that did not restart, for comparison.
	before := time.Now()
	runJob("baseline", before)
	baseline := time.Since(before)

	var ready, job time.Duration
	b.ResetTimer()
	for i := range b.N {
		tn.stop()
		relisten(b, tn)
		start := time.Now()
		f.start(tn)
		for !tn.n.CheckReady(ctx).Ready {
			if time.Since(start) > time.Minute {
				b.Fatal("node 1 not ready a minute after its restart")
			}
			time.Sleep(5 * time.Millisecond)
		}
		ready += time.Since(start)
		runJob(fmt.Sprintf("restart-%d", i), start)
		job += time.Since(start)
	}
	b.ReportMetric(baseline.Seconds(), "baseline-job-s")
	b.ReportMetric(ready.Seconds()/float64(b.N), "ready-s")
	b.ReportMetric(job.Seconds()/float64(b.N), "job-s")
}

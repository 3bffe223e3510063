package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cohort-dev/cohort/store"
)

// jobRecords are the cohort sizes BenchmarkJob seeds, comma separated.
var jobRecords = flag.String("job.records", "10000,100000", "cohort sizes of BenchmarkJob")

// jobSettle has BenchmarkJob wait, untimed, after each job until every
// node stores its transcript.
var jobSettle = flag.Bool("job.settle", true, "BenchmarkJob: start each job once every node has stored the previous job's transcript")

// jobWarm has BenchmarkJob run one job, untimed and unmeasured, before
// the jobs it measures.
var jobWarm = flag.Bool("job.warm", false, "BenchmarkJob: run one job before the measured ones, so that none is the first over its records")

// jobProfile names a file for a CPU profile of BenchmarkJob's jobs alone,
// without the seeding before them; each size writes its own, suffixed with
// its name.
var jobProfile = flag.String("job.cpuprofile", "", "write a CPU profile of BenchmarkJob's jobs to this file")

// BenchmarkJob measures a whole MPC job against the cohort's size: three
// nodes on loopback (real gRPC, mTLS between peers, SQLite), the demo's
// statistics job (statisticsSpec) under the exact development policy, from
// SubmitJob to DONE — admission, every node's selection and partial sum,
// combination, release, the transcript built and signed by every node, the
// result stored. Records are seeded on every node as in BenchmarkJobRound
// (seedContributions: one ingested, the rest written as ingest would have
// written them). Sizes: -job.records (10,000 and 100,000 by default; 1,000,000
// is opt-in: seeding it takes most of the run).
//
// A job is DONE once the coordinator has stored it; its peers then store
// their copies of its transcript (publishing, §9.1 of docs/design.md).
// With -job.settle (the default) the benchmark waits for that, its timer
// stopped, before the next job: each job starts on an idle federation and
// the time per job is its latency from SubmitJob to DONE. With
// -job.settle=false jobs run back to back, and each job's time includes
// what the previous job's publishing takes from it.
//
// The first job over freshly seeded records is slower than the next ones:
// its nodes fault the database into memory and hash every claim subtree
// for the first time (later jobs over the same records take the subtrees
// from their cache). It is measured with the others unless -job.warm runs
// it first, untimed, so that the time per job is a later job's.
//
// Besides the time per job it reports peak-heap-MB, the largest heap in
// use during the jobs above what was in use before them (sampled every
// millisecond from runtime/metrics, garbage not yet collected
// included), and cpu-s/op, the CPU time of all three nodes per job,
// publishing included whether or not it is timed. The
// three nodes share the process, so the heap figure is their sum and bounds
// each node's.
//
//	go test ./node/ -run '^$' -bench 'BenchmarkJob$' -benchtime=3x
func BenchmarkJob(b *testing.B) { benchSizes(b, "job.records", *jobRecords, benchJob) }

// benchSizes runs bench as a sub-benchmark records=N for each cohort size
// of list, the comma-separated value of the flag named flagName.
func benchSizes(b *testing.B, flagName, list string, bench func(b *testing.B, records int)) {
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("-%s: %q is not a cohort size", flagName, f)
		}
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) { bench(b, n) })
	}
}

func benchJob(b *testing.B, records int) {
	// The default message limit: the harness's 1 MiB is below a transcript
	// chunk with its framing. A peer call may take ten minutes: a peer
	// checks the whole transcript in one SignTranscript call, which over
	// 100,000 records on a loaded machine outlasts both the harness's 5 s
	// and the default 30 s.
	f := newTestFederation(b, 3, func(o *Options) {
		o.Logger, o.Limits.MaxMessageBytes, o.Limits.PeerTimeout = nil, 0, 10*time.Minute
	})
	desc := f.installDatasetWith(b, exactPolicy())
	f.seedContributions(b, desc.GetId(), records)
	buyer := f.benchBuyer(b, "bench")
	spec := statisticsSpec(testSchema(), testSchema().Epoch.Index(time.Now()), "")
	if *jobWarm {
		f.waitPublished(b, f.runJob(b, buyer, spec, "job-warm"))
	}

	if *jobProfile != "" {
		name := *jobProfile + "." + strings.NewReplacer("/", "_", "=", "-").Replace(b.Name())
		out, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	peak := startHeapSampler()
	cpu0 := processCPU(b)
	phases0 := f.phaseSeconds(b)
	b.ReportAllocs()
	b.ResetTimer()
	jobs := 0
	for i := 0; b.Loop(); i++ {
		id := f.runJob(b, buyer, spec, fmt.Sprintf("job-%d", i))
		jobs++
		if *jobSettle {
			b.StopTimer()
			f.waitPublished(b, id)
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(records), "records")
	b.ReportMetric(peak(), "peak-heap-MB")
	b.ReportMetric((processCPU(b)-cpu0).Seconds()/float64(jobs), "cpu-s/op")
	// Where a job's time goes: its coordinator's round, phase by phase
	// (cohort_job_phase_seconds).
	phases := f.phaseSeconds(b)
	for p, name := range phaseNames {
		b.ReportMetric((phases[p]-phases0[p])*1000/float64(jobs), name+"-ms/op")
	}
}

// phaseTimes is how many jobs node i timed in round phase p
// (phaseSelect…) as their coordinator, and the seconds they spent in it
// (cohort_job_phase_seconds).
func (f *testFederation) phaseTimes(tb testing.TB, i, p int) (n uint64, seconds float64) {
	tb.Helper()
	var m dto.Metric
	if err := f.nodes[i].n.metrics.jobPhases.WithLabelValues(phaseNames[p]).(prometheus.Metric).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// phaseSeconds is the time f's nodes spent in each round phase of the
// jobs they coordinated so far.
func (f *testFederation) phaseSeconds(tb testing.TB) (out [len(phaseNames)]float64) {
	for i := range f.nodes {
		for p := range phaseNames {
			_, s := f.phaseTimes(tb, i, p)
			out[p] += s
		}
	}
	return out
}

// waitPublished waits until every node of f stores job id's transcript.
func (f *testFederation) waitPublished(tb testing.TB, id string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for i, nd := range f.nodes {
		for {
			_, err := nd.store.GetTranscriptInfo(context.Background(), id)
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrNotFound) || time.Now().After(deadline) {
				tb.Fatalf("node %d does not store the transcript of job %s: %v", i, id, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// processCPU is the CPU time (user and system) the process has used so far:
// on a shared machine, a steadier measure of a job's work than its wall time.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startHeapSampler collects garbage, then samples the heap in use every
// millisecond until the returned function is called; that function returns
// the largest sample above the heap in use at the start, in MiB. It reads
// runtime/metrics' count of the bytes in heap objects (MemStats.HeapAlloc),
// which, unlike runtime.ReadMemStats, does not stop the world a thousand
// times a second around the job it measures.
func startHeapSampler() func() float64 {
	runtime.GC()
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		rtmetrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := heap()
	var (
		peak atomic.Uint64
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if h := heap(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	return func() float64 {
		close(stop)
		wg.Wait()
		if p := peak.Load(); p > base {
			return float64(p-base) / (1 << 20)
		}
		return 0
	}
}

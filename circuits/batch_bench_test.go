package circuits

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBatchVerify compares, per batch size n, VerifyBatch ("batch")
// with gnark's verifier run on each statement in parallel across the CPUs
// ("each", the verifier Cohort used before batching), on the MPC test
// circuit, with proofs decoded from their encoding as ingest and the audit
// receive them. proofs/s is the figure to compare; cpu-µs/proof, the CPU
// time of the process per proof, is the steadier one on a shared machine.
func BenchmarkBatchVerify(b *testing.B) {
	v, good := mustBatch(b)
	good = slices.Clone(good)
	for i := range good {
		enc, err := good[i].Proof.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		p := new(Proof)
		if err := p.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
		good[i] = Statement{Proof: p, Public: good[i].Public}
	}
	for _, n := range []int{1, 8, 32, 128, 512} {
		batch := make([]Statement, n)
		for i := range batch {
			batch[i] = good[i%len(good)]
		}
		b.Run(fmt.Sprintf("batch/n=%d", n), func(b *testing.B) {
			cpu := processCPU(b)
			for b.Loop() {
				for i, err := range v.VerifyBatch(batch) {
					if err != nil {
						b.Fatalf("statement %d: %v", i, err)
					}
				}
			}
			reportRates(b, n, cpu)
		})
		b.Run(fmt.Sprintf("each/n=%d", n), func(b *testing.B) {
			cpu := processCPU(b)
			for b.Loop() {
				verifyEach(b, v, batch)
			}
			reportRates(b, n, cpu)
		})
	}
}

// reportRates reports proofs/s and cpu-µs/proof for b.N batches of n
// proofs, the process having used cpu0 of CPU time before them.
func reportRates(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "proofs/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(n*b.N), "cpu-µs/proof")
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func verifyEach(b *testing.B, v *Verifier, stmts []Statement) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(stmts)) {
		wg.Go(func() {
			for i := range next {
				if err := v.Verify(stmts[i]); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range stmts {
		next <- i
	}
	close(next)
	wg.Wait()
}

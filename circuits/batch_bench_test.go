package circuits

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// BenchmarkBatchVerify compares, per batch size n, VerifyBatch ("batch")
// with gnark's verifier run on each statement in parallel across the CPUs
// ("each", the verifier Cohort used before batching), on the MPC test
// circuit. proofs/s is the figure to compare.
func BenchmarkBatchVerify(b *testing.B) {
	v, good := mustBatch(b)
	for _, n := range []int{1, 8, 32, 128} {
		batch := make([]Statement, n)
		for i := range batch {
			batch[i] = good[i%len(good)]
		}
		b.Run(fmt.Sprintf("batch/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				for i, err := range v.VerifyBatch(batch) {
					if err != nil {
						b.Fatalf("statement %d: %v", i, err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
		b.Run(fmt.Sprintf("each/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				verifyEach(b, v, batch)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
	}
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

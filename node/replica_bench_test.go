//go:build unix

package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// BenchmarkReplicaIngest measures uploads through node 0 on PostgreSQL
// served by one replica, then by two (docs/design.md §3.4), with nodes 1
// and 2 beside it: 8 concurrent clients, payloads proved beforehand. Every
// node runs in this process, so on one machine two replicas share its
// cores and the rate is bounded; cpu-ms/contribution, the process's CPU
// time per upload over the whole federation, is what predicts the gain
// of replicas on separate machines (the same per upload means replicas
// add no work). Needs COHORT_TEST_POSTGRES_DSN; run with a fixed count,
// e.g. -benchtime=64x.
func BenchmarkReplicaIngest(b *testing.B) {
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			f, rb := newReplicaFederation(b)
			f.installDataset(b)
			payloads := f.proveMany(b, b.N)
			vias := []int{0, viaB}[:replicas]
			for _, tn := range append(f.nodes, rb) {
				if _, err := tn.n.datasets.get(context.Background(), testSchema().ID); err != nil {
					b.Fatal(err)
				}
			}
			cpu0 := processCPU(b)
			b.ResetTimer()
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			for w := range *ingestClients {
				wg.Go(func() {
					c := f.contributor(vias[w%len(vias)])
					for {
						i := next.Add(1) - 1
						if i >= int64(len(payloads)) {
							return
						}
						if _, err := c.Contribute(context.Background(), &cohortv1.ContributeRequest{DatasetId: testSchema().ID, Payload: payloads[i]}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			elapsed, cpu := time.Since(start), processCPU(b)-cpu0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "contributions/s")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/contribution")
		})
	}
}

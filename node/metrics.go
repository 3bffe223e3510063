package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// metrics are the node's Prometheus series. With no registerer they are
// still updated, just not exported.
type metrics struct {
	rpcs            *prometheus.CounterVec
	rpcSeconds      *prometheus.HistogramVec
	contributions   *prometheus.CounterVec
	registryMembers prometheus.Gauge
	verifySecs      prometheus.Histogram
	peerFailures    *prometheus.CounterVec
	jobEvents       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_rpc_total", Help: "gRPC calls handled, by surface, method and status code.",
		}, []string{"surface", "method", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cohort_rpc_duration_seconds", Help: "gRPC call latency.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"surface", "method"}),
		contributions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_contributions_total", Help: "Contributions handled, by role (coordinator, peer) and result.",
		}, []string{"role", "result"}),
		registryMembers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cohort_registry_members", Help: "Members in the registry.",
		}),
		verifySecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cohort_proof_verify_seconds", Help: "Groth16 verification time per contribution.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12),
		}),
		peerFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_peer_call_failures_total", Help: "Failed calls to peers, by peer.",
		}, []string{"peer"}),
		jobEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_jobs_total", Help: "Jobs coordinated by this node, by event (submitted, done, rejected, failed, cancelled).",
		}, []string{"event"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.rpcs, m.rpcSeconds, m.contributions, m.registryMembers, m.verifySecs, m.peerFailures, m.jobEvents} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) rpc(surface, method string, code codes.Code, d time.Duration) {
	m.rpcs.WithLabelValues(surface, method, code.String()).Inc()
	m.rpcSeconds.WithLabelValues(surface, method).Observe(d.Seconds())
}

package node

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus series. With no registerer they are
// still updated, just not exported.
type metrics struct {
	// apiRPC and peerRPC are the standard gRPC server metrics
	// (grpc_server_handled_total, grpc_server_handling_seconds, …), one
	// set per listener, told apart by the constant label surface.
	apiRPC, peerRPC *grpcprom.ServerMetrics
	contributions   *prometheus.CounterVec
	registryMembers prometheus.Gauge
	verifySecs      prometheus.Histogram
	proofBatch      prometheus.Histogram
	peerFailures    *prometheus.CounterVec
	jobEvents       *prometheus.CounterVec
	jobPhases       *prometheus.HistogramVec
	signed          *prometheus.CounterVec
	published       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		apiRPC:  newServerMetrics("api"),
		peerRPC: newServerMetrics("peer"),
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
		proofBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cohort_proof_batch_size", Help: "Proofs of concurrent uploads verified together in one batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		peerFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_peer_call_failures_total", Help: "Failed calls to peers, by peer.",
		}, []string{"peer"}),
		jobEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_jobs_total", Help: "Jobs coordinated by this node, by event (submitted, done, rejected, failed, cancelled).",
		}, []string{"event"}),
		jobPhases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cohort_job_phase_seconds",
			Help:    "Time the jobs this node coordinated spent in each phase of their round (select, partial, transcript, sign, release; docs/design.md §7.7).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"phase"}),
		signed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_transcripts_signed_total",
			Help: "Job transcripts this node signed as a peer, by where their records section came from: own (the section it wrote, spliced in) or sent (streamed by the coordinator).",
		}, []string{"records"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_published_transcripts_total",
			Help: "Transcripts another node published and this node stored, by form (bundle: sent whole; signatures: rebuilt from the transcript this node kept).",
		}, []string{"form"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.apiRPC, m.peerRPC, m.contributions, m.registryMembers, m.verifySecs, m.proofBatch, m.peerFailures, m.jobEvents, m.jobPhases, m.signed, m.published} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// newServerMetrics is go-grpc-middleware's Prometheus server metrics with
// a handling-time histogram, labelled surface="api" or "peer".
func newServerMetrics(surface string) *grpcprom.ServerMetrics {
	l := prometheus.Labels{"surface": surface}
	return grpcprom.NewServerMetrics(
		grpcprom.WithServerCounterOptions(grpcprom.WithConstLabels(l)),
		grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramConstLabels(l),
			grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(0.001, 4, 10)),
		),
	)
}

// server returns the gRPC server metrics of a surface ("api" or "peer").
func (m *metrics) server(surface string) *grpcprom.ServerMetrics {
	if surface == "peer" {
		return m.peerRPC
	}
	return m.apiRPC
}

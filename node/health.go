package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Liveness and readiness (docs/design.md §3.2).
//
// A node is live while its process serves HTTP at all (/healthz). It is
// ready (/readyz, and the gRPC health service's SERVING) when its store
// answers and every other node of the federation answers a health check on
// its peer listener: an upload needs every node to commit it, and a job
// every node's partial, so a node that cannot reach one of them can take
// neither. Readiness is recomputed every readyInterval in the background and
// on every /readyz request.

// readyTimeout bounds one readiness check: the store's ping and the peers'
// health checks run under it.
const readyTimeout = 2 * time.Second

// readyInterval is how often the gRPC health status is brought up to date.
const readyInterval = 5 * time.Second

// Readiness is what /readyz reports.
type Readiness struct {
	Ready bool `json:"ready"`
	// Store is empty when the store answered, else why it did not.
	Store string `json:"store,omitempty"`
	// Peers maps each other node's index to "" (it answered) or why not.
	Peers map[uint32]string `json:"peers"`
	// PeersUp counts the peers that answered, of PeersNeeded.
	PeersUp     int `json:"peers_up"`
	PeersNeeded int `json:"peers_needed"`
}

// CheckReady pings the store and every peer, within readyTimeout.
func (n *Node) CheckReady(ctx context.Context) Readiness {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	r := Readiness{Peers: map[uint32]string{}, PeersNeeded: len(n.others())}
	if err := n.store.Ping(ctx); err != nil {
		r.Store = err.Error()
	}
	type answer struct {
		peer uint32
		err  error
	}
	answers := make(chan answer, len(n.others()))
	for _, i := range n.others() {
		go func() {
			answers <- answer{i, n.pingPeer(ctx, i)}
		}()
	}
	for range n.others() {
		a := <-answers
		if a.err != nil {
			r.Peers[a.peer] = a.err.Error()
			continue
		}
		r.Peers[a.peer] = ""
		r.PeersUp++
	}
	r.Ready = r.Store == "" && r.PeersUp >= r.PeersNeeded
	return r
}

// pingPeer asks node i's peer listener for its health over mutual TLS.
func (n *Node) pingPeer(ctx context.Context, i uint32) error {
	c, err := n.peers.clientConn(i)
	if err != nil {
		return err
	}
	resp, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("node %d answers %s", i, s)
	}
	return nil
}

// readinessLoop keeps the gRPC health status in step with CheckReady until
// ctx ends. The peer listener's health answers SERVING whenever the process
// serves, whatever this node's own readiness, so that two nodes that each
// wait for the other do not hold each other unready.
func (n *Node) readinessLoop(ctx context.Context) {
	t := time.NewTicker(readyInterval)
	defer t.Stop()
	for {
		n.readinessOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readinessOnce sets the gRPC readiness status from one CheckReady.
func (n *Node) readinessOnce(ctx context.Context) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if n.CheckReady(ctx).Ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	n.health.SetServingStatus(ReadinessService, st)
}

// ReadinessService is the gRPC health service name whose status follows
// readiness; the empty name ("") follows liveness.
const ReadinessService = "cohort.v1.Readiness"

// HealthHandler serves /healthz (200 while the process serves) and /readyz
// (200 when ready, 503 otherwise, with the Readiness as JSON either way).
// cohort node mounts it on the metrics listener.
func (n *Node) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := n.CheckReady(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !rd.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rd)
	})
	return mux
}

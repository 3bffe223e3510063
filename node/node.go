package node

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cohort-dev/cohort/audit"
)

// Node is one running federation node: its gRPC services, its view of the
// registry, its datasets and its peers.
type Node struct {
	*env
	started time.Time

	peers    *peerConns
	datasets *datasets
	registry *registryTree
	cer      *ceremonies
	keygens  *keygens
	jobs     *jobs
	ingest   chan struct{} // semaphore bounding concurrent verification
	records  *recordLocks
	limiter  *clientLimiter // public API rate and heavy-stream limits
	blobs    *sharedBlobs   // stored blobs being streamed, read once
	signing  *peerSlots     // transcripts being received for signing, per peer
	witness  *witnesses     // what this node took of its cohorts for their transcripts
	reads    *preparedReads // what this node read of its cohorts as it prepared jobs, as a peer
	// subtrees holds the claim-tree subtrees this node hashed, for jobs
	// over the same records (audit.ClaimSubtrees).
	subtrees *audit.ClaimSubtrees

	kept           *keptTranscripts // transcripts this node signed, for a publish by signatures
	sendingNotices sync.Map         // noticeKey → struct{}: job notices being sent

	claimKeys  claimKeys  // the federation's claim keys, loaded on first use
	claimSetup sync.Mutex // held while this node coordinates the claim keys' ceremony

	api, peer *grpc.Server
	health    *health.Server

	cancel context.CancelFunc
}

// peerSet gives the node's peer connections to call and fanOut.
func (n *Node) peerSet() *peerConns { return n.peers }

// Index is this node's index in the federation.
func (n *Node) Index() uint32 { return n.opts.Index }

// Serve serves the public API on api and the peer API on peer until ctx
// ends or Stop is called, then stops gracefully. It returns the first
// serving error, or nil after a graceful stop.
func (n *Node) Serve(ctx context.Context, api, peer net.Listener) error {
	n.metrics.apiRPC.InitializeMetrics(n.api)
	n.metrics.peerRPC.InitializeMetrics(n.peer)
	n.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	n.health.SetServingStatus(ReadinessService, healthpb.HealthCheckResponse_NOT_SERVING)
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.readinessLoop(n.ctx)
	}()
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.stateLoop()
	}()
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.jobs.leaseLoop(n.ctx, n.started, n.settleOrphans)
	}()
	if n.opts.Index != n.opts.Sequencer {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			n.registry.catchUpLoop(n.ctx)
		}()
	}
	errc := make(chan error, 2)
	go func() { errc <- n.api.Serve(api) }()
	go func() { errc <- n.peer.Serve(peer) }()
	n.log.Info("serving", "api", api.Addr().String(), "peer", peer.Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			err = nil
		}
	}
	n.Stop()
	return err
}

// Stop stops serving: in-flight calls finish (up to a bound), background
// work is cancelled and waited for.
func (n *Node) Stop() {
	n.health.Shutdown()
	n.cancel()
	done := make(chan struct{})
	go func() {
		n.api.GracefulStop()
		n.peer.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		n.api.Stop()
		n.peer.Stop()
	}
	n.bg.Wait()
	n.peers.close()
	n.kept.close()
	n.reads.clear()
}

package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// Node is one running federation node: its gRPC services, its view of the
// registry, its datasets and its peers.
type Node struct {
	opts    Options
	log     *slog.Logger
	store   store.Store
	now     func() time.Time
	started time.Time
	metrics *metrics

	peers    *peers
	datasets *datasets
	registry *registry
	cer      *ceremonies
	keygens  *keygens
	jobs     *jobs
	ingest   chan struct{} // semaphore bounding concurrent verification

	api, peer *grpc.Server
	health    *health.Server

	bg     sync.WaitGroup // background work (ceremonies, catch-up)
	ctx    context.Context
	cancel context.CancelFunc
}

// New builds a node: it checks the options, loads the registry from the
// store and registers the services. It listens on nothing until Serve.
func New(ctx context.Context, o Options) (*Node, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.Limits = o.Limits.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := &Node{
		opts:    o,
		log:     o.Logger.With("node", o.Index),
		store:   o.Store,
		now:     o.Now,
		started: o.Now(),
		ingest:  make(chan struct{}, o.Limits.IngestConcurrency),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	var err error
	if n.metrics, err = newMetrics(o.Metrics); err != nil {
		return nil, err
	}
	n.peers = newPeers(n)
	n.datasets = newDatasets(n)
	n.cer = newCeremonies()
	n.keygens = newKeygens()
	n.jobs = newJobs(n)
	if n.registry, err = loadRegistry(ctx, n); err != nil {
		return nil, err
	}
	if err := n.jobs.recover(ctx); err != nil {
		return nil, err
	}

	common := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.Limits.MaxMessageBytes),
		grpc.MaxSendMsgSize(o.Limits.MaxMessageBytes),
		grpc.MaxConcurrentStreams(o.Limits.MaxConcurrentStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: o.Limits.KeepaliveTime, Timeout: o.Limits.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: o.Limits.MinClientPingInterval, PermitWithoutStream: true}),
	}
	apiOpts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(n.unaryInterceptor("api")),
		grpc.ChainStreamInterceptor(n.streamInterceptor("api")),
	}, common...)
	if o.APITLS != nil {
		apiOpts = append(apiOpts, grpc.Creds(credentials.NewTLS(o.APITLS)))
	}
	n.api = grpc.NewServer(apiOpts...)
	n.health = health.NewServer()
	cohortv1.RegisterContributorServiceServer(n.api, &contributorService{n: n})
	cohortv1.RegisterAdminServiceServer(n.api, &adminService{n: n})
	cohortv1.RegisterAuditServiceServer(n.api, &auditService{n: n})
	cohortv1.RegisterBuyerServiceServer(n.api, &buyerService{n: n})
	healthpb.RegisterHealthServer(n.api, n.health)
	reflection.Register(n.api)

	peerOpts := append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(o.PeerServerTLS)),
		grpc.ChainUnaryInterceptor(n.unaryInterceptor("peer"), n.peerUnaryAuth),
		grpc.ChainStreamInterceptor(n.streamInterceptor("peer"), n.peerStreamAuth),
	}, common...)
	n.peer = grpc.NewServer(peerOpts...)
	cohortv1.RegisterPeerServiceServer(n.peer, &peerService{n: n})
	healthpb.RegisterHealthServer(n.peer, n.health)
	return n, nil
}

// Index is this node's index in the federation.
func (n *Node) Index() uint32 { return n.opts.Index }

// Serve serves the public API on api and the peer API on peer until ctx
// ends or Stop is called, then stops gracefully. It returns the first
// serving error, or nil after a graceful stop.
func (n *Node) Serve(ctx context.Context, api, peer net.Listener) error {
	n.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
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
}

// sign returns this node's signature over a statement's bytes.
func (n *Node) sign(msg []byte) *cohortv1.NodeSignature {
	return &cohortv1.NodeSignature{
		NodeIndex: n.opts.Index,
		Scheme:    cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519,
		Signature: ed25519.Sign(n.opts.Signing, msg),
	}
}

// verifySig checks a peer's signature over msg.
func (n *Node) verifySig(from uint32, msg []byte, sig *cohortv1.NodeSignature) error {
	if sig == nil || sig.GetNodeIndex() != from || int(from) >= len(n.opts.Members) ||
		sig.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 {
		return fmt.Errorf("node %d: signature missing or from the wrong signer", from)
	}
	if !ed25519.Verify(n.opts.Members[from].Signing, msg, sig.GetSignature()) {
		return fmt.Errorf("node %d: signature does not verify", from)
	}
	return nil
}

// others lists the indices of every node but this one.
func (n *Node) others() []uint32 {
	out := make([]uint32, 0, len(n.opts.Members)-1)
	for i := range n.opts.Members {
		if uint32(i) != n.opts.Index {
			out = append(out, uint32(i))
		}
	}
	return out
}

// signingKeys lists the federation's signing keys by node index.
func (n *Node) signingKeys() []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(n.opts.Members))
	for i, m := range n.opts.Members {
		out[i] = m.Signing
	}
	return out
}

package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cohort-dev/cohort/audit"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/cohort-dev/cohort/store"
)

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
	if o.ReplicaID == "" {
		id, err := newReplicaID()
		if err != nil {
			return nil, err
		}
		o.ReplicaID = id
	}
	e := &env{opts: o, log: o.Logger.With("node", o.Index, "replica", o.ReplicaID), store: o.Store, now: o.Now, bg: new(sync.WaitGroup)}
	var err error
	if e.metrics, err = newMetrics(o.Metrics); err != nil {
		return nil, err
	}
	n := &Node{env: e, started: o.Now(), ingest: make(chan struct{}, o.Limits.IngestConcurrency),
		limiter: newClientLimiter(o.Limits, o.Now)}
	e.ctx, n.cancel = context.WithCancel(context.Background())
	n.blobs = newSharedBlobs(e.ctx)
	n.signing = newPeerSlots("transcripts to sign", len(o.Members), transcriptsPerPeer)
	n.witness = newWitnesses()
	n.reads = newPreparedReads()
	n.subtrees = audit.NewClaimSubtrees(maxClaimSubtrees)
	n.kept = newKeptTranscripts()
	n.peers = newPeers(e)
	n.datasets = newDatasets(e, n.ingest)
	n.records = newRecordLocks()
	n.cer = newCeremonies()
	n.keygens = newKeygens()
	n.jobs = newJobs(e, func(ctx context.Context, j store.Job) { (&jobRun{n: n, job: j}).run(ctx) })
	n.jobs.aborted = n.abortPeers
	if n.registry, err = loadRegistry(ctx, e, n.peers); err != nil {
		return nil, err
	}
	// Beaten before it serves, so that no other replica takes an ingest
	// this one forwards for one of a replica that never beat.
	n.jobs.heartbeat(ctx, n.started)
	if err := n.recoverIngests(ctx); err != nil {
		return nil, err
	}
	if err := n.jobs.recover(ctx); err != nil {
		return nil, err
	}
	n.failOrphanedSetups(ctx, o.ReplicaID)

	common := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.Limits.MaxMessageBytes),
		grpc.MaxSendMsgSize(o.Limits.MaxMessageBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: o.Limits.KeepaliveTime, Timeout: o.Limits.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: o.Limits.MinClientPingInterval, PermitWithoutStream: true}),
	}
	apiOpts := append([]grpc.ServerOption{
		grpc.MaxConcurrentStreams(o.Limits.MaxAPIStreams),
		grpc.ChainUnaryInterceptor(n.unaryInterceptor("api"), n.publicUnaryLimit, n.apiAuthUnary),
		grpc.ChainStreamInterceptor(n.streamInterceptor("api"), n.publicStreamLimit, n.apiAuthStream),
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
		grpc.MaxConcurrentStreams(o.Limits.MaxConcurrentStreams),
		grpc.ChainUnaryInterceptor(n.unaryInterceptor("peer"), n.peerUnaryAuth),
		grpc.ChainStreamInterceptor(n.streamInterceptor("peer"), n.peerStreamAuth),
	}, common...)
	n.peer = grpc.NewServer(peerOpts...)
	cohortv1.RegisterPeerServiceServer(n.peer, &peerService{n: n})
	healthpb.RegisterHealthServer(n.peer, n.health)
	return n, nil
}

package node

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/store"
)

// Member is one node of the federation as every node knows it.
type Member struct {
	Index       uint32
	Name        string
	APIAddress  string
	PeerAddress string
	Seal        *seal.PublicKey
	Signing     ed25519.PublicKey
}

// Limits bound what a node accepts and how long it waits.
type Limits struct {
	// MaxMessageBytes bounds every gRPC message received and sent (default
	// 16 MiB, at least MinMessageBytes).
	MaxMessageBytes int
	// MaxConcurrentStreams bounds the streams of one peer connection
	// (default 256).
	MaxConcurrentStreams uint32
	// MaxAPIStreams bounds the streams of one connection to the public API
	// (default 32); a client opening more waits for one to end.
	MaxAPIStreams uint32
	// MaxTranscriptBytes bounds a job transcript (or bundle) a peer
	// accepts for signing or storing (default 4 GiB: more than the
	// largest MPC transcript, 2^20 records of about 500 bytes, and some
	// 30,000 HE records of one bgv-n12-q109 ciphertext each). A
	// transcript is spooled to a file under TempDir and read as a
	// stream, never held in memory (docs/design.md §7.6), so this bounds
	// disk, not memory. Larger is refused with ResourceExhausted before
	// any of it is read.
	MaxTranscriptBytes uint64
	// PublicRate and PublicBurst are the token bucket of one client
	// address on the contributor, buyer and audit services: PublicRate
	// calls per second on average, PublicBurst at once (defaults 100 and
	// 200). A call over it is refused with ResourceExhausted and a
	// RetryInfo detail.
	PublicRate  float64
	PublicBurst int
	// HeavyStreams bounds the streams of whole proving keys, ceremony
	// transcripts and job bundles served at once by the node (default 16),
	// HeavyStreamsPerClient those of one client address (default 4).
	HeavyStreams, HeavyStreamsPerClient int
	// KeepaliveTime and KeepaliveTimeout: the server pings a connection idle
	// for KeepaliveTime and closes it if no answer comes within
	// KeepaliveTimeout (defaults 30 s, 10 s).
	KeepaliveTime, KeepaliveTimeout time.Duration
	// MinClientPingInterval: clients pinging more often are disconnected
	// (default 10 s).
	MinClientPingInterval time.Duration
	// PeerTimeout bounds each call to a peer (default 30 s); ceremony calls,
	// which carry large blobs and heavy computation, get CeremonyTimeout.
	PeerTimeout time.Duration
	// CeremonyTimeout bounds each ceremony call to a peer (default 30 min).
	CeremonyTimeout time.Duration
	// IngestConcurrency bounds the proof batches verified and the shares
	// opened at once (default 2·GOMAXPROCS); others wait.
	IngestConcurrency int
	// IngestBatch bounds the proofs of concurrent uploads verified as one
	// batch (default 32); 1 verifies each proof alone with gnark's verifier.
	IngestBatch int
	// IngestLinger is how long a batch that follows another waits for its
	// queue to fill to IngestBatch before it is verified (default 2 ms;
	// negative: not at all). A proof on an idle node never waits.
	IngestLinger time.Duration
	// EpochGrace is how many epochs before the current one still accept
	// contributions (default 1: the current and the previous epoch).
	EpochGrace uint64
	// MaxCatchUpBacklog bounds the payloads this node holds for one peer
	// that is down (docs/design.md §7.5; default 10000); beyond it an upload
	// that peer cannot acknowledge is refused. Negative: no upload is
	// acknowledged unless every node acknowledged it.
	MaxCatchUpBacklog int
	// JobLease is how long a replica's claim on a job it coordinates lasts
	// unless renewed (docs/design.md §3.4; default 30 s). The replica
	// renews its leases, beats its heartbeat and looks for jobs to claim
	// every third of it; another replica takes a job over within about
	// 1⅓ JobLease of its holder's death.
	JobLease time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 16 << 20
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = 256
	}
	if l.MaxAPIStreams == 0 {
		l.MaxAPIStreams = 32
	}
	if l.MaxTranscriptBytes == 0 {
		l.MaxTranscriptBytes = DefaultMaxTranscriptBytes
	}
	if l.PublicRate <= 0 {
		l.PublicRate = 100
	}
	if l.PublicBurst <= 0 {
		l.PublicBurst = 200
	}
	if l.HeavyStreams <= 0 {
		l.HeavyStreams = 16
	}
	if l.HeavyStreamsPerClient <= 0 {
		l.HeavyStreamsPerClient = 4
	}
	if l.KeepaliveTime <= 0 {
		l.KeepaliveTime = 30 * time.Second
	}
	if l.KeepaliveTimeout <= 0 {
		l.KeepaliveTimeout = 10 * time.Second
	}
	if l.MinClientPingInterval <= 0 {
		l.MinClientPingInterval = 10 * time.Second
	}
	if l.PeerTimeout <= 0 {
		l.PeerTimeout = 30 * time.Second
	}
	if l.JobLease <= 0 {
		l.JobLease = 30 * time.Second
	}
	if l.CeremonyTimeout <= 0 {
		l.CeremonyTimeout = 30 * time.Minute
	}
	if l.IngestConcurrency <= 0 {
		l.IngestConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if l.EpochGrace == 0 {
		l.EpochGrace = 1
	}
	if l.IngestBatch <= 0 {
		l.IngestBatch = 32
	}
	if l.IngestLinger == 0 {
		l.IngestLinger = 2 * time.Millisecond
	}
	if l.MaxCatchUpBacklog == 0 {
		l.MaxCatchUpBacklog = 10000
	}
	return l
}

// Options is everything a node is built from. Package federation loads it
// from node.yaml and the federation descriptor (see FromFederation).
type Options struct {
	// Index is this node's index in Members.
	Index uint32
	// Federation is the federation's name, as in the peers' certificates.
	Federation string
	// Members lists every node, this one included, in index order.
	Members []Member
	// RegistryDepth is the depth of the federation's registry tree.
	RegistryDepth int
	// Sequencer is the node that orders registry updates.
	Sequencer uint32
	// RootWindow is how long a superseded registry root stays valid.
	RootWindow time.Duration
	// OpenAdmission admits registrations without an invite token: for
	// development only.
	OpenAdmission bool

	// Signing signs acknowledgments and ceremony statements.
	Signing ed25519.PrivateKey
	// Seal opens the shares sealed to this node.
	Seal *seal.PrivateKey
	// Store is the node's durable state; the node does not close it.
	Store store.Store
	// ReplicaID names this process among the replicas of the node that
	// share Store (docs/design.md §3.4): 1..64 bytes of [A-Za-z0-9._-],
	// never used by two live processes at once. Empty: a random id at
	// each start. A replica started again under its id takes over at once
	// the jobs its previous run held; under a new id, after their leases
	// expire.
	ReplicaID string

	// APITLS is the TLS configuration of the public API (contributors,
	// buyers, admins); nil serves plaintext, for tests on loopback only.
	APITLS *tls.Config
	// PeerServerTLS must require and verify client certificates.
	PeerServerTLS *tls.Config
	// PeerClientTLS gives the client configuration to reach node peer.
	PeerClientTLS func(peer uint32) (*tls.Config, error)
	// PeerIdentity names the federation node behind a verified mTLS
	// connection.
	PeerIdentity func(tls.ConnectionState) (uint32, error)

	// AdminTokenHash is SHA-256 of the administrator's bearer token.
	AdminTokenHash [32]byte
	// AllowInsecureDevSetup lets CreateDataset run a single-party setup.
	AllowInsecureDevSetup bool

	// TempDir is where the node spools the job transcripts it writes or
	// receives (docs/design.md §7.6), each in a file removed from the
	// directory as soon as it is created; empty: the system's temporary
	// directory.
	TempDir string

	Limits  Limits
	Logger  *slog.Logger
	Metrics prometheus.Registerer // nil: metrics are not registered
	Now     func() time.Time
	Version string
}

// DefaultMaxTranscriptBytes is Limits.MaxTranscriptBytes's default.
const DefaultMaxTranscriptBytes = 4 << 30

// MinMessageBytes is the smallest MaxMessageBytes a node accepts: a blob
// stream's chunk (blob.MaxChunkSize) and its framing must fit in one
// message, or transcripts, ceremony states and keys larger than a chunk
// could not be sent.
const MinMessageBytes = blob.MaxChunkSize + 64<<10

func (o *Options) validate() error {
	if m := o.Limits.MaxMessageBytes; m > 0 && m < MinMessageBytes {
		return fmt.Errorf("node: max message bytes %d is below %d: a blob chunk of %d bytes and its framing must fit in one message", m, MinMessageBytes, blob.MaxChunkSize)
	}
	if o.ReplicaID != "" {
		if err := checkReplicaID(o.ReplicaID); err != nil {
			return err
		}
	}
	n := len(o.Members)
	if n < 2 || n > dataset.MaxNodes {
		return fmt.Errorf("node: %d members, want 2..%d", n, dataset.MaxNodes)
	}
	for i, m := range o.Members {
		if m.Index != uint32(i) || m.Seal == nil || len(m.Signing) != ed25519.PublicKeySize {
			return fmt.Errorf("node: member %d is incomplete or out of order", i)
		}
	}
	if int(o.Index) >= n || o.Sequencer >= uint32(n) {
		return fmt.Errorf("node: index %d or sequencer %d outside 0..%d", o.Index, o.Sequencer, n-1)
	}
	if o.RegistryDepth < 1 || o.RegistryDepth > 32 {
		return fmt.Errorf("node: registry depth %d outside 1..32", o.RegistryDepth)
	}
	if o.RootWindow <= 0 {
		return errors.New("node: root window must be positive")
	}
	if len(o.Signing) != ed25519.PrivateKeySize || o.Seal == nil || o.Store == nil {
		return errors.New("node: signing key, seal key and store are required")
	}
	if !o.Seal.Public().Equal(o.Members[o.Index].Seal) {
		return errors.New("node: seal key does not match this node's entry")
	}
	if !o.Signing.Public().(ed25519.PublicKey).Equal(o.Members[o.Index].Signing) {
		return errors.New("node: signing key does not match this node's entry")
	}
	if o.PeerServerTLS == nil || o.PeerClientTLS == nil || o.PeerIdentity == nil {
		return errors.New("node: peer TLS (server, client, identity) is required: peers talk only over mTLS")
	}
	return nil
}

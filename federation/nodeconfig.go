package federation

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"runtime"
	"time"

	"go.yaml.in/yaml/v3"
)

// NodeConfigVersion is the only node.yaml format version this package reads
// and writes.
const NodeConfigVersion = 1

// MaxNodeConfigBytes bounds a node.yaml.
const MaxNodeConfigBytes = 1 << 20

// Store drivers.
const (
	StoreSQLite   = "sqlite"   // embedded, in the node's data directory (default)
	StorePostgres = "postgres" // PostgreSQL; the DSN may come from COHORT_STORE_DSN
)

// StoreDSNEnv is the environment variable LoadNode reads the PostgreSQL DSN
// from when node.yaml gives none, so that a password need not sit in a file.
const StoreDSNEnv = "COHORT_STORE_DSN"

// A NodeConfig is one node's node.yaml: where its federation descriptor and
// key files are, where it listens, its store and its resource limits. Paths
// are relative to the directory of node.yaml unless absolute.
type NodeConfig struct {
	Version    int    `yaml:"version"`    // NodeConfigVersion
	Federation string `yaml:"federation"` // path to federation.yaml (required)
	Index      uint32 `yaml:"index"`      // this node's index in the descriptor

	// Listen and PeerListen default to the descriptor's api_address and
	// peer_address. A listen address may leave the host empty (all
	// interfaces); port 0 picks a free port.
	Listen     string `yaml:"listen"`
	PeerListen string `yaml:"peer_listen"`
	// MetricsListen serves Prometheus /metrics without authentication, so
	// it must be a loopback address; "" disables it.
	MetricsListen string `yaml:"metrics_listen"`
	// HTTPListen serves the HTTP/JSON API (REST routes and the Connect
	// protocol, transcoded into the public gRPC API) with the API's TLS
	// certificate and the same authentication; "" disables it.
	HTTPListen string `yaml:"http_listen"`

	DataDir string      `yaml:"data_dir"` // default "data"
	Store   StoreConfig `yaml:"store"`

	SigningKeyFile string `yaml:"signing_key_file"` // default "signing.key"
	SealKeyFile    string `yaml:"seal_key_file"`    // default "seal.key"
	TLSCertFile    string `yaml:"tls_cert_file"`    // default "tls.crt"
	TLSKeyFile     string `yaml:"tls_key_file"`     // default "tls.key"

	// AdminTokenSHA256 is the hex SHA-256 of the admin bearer token
	// (required). The token itself is not in node.yaml.
	AdminTokenSHA256 string `yaml:"admin_token_sha256"`

	// AllowInsecureDevSetup lets the node run development shortcuts that
	// void Cohort's guarantees (open admission). Never set it in production.
	AllowInsecureDevSetup bool `yaml:"allow_insecure_dev_setup"`

	Limits Limits    `yaml:"limits"`
	Log    LogConfig `yaml:"log"`
}

// StoreConfig selects the node's store. Its fmt verbs never print the DSN,
// which may hold a password.
type StoreConfig struct {
	Driver string `yaml:"driver"` // StoreSQLite (default) or StorePostgres
	// DSN is the PostgreSQL connection string; for SQLite, "" means the
	// store's default file in the data directory.
	DSN string `yaml:"dsn"`
}

// Format prints the driver and whether a DSN is set, never the DSN.
func (s StoreConfig) Format(f fmt.State, _ rune) {
	dsn := "unset"
	if s.DSN != "" {
		dsn = "redacted"
	}
	fmt.Fprintf(f, "{Driver:%s DSN:%s}", s.Driver, dsn)
}

// Limits bound what one node spends on its clients and peers. A zero field
// takes its default (DefaultLimits); a negative one is refused.
type Limits struct {
	MaxMessageBytes       int           `yaml:"max_message_bytes"`            // largest gRPC message received; default 16 MiB, at most 1 GiB
	MaxConcurrentStreams  uint32        `yaml:"max_concurrent_streams"`       // per peer connection; default 256
	KeepaliveTime         time.Duration `yaml:"keepalive_time"`               // server pings a client idle this long; default 30s
	KeepaliveTimeout      time.Duration `yaml:"keepalive_timeout"`            // and closes if no answer within; default 10s
	MinClientPingInterval time.Duration `yaml:"min_client_ping_interval"`     // clients pinging more often are cut off; default 10s
	PeerTimeout           time.Duration `yaml:"peer_timeout"`                 // per peer call; default 30s
	IngestConcurrency     int           `yaml:"ingest_concurrency,omitempty"` // proofs verified at once; default 2*GOMAXPROCS
	// The public API's and the peers' resource bounds (docs/design.md §8.4).
	MaxAPIStreams         uint32  `yaml:"max_api_streams,omitempty"`          // per public API connection; default 32
	MaxTranscriptBytes    uint64  `yaml:"max_transcript_bytes,omitempty"`     // largest job transcript signed or stored for a peer; default 4 GiB
	PublicRate            float64 `yaml:"public_rate,omitempty"`              // calls per second per client address (contributor, buyer, audit); default 100
	PublicBurst           int     `yaml:"public_burst,omitempty"`             // calls at once per client address; default 200
	HeavyStreams          int     `yaml:"heavy_streams,omitempty"`            // key, ceremony and transcript streams served at once; default 16
	HeavyStreamsPerClient int     `yaml:"heavy_streams_per_client,omitempty"` // of them, per client address; default 4
	// JobLease is how long a replica's claim on a job lasts unless renewed
	// (docs/design.md §3.4); default 30s, 1s..10m.
	JobLease time.Duration `yaml:"job_lease,omitempty"`
}

// Upper bounds on Limits.
const (
	MaxMessageBytesLimit      = 1 << 30
	MaxConcurrentStreamsLimit = 1 << 16
	MaxIngestConcurrency      = 4096
	MinTranscriptBytes        = 1 << 20
	MaxTranscriptBytesLimit   = 4 << 30
	MaxPublicRate             = 1e6
	MaxPublicBurst            = 1 << 20
	MaxHeavyStreams           = 4096
	MinJobLease               = time.Second
	MaxJobLease               = 10 * time.Minute
)

// DefaultLimits returns the limits a node uses for fields node.yaml leaves
// at zero.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageBytes:       16 << 20,
		MaxConcurrentStreams:  256,
		KeepaliveTime:         30 * time.Second,
		KeepaliveTimeout:      10 * time.Second,
		MinClientPingInterval: 10 * time.Second,
		PeerTimeout:           30 * time.Second,
		IngestConcurrency:     2 * runtime.GOMAXPROCS(0),
		MaxAPIStreams:         32,
		MaxTranscriptBytes:    256 << 20,
		PublicRate:            100,
		PublicBurst:           200,
		HeavyStreams:          16,
		HeavyStreamsPerClient: 4,
		JobLease:              30 * time.Second,
	}
}

// LogConfig sets the node's logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// ParseNodeConfig decodes a node.yaml strictly (unknown or duplicate keys, a
// second document and wrongly typed values are refused), fills defaults and
// validates what can be checked without the descriptor. Listen and
// PeerListen stay empty when not given (LoadNode fills them from the
// descriptor), and so does a PostgreSQL DSN (LoadNode reads StoreDSNEnv).
// Every failure wraps ErrInvalid.
func ParseNodeConfig(data []byte) (*NodeConfig, error) {
	if len(data) > MaxNodeConfigBytes {
		return nil, fmt.Errorf("federation: node config: %w: %d bytes, at most %d", ErrInvalid, len(data), MaxNodeConfigBytes)
	}
	var c NodeConfig
	if err := decodeStrict(data, &c); err != nil {
		return nil, fmt.Errorf("federation: node config: %w: %v", ErrInvalid, err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyDefaults fills every zero field that has a default.
func (c *NodeConfig) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.DataDir, "data")
	def(&c.Store.Driver, StoreSQLite)
	def(&c.SigningKeyFile, "signing.key")
	def(&c.SealKeyFile, "seal.key")
	def(&c.TLSCertFile, "tls.crt")
	def(&c.TLSKeyFile, "tls.key")
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "text")
	c.Limits = c.Limits.withDefaults()
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = d.MaxMessageBytes
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
	if l.KeepaliveTime == 0 {
		l.KeepaliveTime = d.KeepaliveTime
	}
	if l.KeepaliveTimeout == 0 {
		l.KeepaliveTimeout = d.KeepaliveTimeout
	}
	if l.MinClientPingInterval == 0 {
		l.MinClientPingInterval = d.MinClientPingInterval
	}
	if l.PeerTimeout == 0 {
		l.PeerTimeout = d.PeerTimeout
	}
	if l.IngestConcurrency == 0 {
		l.IngestConcurrency = d.IngestConcurrency
	}
	if l.MaxAPIStreams == 0 {
		l.MaxAPIStreams = d.MaxAPIStreams
	}
	if l.MaxTranscriptBytes == 0 {
		l.MaxTranscriptBytes = d.MaxTranscriptBytes
	}
	if l.PublicRate == 0 {
		l.PublicRate = d.PublicRate
	}
	if l.PublicBurst == 0 {
		l.PublicBurst = d.PublicBurst
	}
	if l.HeavyStreams == 0 {
		l.HeavyStreams = d.HeavyStreams
	}
	if l.HeavyStreamsPerClient == 0 {
		l.HeavyStreamsPerClient = d.HeavyStreamsPerClient
	}
	if l.JobLease == 0 {
		l.JobLease = d.JobLease
	}
	return l
}

// Validate checks a node configuration whose defaults are filled: the
// version, that the federation path and key file paths are set, the listen
// addresses (host:port when set; the metrics host a loopback address), the
// store driver, the admin token hash (64 hex digits), the limits (positive,
// under their upper bounds) and the log settings. What needs the descriptor
// (the index, the keys) LoadNode checks. Every failure wraps ErrInvalid.
func (c *NodeConfig) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("federation: node config: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if c.Version != NodeConfigVersion {
		return fail("version %d, want %d", c.Version, NodeConfigVersion)
	}
	for _, p := range []struct{ field, path string }{
		{"federation", c.Federation},
		{"data_dir", c.DataDir},
		{"signing_key_file", c.SigningKeyFile},
		{"seal_key_file", c.SealKeyFile},
		{"tls_cert_file", c.TLSCertFile},
		{"tls_key_file", c.TLSKeyFile},
	} {
		if p.path == "" {
			return fail("%s is required", p.field)
		}
	}
	for _, a := range []struct{ field, addr string }{{"listen", c.Listen}, {"peer_listen", c.PeerListen}, {"http_listen", c.HTTPListen}} {
		if a.addr == "" {
			continue
		}
		if _, err := checkHostPort(a.addr, true); err != nil {
			return fail("%s: %v", a.field, err)
		}
	}
	if c.MetricsListen != "" {
		host, err := checkHostPort(c.MetricsListen, true)
		if err != nil {
			return fail("metrics_listen: %v", err)
		}
		if !isLoopback(host) {
			return fail("metrics_listen %q: metrics are served without authentication, so the host must be loopback (127.0.0.1, ::1 or localhost)", c.MetricsListen)
		}
	}
	switch c.Store.Driver {
	case StoreSQLite, StorePostgres:
	default:
		return fail("store.driver %q: want %q or %q", c.Store.Driver, StoreSQLite, StorePostgres)
	}
	if h, err := hex.DecodeString(c.AdminTokenSHA256); err != nil || len(h) != 32 {
		return fail("admin_token_sha256 must be 64 hex digits (the SHA-256 of the admin token)")
	}
	l := c.Limits
	switch {
	case l.MaxMessageBytes < 1024 || l.MaxMessageBytes > MaxMessageBytesLimit:
		return fail("limits.max_message_bytes %d outside 1024..%d", l.MaxMessageBytes, MaxMessageBytesLimit)
	case l.MaxConcurrentStreams < 1 || l.MaxConcurrentStreams > MaxConcurrentStreamsLimit:
		return fail("limits.max_concurrent_streams %d outside 1..%d", l.MaxConcurrentStreams, MaxConcurrentStreamsLimit)
	case l.KeepaliveTime <= 0:
		return fail("limits.keepalive_time %v must be positive", l.KeepaliveTime)
	case l.KeepaliveTimeout <= 0:
		return fail("limits.keepalive_timeout %v must be positive", l.KeepaliveTimeout)
	case l.MinClientPingInterval <= 0:
		return fail("limits.min_client_ping_interval %v must be positive", l.MinClientPingInterval)
	case l.PeerTimeout <= 0:
		return fail("limits.peer_timeout %v must be positive", l.PeerTimeout)
	case l.JobLease < MinJobLease || l.JobLease > MaxJobLease:
		return fail("limits.job_lease %v outside %v..%v", l.JobLease, MinJobLease, MaxJobLease)
	case l.IngestConcurrency < 1 || l.IngestConcurrency > MaxIngestConcurrency:
		return fail("limits.ingest_concurrency %d outside 1..%d", l.IngestConcurrency, MaxIngestConcurrency)
	case l.MaxAPIStreams < 1 || l.MaxAPIStreams > MaxConcurrentStreamsLimit:
		return fail("limits.max_api_streams %d outside 1..%d", l.MaxAPIStreams, MaxConcurrentStreamsLimit)
	case l.MaxTranscriptBytes < MinTranscriptBytes || l.MaxTranscriptBytes > MaxTranscriptBytesLimit:
		return fail("limits.max_transcript_bytes %d outside %d..%d", l.MaxTranscriptBytes, MinTranscriptBytes, MaxTranscriptBytesLimit)
	case !(l.PublicRate > 0 && l.PublicRate <= MaxPublicRate):
		return fail("limits.public_rate %g outside (0, %g] calls per second", l.PublicRate, float64(MaxPublicRate))
	case l.PublicBurst < 1 || l.PublicBurst > MaxPublicBurst:
		return fail("limits.public_burst %d outside 1..%d", l.PublicBurst, MaxPublicBurst)
	case l.HeavyStreams < 1 || l.HeavyStreams > MaxHeavyStreams:
		return fail("limits.heavy_streams %d outside 1..%d", l.HeavyStreams, MaxHeavyStreams)
	case l.HeavyStreamsPerClient < 1 || l.HeavyStreamsPerClient > l.HeavyStreams:
		return fail("limits.heavy_streams_per_client %d outside 1..%d (heavy_streams)", l.HeavyStreamsPerClient, l.HeavyStreams)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fail("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fail("log.format %q: want text or json", c.Log.Format)
	}
	return nil
}

// Marshal encodes c as node.yaml after checking that c, with its defaults
// filled, validates. Fields left at zero are written as zero and take their
// defaults when loaded (an unset ingest_concurrency is omitted, so that it
// follows the loading machine's GOMAXPROCS).
func (c *NodeConfig) Marshal() ([]byte, error) {
	v := *c
	v.applyDefaults()
	if err := v.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("federation: node config: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("federation: node config: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckLoopback checks a metrics listen address given outside node.yaml
// (a replica's command line) as node.yaml's metrics_listen is checked:
// host:port with a loopback host, since metrics are served without
// authentication.
func CheckLoopback(addr string) error {
	host, err := checkHostPort(addr, true)
	if err != nil {
		return err
	}
	if !isLoopback(host) {
		return fmt.Errorf("%q: metrics are served without authentication, so the host must be loopback (127.0.0.1, ::1 or localhost)", addr)
	}
	return nil
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/federation"
	"github.com/cohort-dev/cohort/node"
	"github.com/cohort-dev/cohort/store"
)

func newNodeCmd() *cobra.Command {
	var (
		config string
		ov     nodeOverrides
	)
	cmd := &cobra.Command{
		Use:   "node --config DIR/node-N/node.yaml",
		Short: "Run one federation node until SIGINT or SIGTERM",
		Long: `node runs one node of a federation made by "cohort federation init": the
public API (contributors, admins) with TLS on its listen address, the peer API
with mutual TLS on its peer address, and Prometheus metrics on a loopback
address. It logs to stderr and stops gracefully on SIGINT or SIGTERM.

Several processes with the same node.yaml and one PostgreSQL store serve as
replicas of one node (docs/operations.md, "Replicas"): --replica-id names
each (by default the host name and the public listen address, so that a
process started again takes back its own jobs at once), and the listen flags replace node.yaml's addresses
for replicas that share a machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNodeWith(ctx, config, ov, cmd.ErrOrStderr(), nil)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "path to the node's node.yaml (required)")
	cmd.Flags().StringVar(&ov.replicaID, "replica-id", "", "this process's id among the node's replicas, 1..64 bytes of [A-Za-z0-9._-] (default: host name and public listen address)")
	cmd.Flags().StringVar(&ov.listen, "listen", "", "public API listen address, instead of node.yaml's listen")
	cmd.Flags().StringVar(&ov.peerListen, "peer-listen", "", "peer API listen address, instead of node.yaml's peer_listen")
	cmd.Flags().StringVar(&ov.metricsListen, "metrics-listen", "", "metrics listen address (loopback), instead of node.yaml's metrics_listen")
	cmd.Flags().StringVar(&ov.httpListen, "http-listen", "", "HTTP/JSON API listen address, instead of node.yaml's http_listen")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// nodeListeners, when given, are used instead of binding the configured
// addresses (the demo binds first to say which port is taken, tests to
// learn the ports).
type nodeListeners struct{ api, peer net.Listener }

// nodeOverrides are what one replica's command line sets instead of the
// node.yaml all replicas share.
type nodeOverrides struct {
	replicaID                                     string
	listen, peerListen, metricsListen, httpListen string
}

// runNode loads a node's configuration and keys, opens its store and serves
// until ctx ends.
func runNode(ctx context.Context, config string, logOut io.Writer, lis *nodeListeners) error {
	return runNodeWith(ctx, config, nodeOverrides{}, logOut, lis)
}

// runNodeWith is runNode with ov replacing node.yaml's addresses.
func runNodeWith(ctx context.Context, config string, ov nodeOverrides, logOut io.Writer, lis *nodeListeners) error {
	fn, err := federation.LoadNode(config)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		v   string
		dst *string
	}{{ov.listen, &fn.Config.Listen}, {ov.peerListen, &fn.Config.PeerListen}, {ov.httpListen, &fn.Config.HTTPListen}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if ov.metricsListen != "" {
		if err := federation.CheckLoopback(ov.metricsListen); err != nil {
			return fmt.Errorf("node: --metrics-listen: %w", err)
		}
		fn.Config.MetricsListen = ov.metricsListen
	}
	log, err := nodeLogger(fn.Config.Log, logOut)
	if err != nil {
		return err
	}
	log = log.With("federation", fn.Federation.Name)

	scfg := store.Config{Driver: fn.Config.Store.Driver, DSN: fn.Config.Store.DSN}
	if scfg.Driver == "" || scfg.Driver == store.DriverSQLite {
		scfg.Driver, scfg.Path = store.DriverSQLite, filepath.Join(fn.DataPath(), "cohort.db")
	}
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return fmt.Errorf("node: store: %w", err)
	}
	defer st.Close()

	members := make([]node.Member, len(fn.Federation.Nodes))
	for i, e := range fn.Federation.Nodes {
		seal, err := e.SealKey()
		if err != nil {
			return fmt.Errorf("node: federation node %d: %w", i, err)
		}
		members[i] = node.Member{Index: e.Index, Name: e.Name, APIAddress: e.APIAddress, PeerAddress: e.PeerAddress, Seal: seal, Signing: e.SigningPublicKey}
	}
	reg := prometheus.NewRegistry()
	b := readBuildInfo()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "cohort_build_info",
		Help:        "Always 1; the labels say which build this node runs.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.Go},
	})
	buildInfo.Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewBuildInfoCollector(), buildInfo)
	l := fn.Config.Limits
	fedName := fn.Federation.Name
	n, err := node.New(ctx, node.Options{
		Index:         fn.Index(),
		Federation:    fedName,
		Members:       members,
		RegistryDepth: fn.Federation.RegistryDepth,
		Sequencer:     fn.Federation.RegistrySequencer,
		RootWindow:    fn.Federation.RootWindow,
		OpenAdmission: fn.Federation.Admission == federation.AdmissionOpen,
		Signing:       fn.Signing,
		Seal:          fn.Seal,
		Store:         st,
		APITLS:        fn.APIServerTLS(),
		PeerServerTLS: fn.PeerServerTLS(),
		PeerClientTLS: fn.PeerClientTLS,
		PeerIdentity: func(cs tls.ConnectionState) (uint32, error) {
			return federation.PeerIndex(cs, fedName)
		},
		AdminTokenHash:        fn.AdminTokenHash,
		AllowInsecureDevSetup: fn.Config.AllowInsecureDevSetup,
		Limits: node.Limits{
			MaxMessageBytes:       l.MaxMessageBytes,
			MaxConcurrentStreams:  l.MaxConcurrentStreams,
			KeepaliveTime:         l.KeepaliveTime,
			KeepaliveTimeout:      l.KeepaliveTimeout,
			MinClientPingInterval: l.MinClientPingInterval,
			PeerTimeout:           l.PeerTimeout,
			IngestConcurrency:     l.IngestConcurrency,
			MaxAPIStreams:         l.MaxAPIStreams,
			MaxTranscriptBytes:    l.MaxTranscriptBytes,
			PublicRate:            l.PublicRate,
			PublicBurst:           l.PublicBurst,
			HeavyStreams:          l.HeavyStreams,
			HeavyStreamsPerClient: l.HeavyStreamsPerClient,
			JobLease:              l.JobLease,
		},
		ReplicaID: replicaIDOr(ov.replicaID, fn.Config.Listen),
		Logger:    log,
		Metrics:   reg,
		Version:   version,
	})
	if err != nil {
		return err
	}
	if lis == nil {
		lis = &nodeListeners{}
		if lis.api, err = net.Listen("tcp", fn.Config.Listen); err != nil {
			return fmt.Errorf("node: listen (api): %w", err)
		}
		if lis.peer, err = net.Listen("tcp", fn.Config.PeerListen); err != nil {
			lis.api.Close()
			return fmt.Errorf("node: listen (peer): %w", err)
		}
	}
	if addr := fn.Config.HTTPListen; addr != "" {
		stop, err := serveHTTPAPI(n, addr, fn.APIServerTLS(), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if addr := fn.Config.MetricsListen; addr != "" {
		ml, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("node: listen (metrics): %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		health := n.HealthHandler()
		mux.Handle("/healthz", health)
		mux.Handle("/readyz", health)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "error", err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("metrics", "address", ml.Addr().String())
	}
	err = n.Serve(ctx, lis.api, lis.peer)
	log.Info("stopped")
	return err
}

func nodeLogger(c federation.LogConfig, out io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if c.Level != "" {
		if err := level.UnmarshalText([]byte(strings.ToUpper(c.Level))); err != nil {
			return nil, fmt.Errorf("node: log level %q", c.Level)
		}
	}
	o := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "", "text":
		return slog.New(slog.NewTextHandler(out, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, o)), nil
	}
	return nil, fmt.Errorf("node: log format %q (want text or json)", c.Format)
}

// serveHTTPAPI serves the node's HTTP/JSON API on addr with the API's TLS
// configuration (HTTP/2 and HTTP/1.1) until the returned stop is called.
func serveHTTPAPI(n *node.Node, addr string, tc *tls.Config, log *slog.Logger) (stop func(), err error) {
	if tc == nil {
		return nil, errors.New("node: http_listen needs the API's TLS certificate")
	}
	h, err := n.HTTPHandler()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: listen (http): %w", err)
	}
	tc = tc.Clone()
	tc.NextProtos = []string{"h2", "http/1.1"}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http api server", "error", err)
		}
	}()
	log.Info("http api", "address", l.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// replicaIDOr is id, or when empty the default replica id: the host name and
// the public API's listen address, reduced to the replica id's alphabet. It
// is the same at every start of one process's configuration, so a node
// restarted in place settles its own unfinished jobs at once instead of
// after their leases (docs/design.md §3.4), and differs between replicas
// that share a machine, which must listen on different ports.
func replicaIDOr(id, listen string) string {
	if id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	b := []byte(host + "_" + listen)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[len(b)-64:]
	}
	return string(b)
}

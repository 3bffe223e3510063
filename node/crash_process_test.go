package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/store"
)

// A node run as a process of its own: the test binary started again with
// crashChildEnv naming a nodeConfig file, so that it can be killed with
// SIGKILL at any instruction.

const crashChildEnv = "COHORT_TEST_CRASH_NODE"

// nodeConfig is what a node process needs to rebuild the Options of a
// test federation's node.
type nodeConfig struct {
	Index     uint32
	Members   []memberConfig
	Signing   []byte // ed25519 private key
	Seal      []byte // seal.PrivateKey.Marshal
	CertChain [][]byte
	CertKey   []byte // PKCS #8
	CA        []byte // DER
	StorePath string
	LogPath   string
}

type memberConfig struct {
	Name, API, Peer string
	Seal, Signing   []byte
}

// TestCrashProcessChild is a node process of TestCrashProcesses; it does
// nothing in a normal run.
func TestCrashProcessChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run as a node process by TestCrashProcesses")
	}
	if err := runNodeProcess(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runNodeProcess(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg nodeConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	members := make([]Member, len(cfg.Members))
	for i, m := range cfg.Members {
		sp, err := seal.ParsePublicKey(m.Seal)
		if err != nil {
			return err
		}
		members[i] = Member{Index: uint32(i), Name: m.Name, APIAddress: m.API, PeerAddress: m.Peer, Seal: sp, Signing: ed25519.PublicKey(m.Signing)}
	}
	sk, err := seal.ParsePrivateKey(cfg.Seal)
	if err != nil {
		return err
	}
	key, err := x509.ParsePKCS8PrivateKey(cfg.CertKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(cfg.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cert := tls.Certificate{Certificate: cfg.CertChain, PrivateKey: key}
	logf, err := os.OpenFile(cfg.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: cfg.StorePath})
	if err != nil {
		return err
	}
	o := Options{
		Index: cfg.Index, Federation: "test", Members: members, RegistryDepth: testDepth,
		RootWindow: time.Hour, Signing: ed25519.PrivateKey(cfg.Signing), Seal: sk, Store: st,
		PeerServerTLS: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
		PeerClientTLS: func(uint32) (*tls.Config, error) {
			return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
		},
		PeerIdentity:          testPeerIdentity,
		AdminTokenHash:        sha256.Sum256([]byte(testAdminToken)),
		AllowInsecureDevSetup: true,
		Limits:                Limits{MaxMessageBytes: MinMessageBytes, PeerTimeout: 5 * time.Second},
		Version:               "test",
		Logger:                slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	n, err := New(ctx, o)
	if err != nil {
		return err
	}
	api, err := net.Listen("tcp", members[cfg.Index].APIAddress)
	if err != nil {
		return err
	}
	peer, err := net.Listen("tcp", members[cfg.Index].PeerAddress)
	if err != nil {
		return err
	}
	return n.Serve(ctx, api, peer)
}

// nodeProcesses runs a test federation's nodes as processes.
type nodeProcesses struct {
	t    *testing.T
	dir  string
	mu   sync.Mutex
	cmds []*exec.Cmd
}

// writeConfigs stops f's nodes in this process and writes what each needs
// to run as a process.
func (f *testFederation) writeConfigs(t *testing.T, dir string) *nodeProcesses {
	t.Helper()
	var members []memberConfig
	for _, m := range f.nodes[0].opts.Members {
		members = append(members, memberConfig{Name: m.Name, API: m.APIAddress, Peer: m.PeerAddress, Seal: m.Seal.Marshal(), Signing: m.Signing})
	}
	for i, tn := range f.nodes {
		tn.stop()
		if err := tn.store.Close(); err != nil {
			t.Fatal(err)
		}
		sk, err := tn.seal.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		cert := tn.opts.PeerServerTLS.Certificates[0]
		kb, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg := nodeConfig{
			Index: uint32(i), Members: members, Signing: tn.opts.Signing, Seal: sk,
			CertChain: cert.Certificate, CertKey: kb, CA: f.ca.cert.Raw,
			StorePath: f.nodes[i].dbPath, LogPath: filepath.Join(dir, fmt.Sprintf("node-%d.log", i)),
		}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("node-%d.json", i)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := &nodeProcesses{t: t, dir: dir, cmds: make([]*exec.Cmd, len(f.nodes))}
	t.Cleanup(func() {
		for i := range p.cmds {
			p.kill(i, syscall.SIGTERM)
		}
	})
	return p
}

// start starts node i's process.
func (p *nodeProcesses) start(i int) {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashProcessChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+filepath.Join(p.dir, fmt.Sprintf("node-%d.json", i)))
	out, err := os.OpenFile(filepath.Join(p.dir, fmt.Sprintf("node-%d.out", i)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.cmds[i] = cmd
	p.mu.Unlock()
}

// kill sends sig to node i's process, if running, and waits for it.
func (p *nodeProcesses) kill(i int, sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmds[i]
	p.cmds[i] = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig) //nolint:errcheck // it may have exited
	cmd.Wait()              //nolint:errcheck // killed
}

// awaitServing waits until node i answers health checks, starting its
// process again if it exited.
func (p *nodeProcesses) awaitServing(f *testFederation, i int) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		hc, err := healthpb.NewHealthClient(f.conns[i]).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && hc.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		p.mu.Lock()
		cmd := p.cmds[i]
		p.mu.Unlock()
		if cmd != nil && cmd.ProcessState == nil {
			// Exited? Wait reports it without blocking only once it has.
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				p.kill(i, syscall.SIGKILL)
				p.start(i)
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(p.dir, fmt.Sprintf("node-%d.out", i)))
			log, _ := os.ReadFile(filepath.Join(p.dir, fmt.Sprintf("node-%d.log", i)))
			p.t.Fatalf("node %d does not serve: %v\n%s\n%s", i, err, tail(out, 4000), tail(log, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestCrashProcesses is the crash campaign an operator would run: three
// nodes as processes, uploads two at a time while random nodes are killed
// with SIGKILL and restarted a second later. Afterwards, with every node
// back, no acknowledged record is lost, no record is on some nodes only,
// and a job on the epoch completes. COHORT_CRASH_UPLOADS sets the number
// of uploads (6 by default), COHORT_CRASH_PAUSE a pause before each of an
// uploader's uploads (none by default; a contributor's client spends about
// a second proving before each), so that the kills fall among them.
func TestCrashProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node processes and proves records")
	}
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("a node process")
	}
	uploads := 6
	if s := os.Getenv("COHORT_CRASH_UPLOADS"); s != "" {
		var err error
		if uploads, err = strconv.Atoi(s); err != nil || uploads < 1 {
			t.Fatalf("COHORT_CRASH_UPLOADS=%q", s)
		}
	}
	var pause time.Duration
	if s := os.Getenv("COHORT_CRASH_PAUSE"); s != "" {
		var err error
		if pause, err = time.ParseDuration(s); err != nil || pause < 0 {
			t.Fatalf("COHORT_CRASH_PAUSE=%q: want a duration", s)
		}
	}
	f := newTestFederation(t, 3)
	id := f.installDataset(t).GetId()
	payloads := make([][]byte, uploads)
	nfs := make([][]byte, uploads)
	for i := range payloads {
		payloads[i] = f.payload(t, f.register(t, 0), 0, payloadOptions{})
		nfs[i] = f.nfOf(t, id, payloads[i])
	}
	dir := t.TempDir()
	procs := f.writeConfigs(t, dir)
	for i := range f.nodes {
		procs.start(i)
	}

	// The killer: every 1–2 s a random node gets SIGKILL, and is started
	// again a second later.
	stopKilling := make(chan struct{})
	killerDone := make(chan int)
	go func() {
		kills := 0
		defer func() { killerDone <- kills }()
		for {
			select {
			case <-stopKilling:
				return
			case <-time.After(time.Second + rand.N(time.Second)):
			}
			i := rand.IntN(len(f.nodes))
			procs.kill(i, syscall.SIGKILL)
			kills++
			time.Sleep(time.Second)
			procs.start(i)
		}
	}()

	// Two uploaders; each upload is retried, failing over to another node,
	// until acknowledged or 60 s passed.
	acked := make([]bool, uploads)
	var (
		wg       sync.WaitGroup
		next     = make(chan int)
		attempts int
		amu      sync.Mutex
	)
	for range 2 {
		wg.Go(func() {
			for k := range next {
				time.Sleep(pause)
				deadline := time.Now().Add(60 * time.Second)
				for via := rand.IntN(len(f.nodes)); time.Now().Before(deadline); via = (via + 1) % len(f.nodes) {
					amu.Lock()
					attempts++
					amu.Unlock()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					_, err := f.contributor(via).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: payloads[k]})
					cancel()
					if err == nil {
						acked[k] = true
						break
					}
					if c := status.Code(err); c == codes.InvalidArgument || c == codes.AlreadyExists {
						t.Errorf("upload %d: %v", k, err)
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
		})
	}
	for k := range payloads {
		next <- k
	}
	close(next)
	wg.Wait()
	close(stopKilling)
	kills := <-killerDone
	for i := range f.nodes {
		procs.mu.Lock()
		running := procs.cmds[i] != nil
		procs.mu.Unlock()
		if !running {
			procs.start(i)
		}
	}
	for i := range f.nodes {
		procs.awaitServing(f, i)
	}
	n := 0
	for _, a := range acked {
		if a {
			n++
		}
	}
	t.Logf("%d uploads, %d acknowledged after %d attempts, %d nodes killed", uploads, n, attempts, kills)

	// With every node back, each record settles on every node or on none.
	stores := make([]store.Store, len(f.nodes))
	for i := range stores {
		st, err := store.Open(context.Background(), store.Config{Path: f.nodes[i].dbPath})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	deadline := time.Now().Add(2 * time.Minute)
	for k, nf := range nfs {
		var key [32]byte
		copy(key[:], nf)
		for {
			held, committed := 0, 0
			for _, st := range stores {
				row, err := st.GetContribution(context.Background(), id, key)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				held++
				// A record committed while a forward to a peer failed awaits
				// that peer (Incomplete) until catch-up clears it: jobs and
				// CountContributions do not count it before.
				if !row.Pending && !row.Incomplete {
					committed++
				}
			}
			settled := (held == 0 || committed == len(stores)) && held == committed
			if settled && acked[k] && committed != len(stores) {
				t.Fatalf("upload %d was acknowledged and is lost", k)
			}
			if settled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload %d (acknowledged %v): on %d nodes, committed on %d", k, acked[k], held, committed)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	counts := make([]uint64, len(stores))
	for i, st := range stores {
		c, err := st.CountContributions(context.Background(), id, 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		counts[i] = c
	}
	if counts[0] != counts[1] || counts[1] != counts[2] || counts[0] < uint64(n) {
		t.Fatalf("committed records per node %v; want equal, at least the %d acknowledged", counts, n)
	}
	// Creating a buyer reaches every node from node 0: retried under a new
	// id while node 0 is still reconnecting to a restarted peer.
	var buyer context.Context
	pub, priv, err := ed25519.GenerateKey(nil) // crypto/rand
	if err != nil {
		t.Fatal(err)
	}
	for k, deadline := 0, time.Now().Add(30*time.Second); buyer == nil; k++ {
		id := fmt.Sprintf("alice-%d", k)
		resp, err := f.admin(0).CreateBuyer(adminCtx(), &cohortv1.CreateBuyerRequest{BuyerId: id, PublicKey: pub})
		switch {
		case err == nil:
			// The test connections sign the job with this key (signSubmissions).
			signing := context.WithValue(context.Background(), buyerKeyCtx{}, &testBuyerKey{id: id, key: priv})
			buyer = metadata.AppendToOutgoingContext(signing, "authorization", "Bearer "+resp.GetToken())
		case time.Now().After(deadline):
			t.Fatal(err)
		default:
			time.Sleep(200 * time.Millisecond)
		}
	}
	job := f.runCountJob(t, 0, buyer, "after-kills")
	if job.GetEligibleRecords() != counts[0] {
		t.Fatalf("job: %d eligible records, want %d", job.GetEligibleRecords(), counts[0])
	}
}

package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/store"
)

// The test federation: k nodes on loopback, real gRPC, real mTLS between
// peers, SQLite stores in temporary directories.

const (
	testDepth      = 8
	testAdminToken = "test-admin-token"
)

// testCA issues node certificates for one federation.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test federation CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) issue(t testing.TB, index int) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(fmt.Sprintf("cohort-node://test/%d", index))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(index + 2)), Subject: pkix.Name{CommonName: fmt.Sprintf("node-%d", index)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, URIs: []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func testPeerIdentity(st tls.ConnectionState) (uint32, error) {
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0][0].URIs) != 1 {
		return 0, fmt.Errorf("no verified node identity")
	}
	var i uint32
	if _, err := fmt.Sscanf(st.VerifiedChains[0][0].URIs[0].String(), "cohort-node://test/%d", &i); err != nil {
		return 0, err
	}
	return i, nil
}

// testNode is one running node and what the test needs to reach it.
type testNode struct {
	n        *Node
	opts     Options
	store    store.Store
	api      string
	apiLis   net.Listener
	peerLis  net.Listener
	seal     *seal.PrivateKey
	dbPath   string // the SQLite file of store ("" on PostgreSQL)
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

func (tn *testNode) stop() {
	tn.stopOnce.Do(func() {
		tn.cancel()
		<-tn.done
	})
}

type testFederation struct {
	t     testing.TB
	ca    *testCA
	nodes []*testNode
	conns []*grpc.ClientConn
}

type fedOption func(*Options)

func newTestFederation(t testing.TB, k int, opts ...fedOption) *testFederation {
	t.Helper()
	return newTestFederationOn(t, k, nil, opts...)
}

// newTestFederationOn is newTestFederation with node i's store opened
// from stores(t, i); nil for SQLite files in temporary directories.
func newTestFederationOn(t testing.TB, k int, stores func(t testing.TB, i int) store.Config, opts ...fedOption) *testFederation {
	t.Helper()
	ca := newTestCA(t)
	f := &testFederation{t: t, ca: ca}
	members := make([]Member, k)
	nodes := make([]*testNode, k)
	signers := make([]ed25519.PrivateKey, k)
	for i := range k {
		seal, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		apiLis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peerLis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		signers[i] = priv
		nodes[i] = &testNode{api: apiLis.Addr().String(), apiLis: apiLis, peerLis: peerLis, seal: seal}
		members[i] = Member{Index: uint32(i), Name: fmt.Sprintf("node-%d", i), APIAddress: apiLis.Addr().String(),
			PeerAddress: peerLis.Addr().String(), Seal: seal.Public(), Signing: pub}
	}
	for i, tn := range nodes {
		cfg := store.Config{Path: filepath.Join(t.TempDir(), "cohort.db")}
		if stores != nil {
			cfg = stores(t, i)
		}
		tn.dbPath = cfg.Path
		st, err := store.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cert := ca.issue(t, i)
		o := Options{
			Index: uint32(i), Federation: "test", Members: members, RegistryDepth: testDepth, ReplicaID: fmt.Sprintf("node-%d", i),
			RootWindow: time.Hour, Signing: signers[i], Seal: tn.seal, Store: st,
			PeerServerTLS: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
				ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool},
			PeerClientTLS: func(uint32) (*tls.Config, error) {
				return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: ca.pool}, nil
			},
			PeerIdentity:          testPeerIdentity,
			AdminTokenHash:        sha256.Sum256([]byte(testAdminToken)),
			AllowInsecureDevSetup: true,
			Limits:                Limits{MaxMessageBytes: MinMessageBytes, PeerTimeout: 5 * time.Second},
			Version:               "test",
			Logger:                slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		}
		for _, fn := range opts {
			fn(&o)
		}
		tn.opts, tn.store = o, st
		f.start(tn)
	}
	f.nodes = nodes
	for _, tn := range nodes {
		c, err := grpc.NewClient(tn.api, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
			grpc.WithUnaryInterceptor(signSubmissions))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		f.conns = append(f.conns, c)
	}
	return f
}

// start (re)starts a node on its listeners.
func (f *testFederation) start(tn *testNode) {
	f.t.Helper()
	n, err := New(context.Background(), tn.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.n, tn.cancel, tn.done, tn.stopOnce = n, cancel, make(chan error, 1), sync.Once{}
	go func() { tn.done <- n.Serve(ctx, tn.apiLis, tn.peerLis) }()
	f.t.Cleanup(tn.stop)
}

func (f *testFederation) contributor(i int) cohortv1.ContributorServiceClient {
	return cohortv1.NewContributorServiceClient(f.conns[i])
}

func (f *testFederation) admin(i int) cohortv1.AdminServiceClient {
	return cohortv1.NewAdminServiceClient(f.conns[i])
}

func adminCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+testAdminToken)
}

// Keys for the test schema, made once per test binary with a single-party
// setup: what is tested here is ingest, not the setup (TestCeremony runs
// the real one).
var testKeys struct {
	once sync.Once
	sys  *circuits.MPCSystem
	pk   groth16.ProvingKey
	pkb  []byte
	vkb  []byte
	err  error
}

// testSchema is the demo schema with a minimum cohort of 3, so that job
// tests need few records.
func testSchema() *schema.Schema {
	s := schema.Default()
	s.MinCohort = 3
	return s
}

func loadTestKeys(t testing.TB, k int) {
	t.Helper()
	testKeys.once.Do(func() {
		sh, err := circuits.NewMPCShape(testSchema(), k, testDepth)
		if err != nil {
			testKeys.err = err
			return
		}
		if testKeys.sys, err = circuits.CompileMPC(sh); err != nil {
			testKeys.err = err
			return
		}
		keys, err := setup.InsecureDevSetup(testKeys.sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
		if err != nil {
			testKeys.err = err
			return
		}
		testKeys.pk = keys.PK
		if testKeys.pkb, err = setup.MarshalProvingKey(keys.PK); err != nil {
			testKeys.err = err
			return
		}
		testKeys.vkb, testKeys.err = setup.MarshalVerifyingKey(keys.VK)
	})
	if testKeys.err != nil {
		t.Fatal(testKeys.err)
	}
}

// installDataset puts the test dataset, READY, on every node directly,
// with the exact release policy (development): the tests of the round
// compare its outputs with the plaintext exactly. installDatasetWith
// takes another policy.
func (f *testFederation) installDataset(t testing.TB) *cohortv1.DatasetDescriptor {
	t.Helper()
	return f.installDatasetWith(t, exactPolicy())
}

// exactPolicy is the development policy that releases exact sums.
func exactPolicy() *cohortv1.PrivacyPolicy {
	return &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
}

// installDatasetWith is installDataset under the privacy policy p.
func (f *testFederation) installDatasetWith(t testing.TB, p *cohortv1.PrivacyPolicy) *cohortv1.DatasetDescriptor {
	t.Helper()
	return f.installDatasetEdited(t, func(d *cohortv1.DatasetDescriptor) { d.Privacy = p })
}

// installDatasetEdited is installDataset with the descriptor edited by
// edit before every node signs it READY.
func (f *testFederation) installDatasetEdited(t testing.TB, edit func(*cohortv1.DatasetDescriptor)) *cohortv1.DatasetDescriptor {
	t.Helper()
	loadTestKeys(t, len(f.nodes))
	nodes := make([]dataset.Node, len(f.nodes))
	for i, tn := range f.nodes {
		m := tn.opts.Members[i]
		nodes[i] = dataset.Node{Name: m.Name, Address: m.APIAddress, Seal: m.Seal, Signing: m.Signing}
	}
	ds, err := dataset.New(testSchema(), nodes, testDepth, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ds.Desc.SetupKind = cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV
	edit(ds.Desc)
	ctx := context.Background()
	ready := readyDescriptor(ds.Desc, testKeys.vkb, [32]byte{}, nil)
	for i, tn := range f.nodes {
		sig, err := dataset.SignReady(ready, uint32(i), tn.opts.Signing)
		if err != nil {
			t.Fatal(err)
		}
		ready.ReadySignatures = append(ready.ReadySignatures, sig)
	}
	var final *cohortv1.DatasetDescriptor
	for _, tn := range f.nodes {
		if err := tn.n.datasets.put(ctx, ds.Desc, true); err != nil {
			t.Fatal(err)
		}
		if err := tn.n.installKeys(ctx, ready, testKeys.pkb, []byte("no transcript")); err != nil {
			t.Fatal(err)
		}
		d, err := tn.n.datasets.descriptor(ctx, ds.Desc.GetId())
		if err != nil {
			t.Fatal(err)
		}
		final = d
	}
	return final
}

// testContributor is a registered contributor.
type testContributor struct {
	secret fr.Element
	index  uint64
}

func (f *testFederation) register(t testing.TB, via int) *testContributor {
	t.Helper()
	inv, err := f.admin(via).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: 1, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	c := &testContributor{}
	if _, err := c.secret.SetRandom(); err != nil {
		t.Fatal(err)
	}
	ic := feBytes(circuits.IdentityCommitment(c.secret))
	resp, err := f.contributor(via).Register(context.Background(), &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[0]})
	if err != nil {
		t.Fatal(err)
	}
	c.index = resp.GetMemberIndex()
	return c
}

// payloadOptions vary a payload away from the valid default.
type payloadOptions struct {
	epoch    *uint64
	expiry   time.Time
	record   schema.Record
	root     *fr.Element // prove against this root and path instead of the node's
	path     *merkle.Path
	dataset  string
	purposes uint64
	// minCohort is the contributor's own minimum cohort; 0 means 2.
	minCohort uint32
	// sealTo seals node i's share to sealTo[i] instead of node i's key:
	// that node cannot open it.
	sealTo map[int]*seal.PublicKey
}

// payload proves and seals a record for c, fetching the membership path
// from node via.
func (f *testFederation) payload(t testing.TB, c *testContributor, via int, o payloadOptions) []byte {
	t.Helper()
	loadTestKeys(t, len(f.nodes))
	s := testSchema()
	mp, err := f.contributor(via).GetMembershipPath(context.Background(), &cohortv1.GetMembershipPathRequest{MemberIndex: c.index})
	if err != nil {
		t.Fatal(err)
	}
	path := merkle.Path{Index: c.index}
	for _, b := range mp.GetSiblings() {
		var e fr.Element
		if err := e.SetBytesCanonical(b); err != nil {
			t.Fatal(err)
		}
		path.Siblings = append(path.Siblings, e)
	}
	var root fr.Element
	if err := root.SetBytesCanonical(mp.GetRoot()); err != nil {
		t.Fatal(err)
	}
	if o.root != nil {
		root, path = *o.root, *o.path
	}
	epoch := s.Epoch.Index(time.Now())
	if o.epoch != nil {
		epoch = *o.epoch
	}
	expiry := time.Now().Add(30 * 24 * time.Hour)
	if !o.expiry.IsZero() {
		expiry = o.expiry
	}
	id := s.ID
	if o.dataset != "" {
		id = o.dataset
	}
	rec := o.record
	if rec == nil {
		rec = schema.Record{
			"age": schema.IntValue(40), "steps": schema.IntValue(8000), "resting_hr": schema.IntValue(60),
			"sleep_h": schema.ScaledValue(750, 2), "smoker": schema.BoolValue(false), "region": schema.CategoryValue("north"),
		}
	}
	v, err := s.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	purposes := o.purposes
	if purposes == 0 {
		purposes = 0b011
	}
	pubs := make([]*seal.PublicKey, len(f.nodes))
	for i, tn := range f.nodes {
		pubs[i] = tn.seal.Public()
		if k, ok := o.sealTo[i]; ok {
			pubs[i] = k
		}
	}
	minCohort := o.minCohort
	if minCohort == 0 {
		minCohort = 2
	}
	prover, err := mpc.NewProver(testKeys.sys, testKeys.pk, pubs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := prover.Build(mpc.Contribution{
		Secret: c.secret, Root: root, Path: path, Record: v,
		Terms: circuits.Terms{Dataset: circuits.DatasetField(id), Epoch: epoch, Expiry: uint64(expiry.Unix()), Purposes: purposes, MinCohort: minCohort},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stored counts, per node, the contributions of the test dataset.
func (f *testFederation) stored(t testing.TB) []uint64 {
	t.Helper()
	out := make([]uint64, len(f.nodes))
	for i, tn := range f.nodes {
		n, err := tn.store.CountContributions(context.Background(), testSchema().ID, 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = n
	}
	return out
}

// testLog sends a node's logs to the test's log, shown when it fails or
// with -v.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

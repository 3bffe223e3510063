package clienttest

import (
	"crypto/ed25519"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// Options shape a fake federation.
type Options struct {
	// Nodes is the number of nodes k (default 3).
	Nodes int
	// Depth is the registry depth (default 4).
	Depth int
	// Proving makes Groth16 keys for the dataset's real circuit (about a
	// second, once per process and shape), so that contributions can be
	// proven and verified. Without it the keys are a small stand-in
	// circuit's: everything but proving works.
	Proving bool
	// TLS serves over TLS 1.3 with a certificate from a fresh CA
	// (Federation.CAPEM); otherwise plaintext.
	TLS bool
	// ChunkSize is the proving-key chunk size (default 64 KiB).
	ChunkSize int
}

// Hooks make the fake misbehave. Each is applied, when set, to what an
// honest federation would send.
type Hooks struct {
	// Receipt alters a receipt before it is sent (Contribute, GetReceipt).
	Receipt func(*cohortv1.Receipt)
	// Revocation alters a revocation answer.
	Revocation func(*cohortv1.RevokeResponse)
	// MembershipPath alters a membership path.
	MembershipPath func(*cohortv1.GetMembershipPathResponse)
	// ProvingKeyStream replaces the proving-key stream: it gets the honest
	// key bytes and returns the messages to send.
	ProvingKeyStream func(pk []byte) []*cohortv1.GetProvingKeyResponse
	// Dataset alters the dataset descriptor GetDataset sends (a copy).
	Dataset func(*cohortv1.DatasetDescriptor)
}

// Accepted is a contribution the fake accepted, as the nodes saw it.
type Accepted struct {
	Request   *cohortv1.ContributeRequest
	Payload   *mpc.Payload
	Shares    []mpc.Share // Shares[j] as node j opened it
	Receipt   *cohortv1.Receipt
	RevokedAt int64
}

// Federation is a running fake federation.
type Federation struct {
	// Addr is the loopback address the service listens on.
	Addr string
	// CAPEM is the CA certificate to trust, with Options.TLS.
	CAPEM []byte
	// Dataset is the dataset served, as a client decodes it.
	Dataset *dataset.Dataset
	// Federation is the federation's public descriptor, naming the same
	// node keys as Dataset: what a client pins (client.WithFederation).
	Federation *federation.Descriptor
	// Seal and Signing are the nodes' private keys, by node index.
	Seal    []*seal.PrivateKey
	Signing []ed25519.PrivateKey
	// ProvingKey is the encoded proving key served.
	ProvingKey []byte

	cohortv1.UnimplementedContributorServiceServer
	chunk    int
	verifier *circuits.Verifier

	mu         sync.Mutex
	hooks      Hooks
	tree       *merkle.Tree
	roots      map[fr.Element]bool
	members    map[fr.Element]uint64
	sequence   uint64
	invites    map[string]bool
	nextInvite int
	accepted   []*Accepted
	chunksSent int
}

// New starts a fake federation serving the default schema; it stops when
// the test ends.
func New(t testing.TB, o Options) *Federation {
	t.Helper()
	if !testing.Testing() {
		panic("clienttest: outside a test binary")
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Depth == 0 {
		o.Depth = 4
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 64 << 10
	}
	f, err := newFederation(o)
	if err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	var opts []grpc.ServerOption
	ca, err := newCertAuthority("clienttest")
	if err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	if o.TLS {
		f.CAPEM = ca.CAPEM
		opts = append(opts, grpc.Creds(credentials.NewTLS(ca.serverConfig())))
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	srv := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(16<<20))...)
	cohortv1.RegisterContributorServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	f.Addr = lis.Addr().String()
	if f.Federation, err = f.descriptor(o, ca.CAPEM); err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	return f
}

// descriptor is the federation.yaml of the fake: its CA and its nodes'
// public keys.
func (f *Federation) descriptor(o Options, caPEM []byte) (*federation.Descriptor, error) {
	d := &federation.Descriptor{
		Version: federation.DescriptorVersion, Name: "clienttest", RegistryDepth: o.Depth,
		RootWindow: time.Hour, Admission: federation.AdmissionInvite, CA: string(caPEM),
	}
	for i := range f.Seal {
		d.Nodes = append(d.Nodes, federation.NodeEntry{
			Index: uint32(i), Name: fmt.Sprintf("node-%d", i),
			APIAddress: fmt.Sprintf("127.0.0.1:%d", 7000+10*i), PeerAddress: fmt.Sprintf("127.0.0.1:%d", 7001+10*i),
			SealPublicKey: f.Seal[i].Public().Marshal(), SigningPublicKey: f.Signing[i].Public().(ed25519.PublicKey),
		})
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

func newFederation(o Options) (*Federation, error) {
	f := &Federation{
		chunk:   o.ChunkSize,
		roots:   map[fr.Element]bool{},
		members: map[fr.Element]uint64{},
		invites: map[string]bool{},
	}
	nodes := make([]dataset.Node, o.Nodes)
	for i := range nodes {
		sk, err := seal.GenerateKey()
		if err != nil {
			return nil, err
		}
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		f.Seal, f.Signing = append(f.Seal, sk), append(f.Signing, priv)
		nodes[i] = dataset.Node{Name: fmt.Sprintf("node-%d", i), Address: fmt.Sprintf("127.0.0.1:%d", 7000+i), Seal: sk.Public(), Signing: pub}
	}
	ds, err := dataset.New(schema.Default(), nodes, o.Depth, time.Now())
	if err != nil {
		return nil, err
	}
	var keys *setup.Keys
	if o.Proving {
		keys, err = contributionKeys(o.Nodes, o.Depth)
	} else {
		keys, err = tinyOnce()
	}
	if err != nil {
		return nil, err
	}
	if f.ProvingKey, err = setup.MarshalProvingKey(keys.PK); err != nil {
		return nil, err
	}
	vk, err := setup.MarshalVerifyingKey(keys.VK)
	if err != nil {
		return nil, err
	}
	desc := ds.Desc
	desc.State = cohortv1.DatasetState_DATASET_STATE_READY
	desc.SetupKind = cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV
	desc.VerifyingKey = vk
	for i, k := range f.Signing {
		sig, err := dataset.SignReady(desc, uint32(i), k)
		if err != nil {
			return nil, err
		}
		desc.ReadySignatures = append(desc.ReadySignatures, sig)
	}
	if f.Dataset, err = dataset.From(desc); err != nil {
		return nil, err
	}
	if o.Proving {
		sh, err := f.Dataset.Shape()
		if err != nil {
			return nil, err
		}
		if f.verifier, err = circuits.NewVerifier(keys.VK, sh.NumPublic()); err != nil {
			return nil, err
		}
	}
	if f.tree, err = merkle.New(o.Depth); err != nil {
		return nil, err
	}
	f.roots[f.tree.Root()] = true
	return f, nil
}

// SetHooks replaces the hooks.
func (f *Federation) SetHooks(h Hooks) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hooks = h
}

// Invite issues a fresh single-use invite token.
func (f *Federation) Invite() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextInvite++
	tok := fmt.Sprintf("invite-%d", f.nextInvite)
	f.invites[tok] = true
	return tok
}

// AddMember admits a commitment without an invite (another contributor)
// and returns its position.
func (f *Federation) AddMember(ic fr.Element) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.appendLocked(ic)
}

func (f *Federation) appendLocked(ic fr.Element) (uint64, error) {
	i, err := f.tree.Append(ic)
	if err != nil {
		return 0, err
	}
	f.members[ic] = i
	f.sequence++
	f.roots[f.tree.Root()] = true
	return i, nil
}

// RemoveMember empties a registry position; earlier roots stay known.
func (f *Federation) RemoveMember(i uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.tree.Remove(i); err != nil {
		return err
	}
	for ic, j := range f.members {
		if j == i {
			delete(f.members, ic)
		}
	}
	f.sequence++
	f.roots[f.tree.Root()] = true
	return nil
}

// Accepted returns the contributions accepted so far.
func (f *Federation) Accepted() []*Accepted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Accepted(nil), f.accepted...)
}

// ChunksSent is the number of proving-key chunks sent so far.
func (f *Federation) ChunksSent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.chunksSent
}

// sign signs msg with node i's key.
func (f *Federation) sign(i int, msg []byte) *cohortv1.NodeSignature {
	return &cohortv1.NodeSignature{
		NodeIndex: uint32(i),
		Scheme:    cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519,
		Signature: ed25519.Sign(f.Signing[i], msg),
	}
}

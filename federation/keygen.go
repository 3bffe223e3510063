package federation

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/seal"
)

// Per-node key generation (docs/design.md §3.3). Init makes every node's
// secrets on one machine, for demos; a real federation is set up in two
// steps so that no node secret ever leaves its node:
//
//  1. each operator runs Keygen on its own machine: it writes the node's
//     secrets (signing, seal and TLS keys, admin token) and node.yaml into
//     the node's directory, and a public request (RequestFile) naming its
//     public keys, addresses and a certificate request, signed with the
//     node's own signing key;
//  2. one party, holding the federation CA (NewCA), runs Assemble over
//     every request: it checks each request's signatures, signs one TLS
//     certificate per node and writes federation.yaml, ca.pem and
//     node-N.crt, all public.
//
// Each operator then runs Install in its node's directory with
// federation.yaml and its certificate.

// File names of the two-step setup.
const (
	RequestFile = "node-request.yaml" // Keygen's public request
	TLSCertFile = "tls.crt"           // Install's copy of the node's certificate
)

// RequestVersion is the only node-request format version.
const RequestVersion = 1

// MaxRequestBytes bounds a node request file.
const MaxRequestBytes = 64 << 10

// KeygenOptions configure Keygen.
type KeygenOptions struct {
	Federation string // federation name, a lower-case DNS label; default "cohort"
	Index      uint32 // the node's index, agreed among the operators
	Name       string // display name; default "node-<index>"
	Addresses  NodeAddresses
	// AllowInsecureDevSetup sets allow_insecure_dev_setup in node.yaml.
	AllowInsecureDevSetup bool
	// Force lets Keygen write into a directory that is not empty,
	// replacing the files it writes; it never touches a data directory
	// that holds anything.
	Force bool
}

// KeygenResult says what Keygen wrote.
type KeygenResult struct {
	Request     *NodeRequest
	RequestPath string // dir/node-request.yaml: public, send it to the assembler
	NodeConfig  string // dir/node.yaml
	AdminToken  string // dir/admin.token: secret
}

// A NodeRequest is one node's signed request to join a federation: what
// Keygen writes and Assemble reads. Nothing in it is secret.
type NodeRequest struct {
	Federation       string
	Index            uint32
	Name             string
	APIAddress       string
	PeerAddress      string
	SealPublicKey    []byte
	SigningPublicKey ed25519.PublicKey
	CSR              []byte // DER PKCS #10 request of the node's ECDSA P-256 TLS key
	Signature        []byte // Ed25519 over attest.NodeKeyRequest, by SigningPublicKey
}

// statement is what the request's signature covers.
func (r *NodeRequest) statement() attest.NodeKeyRequest {
	return attest.NodeKeyRequest{
		Federation: r.Federation, Index: r.Index, Name: r.Name, APIAddress: r.APIAddress, PeerAddress: r.PeerAddress,
		SealPublicKey: r.SealPublicKey, SigningPublicKey: r.SigningPublicKey, CSR: r.CSR,
	}
}

// Fingerprint is the hex SHA-256 of the node's signing public key: the
// operator reads it to the assembler out of band, so that a request
// replaced in transit (signed with another key) is noticed.
func (r *NodeRequest) Fingerprint() string {
	sum := sha256.Sum256(r.SigningPublicKey)
	return hex.EncodeToString(sum[:])
}

// requestFile is node-request.yaml as it is written.
type requestFile struct {
	Version          int    `yaml:"version"`
	Federation       string `yaml:"federation"`
	Index            uint32 `yaml:"index"`
	Name             string `yaml:"name"`
	APIAddress       string `yaml:"api_address"`
	PeerAddress      string `yaml:"peer_address"`
	SealPublicKey    string `yaml:"seal_public_key"`
	SigningPublicKey string `yaml:"signing_public_key"`
	CSR              string `yaml:"tls_csr"`
	Signature        string `yaml:"signature"`
}

// Marshal encodes r as node-request.yaml.
func (r *NodeRequest) Marshal() ([]byte, error) {
	f := requestFile{
		Version: RequestVersion, Federation: r.Federation, Index: r.Index, Name: r.Name,
		APIAddress: r.APIAddress, PeerAddress: r.PeerAddress,
		SealPublicKey:    base64.StdEncoding.EncodeToString(r.SealPublicKey),
		SigningPublicKey: base64.StdEncoding.EncodeToString(r.SigningPublicKey),
		CSR:              string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: r.CSR})),
		Signature:        base64.StdEncoding.EncodeToString(r.Signature),
	}
	return marshalYAML(f)
}

// LoadNodeRequest reads and checks a node-request.yaml (ParseNodeRequest).
func LoadNodeRequest(path string) (*NodeRequest, error) {
	data, err := readBounded(path, MaxRequestBytes)
	if err != nil {
		return nil, fmt.Errorf("federation: node request: %w", err)
	}
	r, err := ParseNodeRequest(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return r, nil
}

// ParseNodeRequest decodes a node-request.yaml strictly and checks it
// (Verify). Inputs over MaxRequestBytes are refused unread. Every failure
// wraps ErrInvalid, or ErrBadRequest for a signature that does not verify.
func ParseNodeRequest(data []byte) (*NodeRequest, error) {
	if len(data) > MaxRequestBytes {
		return nil, fmt.Errorf("federation: node request: %w: %d bytes, at most %d", ErrInvalid, len(data), MaxRequestBytes)
	}
	var f requestFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("federation: node request: %w: %v", ErrInvalid, err)
	}
	if f.Version != RequestVersion {
		return nil, fmt.Errorf("federation: node request: %w: version %d, want %d", ErrInvalid, f.Version, RequestVersion)
	}
	r := &NodeRequest{Federation: f.Federation, Index: f.Index, Name: f.Name, APIAddress: f.APIAddress, PeerAddress: f.PeerAddress}
	var err error
	b64 := base64.StdEncoding.Strict()
	if r.SealPublicKey, err = b64.DecodeString(f.SealPublicKey); err != nil {
		return nil, fmt.Errorf("federation: node request: %w: seal_public_key: not base64", ErrInvalid)
	}
	sig, err := b64.DecodeString(f.SigningPublicKey)
	if err != nil {
		return nil, fmt.Errorf("federation: node request: %w: signing_public_key: not base64", ErrInvalid)
	}
	r.SigningPublicKey = ed25519.PublicKey(sig)
	if r.Signature, err = b64.DecodeString(f.Signature); err != nil {
		return nil, fmt.Errorf("federation: node request: %w: signature: not base64", ErrInvalid)
	}
	if r.CSR, err = decodeOnePEM([]byte(f.CSR), "CERTIFICATE REQUEST"); err != nil {
		return nil, fmt.Errorf("federation: node request: %w: tls_csr: %v", ErrInvalid, err)
	}
	if err := r.Verify(); err != nil {
		return nil, err
	}
	return r, nil
}

// Verify checks that r is well formed — a federation name, a node name
// and addresses Descriptor.Validate accepts, keys that decode, a
// certificate request for an ECDSA P-256 key signed by that key — and that
// its signature verifies under its own signing key (ErrBadRequest).
func (r *NodeRequest) Verify() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("federation: node request of node %d: %w: %s", r.Index, ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !nameRE.MatchString(r.Federation) {
		return fail("federation %q is not a lower-case DNS label", r.Federation)
	}
	if int(r.Index) >= MaxNodes {
		return fail("index %d, at most %d", r.Index, MaxNodes-1)
	}
	if !nameRE.MatchString(r.Name) {
		return fail("name %q is not a lower-case DNS label", r.Name)
	}
	for _, a := range []string{r.APIAddress, r.PeerAddress} {
		if err := checkDialAddress(a); err != nil {
			return fail("%v", err)
		}
	}
	if _, err := seal.ParsePublicKey(r.SealPublicKey); err != nil {
		return fail("seal_public_key: %v", err)
	}
	if len(r.SigningPublicKey) != ed25519.PublicKeySize {
		return fail("signing_public_key of %d bytes, want %d", len(r.SigningPublicKey), ed25519.PublicKeySize)
	}
	if _, err := r.tlsKey(); err != nil {
		return fail("tls_csr: %v", err)
	}
	if err := attest.Verify(r.SigningPublicKey, r.statement(), r.Signature); err != nil {
		return fmt.Errorf("federation: node request of node %d: %w: %v", r.Index, ErrBadRequest, err)
	}
	return nil
}

// tlsKey parses r's certificate request, checks its self-signature and
// returns its ECDSA P-256 public key.
func (r *NodeRequest) tlsKey() (*ecdsa.PublicKey, error) {
	csr, err := x509.ParseCertificateRequest(r.CSR)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("the certificate request's key is not ECDSA P-256")
	}
	return pub, nil
}

// Keygen generates one node's secrets in dir, on the node's own machine:
// its Ed25519 signing key, seal key, ECDSA P-256 TLS key and admin token,
// each written with mode 0600, its node.yaml (0600, naming federation.yaml
// and tls.crt in dir, which Install adds) and an empty data directory
// (0700). It writes the public request, signed with the new signing key,
// to dir/node-request.yaml (0644). All randomness comes from crypto/rand.
//
// Keygen refuses (ErrNotEmpty) a dir that is not empty unless o.Force,
// and always a data directory that holds anything; invalid options wrap
// ErrInvalid.
func Keygen(dir string, o KeygenOptions) (*KeygenResult, error) {
	if o.Federation == "" {
		o.Federation = DefaultName
	}
	if o.Name == "" {
		o.Name = "node-" + strconv.FormatUint(uint64(o.Index), 10)
	}
	if o.Addresses.API == "" || o.Addresses.Peer == "" {
		return nil, fmt.Errorf("federation: keygen: %w: the node's API and peer addresses are required", ErrInvalid)
	}
	empty, err := dirEmpty(dir)
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: %w", err)
	}
	if !empty && !o.Force {
		return nil, fmt.Errorf("federation: keygen: %w: %s (use --force to replace the node's key files in it)", ErrNotEmpty, dir)
	}
	if empty, err := dirEmpty(filepath.Join(dir, "data")); err != nil {
		return nil, fmt.Errorf("federation: keygen: %w", err)
	} else if !empty {
		return nil, fmt.Errorf("federation: keygen: %w: %s holds a node's store, which new keys would not match; remove it first", ErrNotEmpty, filepath.Join(dir, "data"))
	}

	sigPub, sigPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: signing key: %w", err)
	}
	signingPEM, err := privateKeyPEM(sigPriv)
	if err != nil {
		return nil, err
	}
	sealKey, err := seal.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: seal key: %w", err)
	}
	sealRaw, err := sealKey.Marshal()
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: seal key: %w", err)
	}
	tlsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: TLS key: %w", err)
	}
	tlsPEM, err := privateKeyPEM(tlsKey)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: o.Name},
		URIs:    []*url.URL{NodeIdentity(o.Federation, o.Index)},
	}, tlsKey)
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: certificate request: %w", err)
	}
	token, tokHash, err := newAdminToken()
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: %w", err)
	}

	req := &NodeRequest{
		Federation: o.Federation, Index: o.Index, Name: o.Name,
		APIAddress: o.Addresses.API, PeerAddress: o.Addresses.Peer,
		SealPublicKey: sealKey.Public().Marshal(), SigningPublicKey: sigPub, CSR: csr,
	}
	req.Signature = attest.Sign(sigPriv, req.statement())
	if err := req.Verify(); err != nil {
		return nil, fmt.Errorf("federation: keygen: %w", err)
	}
	reqYAML, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	cfg := nodeConfigFor(DescriptorFile, o.Index, o.Addresses, tokHash, o.AllowInsecureDevSetup)
	cfgYAML, err := cfg.Marshal()
	if err != nil {
		return nil, fmt.Errorf("federation: keygen: %w", err)
	}

	res := &KeygenResult{
		Request:     req,
		RequestPath: filepath.Join(dir, RequestFile),
		NodeConfig:  filepath.Join(dir, NodeConfigFile),
		AdminToken:  filepath.Join(dir, AdminTokenFile),
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), secretDirMode); err != nil {
		return nil, fmt.Errorf("federation: keygen: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{"signing.key", signingPEM, secretFileMode},
		{"seal.key", pem.EncodeToMemory(&pem.Block{Type: sealKeyPEMType, Bytes: sealRaw}), secretFileMode},
		{"tls.key", tlsPEM, secretFileMode},
		{AdminTokenFile, []byte(token + "\n"), secretFileMode},
		{NodeConfigFile, cfgYAML, secretFileMode},
		{RequestFile, reqYAML, publicFileMode},
	} {
		path := filepath.Join(dir, f.name)
		if err := writeNewFile(path, f.data, f.perm); err != nil {
			return nil, fmt.Errorf("federation: keygen: write %s: %w", path, err)
		}
	}
	return res, nil
}

// AssembleOptions configure Assemble. A zero field takes the default
// stated beside it.
type AssembleOptions struct {
	CACertPEM []byte // the federation CA certificate (NewCA's ca.pem)
	CAKeyPEM  []byte // its private key (ca-key.pem); read, never written

	Admission     Admission     // default AdmissionInvite; AdmissionOpen needs AllowInsecureDevSetup
	RegistryDepth int           // default merkle.DefaultDepth
	RootWindow    time.Duration // default DefaultRootWindow
	// AllowInsecureDevSetup permits open admission.
	AllowInsecureDevSetup bool
	// Force lets Assemble write into a directory that is not empty,
	// replacing the files it writes.
	Force bool
}

// AssembleResult says what Assemble wrote.
type AssembleResult struct {
	Descriptor     *Descriptor
	DescriptorPath string   // dir/federation.yaml
	CAPath         string   // dir/ca.pem
	Certificates   []string // dir/node-N.crt, by index
}

// Assemble makes a federation from its nodes' requests (ParseNodeRequest),
// on the machine of the party holding the CA: it checks every request
// (its signature under the signing key it names, its certificate request's
// signature), that they are for the CA's federation, that their indices
// are 0..n−1 each once and that no two nodes share a key, then signs one
// TLS certificate per node for the public key of its request and writes
// federation.yaml, ca.pem and node-N.crt into dir, all public (0644): no
// node secret ever reaches the assembler, and Assemble writes no secret.
//
// Refusals wrap ErrInvalid (a malformed or inconsistent set of requests),
// ErrBadRequest (a request whose signature does not verify: altered in
// transit), ErrInsecureDevSetup or ErrNotEmpty.
func Assemble(dir string, requests []*NodeRequest, o AssembleOptions) (*AssembleResult, error) {
	fo := InitOptions{Nodes: len(requests), Admission: o.Admission, RegistryDepth: o.RegistryDepth, RootWindow: o.RootWindow,
		AllowInsecureDevSetup: o.AllowInsecureDevSetup, BasePort: DefaultBasePort}
	if len(requests) == 0 {
		return nil, fmt.Errorf("federation: assemble: %w: no node requests", ErrInvalid)
	}
	fo.Name = requests[0].Federation
	fo, err := fo.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("federation: assemble: %w", err)
	}
	ca, caKey, err := parseCAPair(o.CACertPEM, o.CAKeyPEM)
	if err != nil {
		return nil, err
	}
	d := &Descriptor{
		Version: DescriptorVersion, Name: fo.Name, RegistryDepth: fo.RegistryDepth, RootWindow: fo.RootWindow,
		Admission: fo.Admission, CA: string(certPEM(ca)), Nodes: make([]NodeEntry, len(requests)),
	}
	filled := make([]bool, len(requests))
	tlsKeys := make([]*ecdsa.PublicKey, len(requests))
	for _, r := range requests {
		if err := r.Verify(); err != nil {
			return nil, fmt.Errorf("federation: assemble: %w", err)
		}
		if r.Federation != d.Name {
			return nil, fmt.Errorf("federation: assemble: %w: node %d asks to join federation %q, the others %q", ErrInvalid, r.Index, r.Federation, d.Name)
		}
		if int(r.Index) >= len(requests) || filled[r.Index] {
			return nil, fmt.Errorf("federation: assemble: %w: node index %d is repeated or outside 0..%d", ErrInvalid, r.Index, len(requests)-1)
		}
		filled[r.Index] = true
		if tlsKeys[r.Index], err = r.tlsKey(); err != nil {
			return nil, fmt.Errorf("federation: assemble: node %d: %w: %v", r.Index, ErrInvalid, err)
		}
		d.Nodes[r.Index] = NodeEntry{
			Index: r.Index, Name: r.Name, APIAddress: r.APIAddress, PeerAddress: r.PeerAddress,
			SealPublicKey: r.SealPublicKey, SigningPublicKey: r.SigningPublicKey,
		}
	}
	if err := checkDistinctKeys(d); err != nil {
		return nil, fmt.Errorf("federation: assemble: %w", err)
	}
	if ca.Subject.CommonName != caCommonName(d.Name) {
		return nil, fmt.Errorf("federation: assemble: %w: the CA %q is not federation %q's", ErrInvalid, ca.Subject.CommonName, d.Name)
	}
	descYAML, err := d.Marshal()
	if err != nil {
		return nil, fmt.Errorf("federation: assemble: %w", err)
	}
	now := time.Now()
	certs := make([][]byte, len(requests))
	for i, e := range d.Nodes {
		cert, err := signNodeCert(ca, caKey, d.Name, e.Index, tlsKeys[i], []string{hostOf(e.APIAddress), hostOf(e.PeerAddress)}, now)
		if err != nil {
			return nil, err
		}
		certs[i] = certPEM(cert)
	}

	empty, err := dirEmpty(dir)
	if err != nil {
		return nil, fmt.Errorf("federation: assemble: %w", err)
	}
	if !empty && !o.Force {
		return nil, fmt.Errorf("federation: assemble: %w: %s (use --force to replace the federation files in it)", ErrNotEmpty, dir)
	}
	if err := os.MkdirAll(dir, publicDirMode); err != nil {
		return nil, fmt.Errorf("federation: assemble: %w", err)
	}
	res := &AssembleResult{Descriptor: d, DescriptorPath: filepath.Join(dir, DescriptorFile), CAPath: filepath.Join(dir, CAFile)}
	write := func(path string, data []byte) error {
		if err := writeNewFile(path, data, publicFileMode); err != nil {
			return fmt.Errorf("federation: assemble: write %s: %w", path, err)
		}
		return nil
	}
	if err := write(res.DescriptorPath, descYAML); err != nil {
		return nil, err
	}
	if err := write(res.CAPath, []byte(d.CA)); err != nil {
		return nil, err
	}
	for i, c := range certs {
		p := filepath.Join(dir, NodeCertFile(uint32(i)))
		if err := write(p, c); err != nil {
			return nil, err
		}
		res.Certificates = append(res.Certificates, p)
	}
	return res, nil
}

// NodeCertFile is the name Assemble gives node index's certificate.
func NodeCertFile(index uint32) string {
	return "node-" + strconv.FormatUint(uint64(index), 10) + ".crt"
}

// checkDistinctKeys refuses a descriptor in which two nodes share a seal
// or signing key: one node offering another's public key as its own.
func checkDistinctKeys(d *Descriptor) error {
	seals, sigs := map[string]uint32{}, map[string]uint32{}
	for _, e := range d.Nodes {
		if j, ok := seals[string(e.SealPublicKey)]; ok {
			return fmt.Errorf("%w: nodes %d and %d have the same seal key", ErrInvalid, j, e.Index)
		}
		if j, ok := sigs[string(e.SigningPublicKey)]; ok {
			return fmt.Errorf("%w: nodes %d and %d have the same signing key", ErrInvalid, j, e.Index)
		}
		seals[string(e.SealPublicKey)], sigs[string(e.SigningPublicKey)] = e.Index, e.Index
	}
	return nil
}

// NewCA creates a federation CA in dir: ca.pem (0644) and ca-key.pem
// (0600). Its holder signs the nodes' certificates (Assemble); it is not a
// node secret and belongs offline. dir must be empty or missing.
func NewCA(dir, federation string) (certPath, keyPath string, err error) {
	if !nameRE.MatchString(federation) {
		return "", "", fmt.Errorf("federation: ca: %w: name %q is not a lower-case DNS label", ErrInvalid, federation)
	}
	empty, err := dirEmpty(dir)
	if err != nil {
		return "", "", fmt.Errorf("federation: ca: %w", err)
	}
	if !empty {
		return "", "", fmt.Errorf("federation: ca: %w: %s", ErrNotEmpty, dir)
	}
	ca, key, err := newCA(federation, time.Now())
	if err != nil {
		return "", "", err
	}
	keyPEM, err := privateKeyPEM(key)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, secretDirMode); err != nil {
		return "", "", fmt.Errorf("federation: ca: %w", err)
	}
	certPath, keyPath = filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	if err := writeNewFile(certPath, certPEM(ca), publicFileMode); err != nil {
		return "", "", fmt.Errorf("federation: ca: %w", err)
	}
	if err := writeNewFile(keyPath, keyPEM, secretFileMode); err != nil {
		return "", "", fmt.Errorf("federation: ca: %w", err)
	}
	return certPath, keyPath, nil
}

// LoadCA reads a CA's certificate and key files as Assemble takes them;
// the key file must be private to its owner (ErrInsecureKeyFile).
func LoadCA(certPath, keyPath string) (certPEM, keyPEM []byte, err error) {
	if certPEM, err = readBounded(certPath, maxKeyFileBytes); err != nil {
		return nil, nil, fmt.Errorf("federation: CA certificate: %w", err)
	}
	if keyPEM, err = readSecretFile(keyPath); err != nil {
		return nil, nil, fmt.Errorf("federation: CA key: %w", err)
	}
	return certPEM, keyPEM, nil
}

// parseCAPair decodes a CA certificate and its ECDSA key and checks that they
// belong together and that the certificate is a CA.
func parseCAPair(certData, keyData []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	der, err := decodeOnePEM(certData, "CERTIFICATE")
	if err != nil {
		return nil, nil, fmt.Errorf("federation: CA certificate: %w: %v", ErrInvalid, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil || !cert.IsCA {
		return nil, nil, fmt.Errorf("federation: CA certificate: %w: not a CA certificate", ErrInvalid)
	}
	kder, err := decodeOnePEM(keyData, "PRIVATE KEY")
	if err != nil {
		return nil, nil, fmt.Errorf("federation: CA key: %w: %v", ErrInvalid, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kder)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: CA key: %w: %v", ErrInvalid, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("federation: CA key: %w: it is not the CA certificate's key", ErrKeyMismatch)
	}
	return cert, key, nil
}

// InstallResult says what Install wrote.
type InstallResult struct {
	Node           *Node
	DescriptorPath string
	CertPath       string
}

// Install completes a node made by Keygen: it writes the assembled
// federation.yaml and the node's certificate into the node's directory
// (that of nodeConfig) and loads the node (LoadNode), which checks that the
// descriptor names this node's own public keys and that the certificate is
// the CA's, for this node, over its own TLS key. On any failure the files
// it wrote are removed and the error wraps ErrKeyMismatch or ErrInvalid.
func Install(nodeConfig string, descriptorYAML, certPEMData []byte) (*InstallResult, error) {
	if _, err := ParseDescriptor(descriptorYAML); err != nil {
		return nil, fmt.Errorf("federation: install: %w", err)
	}
	dir := filepath.Dir(nodeConfig)
	res := &InstallResult{DescriptorPath: filepath.Join(dir, DescriptorFile), CertPath: filepath.Join(dir, TLSCertFile)}
	if err := writeNewFile(res.DescriptorPath, descriptorYAML, publicFileMode); err != nil {
		return nil, fmt.Errorf("federation: install: %w", err)
	}
	if err := writeNewFile(res.CertPath, certPEMData, publicFileMode); err != nil {
		os.Remove(res.DescriptorPath)
		return nil, fmt.Errorf("federation: install: %w", err)
	}
	n, err := LoadNode(nodeConfig)
	if err != nil {
		os.Remove(res.DescriptorPath)
		os.Remove(res.CertPath)
		return nil, fmt.Errorf("federation: install: %w", err)
	}
	res.Node = n
	return res, nil
}

package federation

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/seal"
)

// DescriptorVersion is the only descriptor format version this package reads
// and writes.
const DescriptorVersion = 1

const (
	// MinNodes and MaxNodes bound the size of a federation.
	MinNodes = 2
	MaxNodes = 16

	// DefaultName is the federation name Init uses unless told otherwise.
	DefaultName = "cohort"

	// DefaultRootWindow is how long a superseded registry root stays valid
	// unless the descriptor says otherwise.
	DefaultRootWindow = time.Hour

	// MaxDescriptorBytes bounds a federation.yaml. A 16-node descriptor is
	// about 40 KiB; anything far larger is refused before it is parsed.
	MaxDescriptorBytes = 1 << 20
)

// Admission says how identities enter a federation's registry.
type Admission string

const (
	// AdmissionInvite admits an identity only with a single-use invite token
	// issued by an administrator. It is the default.
	AdmissionInvite Admission = "invite"

	// AdmissionOpen admits anyone who asks (Register without a token). It
	// makes the registry's anonymity set and the one-record-per-person rule
	// meaningless against a Sybil attacker, so it is for development only:
	// a node refuses it unless its configuration sets
	// allow_insecure_dev_setup.
	AdmissionOpen Admission = "open"
)

// valid reports whether a is a known admission policy.
func (a Admission) valid() bool { return a == AdmissionInvite || a == AdmissionOpen }

// A Descriptor is the public description of a federation: its parameters,
// its CA and, for every node, where to reach it and its public keys. Every
// node, contributor, buyer and auditor holds the same copy (federation.yaml);
// nothing in it is secret.
type Descriptor struct {
	Version           int           // DescriptorVersion
	Name              string        // lower-case DNS label, 1..64 characters
	RegistryDepth     int           // registry Merkle tree depth, 1..merkle.MaxDepth
	RegistrySequencer uint32        // index of the node that orders registry updates
	RootWindow        time.Duration // how long a superseded registry root stays valid; > 0
	Admission         Admission     // AdmissionInvite or AdmissionOpen
	CA                string        // PEM of the federation CA certificate
	Nodes             []NodeEntry   // MinNodes..MaxNodes entries, Nodes[i].Index == i
}

// A NodeEntry is one node of a federation as everyone else sees it.
type NodeEntry struct {
	Index            uint32
	Name             string            // display name, e.g. "node-0"; unique, DNS label
	APIAddress       string            // host:port of the client-facing API (TLS, server auth only)
	PeerAddress      string            // host:port of PeerService (mutual TLS)
	SealPublicKey    []byte            // seal.PublicKey.Marshal(): contributors seal shares to it
	SigningPublicKey ed25519.PublicKey // verifies the node's signatures (transcripts, partial aggregates)
}

// SealKey decodes the node's seal public key.
func (e NodeEntry) SealKey() (*seal.PublicKey, error) {
	k, err := seal.ParsePublicKey(e.SealPublicKey)
	if err != nil {
		return nil, fmt.Errorf("federation: node %d: seal public key: %w", e.Index, err)
	}
	return k, nil
}

// descriptorFile is federation.yaml as it is written: keys in base64.
type descriptorFile struct {
	Version           int           `yaml:"version"`
	Name              string        `yaml:"name"`
	RegistryDepth     int           `yaml:"registry_depth"`
	RegistrySequencer uint32        `yaml:"registry_sequencer"`
	RootWindow        time.Duration `yaml:"root_window"`
	Admission         Admission     `yaml:"admission"`
	CA                string        `yaml:"ca"`
	Nodes             []nodeFile    `yaml:"nodes"`
}

type nodeFile struct {
	Index            uint32 `yaml:"index"`
	Name             string `yaml:"name"`
	APIAddress       string `yaml:"api_address"`
	PeerAddress      string `yaml:"peer_address"`
	SealPublicKey    string `yaml:"seal_public_key"`
	SigningPublicKey string `yaml:"signing_public_key"`
}

// LoadDescriptor reads and validates a federation.yaml.
func LoadDescriptor(path string) (*Descriptor, error) {
	data, err := readBounded(path, MaxDescriptorBytes)
	if err != nil {
		return nil, fmt.Errorf("federation: descriptor: %w", err)
	}
	d, err := ParseDescriptor(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return d, nil
}

// ParseDescriptor decodes a federation.yaml strictly (unknown or duplicate
// keys, a second YAML document and wrongly typed values are refused) and
// validates it. Inputs over MaxDescriptorBytes are refused unread. Every
// failure wraps ErrInvalid.
func ParseDescriptor(data []byte) (*Descriptor, error) {
	if len(data) > MaxDescriptorBytes {
		return nil, fmt.Errorf("federation: descriptor: %w: %d bytes, at most %d", ErrInvalid, len(data), MaxDescriptorBytes)
	}
	var f descriptorFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("federation: descriptor: %w: %v", ErrInvalid, err)
	}
	if len(f.Nodes) > MaxNodes {
		return nil, fmt.Errorf("federation: descriptor: %w: %d nodes, at most %d", ErrInvalid, len(f.Nodes), MaxNodes)
	}
	d := &Descriptor{
		Version:           f.Version,
		Name:              f.Name,
		RegistryDepth:     f.RegistryDepth,
		RegistrySequencer: f.RegistrySequencer,
		RootWindow:        f.RootWindow,
		Admission:         f.Admission,
		CA:                f.CA,
		Nodes:             make([]NodeEntry, len(f.Nodes)),
	}
	for i, n := range f.Nodes {
		seal, err := base64.StdEncoding.Strict().DecodeString(n.SealPublicKey)
		if err != nil {
			return nil, fmt.Errorf("federation: descriptor: node %d: %w: seal_public_key: not base64", i, ErrInvalid)
		}
		sig, err := base64.StdEncoding.Strict().DecodeString(n.SigningPublicKey)
		if err != nil {
			return nil, fmt.Errorf("federation: descriptor: node %d: %w: signing_public_key: not base64", i, ErrInvalid)
		}
		d.Nodes[i] = NodeEntry{
			Index:            n.Index,
			Name:             n.Name,
			APIAddress:       n.APIAddress,
			PeerAddress:      n.PeerAddress,
			SealPublicKey:    seal,
			SigningPublicKey: ed25519.PublicKey(sig),
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// decodeStrict decodes exactly one YAML document into out, refusing unknown
// keys.
func decodeStrict(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty document")
		}
		return errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

// Marshal validates d and encodes it as federation.yaml.
func (d *Descriptor) Marshal() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	f := descriptorFile{
		Version:           d.Version,
		Name:              d.Name,
		RegistryDepth:     d.RegistryDepth,
		RegistrySequencer: d.RegistrySequencer,
		RootWindow:        d.RootWindow,
		Admission:         d.Admission,
		CA:                d.CA,
		Nodes:             make([]nodeFile, len(d.Nodes)),
	}
	for i, n := range d.Nodes {
		f.Nodes[i] = nodeFile{
			Index:            n.Index,
			Name:             n.Name,
			APIAddress:       n.APIAddress,
			PeerAddress:      n.PeerAddress,
			SealPublicKey:    base64.StdEncoding.EncodeToString(n.SealPublicKey),
			SigningPublicKey: base64.StdEncoding.EncodeToString(n.SigningPublicKey),
		}
	}
	b, err := marshalYAML(&f)
	if err != nil {
		return nil, fmt.Errorf("federation: descriptor: %w", err)
	}
	return b, nil
}

// marshalYAML encodes v as one YAML document indented by two spaces.
func marshalYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Node returns the entry of node i.
func (d *Descriptor) Node(i uint32) (NodeEntry, bool) {
	if uint64(i) >= uint64(len(d.Nodes)) {
		return NodeEntry{}, false
	}
	return d.Nodes[i], true
}

// CACertificate parses the federation CA certificate.
func (d *Descriptor) CACertificate() (*x509.Certificate, error) {
	return parseCA(d.CA)
}

// CAPool returns a pool holding only the federation CA.
func (d *Descriptor) CAPool() (*x509.CertPool, error) {
	ca, err := parseCA(d.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}

// nameRE is a lower-case DNS label: it names the federation inside node
// identities (cohort-node://<name>/<index>), so it must be a valid URI host.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)

// Validate checks every field of d: the version, the name, the registry
// depth (1..merkle.MaxDepth), the sequencer (an existing node), the root
// window (> 0), the admission policy, the CA (one PEM certificate that is a
// CA allowed to sign certificates), and for every node: its index (Nodes[i]
// has Index i), its unique name, its API and peer addresses (host:port, port
// 1..65535, a host that can be dialled, no address used twice), its seal
// public key (as seal.ParsePublicKey checks it) and its 32-byte
// Ed25519 signing key, no key used by two nodes. It does not check the CA's
// validity period (that depends on the clock; TLS verification does). Every
// failure wraps ErrInvalid.
func (d *Descriptor) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("federation: descriptor: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if d.Version != DescriptorVersion {
		return fail("version %d, want %d", d.Version, DescriptorVersion)
	}
	if !nameRE.MatchString(d.Name) {
		return fail("name %q is not a lower-case DNS label (a-z, 0-9, '-', 1..64 characters)", d.Name)
	}
	if d.RegistryDepth < 1 || d.RegistryDepth > merkle.MaxDepth {
		return fail("registry_depth %d outside 1..%d", d.RegistryDepth, merkle.MaxDepth)
	}
	if d.RootWindow <= 0 {
		return fail("root_window %v must be positive", d.RootWindow)
	}
	if !d.Admission.valid() {
		return fail("admission %q: want %q or %q", d.Admission, AdmissionInvite, AdmissionOpen)
	}
	if _, err := parseCA(d.CA); err != nil {
		return fail("ca: %v", err)
	}
	n := len(d.Nodes)
	if n < MinNodes || n > MaxNodes {
		return fail("%d nodes, want %d..%d", n, MinNodes, MaxNodes)
	}
	if uint64(d.RegistrySequencer) >= uint64(n) {
		return fail("registry_sequencer %d is not a node (0..%d)", d.RegistrySequencer, n-1)
	}
	names := make(map[string]int, n)
	addrs := make(map[string]string, 2*n)
	seals := make(map[string]int, n)
	sigs := make(map[string]int, n)
	for i, e := range d.Nodes {
		if uint64(e.Index) != uint64(i) {
			return fail("nodes[%d] has index %d: nodes must be listed in order 0..%d", i, e.Index, n-1)
		}
		if !nameRE.MatchString(e.Name) {
			return fail("node %d: name %q is not a lower-case DNS label", i, e.Name)
		}
		if j, ok := names[e.Name]; ok {
			return fail("node %d: name %q already used by node %d", i, e.Name, j)
		}
		names[e.Name] = i
		for _, a := range []struct{ field, addr string }{{"api_address", e.APIAddress}, {"peer_address", e.PeerAddress}} {
			if err := checkDialAddress(a.addr); err != nil {
				return fail("node %d: %s: %v", i, a.field, err)
			}
			where := fmt.Sprintf("node %d %s", i, a.field)
			if prev, ok := addrs[a.addr]; ok {
				return fail("%s %q already used as %s", where, a.addr, prev)
			}
			addrs[a.addr] = where
		}
		if _, err := seal.ParsePublicKey(e.SealPublicKey); err != nil {
			return fail("node %d: seal_public_key: %v", i, err)
		}
		if j, ok := seals[string(e.SealPublicKey)]; ok {
			return fail("node %d: seal_public_key already used by node %d", i, j)
		}
		seals[string(e.SealPublicKey)] = i
		if len(e.SigningPublicKey) != ed25519.PublicKeySize {
			return fail("node %d: signing_public_key is %d bytes, want %d", i, len(e.SigningPublicKey), ed25519.PublicKeySize)
		}
		if j, ok := sigs[string(e.SigningPublicKey)]; ok {
			return fail("node %d: signing_public_key already used by node %d", i, j)
		}
		sigs[string(e.SigningPublicKey)] = i
	}
	return nil
}

// parseCA decodes exactly one PEM CERTIFICATE block holding a CA
// certificate allowed to sign certificates.
func parseCA(s string) (*x509.Certificate, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block %q, want CERTIFICATE", block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, errors.New("not a CA certificate")
	}
	if cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("CA certificate may not sign certificates")
	}
	return cert, nil
}

// checkDialAddress checks that addr is host:port that a peer can dial: a
// non-empty host that is not an unspecified address (0.0.0.0, ::) and a port
// in 1..65535.
func checkDialAddress(addr string) error {
	host, err := checkHostPort(addr, false)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("address %q: %s cannot be dialled", addr, host)
	}
	return nil
}

// checkHostPort splits addr into host and port and checks the port is a
// decimal number in 1..65535 (0..65535 when allowZero). It returns the host,
// which may be empty.
func checkHostPort(addr string, allowZero bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q is not host:port", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (p == 0 && !allowZero) || strconv.FormatUint(p, 10) != port {
		return "", fmt.Errorf("address %q: port %q is not a number in 1..65535", addr, port)
	}
	if host != "" && net.ParseIP(host) == nil && (len(host) > 253 || !hostRE.MatchString(host)) {
		return "", fmt.Errorf("address %q: host %q is neither an IP address nor a DNS name", addr, host)
	}
	return host, nil
}

// hostRE is a DNS name: dot-separated labels of letters, digits and
// hyphens, at most 253 characters.
var hostRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$`)

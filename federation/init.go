package federation

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/seal"
)

// Init defaults.
const (
	DefaultNodes    = 3
	DefaultHost     = "127.0.0.1"
	DefaultBasePort = 7400
)

// File names Init writes.
const (
	DescriptorFile = "federation.yaml"
	CAFile         = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	NodeConfigFile = "node.yaml"
	AdminTokenFile = "admin.token"
)

// adminTokenBytes is the entropy of an admin token.
const adminTokenBytes = 32

// NodeAddresses are one node's listen addresses. Init uses a non-empty
// field in place of the address it would compute.
type NodeAddresses struct {
	API     string // client-facing API, host:port
	Peer    string // PeerService, host:port
	Metrics string // Prometheus /metrics, loopback host:port
	HTTP    string // the HTTP/JSON API (TLS), host:port
}

// InitOptions configure Init. A zero field takes the default stated beside
// it.
type InitOptions struct {
	Nodes    int      // number of nodes, MinNodes..MaxNodes; default 3
	Name     string   // federation name, a lower-case DNS label; default "cohort"
	Host     string   // host of every node's addresses; default 127.0.0.1
	Hosts    []string // per-node hosts (len Nodes) in place of Host
	BasePort int      // node i: API BasePort+10i, peer +1, metrics +2 on 127.0.0.1, HTTP/JSON +3; default 7400
	// Addresses (len Nodes) override, field by field, the computed
	// addresses.
	Addresses      []NodeAddresses
	DisableMetrics bool // write node configs without a metrics listener

	Admission     Admission     // default AdmissionInvite; AdmissionOpen needs AllowInsecureDevSetup
	RegistryDepth int           // default merkle.DefaultDepth
	RootWindow    time.Duration // default DefaultRootWindow

	// AllowInsecureDevSetup permits open admission and sets
	// allow_insecure_dev_setup in every node.yaml.
	AllowInsecureDevSetup bool
	// Force lets Init write into a directory that is not empty,
	// replacing the files it writes. It never deletes a node's data
	// directory: Init refuses while one holds anything.
	Force bool
}

// InitResult says what Init wrote.
type InitResult struct {
	Descriptor     *Descriptor
	DescriptorPath string          // dir/federation.yaml
	CAPath         string          // dir/ca.pem
	CAKeyPath      string          // dir/ca-key.pem: secret, move it offline
	NodeConfigs    []string        // dir/node-N/node.yaml
	AdminTokens    []string        // dir/node-N/admin.token: secret
	Addresses      []NodeAddresses // what node N's node.yaml listens on (Metrics "" when disabled)
}

// nodeMaterial is one node's generated keys and configuration.
type nodeMaterial struct {
	dir        string
	config     []byte
	signingPEM []byte
	sealPEM    []byte
	certPEM    []byte
	keyPEM     []byte
	token      string
}

// Init creates a federation in dir: a fresh CA, and for each node its
// signing key, seal key, TLS certificate and key, admin token and node.yaml,
// as laid out in the package documentation. All randomness comes from
// crypto/rand. Everything is generated and validated before the first file
// is written; secrets are created with mode 0600 (public files 0644, node
// directories 0700).
//
// Init refuses (ErrNotEmpty) a dir that exists and is not empty unless
// o.Force, and always refuses when a node's data directory holds anything.
// It refuses open admission without o.AllowInsecureDevSetup
// (ErrInsecureDevSetup), and invalid options (ErrInvalid).
func Init(dir string, o InitOptions) (*InitResult, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	addrs, err := o.addresses()
	if err != nil {
		return nil, err
	}
	if err := checkInitTarget(dir, o); err != nil {
		return nil, err
	}

	now := time.Now()
	ca, caKey, err := newCA(o.Name, now)
	if err != nil {
		return nil, err
	}
	caKeyPEM, err := privateKeyPEM(caKey)
	if err != nil {
		return nil, err
	}
	d := &Descriptor{
		Version:           DescriptorVersion,
		Name:              o.Name,
		RegistryDepth:     o.RegistryDepth,
		RegistrySequencer: 0,
		RootWindow:        o.RootWindow,
		Admission:         o.Admission,
		CA:                string(certPEM(ca)),
		Nodes:             make([]NodeEntry, o.Nodes),
	}
	nodes := make([]nodeMaterial, o.Nodes)
	for i := range nodes {
		idx := uint32(i)
		m := &nodes[i]
		m.dir = filepath.Join(dir, "node-"+strconv.Itoa(i))

		sigPub, sigPriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("federation: node %d signing key: %w", i, err)
		}
		if m.signingPEM, err = privateKeyPEM(sigPriv); err != nil {
			return nil, err
		}
		sealKey, err := seal.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("federation: node %d seal key: %w", i, err)
		}
		sealRaw, err := sealKey.Marshal()
		if err != nil {
			return nil, fmt.Errorf("federation: node %d seal key: %w", i, err)
		}
		m.sealPEM = pem.EncodeToMemory(&pem.Block{Type: sealKeyPEMType, Bytes: sealRaw})

		cert, key, err := issueNodeCert(ca, caKey, o.Name, idx, []string{hostOf(addrs[i].API), hostOf(addrs[i].Peer)}, now)
		if err != nil {
			return nil, err
		}
		m.certPEM = certPEM(cert)
		if m.keyPEM, err = privateKeyPEM(key); err != nil {
			return nil, err
		}

		var tokHash [32]byte
		if m.token, tokHash, err = newAdminToken(); err != nil {
			return nil, fmt.Errorf("federation: node %d: %w", i, err)
		}

		d.Nodes[i] = NodeEntry{
			Index:            idx,
			Name:             "node-" + strconv.Itoa(i),
			APIAddress:       addrs[i].API,
			PeerAddress:      addrs[i].Peer,
			SealPublicKey:    sealKey.Public().Marshal(),
			SigningPublicKey: sigPub,
		}
		cfg := nodeConfigFor(filepath.Join("..", DescriptorFile), idx, addrs[i], tokHash, o.AllowInsecureDevSetup)
		if m.config, err = cfg.Marshal(); err != nil {
			return nil, fmt.Errorf("federation: node %d: %w", i, err)
		}
	}
	descYAML, err := d.Marshal()
	if err != nil {
		return nil, err
	}

	res := &InitResult{
		Descriptor:     d,
		DescriptorPath: filepath.Join(dir, DescriptorFile),
		CAPath:         filepath.Join(dir, CAFile),
		CAKeyPath:      filepath.Join(dir, CAKeyFile),
		Addresses:      addrs,
	}
	if err := os.MkdirAll(dir, publicDirMode); err != nil {
		return nil, fmt.Errorf("federation: init: %w", err)
	}
	write := func(path string, data []byte, perm os.FileMode) error {
		if err := writeNewFile(path, data, perm); err != nil {
			return fmt.Errorf("federation: init: write %s: %w", path, err)
		}
		return nil
	}
	if err := write(res.DescriptorPath, descYAML, publicFileMode); err != nil {
		return nil, err
	}
	if err := write(res.CAPath, []byte(d.CA), publicFileMode); err != nil {
		return nil, err
	}
	if err := write(res.CAKeyPath, caKeyPEM, secretFileMode); err != nil {
		return nil, err
	}
	for _, m := range nodes {
		if err := os.MkdirAll(filepath.Join(m.dir, "data"), secretDirMode); err != nil {
			return nil, fmt.Errorf("federation: init: %w", err)
		}
		files := []struct {
			name string
			data []byte
			perm os.FileMode
		}{
			{"signing.key", m.signingPEM, secretFileMode},
			{"seal.key", m.sealPEM, secretFileMode},
			{"tls.crt", m.certPEM, publicFileMode},
			{"tls.key", m.keyPEM, secretFileMode},
			{AdminTokenFile, []byte(m.token + "\n"), secretFileMode},
			{NodeConfigFile, m.config, secretFileMode},
		}
		for _, f := range files {
			if err := write(filepath.Join(m.dir, f.name), f.data, f.perm); err != nil {
				return nil, err
			}
		}
		res.NodeConfigs = append(res.NodeConfigs, filepath.Join(m.dir, NodeConfigFile))
		res.AdminTokens = append(res.AdminTokens, filepath.Join(m.dir, AdminTokenFile))
	}
	return res, nil
}

// withDefaults fills the zero fields of o and checks what the descriptor
// and node configs will not.
func (o InitOptions) withDefaults() (InitOptions, error) {
	fail := func(format string, args ...any) (InitOptions, error) {
		return o, fmt.Errorf("federation: init: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.BasePort == 0 {
		o.BasePort = DefaultBasePort
	}
	if o.Admission == "" {
		o.Admission = AdmissionInvite
	}
	if o.RegistryDepth == 0 {
		o.RegistryDepth = merkle.DefaultDepth
	}
	if o.RootWindow == 0 {
		o.RootWindow = DefaultRootWindow
	}
	if o.Nodes < MinNodes || o.Nodes > MaxNodes {
		return fail("%d nodes, want %d..%d", o.Nodes, MinNodes, MaxNodes)
	}
	if !nameRE.MatchString(o.Name) {
		return fail("name %q is not a lower-case DNS label (a-z, 0-9, '-', 1..64 characters)", o.Name)
	}
	if !o.Admission.valid() {
		return fail("admission %q: want %q or %q", o.Admission, AdmissionInvite, AdmissionOpen)
	}
	if o.Admission == AdmissionOpen && !o.AllowInsecureDevSetup {
		return o, fmt.Errorf("federation: init: %w: open admission lets anyone register; it needs AllowInsecureDevSetup (--allow-insecure-dev-setup)", ErrInsecureDevSetup)
	}
	if last := o.BasePort + 10*(o.Nodes-1) + 3; o.BasePort < 1 || last > 65535 {
		return fail("base port %d: ports %d..%d do not fit in 1..65535", o.BasePort, o.BasePort, last)
	}
	if o.Hosts != nil && len(o.Hosts) != o.Nodes {
		return fail("%d hosts for %d nodes", len(o.Hosts), o.Nodes)
	}
	if o.Addresses != nil && len(o.Addresses) != o.Nodes {
		return fail("%d address sets for %d nodes", len(o.Addresses), o.Nodes)
	}
	return o, nil
}

// addresses computes every node's addresses from o's hosts and base port,
// then applies o.Addresses.
func (o InitOptions) addresses() ([]NodeAddresses, error) {
	out := make([]NodeAddresses, o.Nodes)
	for i := range out {
		host := o.Host
		if o.Hosts != nil && o.Hosts[i] != "" {
			host = o.Hosts[i]
		}
		base := o.BasePort + 10*i
		out[i] = NodeAddresses{
			API:     net.JoinHostPort(host, strconv.Itoa(base)),
			Peer:    net.JoinHostPort(host, strconv.Itoa(base+1)),
			Metrics: net.JoinHostPort("127.0.0.1", strconv.Itoa(base+2)),
			HTTP:    net.JoinHostPort(host, strconv.Itoa(base+3)),
		}
		if o.Addresses != nil {
			a := o.Addresses[i]
			if a.API != "" {
				out[i].API = a.API
			}
			if a.Peer != "" {
				out[i].Peer = a.Peer
			}
			if a.Metrics != "" {
				out[i].Metrics = a.Metrics
			}
			if a.HTTP != "" {
				out[i].HTTP = a.HTTP
			}
		}
		if o.DisableMetrics {
			out[i].Metrics = ""
		}
		for _, a := range []string{out[i].API, out[i].Peer} {
			if err := checkDialAddress(a); err != nil {
				return nil, fmt.Errorf("federation: init: node %d: %w: %v", i, ErrInvalid, err)
			}
		}
	}
	return out, nil
}

// checkInitTarget refuses a non-empty dir without Force, and any node data
// directory that holds something.
func checkInitTarget(dir string, o InitOptions) error {
	empty, err := dirEmpty(dir)
	if err != nil {
		return fmt.Errorf("federation: init: %w", err)
	}
	if !empty && !o.Force {
		return fmt.Errorf("federation: init: %w: %s (use --force to replace the federation files in it)", ErrNotEmpty, dir)
	}
	for i := range o.Nodes {
		data := filepath.Join(dir, "node-"+strconv.Itoa(i), "data")
		empty, err := dirEmpty(data)
		if err != nil {
			return fmt.Errorf("federation: init: %w", err)
		}
		if !empty {
			return fmt.Errorf("federation: init: %w: %s holds a node's store, which the new keys would not match; remove it first", ErrNotEmpty, data)
		}
	}
	return nil
}

// hostOf is the host part of a host:port address checked by
// checkDialAddress.
func hostOf(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return host
}

// newAdminToken draws an admin token: 32 bytes from crypto/rand as
// URL-safe base64 without padding, and its SHA-256.
func newAdminToken() (string, [32]byte, error) {
	tok := make([]byte, adminTokenBytes)
	if _, err := rand.Read(tok); err != nil {
		return "", [32]byte{}, fmt.Errorf("admin token: %w", err)
	}
	s := base64.RawURLEncoding.EncodeToString(tok)
	return s, sha256.Sum256([]byte(s)), nil
}

// nodeConfigFor is the node.yaml of node idx listening on addrs, with the
// key files beside it and federation.yaml at descriptor.
func nodeConfigFor(descriptor string, idx uint32, addrs NodeAddresses, tokHash [32]byte, dev bool) NodeConfig {
	limits := DefaultLimits()
	limits.IngestConcurrency = 0 // follows the loading machine's GOMAXPROCS
	return NodeConfig{
		Version:               NodeConfigVersion,
		Federation:            descriptor,
		Index:                 idx,
		Listen:                addrs.API,
		PeerListen:            addrs.Peer,
		MetricsListen:         addrs.Metrics,
		HTTPListen:            addrs.HTTP,
		DataDir:               "data",
		Store:                 StoreConfig{Driver: StoreSQLite},
		SigningKeyFile:        "signing.key",
		SealKeyFile:           "seal.key",
		TLSCertFile:           TLSCertFile,
		TLSKeyFile:            "tls.key",
		AdminTokenSHA256:      hex.EncodeToString(tokHash[:]),
		AllowInsecureDevSetup: dev,
		Limits:                limits,
		Log:                   LogConfig{Level: "info", Format: "text"},
	}
}

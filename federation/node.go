package federation

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cohort-dev/cohort/seal"
)

// sealKeyPEMType is the PEM block type of seal.key; its bytes are
// seal.PrivateKey.Marshal().
const sealKeyPEMType = "COHORT SEAL PRIVATE KEY"

// A Node is one node's configuration with its federation descriptor and its
// key material loaded and checked against each other. It holds private
// keys: its fmt verbs print only the federation and index. It is not
// modified after LoadNode and is safe for concurrent reads.
type Node struct {
	Config         NodeConfig         // node.yaml with defaults, Listen and PeerListen filled
	Dir            string             // absolute directory of node.yaml
	Federation     *Descriptor        // the federation this node belongs to
	Signing        ed25519.PrivateKey // signs transcripts and partial aggregates
	Seal           *seal.PrivateKey   // opens the shares contributors seal to this node
	Cert           tls.Certificate    // the node's TLS certificate (server and client), Leaf set
	CAPool         *x509.CertPool     // the federation CA alone
	AdminTokenHash [32]byte           // SHA-256 of the admin bearer token
}

// Format prints the node's federation and index, never key material.
func (n Node) Format(f fmt.State, _ rune) {
	name := ""
	if n.Federation != nil {
		name = n.Federation.Name
	}
	fmt.Fprintf(f, "federation.Node(%s/%d)", name, n.Config.Index)
}

// LoadNode loads node.yaml at path, the federation descriptor it names and
// the node's keys, and checks them against each other:
//
//   - node.yaml and federation.yaml parse strictly and validate;
//   - the index names a node of the descriptor;
//   - a federation with open admission needs allow_insecure_dev_setup;
//   - the private key files (signing, seal, TLS), and node.yaml when it
//     holds a store DSN, are accessible by the owner only (mode & 0077 ==
//     0), else ErrInsecureKeyFile;
//   - the signing and seal public keys are those of the descriptor entry,
//     and the TLS certificate matches its key, chains to the federation CA
//     for both server and client use, names this node
//     (cohort-node://<federation>/<index>) and covers the hosts of the
//     entry's addresses, else ErrKeyMismatch.
//
// A PostgreSQL store without a DSN in node.yaml takes it from the
// environment variable StoreDSNEnv. Listen and PeerListen default to the
// descriptor's addresses. The admin token file is not read; only its hash
// in node.yaml is used.
func LoadNode(path string) (*Node, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("federation: node config %s: %w", path, err)
	}
	data, err := readBounded(abs, MaxNodeConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("federation: node config: %w", err)
	}
	cfg, err := ParseNodeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, abs)
	}
	n := &Node{Config: *cfg, Dir: filepath.Dir(abs)}
	if n.Federation, err = LoadDescriptor(n.path(cfg.Federation)); err != nil {
		return nil, err
	}
	entry, ok := n.Federation.Node(cfg.Index)
	if !ok {
		return nil, fmt.Errorf("federation: node config %s: %w: index %d is not a node of federation %q (0..%d)",
			abs, ErrInvalid, cfg.Index, n.Federation.Name, len(n.Federation.Nodes)-1)
	}
	if n.Federation.Admission == AdmissionOpen && !cfg.AllowInsecureDevSetup {
		return nil, fmt.Errorf("federation: node %d: %w: federation %q has open admission (anyone may register); set allow_insecure_dev_setup: true in %s only for development",
			cfg.Index, ErrInsecureDevSetup, n.Federation.Name, abs)
	}
	if n.Config.Listen == "" {
		n.Config.Listen = entry.APIAddress
	}
	if n.Config.PeerListen == "" {
		n.Config.PeerListen = entry.PeerAddress
	}
	if cfg.Store.DSN != "" {
		// A DSN may carry a password: node.yaml is then a secret file.
		if err := checkPrivateMode(abs); err != nil {
			return nil, fmt.Errorf("federation: node config with store.dsn: %w", err)
		}
	}
	if n.Config.Store.Driver == StorePostgres && n.Config.Store.DSN == "" {
		n.Config.Store.DSN = os.Getenv(StoreDSNEnv)
		if n.Config.Store.DSN == "" {
			return nil, fmt.Errorf("federation: node %d: %w: store driver %s needs store.dsn in %s or %s in the environment",
				cfg.Index, ErrInvalid, StorePostgres, abs, StoreDSNEnv)
		}
	}
	if n.CAPool, err = n.Federation.CAPool(); err != nil {
		return nil, fmt.Errorf("federation: %w: ca: %v", ErrInvalid, err)
	}
	if n.Signing, err = loadSigningKey(n.path(cfg.SigningKeyFile), entry); err != nil {
		return nil, fmt.Errorf("federation: node %d: %w", cfg.Index, err)
	}
	if n.Seal, err = loadSealKey(n.path(cfg.SealKeyFile), entry); err != nil {
		return nil, fmt.Errorf("federation: node %d: %w", cfg.Index, err)
	}
	if n.Cert, err = loadNodeCert(n.path(cfg.TLSCertFile), n.path(cfg.TLSKeyFile), n.Federation.Name, entry, n.CAPool); err != nil {
		return nil, fmt.Errorf("federation: node %d: %w", cfg.Index, err)
	}
	h, err := hex.DecodeString(cfg.AdminTokenSHA256)
	if err != nil || len(h) != len(n.AdminTokenHash) {
		return nil, fmt.Errorf("federation: node %d: %w: admin_token_sha256", cfg.Index, ErrInvalid)
	}
	copy(n.AdminTokenHash[:], h)
	return n, nil
}

// path resolves p against the node's directory.
func (n *Node) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(n.Dir, p)
}

// DataPath is the absolute path of the node's data directory.
func (n *Node) DataPath() string { return n.path(n.Config.DataDir) }

// Index is the node's index in its federation.
func (n *Node) Index() uint32 { return n.Config.Index }

// Entry is the node's own entry in the federation descriptor.
func (n *Node) Entry() NodeEntry {
	e, _ := n.Federation.Node(n.Config.Index) // LoadNode checked it exists
	return e
}

// CheckAdminToken reports whether token is the node's admin token. It
// compares SHA-256 digests in constant time; an empty token, or a node
// without a token hash, never matches.
func (n *Node) CheckAdminToken(token string) bool {
	var zero [32]byte
	if token == "" || n.AdminTokenHash == zero {
		return false
	}
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], n.AdminTokenHash[:]) == 1
}

// loadSigningKey reads a PKCS #8 Ed25519 private key and checks that its
// public half is the entry's signing key.
func loadSigningKey(path string, entry NodeEntry) (ed25519.PrivateKey, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	der, err := decodeOnePEM(data, "PRIVATE KEY")
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w: %v", path, ErrInvalid, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w: %v", path, ErrInvalid, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: %w: not an Ed25519 key", path, ErrInvalid)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(entry.SigningPublicKey) {
		return nil, fmt.Errorf("signing key %s: %w: its public key is not signing_public_key of node %d", path, ErrKeyMismatch, entry.Index)
	}
	return priv, nil
}

// loadSealKey reads a seal key and checks that its public half is the
// entry's seal key.
func loadSealKey(path string, entry NodeEntry) (*seal.PrivateKey, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	raw, err := decodeOnePEM(data, sealKeyPEMType)
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w: %v", path, ErrInvalid, err)
	}
	key, err := seal.ParsePrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w: %v", path, ErrInvalid, err)
	}
	pub, err := entry.SealKey()
	if err != nil {
		return nil, err
	}
	if !key.Public().Equal(pub) {
		return nil, fmt.Errorf("seal key %s: %w: its public key is not seal_public_key of node %d", path, ErrKeyMismatch, entry.Index)
	}
	return key, nil
}

// loadNodeCert reads the node's TLS certificate and key and checks the
// certificate against the CA and the descriptor entry.
func loadNodeCert(certPath, keyPath, federation string, entry NodeEntry, ca *x509.CertPool) (tls.Certificate, error) {
	certData, err := readBounded(certPath, maxKeyFileBytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate: %w", err)
	}
	keyData, err := readSecretFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certData, keyData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w: %v", certPath, keyPath, ErrKeyMismatch, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("TLS certificate %s: %w: %v", certPath, ErrInvalid, err)
		}
		cert.Leaf = leaf
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return tls.Certificate{}, fmt.Errorf("TLS certificate %s: %w: not valid under the federation CA: %v", certPath, ErrKeyMismatch, err)
		}
	}
	idx, err := certIdentity(leaf, federation)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s: %w: %v", certPath, ErrKeyMismatch, err)
	}
	if idx != entry.Index {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s: %w: it names node %d, not %d", certPath, ErrKeyMismatch, idx, entry.Index)
	}
	for _, addr := range []string{entry.APIAddress, entry.PeerAddress} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: address %q", ErrInvalid, addr)
		}
		if err := leaf.VerifyHostname(host); err != nil {
			return tls.Certificate{}, fmt.Errorf("TLS certificate %s: %w: %v", certPath, ErrKeyMismatch, err)
		}
	}
	return cert, nil
}

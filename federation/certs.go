package federation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// IdentityScheme is the URI scheme of node identities. A node certificate
// names its node as the URI SAN cohort-node://<federation>/<index>.
const IdentityScheme = "cohort-node"

// Certificate lifetimes. A node certificate outlives no CA: renew node
// certificates (with ca-key.pem) before two years, the CA before ten.
const (
	CAValidity       = 10 * 365 * 24 * time.Hour
	NodeCertValidity = 2 * 365 * 24 * time.Hour

	// clockSkew back-dates NotBefore so that a freshly issued certificate
	// is accepted by a peer whose clock runs a little behind.
	clockSkew = time.Hour
)

// NodeIdentity is the URI that names node index of federation in its
// certificate.
func NodeIdentity(federation string, index uint32) *url.URL {
	return &url.URL{Scheme: IdentityScheme, Host: federation, Path: "/" + strconv.FormatUint(uint64(index), 10)}
}

// certIdentity returns the node index named by cert for federation. The
// certificate must carry exactly one cohort-node URI.
func certIdentity(cert *x509.Certificate, federation string) (uint32, error) {
	var found *url.URL
	for _, u := range cert.URIs {
		if u.Scheme != IdentityScheme {
			continue
		}
		if found != nil {
			return 0, fmt.Errorf("%w: certificate %q names more than one node", ErrPeerIdentity, cert.Subject.CommonName)
		}
		found = u
	}
	if found == nil {
		return 0, fmt.Errorf("%w: certificate %q names no node (no %s:// URI)", ErrPeerIdentity, cert.Subject.CommonName, IdentityScheme)
	}
	return parseIdentity(found, federation)
}

// parseIdentity checks that u is cohort-node://<federation>/<index> with a
// canonical decimal index and nothing else, and returns the index.
func parseIdentity(u *url.URL, federation string) (uint32, error) {
	if u.Scheme != IdentityScheme || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.RawPath != "" {
		return 0, fmt.Errorf("%w: %q is not a node identity", ErrPeerIdentity, u.String())
	}
	if u.Host != federation {
		return 0, fmt.Errorf("%w: %q belongs to federation %q, not %q", ErrPeerIdentity, u.String(), u.Host, federation)
	}
	s, ok := strings.CutPrefix(u.Path, "/")
	if !ok || s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: %q has no node index", ErrPeerIdentity, u.String())
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q has no node index", ErrPeerIdentity, u.String())
		}
	}
	i, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q has no node index", ErrPeerIdentity, u.String())
	}
	return uint32(i), nil
}

// randomSerial draws a 128-bit certificate serial number.
func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// newCA creates a self-signed ECDSA P-256 CA for federation, valid from now
// for CAValidity, allowed to sign end-entity certificates only.
func newCA(federation string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, fmt.Errorf("federation: CA serial: %w", err)
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName(federation)},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: CA certificate: %w", err)
	}
	return cert, key, nil
}

// caCommonName is the subject common name of federation's CA.
func caCommonName(federation string) string { return "cohort federation " + federation + " CA" }

// issueNodeCert creates node index's key and certificate, signed by the CA
// (signNodeCert).
func issueNodeCert(ca *x509.Certificate, caKey crypto.Signer, federation string, index uint32, hosts []string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: node %d TLS key: %w", index, err)
	}
	cert, err := signNodeCert(ca, caKey, federation, index, &key.PublicKey, hosts, now)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// signNodeCert signs node index's certificate for the public key pub,
// valid from now for NodeCertValidity. The one certificate serves both as
// TLS server certificate (API and peer listeners) and as TLS client
// certificate (peer calls). Its SANs are hosts (as IP or DNS), localhost,
// 127.0.0.1 and ::1, and the node identity URI; nothing else of a
// certificate request is copied into it.
func signNodeCert(ca *x509.Certificate, caKey crypto.Signer, federation string, index uint32, pub *ecdsa.PublicKey, hosts []string, now time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("federation: node %d serial: %w", index, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "node-" + strconv.FormatUint(uint64(index), 10)},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(NodeCertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{NodeIdentity(federation, index)},
	}
	seen := map[string]bool{}
	all := append(append([]string(nil), hosts...), "localhost", "127.0.0.1", "::1")
	for _, h := range all {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !seen[ip.String()] {
				seen[ip.String()] = true
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !seen[h] {
			seen[h] = true
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("federation: node %d certificate: %w", index, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("federation: node %d certificate: %w", index, err)
	}
	return cert, nil
}

// subjectKeyID is the SHA-256 (truncated to 20 bytes) of the public key's
// DER encoding.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("federation: subject key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// certPEM encodes a certificate as PEM.
func certPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// privateKeyPEM encodes a private key as a PKCS #8 "PRIVATE KEY" PEM block.
func privateKeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("federation: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// decodeOnePEM returns the bytes of the one PEM block of type typ in data,
// refusing anything else around it.
func decodeOnePEM(data []byte, typ string) ([]byte, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != typ {
		return nil, fmt.Errorf("PEM block %q, want %q", block.Type, typ)
	}
	for _, c := range rest {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return nil, errors.New("data after the PEM block")
		}
	}
	return block.Bytes, nil
}

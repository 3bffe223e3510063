package federation

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
)

// APIServerTLS is the TLS configuration of the client-facing API listener:
// TLS 1.3 with the node certificate, no client certificate (contributors
// and buyers authenticate, where they must, inside the protocol; admins by
// bearer token). The configuration is new on every call.
func (n *Node) APIServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{n.Cert},
		ClientAuth:   tls.NoClientCert,
	}
}

// PeerServerTLS is the TLS configuration of the PeerService listener:
// TLS 1.3, and a client certificate is required, must chain to the
// federation CA (for client use) and must name a node of this federation.
// Handlers learn which node calls with PeerIndex.
func (n *Node) PeerServerTLS() *tls.Config {
	fed := n.Federation
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{n.Cert},
		ClientCAs:    n.CAPool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			i, err := PeerIndex(cs, fed.Name)
			if err != nil {
				return err
			}
			if _, ok := fed.Node(i); !ok {
				return fmt.Errorf("federation: %w: node %d is not in federation %q", ErrPeerIdentity, i, fed.Name)
			}
			return nil
		},
	}
}

// PeerClientTLS is the TLS configuration for calling node peer's
// PeerService: TLS 1.3, the node certificate as client certificate, the
// federation CA as the only root, the host of the peer's peer_address as
// server name, and a check that the server's certificate names node peer of
// this federation (a certificate of another node of the same federation is
// refused with ErrPeerIdentity).
func (n *Node) PeerClientTLS(peer uint32) (*tls.Config, error) {
	fed := n.Federation
	entry, ok := fed.Node(peer)
	if !ok {
		return nil, fmt.Errorf("federation: peer TLS: %w: node %d is not in federation %q", ErrInvalid, peer, fed.Name)
	}
	host, _, err := net.SplitHostPort(entry.PeerAddress)
	if err != nil {
		return nil, fmt.Errorf("federation: peer TLS: %w: node %d peer_address %q", ErrInvalid, peer, entry.PeerAddress)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{n.Cert},
		RootCAs:      n.CAPool,
		ServerName:   host,
		VerifyConnection: func(cs tls.ConnectionState) error {
			i, err := PeerIndex(cs, fed.Name)
			if err != nil {
				return err
			}
			if i != peer {
				return fmt.Errorf("federation: %w: dialled node %d, the server is node %d", ErrPeerIdentity, peer, i)
			}
			return nil
		},
	}, nil
}

// PeerIndex returns the index of the node at the other end of a TLS
// connection, from the URI SAN cohort-node://<federation>/<index> of the
// leaf of its verified chain. It fails with ErrPeerIdentity when the
// connection has no verified chain (no certificate, or one that was not
// verified), or the leaf names no node, several, or a node of another
// federation. It does not check the index against a descriptor.
func PeerIndex(state tls.ConnectionState, federation string) (uint32, error) {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return 0, fmt.Errorf("federation: %w: no verified peer certificate", ErrPeerIdentity)
	}
	i, err := certIdentity(state.VerifiedChains[0][0], federation)
	if err != nil {
		return 0, fmt.Errorf("federation: %w", err)
	}
	return i, nil
}

// ClientTLS is the TLS configuration for contributor, buyer and admin
// clients of a node's API: TLS 1.3 and the federation CA (caPEM, the
// contents of ca.pem or the descriptor's ca) as the only root. The server
// name is left to the dialler (gRPC takes it from the target). caPEM must
// hold one or more PEM CERTIFICATE blocks, each a CA certificate, and
// nothing else.
func ClientTLS(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	rest := caPEM
	count := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		ca, err := parseCA(string(pem.EncodeToMemory(block)))
		if err != nil {
			return nil, fmt.Errorf("federation: client TLS: %w: CA certificate %d: %v", ErrInvalid, count+1, err)
		}
		pool.AddCert(ca)
		count++
	}
	if count == 0 {
		return nil, fmt.Errorf("federation: client TLS: %w: no PEM certificate", ErrInvalid)
	}
	for _, c := range rest {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return nil, fmt.Errorf("federation: client TLS: %w: data after the last PEM block", ErrInvalid)
		}
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}, nil
}

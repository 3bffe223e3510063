package mpc

import (
	"bytes"
	"crypto/hpke"
	"fmt"
)

// A NodeKey is a node's private key for opening the shares sealed to it.
// It is immutable and safe for concurrent use. Its fmt verbs print a
// placeholder, never key material.
type NodeKey struct {
	suite Suite
	priv  hpke.PrivateKey
	pub   *NodePublicKey
}

// A NodePublicKey is the public key contributors seal node shares to. It is
// immutable and safe for concurrent use.
type NodePublicKey struct {
	suite Suite
	pub   hpke.PublicKey
	raw   []byte // the KEM's serialized public key
}

// GenerateNodeKey returns a fresh key for DefaultSuite, drawn from
// crypto/rand.
func GenerateNodeKey() (*NodeKey, error) {
	p, err := DefaultSuite.params()
	if err != nil {
		return nil, fmt.Errorf("mpc: generate node key: %w", err)
	}
	priv, err := p.kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("mpc: generate node key: %w", err)
	}
	return newNodeKey(DefaultSuite, priv), nil
}

func newNodeKey(s Suite, priv hpke.PrivateKey) *NodeKey {
	pub := priv.PublicKey()
	return &NodeKey{
		suite: s,
		priv:  priv,
		pub:   &NodePublicKey{suite: s, pub: pub, raw: pub.Bytes()},
	}
}

// Suite is the key's suite.
func (k *NodeKey) Suite() Suite { return k.suite }

// Public returns the key's public half.
func (k *NodeKey) Public() *NodePublicKey { return k.pub }

// Marshal encodes the private key as the suite ID byte followed by the KEM's
// private key (for SuiteXWingSHA256AES256GCM, a 32-byte seed: 33 bytes in
// all). The result is secret: write it only to a file readable by the node
// alone (mode 0600), never to a log.
func (k *NodeKey) Marshal() ([]byte, error) {
	b, err := k.priv.Bytes()
	if err != nil {
		return nil, fmt.Errorf("mpc: marshal node key: %w", err)
	}
	return append([]byte{byte(k.suite)}, b...), nil
}

// UnmarshalNodeKey decodes a private key written by NodeKey.Marshal. It
// checks the suite and the exact length; failures wrap ErrMalformed.
func UnmarshalNodeKey(data []byte) (*NodeKey, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("mpc: node key: %w: empty", ErrMalformed)
	}
	s := Suite(data[0])
	p, err := s.params()
	if err != nil {
		return nil, fmt.Errorf("mpc: node key: %w", err)
	}
	if len(data) != 1+p.seedLen {
		return nil, fmt.Errorf("mpc: node key: %w: %d bytes, want %d", ErrMalformed, len(data), 1+p.seedLen)
	}
	priv, err := p.kem.NewPrivateKey(data[1:])
	if err != nil {
		return nil, fmt.Errorf("mpc: node key: %w: %v", ErrMalformed, err)
	}
	return newNodeKey(s, priv), nil
}

// Format prints a placeholder for every verb so that a NodeKey can never be
// logged by accident.
func (NodeKey) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, "mpc.NodeKey(redacted)")
}

// Suite is the key's suite.
func (p *NodePublicKey) Suite() Suite { return p.suite }

// Marshal encodes the public key as the suite ID byte followed by the KEM's
// public key (1 + 1216 bytes for SuiteXWingSHA256AES256GCM).
func (p *NodePublicKey) Marshal() []byte {
	return append([]byte{byte(p.suite)}, p.raw...)
}

// Equal reports whether p and q are the same public key.
func (p *NodePublicKey) Equal(q *NodePublicKey) bool {
	return p.suite == q.suite && bytes.Equal(p.raw, q.raw)
}

// UnmarshalNodePublicKey decodes a public key written by
// NodePublicKey.Marshal. It checks the suite, the exact length and what the
// KEM validates (ML-KEM-768's encapsulation-key modulus check); failures wrap
// ErrMalformed.
func UnmarshalNodePublicKey(data []byte) (*NodePublicKey, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("mpc: node public key: %w: empty", ErrMalformed)
	}
	s := Suite(data[0])
	p, err := s.params()
	if err != nil {
		return nil, fmt.Errorf("mpc: node public key: %w", err)
	}
	if len(data) != 1+p.pubSize {
		return nil, fmt.Errorf("mpc: node public key: %w: %d bytes, want %d", ErrMalformed, len(data), 1+p.pubSize)
	}
	pub, err := p.kem.NewPublicKey(data[1:])
	if err != nil {
		return nil, fmt.Errorf("mpc: node public key: %w: %v", ErrMalformed, err)
	}
	return &NodePublicKey{suite: s, pub: pub, raw: bytes.Clone(data[1:])}, nil
}

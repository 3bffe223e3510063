package seal

import (
	"bytes"
	"crypto/hpke"
	"fmt"
)

// A PrivateKey is a node's key for opening what is sealed to it. It is
// immutable and safe for concurrent use. Its fmt verbs print a placeholder,
// never key material.
type PrivateKey struct {
	suite Suite
	priv  hpke.PrivateKey
	pub   *PublicKey
}

// A PublicKey is what others seal to. It is immutable and safe for
// concurrent use.
type PublicKey struct {
	suite Suite
	pub   hpke.PublicKey
	raw   []byte // the KEM's serialized public key
}

// GenerateKey returns a fresh key for DefaultSuite, drawn from crypto/rand.
func GenerateKey() (*PrivateKey, error) {
	p, err := DefaultSuite.params()
	if err != nil {
		return nil, fmt.Errorf("seal: generate key: %w", err)
	}
	priv, err := p.kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("seal: generate key: %w", err)
	}
	return newPrivateKey(DefaultSuite, priv), nil
}

func newPrivateKey(s Suite, priv hpke.PrivateKey) *PrivateKey {
	pub := priv.PublicKey()
	return &PrivateKey{
		suite: s,
		priv:  priv,
		pub:   &PublicKey{suite: s, pub: pub, raw: pub.Bytes()},
	}
}

// Suite is the key's suite.
func (k *PrivateKey) Suite() Suite { return k.suite }

// Public returns the key's public half.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// Marshal encodes the private key as the suite ID byte followed by the KEM's
// private key (for SuiteXWingSHA256AES256GCM, a 32-byte seed: 33 bytes in
// all). The result is secret: write it only to a file readable by the node
// alone (mode 0600), never to a log.
func (k *PrivateKey) Marshal() ([]byte, error) {
	b, err := k.priv.Bytes()
	if err != nil {
		return nil, fmt.Errorf("seal: marshal private key: %w", err)
	}
	return append([]byte{byte(k.suite)}, b...), nil
}

// ParsePrivateKey decodes a private key written by PrivateKey.Marshal. It
// checks the suite and the exact length; failures wrap ErrMalformed.
func ParsePrivateKey(data []byte) (*PrivateKey, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("seal: private key: %w: empty", ErrMalformed)
	}
	s := Suite(data[0])
	p, err := s.params()
	if err != nil {
		return nil, fmt.Errorf("seal: private key: %w", err)
	}
	if len(data) != 1+p.seedLen {
		return nil, fmt.Errorf("seal: private key: %w: %d bytes, want %d", ErrMalformed, len(data), 1+p.seedLen)
	}
	priv, err := p.kem.NewPrivateKey(data[1:])
	if err != nil {
		return nil, fmt.Errorf("seal: private key: %w: %v", ErrMalformed, err)
	}
	return newPrivateKey(s, priv), nil
}

// Format prints a placeholder for every verb so that a PrivateKey can never
// be logged by accident.
func (PrivateKey) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, "seal.PrivateKey(redacted)")
}

// Suite is the key's suite.
func (p *PublicKey) Suite() Suite { return p.suite }

// Marshal encodes the public key as the suite ID byte followed by the KEM's
// public key (1 + 1216 bytes for SuiteXWingSHA256AES256GCM).
func (p *PublicKey) Marshal() []byte {
	return append([]byte{byte(p.suite)}, p.raw...)
}

// Equal reports whether p and q are the same public key.
func (p *PublicKey) Equal(q *PublicKey) bool {
	return p.suite == q.suite && bytes.Equal(p.raw, q.raw)
}

// ParsePublicKey decodes a public key written by PublicKey.Marshal. It
// checks the suite, the exact length and what the KEM validates
// (ML-KEM-768's encapsulation-key modulus check); failures wrap
// ErrMalformed.
func ParsePublicKey(data []byte) (*PublicKey, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("seal: public key: %w: empty", ErrMalformed)
	}
	s := Suite(data[0])
	p, err := s.params()
	if err != nil {
		return nil, fmt.Errorf("seal: public key: %w", err)
	}
	if len(data) != 1+p.pubSize {
		return nil, fmt.Errorf("seal: public key: %w: %d bytes, want %d", ErrMalformed, len(data), 1+p.pubSize)
	}
	pub, err := p.kem.NewPublicKey(data[1:])
	if err != nil {
		return nil, fmt.Errorf("seal: public key: %w: %v", ErrMalformed, err)
	}
	return &PublicKey{suite: s, pub: pub, raw: bytes.Clone(data[1:])}, nil
}

package mpc

import (
	"crypto/hpke"
	"fmt"
)

// MaxSealedBytes bounds the plaintext SealBytes accepts and OpenBytes
// returns.
const MaxSealedBytes = 16 << 20

// SealBytes encrypts pt to a node's public key under HPKE base mode, with
// the given info (the purpose, domain-separated from share sealing and from
// every other use: callers pass a fixed "cohort/v1/…" string) and aad as
// associated data. The result is suite ID ‖ encapsulated key ‖ AEAD
// ciphertext. It is how nodes pass each other secrets through a third node
// (HE key-generation shares) and keep secrets at rest (sealed to
// themselves).
func SealBytes(pub *NodePublicKey, info string, pt, aad []byte) ([]byte, error) {
	if pub == nil {
		return nil, fmt.Errorf("mpc: seal: nil public key")
	}
	if len(pt) > MaxSealedBytes {
		return nil, fmt.Errorf("mpc: seal: %d bytes, at most %d", len(pt), MaxSealedBytes)
	}
	p, err := pub.suite.params()
	if err != nil {
		return nil, fmt.Errorf("mpc: seal: %w", err)
	}
	enc, sender, err := hpke.NewSender(pub.pub, p.kdf, p.aead, []byte(info))
	if err != nil {
		return nil, fmt.Errorf("mpc: seal: %w", err)
	}
	ct, err := sender.Seal(aad, pt)
	if err != nil {
		return nil, fmt.Errorf("mpc: seal: %w", err)
	}
	out := make([]byte, 0, 1+len(enc)+len(ct))
	out = append(out, byte(pub.suite))
	out = append(out, enc...)
	return append(out, ct...), nil
}

// OpenBytes decrypts what SealBytes sealed to key's public key with the same
// info and aad. A wrong suite or a size out of bounds wraps ErrMalformed;
// a wrong key, info or aad, or any modified byte, wraps ErrOpen.
func OpenBytes(key *NodeKey, info string, sealed, aad []byte) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("mpc: open: nil key")
	}
	p, err := key.suite.params()
	if err != nil {
		return nil, fmt.Errorf("mpc: open: %w", err)
	}
	if len(sealed) < 1+p.encSize+p.tagSize || len(sealed) > 1+p.encSize+p.tagSize+MaxSealedBytes {
		return nil, fmt.Errorf("mpc: open: %w: %d bytes", ErrMalformed, len(sealed))
	}
	if Suite(sealed[0]) != key.suite {
		return nil, fmt.Errorf("mpc: open: %w: suite %v, key is for %v", ErrMalformed, Suite(sealed[0]), key.suite)
	}
	r, err := hpke.NewRecipient(sealed[1:1+p.encSize], key.priv, p.kdf, p.aead, []byte(info))
	if err != nil {
		return nil, fmt.Errorf("mpc: open: %w", ErrOpen)
	}
	pt, err := r.Open(aad, sealed[1+p.encSize:])
	if err != nil {
		return nil, fmt.Errorf("mpc: open: %w", ErrOpen)
	}
	return pt, nil
}

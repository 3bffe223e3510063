package seal

import (
	"crypto/hpke"
	"fmt"
)

// MaxPlaintextSize bounds the plaintext Seal accepts and Open returns. It
// is above the largest secret-share encoding package mpc seals (39 + 32·2^20
// bytes).
const MaxPlaintextSize = 64 << 20

// Seal encrypts pt to pub under HPKE base mode, with info (the purpose: a
// fixed "cohort/v1/…" string per use) in the key schedule and aad as
// associated data. The result is suite ID ‖ encapsulated key ‖ AEAD
// ciphertext, len(pt) + Overhead bytes.
func Seal(pub *PublicKey, info string, pt, aad []byte) ([]byte, error) {
	if pub == nil {
		return nil, fmt.Errorf("seal: nil public key")
	}
	if len(pt) > MaxPlaintextSize {
		return nil, fmt.Errorf("seal: %d bytes, at most %d", len(pt), MaxPlaintextSize)
	}
	p, err := pub.suite.params()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	enc, sender, err := hpke.NewSender(pub.pub, p.kdf, p.aead, []byte(info))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	ct, err := sender.Seal(aad, pt)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := make([]byte, 0, 1+len(enc)+len(ct))
	out = append(out, byte(pub.suite))
	out = append(out, enc...)
	return append(out, ct...), nil
}

// Open decrypts what Seal sealed to key's public key with the same info and
// aad. A suite other than the key's, or a length below Overhead or above
// Overhead + MaxPlaintextSize, wraps ErrMalformed (checked before
// decrypting); a wrong key, info or aad, or any modified byte, wraps
// ErrOpen.
func Open(key *PrivateKey, info string, sealed, aad []byte) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("seal: open: nil key")
	}
	p, err := key.suite.params()
	if err != nil {
		return nil, fmt.Errorf("seal: open: %w", err)
	}
	if len(sealed) < p.overhead() || len(sealed) > p.overhead()+MaxPlaintextSize {
		return nil, fmt.Errorf("seal: open: %w: %d bytes", ErrMalformed, len(sealed))
	}
	if Suite(sealed[0]) != key.suite {
		return nil, fmt.Errorf("seal: open: %w: suite %v, key is for %v", ErrMalformed, Suite(sealed[0]), key.suite)
	}
	r, err := hpke.NewRecipient(sealed[1:1+p.encSize], key.priv, p.kdf, p.aead, []byte(info))
	if err != nil {
		return nil, fmt.Errorf("seal: open: %w", ErrOpen)
	}
	pt, err := r.Open(aad, sealed[1+p.encSize:])
	if err != nil {
		return nil, fmt.Errorf("seal: open: %w", ErrOpen)
	}
	return pt, nil
}

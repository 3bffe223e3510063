package mpc

import (
	"crypto/hpke"
	"crypto/mlkem"
	"fmt"
)

// A Suite names the HPKE ciphersuite that seals shares. Its one-byte ID is
// the first byte of every sealed share and of every encoded node key, so the
// suite can change later without ambiguity. The zero Suite is invalid.
type Suite uint8

const (
	// SuiteXWingSHA256AES256GCM is HPKE (RFC 9180, base mode) with
	//
	//	KEM  MLKEM768-X25519, a.k.a. X-Wing (0x647a, draft-ietf-hpke-pq):
	//	     hybrid post-quantum, secure while either ML-KEM-768 or X25519 is
	//	KDF  HKDF-SHA256 (0x0001)
	//	AEAD AES-256-GCM (0x0002)
	//
	// Public keys are 1216 bytes, private keys a 32-byte seed, and a sealed
	// share carries 1120 bytes of encapsulated key and a 16-byte tag.
	SuiteXWingSHA256AES256GCM Suite = 1

	// DefaultSuite is the suite GenerateNodeKey uses.
	DefaultSuite = SuiteXWingSHA256AES256GCM
)

// suiteParams is the instantiation of one Suite.
type suiteParams struct {
	kem     hpke.KEM
	kdf     hpke.KDF
	aead    hpke.AEAD
	pubSize int // encoded public key
	seedLen int // encoded private key
	encSize int // encapsulated key
	tagSize int // AEAD overhead
}

func (s Suite) params() (suiteParams, error) {
	switch s {
	case SuiteXWingSHA256AES256GCM:
		return suiteParams{
			kem:     hpke.MLKEM768X25519(),
			kdf:     hpke.HKDFSHA256(),
			aead:    hpke.AES256GCM(),
			pubSize: mlkem.EncapsulationKeySize768 + 32,
			seedLen: 32,
			encSize: mlkem.CiphertextSize768 + 32,
			tagSize: 16,
		}, nil
	default:
		return suiteParams{}, fmt.Errorf("%w: unknown suite %d", ErrMalformed, uint8(s))
	}
}

// String names the suite.
func (s Suite) String() string {
	switch s {
	case SuiteXWingSHA256AES256GCM:
		return "MLKEM768-X25519/HKDF-SHA256/AES-256-GCM"
	default:
		return fmt.Sprintf("Suite(%d)", uint8(s))
	}
}

// SealedSize is the size in bytes of a share of length m sealed under suite
// s, or an error if s is unknown or m is out of range.
func SealedSize(s Suite, m int) (int, error) {
	p, err := s.params()
	if err != nil {
		return 0, fmt.Errorf("mpc: %w", err)
	}
	if !checkLen(m) {
		return 0, fmt.Errorf("mpc: vector length %d, want 1 to %d", m, MaxLen)
	}
	return p.sealedSize(m), nil
}

// sealedSize is the size of a sealed share of length m, m in [1, MaxLen].
func (p suiteParams) sealedSize(m int) int {
	return 1 + p.encSize + shareSize(m) + p.tagSize
}

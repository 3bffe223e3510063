package seal

import (
	"crypto/hpke"
	"crypto/mlkem"
	"fmt"
)

// A Suite names the HPKE ciphersuite of a key. Its one-byte ID is the first
// byte of every encoded key and of all sealed bytes. The zero Suite is
// invalid.
type Suite uint8

const (
	// SuiteXWingSHA256AES256GCM is HPKE base mode with the KEM
	// MLKEM768-X25519 (X-Wing), HKDF-SHA256 and AES-256-GCM. Public keys
	// are 1216 bytes, private keys a 32-byte seed; sealed bytes carry 1120
	// bytes of encapsulated key and a 16-byte tag.
	SuiteXWingSHA256AES256GCM Suite = 1

	// DefaultSuite is the suite GenerateKey uses.
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

// overhead is what sealing adds to a plaintext.
func (p suiteParams) overhead() int { return 1 + p.encSize + p.tagSize }

// String names the suite.
func (s Suite) String() string {
	switch s {
	case SuiteXWingSHA256AES256GCM:
		return "MLKEM768-X25519/HKDF-SHA256/AES-256-GCM"
	default:
		return fmt.Sprintf("Suite(%d)", uint8(s))
	}
}

// Overhead is the number of bytes sealing under s adds to a plaintext: the
// suite byte, the encapsulated key and the AEAD tag (1137 for
// SuiteXWingSHA256AES256GCM). It fails for an unknown suite.
func (s Suite) Overhead() (int, error) {
	p, err := s.params()
	if err != nil {
		return 0, err
	}
	return p.overhead(), nil
}

package he

import (
	"testing"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// TestWireTypes round-trips every wire type of the package: ciphertexts,
// public keys, the two shares of key generation, threshold keys,
// decryption shares and partial decryptions.
func TestWireTypes(t *testing.T) {
	f := newDecryptFixture(t)
	p := f.p
	party, err := NewKeygenParty(p, f.ck.committee, f.ck.crs, 1, testRNG(130))
	if err != nil {
		t.Fatal(err)
	}
	pkShareBytes, shamirBytes, err := party.Round1()
	if err != nil {
		t.Fatal(err)
	}
	pkShare, err := decodePublicKeyShare(p, pkShareBytes)
	if err != nil {
		t.Fatal(err)
	}
	shamir, err := decodeShamirShare(p, shamirBytes[2])
	if err != nil {
		t.Fatal(err)
	}
	share, err := f.ck.keys[0].DecryptionShare(p, f.ct, []int{0, 2}, f.budget, testRNG(131))
	if err != nil {
		t.Fatal(err)
	}
	partial, err := share.Reveal([]int{0, 5, p.N() - 1})
	if err != nil {
		t.Fatal(err)
	}
	wiretest.Run(t, []wiretest.Case{
		wiretest.Func("ciphertext", f.ct, (*Ciphertext).MarshalBinary, func(b []byte) (*Ciphertext, error) { return UnmarshalCiphertext(p, b) }),
		wiretest.Func("public key", f.ck.pk, (*PublicKey).MarshalBinary, func(b []byte) (*PublicKey, error) { return UnmarshalPublicKey(p, b) }),
		wiretest.Func("public-key share", pkShare, func(s *publicKeyShare) ([]byte, error) { return s.encode(p) },
			func(b []byte) (*publicKeyShare, error) { return decodePublicKeyShare(p, b) }),
		wiretest.Func("Shamir share", shamir, func(s *shamirShare) ([]byte, error) { return s.encode(p) },
			func(b []byte) (*shamirShare, error) { return decodeShamirShare(p, b) }),
		wiretest.Func("threshold key", f.ck.keys[1], (*ThresholdKey).MarshalBinary, func(b []byte) (*ThresholdKey, error) { return UnmarshalThresholdKey(p, b) }),
		wiretest.Func("decryption share", share, (*DecryptionShare).MarshalBinary, func(b []byte) (*DecryptionShare, error) { return UnmarshalDecryptionShare(p, b) }),
		wiretest.Func("partial decryption", partial, (*PartialDecryption).MarshalBinary, func(b []byte) (*PartialDecryption, error) { return UnmarshalPartialDecryption(p, b) }),
	})
}

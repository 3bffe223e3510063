package mpc

import (
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/wire/wiretest"
)

// TestWireTypes round-trips every wire type of the package: shares,
// partials and payloads.
func TestWireTypes(t *testing.T) {
	const k, m = 3, 4
	shares, err := Split([]uint64{1, 2, 3, 4}, k, testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	partial, err := NewPartial(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := partial.Add(shares[0].Values); err != nil {
		t.Fatal(err)
	}
	wiretest.Run(t, []wiretest.Case{
		wiretest.Func("share", shares[1], MarshalShare, func(b []byte) (Share, error) { return UnmarshalShare(b, m) }),
		wiretest.Func("partial", partial, (*Partial).MarshalBinary, func(b []byte) (*Partial, error) { return UnmarshalPartial(b, m) }),
		wiretest.Func("payload", wirePayload(t, shares), (*Payload).MarshalBinary, func(b []byte) (*Payload, error) {
			return UnmarshalPayload(b, PayloadLimits{Nodes: k, Len: m})
		}),
	})
}

// wirePayload is a well-formed payload (its proof does not verify): public
// inputs committing to shares, a proof with every point at infinity, and
// each share sealed to a fresh key.
func wirePayload(t *testing.T, shares []Share) *Payload {
	t.Helper()
	var g1 bn254.G1Affine
	var g2 bn254.G2Affine
	a, b := g1.Bytes(), g2.Bytes()
	enc := []byte{1, 1} // version, one commitment
	for _, pt := range [][]byte{a[:], b[:], a[:], a[:], a[:]} {
		enc = append(enc, pt...)
	}
	proof := new(circuits.Proof)
	if err := proof.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	p := &Payload{
		Public: circuits.PublicInputs{Epoch: 7, Purposes: 3, Expiry: 1 << 31, MinCohort: 2, ShareCommitments: make([]fr.Element, len(shares))},
		Proof:  proof,
		Sealed: make([][]byte, len(shares)),
	}
	for j, s := range shares {
		p.Public.ShareCommitments[j] = s.Commitment()
	}
	aad := p.Public.Digest()
	for j, s := range shares {
		key, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if p.Sealed[j], err = SealShare(key.Public(), s, aad[:]); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

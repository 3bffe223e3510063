package circuits

import (
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// TestWireTypes round-trips every wire type of the package: public inputs
// in their MPC and HE forms, and proofs.
func TestWireTypes(t *testing.T) {
	mpcPub := newFixture(t, testShape(t)).pub
	hePub := mpcPub
	hePub.ShareCommitments = nil
	wiretest.Run(t, []wiretest.Case{
		wiretest.Binary("public inputs (MPC)", &mpcPub),
		wiretest.Binary("public inputs (HE)", &hePub),
		wiretest.Binary("proof", wireProof(t)),
	})
}

// wireProof is a well-formed proof (it verifies nothing): the generators
// and one commitment.
func wireProof(t *testing.T) *Proof {
	t.Helper()
	_, _, g1, g2 := bn254.Generators()
	a, b := g1.Bytes(), g2.Bytes()
	enc := []byte{proofVersion, 1}
	for _, pt := range [][]byte{a[:], b[:], a[:], a[:], a[:]} { // Ar, Bs, Krs, commitment, its proof
		enc = append(enc, pt...)
	}
	p := new(Proof)
	if err := p.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	return p
}

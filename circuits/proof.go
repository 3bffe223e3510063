package circuits

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"

	"github.com/cohort-dev/cohort/wire"
)

// MaxCommitments bounds the Pedersen commitments a proof may carry (Cohort's
// circuits use one, for range checks).
const MaxCommitments = 4

// Proof is a Groth16 proof over BN254, possibly with BSB22 commitments.
type Proof struct {
	p groth16bn254.Proof
	// decoded says p was set by UnmarshalBinary, which refused any point
	// off the curve or outside its subgroup: the batch verifier does not
	// check them again. Nothing outside the package can change p.
	decoded bool
}

const proofVersion = 1

// Encoded sizes (compressed points).
const (
	g1Size = bn254.SizeOfG1AffineCompressed
	g2Size = bn254.SizeOfG2AffineCompressed
)

// MarshalBinary encodes the proof: version, number of commitments c, then the
// compressed points Ar, Bs, Krs, Commitments[0..c−1], CommitmentPok.
func (p *Proof) MarshalBinary() ([]byte, error) {
	c := len(p.p.Commitments)
	if c > MaxCommitments {
		return nil, fmt.Errorf("circuits: proof with %d commitments", c)
	}
	w := wire.NewWriter(wire.BigEndian, proofLen(c))
	w.Uint8(proofVersion)
	w.Uint8(byte(c))
	ar, bs, krs := p.p.Ar.Bytes(), p.p.Bs.Bytes(), p.p.Krs.Bytes()
	w.Raw(ar[:])
	w.Raw(bs[:])
	w.Raw(krs[:])
	for i := range p.p.Commitments {
		x := p.p.Commitments[i].Bytes()
		w.Raw(x[:])
	}
	pok := p.p.CommitmentPok.Bytes()
	w.Raw(pok[:])
	return w.Bytes()
}

func proofLen(commitments int) int { return 2 + 3*g1Size + g2Size + commitments*g1Size }

// UnmarshalBinary decodes a proof. It checks the exact length first, and that
// every point is on the curve and in the prime-order subgroup.
func (p *Proof) UnmarshalBinary(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: proof: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != proofVersion {
		return fmt.Errorf("%w: proof: version %d", ErrMalformed, b[0])
	}
	c := int(b[1])
	if c > MaxCommitments {
		return fmt.Errorf("%w: proof: %d commitments", ErrMalformed, c)
	}
	if len(b) != proofLen(c) {
		return fmt.Errorf("%w: proof: %d bytes, want %d", ErrMalformed, len(b), proofLen(c))
	}
	var q groth16bn254.Proof
	r := wire.NewReader(wire.BigEndian, b[2:]) // the exact length is checked
	if _, err := q.Ar.SetBytes(r.Fixed(g1Size)); err != nil {
		return fmt.Errorf("%w: proof: Ar: %v", ErrMalformed, err)
	}
	if _, err := q.Bs.SetBytes(r.Fixed(g2Size)); err != nil {
		return fmt.Errorf("%w: proof: Bs: %v", ErrMalformed, err)
	}
	if _, err := q.Krs.SetBytes(r.Fixed(g1Size)); err != nil {
		return fmt.Errorf("%w: proof: Krs: %v", ErrMalformed, err)
	}
	q.Commitments = make([]bn254.G1Affine, c)
	for i := range q.Commitments {
		if _, err := q.Commitments[i].SetBytes(r.Fixed(g1Size)); err != nil {
			return fmt.Errorf("%w: proof: commitment %d: %v", ErrMalformed, i, err)
		}
	}
	if _, err := q.CommitmentPok.SetBytes(r.Fixed(g1Size)); err != nil {
		return fmt.Errorf("%w: proof: commitment proof: %v", ErrMalformed, err)
	}
	p.p, p.decoded = q, true
	return nil
}

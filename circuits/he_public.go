package circuits

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// HEPublicVector is the public witness of an HE contribution proof, in
// circuit order: the eight consent inputs of p, then c0[0..n), then
// c1[0..n). It refuses, wrapping ErrShape, public inputs that carry share
// commitments and ciphertext polynomials of other than n coefficients;
// and, wrapping ErrMalformed, a nil, negative or ≥ r coefficient. It does
// not know the key's modulus Q: the caller takes c0, c1 from the
// ciphertext it holds (coefficients in [0, Q), as the soundness argument
// requires).
func HEPublicVector(p *PublicInputs, c0, c1 []*big.Int, n int) ([]fr.Element, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: no public inputs", ErrShape)
	}
	if len(p.ShareCommitments) != 0 {
		return nil, fmt.Errorf("%w: %d share commitments in HE public inputs", ErrShape, len(p.ShareCommitments))
	}
	if n < 1 || n > MaxHEDegree || len(c0) != n || len(c1) != n {
		return nil, fmt.Errorf("%w: ciphertext of %d and %d coefficients, want N = %d (at most %d)", ErrShape, len(c0), len(c1), n, MaxHEDegree)
	}
	v := append(make([]fr.Element, 0, numConsentPublic+2*n), p.Vector()...)
	r := fr.Modulus()
	for j, c := range [][]*big.Int{c0, c1} {
		for i, x := range c {
			if x == nil || x.Sign() < 0 || x.Cmp(r) >= 0 {
				return nil, fmt.Errorf("%w: ciphertext coefficient C%d[%d] not in [0, r)", ErrMalformed, j, i)
			}
			var e fr.Element
			e.SetBigInt(x)
			v = append(v, e)
		}
	}
	return v, nil
}

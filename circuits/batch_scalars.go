package circuits

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fp"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// The batch equation's weights r_i multiply the proofs' points A_i (docs/
// design.md §5.6). BN254's G1 has the endomorphism φ(x, y) = (ωx, y), ω a
// cube root of unity of Fp, which is the multiplication by λ, a cube root
// of unity of Fr. A weight drawn as r = a + λb with a and b uniform below
// 2^64 gives rA = aA + bφ(A): 64 doublings rather than the 128 of a
// 128-bit scalar. The map (a, b) ↦ a + λb mod r is injective on
// [0, 2^64)²: two pairs with the same image differ by a non-zero vector of
// the lattice {(x, y) : x + λy ≡ 0 mod r}, whose shortest vectors are
// about 2^127 long (TestGLVWeights), while the difference of two such
// pairs is shorter than 2^65. So each weight is uniform over 2^128 values
// of Fr, as a 128-bit scalar is, and the batch's soundness bound,
// 2^−128, is unchanged.
var (
	glvOmega  fp.Element // ω, with φ(P) = [λ]P on G1
	glvLambda fr.Element // λ
)

func init() {
	if _, err := glvOmega.SetString("2203960485148121921418603742825762020974279258880205651966"); err != nil {
		panic(err)
	}
	if _, err := glvLambda.SetString("4407920970296243842393367215006156084916469457145843978461"); err != nil {
		panic(err)
	}
}

// weight is one statement's weight r = a + λb of the batch equation.
type weight struct {
	r    fr.Element
	a, b uint64
}

// weights draws n fresh non-zero weights from crypto/rand.
func weights(n int) ([]weight, error) {
	buf := make([]byte, 16*n)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("circuits: batch randomness: %w", err)
	}
	out := make([]weight, n)
	for i := range out {
		w := &out[i]
		w.a, w.b = binary.LittleEndian.Uint64(buf[16*i:]), binary.LittleEndian.Uint64(buf[16*i+8:])
		if w.a == 0 && w.b == 0 {
			w.a = 1
		}
		var a fr.Element
		a.SetUint64(w.a)
		w.r.SetUint64(w.b)
		w.r.Mul(&w.r, &glvLambda).Add(&w.r, &a)
	}
	return out, nil
}

// mul returns [r]p = [a]p + [b]φ(p), the two 64-bit scalars' bits taken
// together (Shamir's trick).
func (w *weight) mul(p *bn254.G1Affine) bn254.G1Jac {
	var res bn254.G1Jac
	res.X.SetOne()
	res.Y.SetOne() // Z = 0: the point at infinity
	if p.IsInfinity() {
		return res
	}
	phi := *p
	phi.X.Mul(&phi.X, &glvOmega)
	var both bn254.G1Jac
	both.FromAffine(p)
	both.AddMixed(&phi)
	for i := 63; i >= 0; i-- {
		res.DoubleAssign()
		switch (w.a>>i)&1 | (w.b>>i)&1<<1 {
		case 1:
			res.AddMixed(p)
		case 2:
			res.AddMixed(&phi)
		case 3:
			res.AddAssign(&both)
		}
	}
	return res
}

package dp

import (
	"errors"
	"fmt"
	"math/big"
)

// ErrApprox: an (ε, δ) that no ρ can guarantee as asked (ε ≤ 0, or δ not
// in (0, 1)).
var ErrApprox = errors.New("dp: invalid (epsilon, delta)")

// Precision of the rational bounds below, in bits.
const (
	lnBits   = 96 // ln bounds are rounded up to a multiple of 2^-lnBits
	sqrtBits = 96 // square roots are rounded up to a multiple of 2^-sqrtBits
	rhoBits  = 64 // ρ and ε are rounded to 64 significant bits
	atanhN   = 32 // terms of the atanh series (error < 3^-65 before rounding)
)

// RhoForApprox returns a ρ such that ρ-zCDP implies (ε, δ)-DP, for ε > 0
// and 0 < δ < 1, by the standard conversion: ρ-zCDP implies
// (ρ + 2·√(ρ·ln(1/δ)), δ)-DP for every δ > 0 (Bun and Steinke 2016,
// Proposition 1.3). The largest such ρ is ρ* = ε²/(√(L+ε) + √L)² with
// L = ln(1/δ); the result is at most ρ*: L is bounded above by a rational
// (an atanh series with its tail bounded, rounded up), both square roots
// are bounded above (integer square roots, rounded up), which can only
// lower the result, and the quotient is rounded down to 64 significant
// bits. The bounds are within 2^-90 of L and 2^-96 of the roots, so the
// result is close to ρ* (the tests find it within a relative 10^-12). So the returned ρ guarantees
// (ε, δ)-DP exactly, never more loss than asked; it is conservative.
// Tighter conversions exist (CKS Proposition 12); this one is simple to
// bound in rationals. It refuses ε ≤ 0 or δ ∉ (0, 1) with ErrApprox.
func RhoForApprox(epsilon, delta *big.Rat) (Rho, error) {
	if err := checkApprox(epsilon, delta); err != nil {
		return Rho{}, err
	}
	l := lnUpper(new(big.Rat).Inv(delta))
	den := sqrtUpper(new(big.Rat).Add(l, epsilon))
	den.Add(den, sqrtUpper(l))
	den.Mul(den, den)
	r := new(big.Rat).Mul(epsilon, epsilon)
	r.Quo(r, den)
	return Rho{r: roundSig(r, rhoBits, false)}, nil
}

// EpsilonForApprox returns an ε such that ρ-zCDP implies (ε, δ)-DP for
// 0 < δ < 1, by the same conversion: ε ≥ ρ + 2·√(ρ·ln(1/δ)), bounded above
// (ln and the square root rounded up, then ε rounded up to 64 significant
// bits), so the ε returned is never smaller than the conversion's. It
// refuses δ ∉ (0, 1) with ErrApprox. ρ = 0 gives ε = 0.
func EpsilonForApprox(rho Rho, delta *big.Rat) (*big.Rat, error) {
	if err := checkApprox(big.NewRat(1, 1), delta); err != nil {
		return nil, err
	}
	if rho.IsZero() {
		return new(big.Rat), nil
	}
	l := lnUpper(new(big.Rat).Inv(delta))
	e := sqrtUpper(l.Mul(l, rho.rat()))
	e.Add(e, e).Add(e, rho.rat())
	return roundSig(e, rhoBits, true), nil
}

func checkApprox(epsilon, delta *big.Rat) error {
	switch {
	case epsilon == nil || epsilon.Sign() <= 0:
		return fmt.Errorf("%w: ε must be a rational > 0, got %v", ErrApprox, epsilon)
	case delta == nil || delta.Sign() <= 0 || delta.Cmp(big.NewRat(1, 1)) >= 0:
		return fmt.Errorf("%w: δ must be a rational in (0, 1), got %v", ErrApprox, delta)
	}
	return nil
}

// lnUpper returns a rational U ≥ ln x for a rational x ≥ 1, a multiple of
// 2^-lnBits. U − ln x < 2^-95 + k·2^-100 with k = ⌊log2 x⌋ (the series
// tails, the roundings, and k times the bound on ln 2), below 2^-90 for
// every x < 2^512. With x = 2^k·m, m ∈ [1, 2):
// ln x = k·ln 2 + ln m, and ln m = 2·atanh((m−1)/(m+1)) with
// (m−1)/(m+1) ∈ [0, 1/3); ln 2 = 2·atanh(1/3).
func lnUpper(x *big.Rat) *big.Rat {
	k := x.Num().BitLen() - x.Denom().BitLen()
	m := new(big.Rat).Set(x)
	if k > 0 {
		m.SetFrac(m.Num(), new(big.Int).Lsh(m.Denom(), uint(k)))
	}
	if m.Cmp(big.NewRat(1, 1)) < 0 { // x's bit lengths overstated it by one
		k--
		m.Mul(m, big.NewRat(2, 1))
	}
	z := new(big.Rat).Sub(m, big.NewRat(1, 1))
	z.Quo(z, new(big.Rat).Add(m, big.NewRat(1, 1)))
	u := atanhUpper(z)
	u.Add(u, u)
	if k > 0 {
		ln2 := atanhUpper(big.NewRat(1, 3))
		ln2.Add(ln2, ln2)
		u.Add(u, ln2.Mul(ln2, new(big.Rat).SetInt64(int64(k))))
	}
	return roundTo(u, lnBits, true)
}

// atanhUpper returns a rational ≥ atanh z for 0 ≤ z ≤ 1/3: the first
// atanhN terms of Σ_j z^{2j+1}/(2j+1) plus z^{2N+1}/((2N+1)(1−z²)), which
// bounds the tail (every further term is at most z² times the previous),
// rounded up.
func atanhUpper(z *big.Rat) *big.Rat {
	sum := new(big.Rat)
	z2 := new(big.Rat).Mul(z, z)
	pow := new(big.Rat).Set(z) // z^{2j+1}
	for j := 0; j < atanhN; j++ {
		sum.Add(sum, new(big.Rat).Quo(pow, new(big.Rat).SetInt64(int64(2*j+1))))
		pow = roundTo(pow.Mul(pow, z2), 2*lnBits, true)
	}
	tail := new(big.Rat).Sub(big.NewRat(1, 1), z2)
	tail.Mul(tail, new(big.Rat).SetInt64(int64(2*atanhN+1)))
	tail.Quo(pow, tail)
	return roundTo(sum.Add(sum, tail), 2*lnBits, true)
}

// sqrtUpper returns a rational ≥ √r for a rational r ≥ 0, a multiple of
// 2^-sqrtBits less than 2^-sqrtBits above it: with r = a/b,
// √r = √(a·b·4^n)/(b·2^n), and the integer square root is rounded up.
func sqrtUpper(r *big.Rat) *big.Rat {
	n := new(big.Int).Mul(r.Num(), r.Denom())
	n.Lsh(n, 2*sqrtBits)
	s := new(big.Int).Sqrt(n)
	if new(big.Int).Mul(s, s).Cmp(n) < 0 {
		s.Add(s, one)
	}
	den := new(big.Int).Lsh(r.Denom(), sqrtBits)
	return roundTo(new(big.Rat).SetFrac(s, den), sqrtBits, true)
}

// roundTo rounds r ≥ 0 to a multiple of 2^-bits, up or down.
func roundTo(r *big.Rat, bits uint, up bool) *big.Rat {
	num := new(big.Int).Lsh(r.Num(), bits)
	q, rem := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if up && rem.Sign() != 0 {
		q.Add(q, one)
	}
	return new(big.Rat).SetFrac(q, new(big.Int).Lsh(one, bits))
}

// roundSig rounds r > 0 to a rational with a power-of-two denominator and
// at least bits significant bits, up or down, so that ledgers that add
// such values keep small denominators.
func roundSig(r *big.Rat, bits int, up bool) *big.Rat {
	shift := bits - (r.Num().BitLen() - r.Denom().BitLen())
	if shift <= 0 {
		// r ≥ 2^(bits−1): round to an integer.
		q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
		if up && rem.Sign() != 0 {
			q.Add(q, one)
		}
		return new(big.Rat).SetInt(q)
	}
	return roundTo(r, uint(shift), up)
}

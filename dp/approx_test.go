package dp

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

func TestLnUpper(t *testing.T) {
	for _, x := range []*big.Rat{
		big.NewRat(1, 1), big.NewRat(3, 2), big.NewRat(2, 1), big.NewRat(10, 1),
		big.NewRat(100000, 1), big.NewRat(1_000_000_007, 3), new(big.Rat).SetInt(new(big.Int).Lsh(one, 200)),
	} {
		u := lnUpper(x)
		xf, _ := x.Float64()
		ln := math.Log(xf)
		uf, _ := u.Float64()
		if uf < ln*(1-1e-15) || uf > ln+1e-12 {
			t.Errorf("lnUpper(%s) = %.17g, ln = %.17g", x.RatString(), uf, ln)
		}
	}
	if lnUpper(big.NewRat(1, 1)).Sign() != 0 {
		t.Error("lnUpper(1) ≠ 0")
	}
	// Exactly an upper bound: e^U ≥ x, checked as Σ_{k≤40} U^k/k! ≥ x
	// (the partial sum is below e^U, so this is the stronger check).
	for _, x := range []*big.Rat{big.NewRat(2, 1), big.NewRat(7, 5), big.NewRat(1000, 1)} {
		u := lnUpper(x)
		sum, term := big.NewRat(1, 1), big.NewRat(1, 1)
		for k := int64(1); k <= 60; k++ {
			term.Mul(term, u).Quo(term, big.NewRat(k, 1))
			sum.Add(sum, term)
		}
		if sum.Cmp(x) < 0 {
			t.Errorf("lnUpper(%s) is below ln %s", x.RatString(), x.RatString())
		}
	}
}

func TestSqrtUpper(t *testing.T) {
	for _, r := range []*big.Rat{big.NewRat(0, 1), big.NewRat(4, 1), big.NewRat(2, 1), big.NewRat(1, 3), big.NewRat(123456789, 1000)} {
		s := sqrtUpper(r)
		if sq := new(big.Rat).Mul(s, s); sq.Cmp(r) < 0 {
			t.Errorf("sqrtUpper(%s)² < %s", r.RatString(), r.RatString())
		}
		lower := new(big.Rat).Sub(s, new(big.Rat).SetFrac(one, new(big.Int).Lsh(one, sqrtBits)))
		if lower.Sign() > 0 && new(big.Rat).Mul(lower, lower).Cmp(r) >= 0 {
			t.Errorf("sqrtUpper(%s) is more than 2^-%d above √", r.RatString(), sqrtBits)
		}
	}
	if got := sqrtUpper(big.NewRat(9, 4)); got.Cmp(big.NewRat(3, 2)) != 0 {
		t.Errorf("sqrtUpper(9/4) = %s, want 3/2 exactly", got.RatString())
	}
}

func TestRhoForApprox(t *testing.T) {
	for _, c := range []struct{ eps, delta *big.Rat }{
		{big.NewRat(1, 1), big.NewRat(1, 1_000_000)},
		{big.NewRat(1, 10), big.NewRat(1, 1_000_000_000)},
		{big.NewRat(8, 1), big.NewRat(1, 100_000)},
		{big.NewRat(1, 1000), big.NewRat(1, 2)},
		{big.NewRat(3, 1), new(big.Rat).SetFrac(one, new(big.Int).Lsh(one, 128))},
	} {
		rho, err := RhoForApprox(c.eps, c.delta)
		if err != nil {
			t.Fatal(err)
		}
		if rho.IsZero() {
			t.Fatalf("RhoForApprox(%s, %s) = 0", c.eps.RatString(), c.delta.RatString())
		}
		// Exactly: ε ≥ ρ and (ε − ρ)² ≥ 4ρ·U with U ≥ ln(1/δ), so
		// ρ + 2√(ρ ln(1/δ)) ≤ ε.
		r := rho.rat()
		gap := new(big.Rat).Sub(c.eps, r)
		u := lnUpper(new(big.Rat).Inv(c.delta))
		if gap.Sign() < 0 || new(big.Rat).Mul(gap, gap).Cmp(new(big.Rat).Mul(big.NewRat(4, 1), new(big.Rat).Mul(r, u))) < 0 {
			t.Errorf("RhoForApprox(%s, %s) = %s does not give (ε, δ)-DP", c.eps.RatString(), c.delta.RatString(), rho)
		}
		// And in floats: close to the largest ρ the conversion allows.
		ef, _ := c.eps.Float64()
		df, _ := c.delta.Float64()
		l := -math.Log(df)
		best := ef * ef / math.Pow(math.Sqrt(l+ef)+math.Sqrt(l), 2)
		rf, _ := r.Float64()
		if rf > best*(1+1e-13) || rf < best*(1-1e-12) { // float64 rounds best
			t.Errorf("RhoForApprox(%s, %s) = %.17g, largest %.17g", c.eps.RatString(), c.delta.RatString(), rf, best)
		}
		if r.Denom().BitLen() > 200 || r.Num().BitLen() > 200 {
			t.Errorf("ρ = %s has grown", rho)
		}
		// EpsilonForApprox of that ρ is at most a hair above ε.
		back, err := EpsilonForApprox(rho, c.delta)
		if err != nil {
			t.Fatal(err)
		}
		bf, _ := back.Float64()
		if bf < rf+2*math.Sqrt(rf*l)*(1-1e-12) || bf > ef*(1+1e-12) {
			t.Errorf("EpsilonForApprox(%s) = %.17g, ε was %.17g", rho, bf, ef)
		}
	}
	for _, c := range []struct{ eps, delta *big.Rat }{
		{nil, big.NewRat(1, 2)}, {big.NewRat(0, 1), big.NewRat(1, 2)}, {big.NewRat(-1, 1), big.NewRat(1, 2)},
		{big.NewRat(1, 1), nil}, {big.NewRat(1, 1), big.NewRat(0, 1)}, {big.NewRat(1, 1), big.NewRat(1, 1)}, {big.NewRat(1, 1), big.NewRat(3, 2)},
	} {
		if _, err := RhoForApprox(c.eps, c.delta); !errors.Is(err, ErrApprox) {
			t.Errorf("RhoForApprox(%v, %v) = %v, want ErrApprox", c.eps, c.delta, err)
		}
	}
	if _, err := EpsilonForApprox(mustRho(t, "1"), big.NewRat(2, 1)); !errors.Is(err, ErrApprox) {
		t.Errorf("EpsilonForApprox(δ = 2) = %v, want ErrApprox", err)
	}
	if e, err := EpsilonForApprox(Rho{}, big.NewRat(1, 2)); err != nil || e.Sign() != 0 {
		t.Errorf("EpsilonForApprox(0) = %v, %v, want 0", e, err)
	}
}

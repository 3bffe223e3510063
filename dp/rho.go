package dp

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Errors of the accounting.
var (
	// ErrRho: a ρ that is missing, negative, or zero where a mechanism
	// needs a positive one.
	ErrRho = errors.New("dp: invalid rho")
	// ErrOverspend: a debit the budget cannot cover.
	ErrOverspend = errors.New("dp: privacy budget exceeded")
	// ErrSensitivity: a sensitivity that is missing or not positive.
	ErrSensitivity = errors.New("dp: invalid sensitivity")
)

// Rho is a privacy loss ρ ≥ 0 in zero-concentrated differential privacy
// (zCDP, Bun and Steinke 2016), an exact rational. Its zero value is ρ = 0,
// which no mechanism accepts (it would need infinite noise) and no budget
// debits. A Rho is immutable.
type Rho struct {
	r *big.Rat // nil means 0
}

// NewRho returns ρ, refusing nil or ρ < 0 with ErrRho. ρ is copied.
func NewRho(r *big.Rat) (Rho, error) {
	if r == nil || r.Sign() < 0 {
		return Rho{}, fmt.Errorf("%w: ρ must be a rational ≥ 0, got %v", ErrRho, r)
	}
	return Rho{r: new(big.Rat).Set(r)}, nil
}

// ParseRho parses ρ as an amount (ParseAmount), refusing anything else
// with ErrRho.
func ParseRho(s string) (Rho, error) {
	r, err := ParseAmount(s)
	if err != nil {
		return Rho{}, fmt.Errorf("%w: %w", ErrRho, err)
	}
	return NewRho(r)
}

// MaxAmountDigits bounds each integer part of an amount ParseAmount reads.
const MaxAmountDigits = 30

// ParseAmount reads a non-negative rational written as a fraction of
// integers ("1/8") or a decimal ("0.125", "2"), exactly, each integer part
// of 1..MaxAmountDigits digits. It refuses signs, exponents ("1e9": a short
// string that would take unbounded time and memory), spaces and a zero
// denominator, so every amount from outside is small and exact.
func ParseAmount(s string) (*big.Rat, error) {
	digits := func(d string) bool {
		if len(d) == 0 || len(d) > MaxAmountDigits {
			return false
		}
		for _, c := range d {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	bad := fmt.Errorf("%q is not a fraction (\"1/8\") or a decimal (\"0.125\") of at most %d digits per part", s, MaxAmountDigits)
	if num, den, ok := strings.Cut(s, "/"); ok {
		if !digits(num) || !digits(den) || strings.Trim(den, "0") == "" {
			return nil, bad
		}
	} else if whole, frac, ok := strings.Cut(s, "."); !digits(whole) || (ok && !digits(frac)) {
		return nil, bad
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, bad
	}
	return r, nil
}

// rat returns ρ without copying; callers must not modify it.
func (p Rho) rat() *big.Rat {
	if p.r == nil {
		return new(big.Rat)
	}
	return p.r
}

// Rat returns ρ as a new rational.
func (p Rho) Rat() *big.Rat { return new(big.Rat).Set(p.rat()) }

// IsZero reports whether ρ = 0.
func (p Rho) IsZero() bool { return p.r == nil || p.r.Sign() == 0 }

// Cmp compares ρ with o: −1, 0 or +1.
func (p Rho) Cmp(o Rho) int { return p.rat().Cmp(o.rat()) }

// Add returns ρ + o: the loss of running both mechanisms (zCDP composes by
// adding ρ, whatever the mechanisms and even adaptively).
func (p Rho) Add(o Rho) Rho { return Rho{r: new(big.Rat).Add(p.rat(), o.rat())} }

// Sub returns ρ − o, refusing a negative result with ErrRho.
func (p Rho) Sub(o Rho) (Rho, error) {
	d := new(big.Rat).Sub(p.rat(), o.rat())
	if d.Sign() < 0 {
		return Rho{}, fmt.Errorf("%w: %s − %s is negative", ErrRho, p, o)
	}
	return Rho{r: d}, nil
}

// String formats ρ as a fraction "p/q" (or "p").
func (p Rho) String() string { return p.rat().RatString() }

// VarianceFor returns the variance σ² = Δ²/(2ρ) of the discrete Gaussian
// that makes a query of squared L2 sensitivity Δ² ρ-zCDP (CKS Theorem 4:
// adding N_Z(0, σ²) to each coordinate of an integer-valued query with
// ‖q(x) − q(x')‖₂ ≤ Δ is Δ²/(2σ²)-zCDP). It refuses ρ = 0 with ErrRho and
// Δ² ≤ 0 with ErrSensitivity.
func VarianceFor(rho Rho, deltaSquared *big.Int) (Variance, error) {
	if rho.IsZero() {
		return Variance{}, fmt.Errorf("%w: ρ = 0 needs infinite noise", ErrRho)
	}
	if deltaSquared == nil || deltaSquared.Sign() <= 0 {
		return Variance{}, fmt.Errorf("%w: Δ² must be an integer ≥ 1, got %v", ErrSensitivity, deltaSquared)
	}
	s := new(big.Rat).SetFrac(deltaSquared, one)
	s.Quo(s, new(big.Rat).Mul(rho.rat(), big.NewRat(2, 1)))
	return NewVariance(s)
}

// RhoOf returns ρ = Δ²/(2σ²), the zCDP loss of the discrete Gaussian of
// variance σ² on a query of squared L2 sensitivity Δ² (CKS Theorem 4); it
// inverts VarianceFor exactly. It refuses the zero Variance with
// ErrParameter and Δ² ≤ 0 with ErrSensitivity.
func RhoOf(v Variance, deltaSquared *big.Int) (Rho, error) {
	if v.IsZero() {
		return Rho{}, fmt.Errorf("%w: the zero discrete Gaussian variance", ErrParameter)
	}
	if deltaSquared == nil || deltaSquared.Sign() <= 0 {
		return Rho{}, fmt.Errorf("%w: Δ² must be an integer ≥ 1, got %v", ErrSensitivity, deltaSquared)
	}
	r := new(big.Rat).SetFrac(deltaSquared, one)
	r.Quo(r, new(big.Rat).Mul(v.Rat(), big.NewRat(2, 1)))
	return Rho{r: r}, nil
}

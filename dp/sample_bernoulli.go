package dp

import (
	"fmt"
	"math/big"
)

// BernoulliExp returns true with probability exp(−γ), exactly, for a
// rational γ ≥ 0 (CKS Algorithm 1). It refuses a nil or negative γ with
// ErrParameter. γ = 0 returns true without a draw.
//
// For γ ∈ [0, 1] it draws A_k ~ Bernoulli(γ/k) for k = 1, 2, … until the
// first A_k = 0 and returns whether that k is odd: P[k > j] = γ^j/j!, so
// P[k odd] = Σ_j (−γ)^j/j! = exp(−γ); the expected number of draws is
// exp(γ) ≤ e. For γ > 1 it returns the conjunction of ⌊γ⌋ draws of
// Bernoulli(exp(−1)) and one of Bernoulli(exp(−(γ−⌊γ⌋))), stopping at the
// first false: fewer than 1/(1−1/e) + 1 ≈ 2.6 of them in expectation.
func (s *Sampler) BernoulliExp(gamma *big.Rat) (bool, error) {
	if gamma == nil || gamma.Sign() < 0 {
		return false, fmt.Errorf("%w: Bernoulli(exp(−γ)) needs a rational γ ≥ 0, got %v", ErrParameter, gamma)
	}
	return s.bernoulliExp(gamma.Num(), gamma.Denom())
}

// bernoulliExp is BernoulliExp for γ = num/den, num ≥ 0, den ≥ 1.
func (s *Sampler) bernoulliExp(num, den *big.Int) (bool, error) {
	whole, frac := new(big.Int).QuoRem(num, den, new(big.Int))
	for k := new(big.Int); k.Cmp(whole) < 0; k.Add(k, one) {
		b, err := s.bernoulliExpUnit(one, one)
		if err != nil || !b {
			return false, err
		}
	}
	return s.bernoulliExpUnit(frac, den)
}

// bernoulliExpUnit is Bernoulli(exp(−num/den)) for 0 ≤ num ≤ den.
func (s *Sampler) bernoulliExpUnit(num, den *big.Int) (bool, error) {
	k := uint64(1)
	dk := new(big.Int).Set(den) // den·k
	for {
		a, err := s.bernoulli(num, dk)
		if err != nil {
			return false, err
		}
		if !a {
			return k%2 == 1, nil
		}
		k++
		dk.Add(dk, den)
	}
}

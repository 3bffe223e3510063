package dp

import (
	"fmt"
	"math/big"
)

// LaplaceScale is the scale b > 0 of a discrete Laplace distribution, a
// rational t/s in lowest terms. Its zero value is invalid: samplers refuse
// it.
type LaplaceScale struct {
	t, s *big.Int // b = t/s
}

// NewLaplaceScale returns the scale b, refusing nil or b ≤ 0 with
// ErrParameter. b is copied.
func NewLaplaceScale(b *big.Rat) (LaplaceScale, error) {
	if b == nil || b.Sign() <= 0 {
		return LaplaceScale{}, fmt.Errorf("%w: a discrete Laplace scale must be a rational > 0, got %v", ErrParameter, b)
	}
	return LaplaceScale{t: new(big.Int).Set(b.Num()), s: new(big.Int).Set(b.Denom())}, nil
}

// Rat returns the scale as a new rational.
func (b LaplaceScale) Rat() *big.Rat {
	if b.t == nil {
		return new(big.Rat)
	}
	return new(big.Rat).SetFrac(b.t, b.s)
}

// DiscreteLaplace returns a sample X of the discrete Laplace distribution
// of scale b, P[X = x] = (e^{1/b} − 1)/(e^{1/b} + 1) · e^{−|x|/b} for every
// integer x, exactly (CKS Algorithm 2). It refuses the zero LaplaceScale.
//
// With b = t/s it draws U uniform in [0, t) and keeps it with probability
// exp(−U/t), draws V ≥ 0 geometric with P[V ≥ v] = e^{−v}, so X = U + t·V
// is geometric with parameter e^{−1/t}; then Y = ⌊X/s⌋ is geometric with
// parameter e^{−s/t}, and a fair sign B gives the result (−1)^B·Y, except
// that B = 1, Y = 0 starts again so that 0 is not counted twice. Each round
// keeps U with probability (1 − e^{−1})/(t·(1 − e^{−1/t})) ≥ 1 − 1/e.
func (s *Sampler) DiscreteLaplace(b LaplaceScale) (*big.Int, error) {
	if b.t == nil {
		return nil, fmt.Errorf("%w: the zero discrete Laplace scale", ErrParameter)
	}
	return s.discreteLaplace(b.t, b.s)
}

// discreteLaplace is DiscreteLaplace for b = t/s, t, s ≥ 1.
func (s *Sampler) discreteLaplace(t, sc *big.Int) (*big.Int, error) {
	for {
		u, err := s.below(new(big.Int), t)
		if err != nil {
			return nil, err
		}
		d, err := s.bernoulliExp(u, t)
		if err != nil {
			return nil, err
		}
		if !d {
			continue
		}
		var v uint64
		for {
			a, err := s.bernoulliExpUnit(one, one)
			if err != nil {
				return nil, err
			}
			if !a {
				break
			}
			v++
		}
		x := new(big.Int).SetUint64(v)
		x.Mul(x, t).Add(x, u)
		y := x.Quo(x, sc)
		neg, err := s.bernoulli(one, two)
		if err != nil {
			return nil, err
		}
		if neg && y.Sign() == 0 {
			continue
		}
		if neg {
			y.Neg(y)
		}
		return y, nil
	}
}

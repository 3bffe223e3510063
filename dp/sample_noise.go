package dp

import (
	"fmt"
	"math/big"
)

// Noise returns one independent sample of N_Z(0, vs[i]) per variance, the
// integers a node adds to its partial at the calibrated coordinates. It
// refuses a zero Variance, and returns nothing but the error when the
// source fails.
func (s *Sampler) Noise(vs []Variance) ([]*big.Int, error) {
	out := make([]*big.Int, len(vs))
	for i, v := range vs {
		x, err := s.DiscreteGaussian(v)
		if err != nil {
			return nil, fmt.Errorf("dp: noise %d of %d: %w", i+1, len(vs), err)
		}
		out[i] = x
	}
	return out, nil
}

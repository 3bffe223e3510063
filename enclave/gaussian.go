package enclave

import (
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/cohort-dev/cohort/dp"
)

// Gaussian is the discrete Gaussian mechanism (docs/design.md §6.6): each
// node adds N_Z(0, σ_c²) to coordinate c of its own partial, drawn exactly
// by package dp from its randomness before the round. With one honest node
// assumed, its noise alone makes the release ρ-zCDP for the ρ the
// variances were calibrated to (dp.Calibrate, dp.LossOf); the other nodes'
// noise is independent of the data and only post-processes it. The
// coordinator releases the combined, noisy sums as they are: they may be
// negative, and outputs computed from them are post-processing.
//
// It is not yet chosen by any job: the spec's privacy parameter, the
// budget ledger and the transcript's record of the mechanism come with it.
type Gaussian struct {
	variance map[int]dp.Variance
	src      io.Reader
}

// NewGaussian is the mechanism adding N_Z(0, vs[i]) at coords[i], with
// randomness from src (crypto/rand.Reader in production). Every variance
// must be set: a zero one is refused, never read as no noise.
func NewGaussian(coords []int, vs []dp.Variance, src io.Reader) (*Gaussian, error) {
	if src == nil {
		return nil, errors.New("enclave: gaussian mechanism: no randomness")
	}
	if len(coords) == 0 || len(coords) != len(vs) {
		return nil, fmt.Errorf("enclave: gaussian mechanism: %d variances for %d coordinates", len(vs), len(coords))
	}
	g := &Gaussian{variance: make(map[int]dp.Variance, len(coords)), src: src}
	for i, c := range coords {
		if vs[i].IsZero() {
			return nil, fmt.Errorf("enclave: gaussian mechanism: coordinate %d has no variance", c)
		}
		if _, dup := g.variance[c]; dup {
			return nil, fmt.Errorf("enclave: gaussian mechanism: coordinate %d given twice", c)
		}
		g.variance[c] = vs[i]
	}
	return g, nil
}

// Name is "discrete-gaussian".
func (*Gaussian) Name() string { return "discrete-gaussian" }

// Noise draws this node's noise for coords, each of which must have a
// variance.
func (g *Gaussian) Noise(coords []int) ([]*big.Int, error) {
	s, err := dp.NewSampler(g.src)
	if err != nil {
		return nil, fmt.Errorf("enclave: gaussian mechanism: %w", err)
	}
	out := make([]*big.Int, len(coords))
	for i, c := range coords {
		v, ok := g.variance[c]
		if !ok {
			return nil, fmt.Errorf("enclave: gaussian mechanism: no variance for coordinate %d", c)
		}
		if out[i], err = s.DiscreteGaussian(v); err != nil {
			return nil, fmt.Errorf("enclave: gaussian mechanism: coordinate %d: %w", c, err)
		}
	}
	return out, nil
}

// Release returns the noisy sums unchanged: any integer is a possible
// noisy sum.
func (g *Gaussian) Release(coords []int, sums []*big.Int) ([]*big.Int, error) {
	if len(coords) != len(sums) {
		return nil, fmt.Errorf("%w: %d sums for %d coordinates", ErrOutOfRange, len(sums), len(coords))
	}
	out := make([]*big.Int, len(sums))
	for i, s := range sums {
		if s == nil {
			return nil, fmt.Errorf("%w: no sum at coordinate %d", ErrOutOfRange, coords[i])
		}
		if _, ok := g.variance[coords[i]]; !ok {
			return nil, fmt.Errorf("enclave: gaussian mechanism: no variance for coordinate %d", coords[i])
		}
		out[i] = new(big.Int).Set(s)
	}
	return out, nil
}

package enclave

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/cohort-dev/cohort/dp"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Gaussian is the discrete Gaussian mechanism (docs/design.md §6.6): each
// node adds N_Z(0, σ_c²) to coordinate c of its own partial, drawn exactly
// by package dp from its randomness before the round, σ_c² calibrated to
// the job's ρ (JobPrivacy). With one honest node assumed, its noise alone
// makes the release ρ-zCDP (dp.Calibrate, dp.LossOf); the other nodes'
// noise is independent of the data and only post-processes it. The count
// takes no noise (CountCoordinate). The coordinator releases the combined,
// noisy sums as they are: they may be negative, and the outputs are
// computed from them as post-processing (ReleaseNoisy).
type Gaussian struct {
	p   Privacy
	src io.Reader
}

func newGaussian(p Privacy, src io.Reader) (*Gaussian, error) {
	if src == nil {
		return nil, errors.New("enclave: gaussian mechanism: no randomness")
	}
	if len(p.Coords) == 0 || len(p.Coords) != len(p.Variances) {
		return nil, fmt.Errorf("enclave: gaussian mechanism: %d variances for %d coordinates", len(p.Variances), len(p.Coords))
	}
	for i, c := range p.Coords {
		if (c == CountCoordinate) != p.Variances[i].IsZero() {
			return nil, fmt.Errorf("enclave: gaussian mechanism: coordinate %d: every coordinate but the count takes noise", c)
		}
	}
	return &Gaussian{p: p, src: src}, nil
}

// Name is "discrete-gaussian".
func (*Gaussian) Name() string { return "discrete-gaussian" }

// Noise draws this node's noise for coords, which must be the job's
// coordinates: 0 at the count, N_Z(0, σ_c²) elsewhere.
func (g *Gaussian) Noise(coords []int) ([]*big.Int, error) {
	if !slices.Equal(coords, g.p.Coords) {
		return nil, fmt.Errorf("enclave: gaussian mechanism: noise asked at %v, the job's coordinates are %v", coords, g.p.Coords)
	}
	s, err := dp.NewSampler(g.src)
	if err != nil {
		return nil, fmt.Errorf("enclave: gaussian mechanism: %w", err)
	}
	out := make([]*big.Int, len(coords))
	for i, v := range g.p.Variances {
		if v.IsZero() {
			out[i] = new(big.Int)
			continue
		}
		if out[i], err = s.DiscreteGaussian(v); err != nil {
			return nil, fmt.Errorf("enclave: gaussian mechanism: coordinate %d: %w", coords[i], err)
		}
	}
	return out, nil
}

// Release returns the noisy sums unchanged (any integer is a possible
// noisy sum) after checking the exact count, which is never negative.
func (g *Gaussian) Release(coords []int, sums []*big.Int) ([]*big.Int, error) {
	if len(coords) != len(sums) || !slices.Equal(coords, g.p.Coords) {
		return nil, fmt.Errorf("%w: %d sums at %v for the coordinates %v", ErrOutOfRange, len(sums), coords, g.p.Coords)
	}
	out := make([]*big.Int, len(sums))
	for i, s := range sums {
		if s == nil {
			return nil, fmt.Errorf("%w: no sum at coordinate %d", ErrOutOfRange, coords[i])
		}
		if coords[i] == CountCoordinate && s.Sign() < 0 {
			return nil, fmt.Errorf("%w: the count is negative (a node sent a wrong partial)", ErrOutOfRange)
		}
		out[i] = new(big.Int).Set(s)
	}
	return out, nil
}

// Confidence is the level of the intervals released with noisy outputs.
const Confidence = 0.95

// Outputs computes the outputs from the noisy sums, as post-processing,
// each with its interval from the noise of noising nodes.
func (g *Gaussian) Outputs(s *schema.Schema, coords []int, sums []*big.Int, outputs []*cohortv1.Output, noising int) ([]*cohortv1.OutputValue, error) {
	if noising < 1 {
		return nil, fmt.Errorf("enclave: gaussian mechanism: %d noising nodes", noising)
	}
	return ReleaseNoisy(s, coords, sums, NoiseModel{StdDev: g.p.NoiseStdDev(noising), Confidence: Confidence}, outputs)
}

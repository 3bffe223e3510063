package dp

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// ErrAllocation: an Allocation that is not one of the named rules.
var ErrAllocation = errors.New("dp: unknown allocation")

// Allocation is how a job's ρ is spread over its released coordinates.
// Its zero value is invalid.
type Allocation int

const (
	// EqualShares gives each unit (Units) an equal share ρ/u of ρ, so a
	// unit of bound B gets σ² = u·epochs²·B/(2ρ): every coordinate's noise
	// has the same standard deviation relative to its range, √(u/(2ρ)).
	// It is the default, and the better rule for Cohort's outputs: they
	// are ratios and combinations of coordinates whose ranges differ by
	// many orders of magnitude (an indicator is bounded by 1, a product by
	// Span_a·Span_b), and under OneVariance the histograms would carry
	// noise sized for the largest product.
	EqualShares Allocation = iota + 1
	// OneVariance adds the same σ² = Δ²/(2ρ) to every coordinate (Δ² from
	// SquaredSensitivity). It is best only when the coordinates have equal
	// ranges, e.g. a histogram alone.
	OneVariance
)

// String names the rule.
func (a Allocation) String() string {
	switch a {
	case EqualShares:
		return "equal-shares"
	case OneVariance:
		return "one-variance"
	}
	return fmt.Sprintf("Allocation(%d)", int(a))
}

// Calibrate returns the variance of the discrete Gaussian to add to each
// released coordinate (out[i] for coords[i]) so that releasing the sums at
// coords over a job of epochs epochs is ρ-zCDP for one person added or
// removed, under the allocation rule a. The vector of independent discrete
// Gaussians is ρ-zCDP with ρ = Σ_units LossOf's terms (CKS Theorem 4 per
// coordinate, composed), and Calibrate spends exactly ρ: LossOf of its
// result is ρ. It refuses ρ = 0 with ErrRho, an unknown a with
// ErrAllocation, and coordinates and epochs as SquaredSensitivity does.
func Calibrate(l schema.Layout, coords []int, epochs uint64, rho Rho, a Allocation) ([]Variance, error) {
	if rho.IsZero() {
		return nil, fmt.Errorf("%w: ρ = 0 needs infinite noise", ErrRho)
	}
	if a != EqualShares && a != OneVariance {
		return nil, fmt.Errorf("%w: %v", ErrAllocation, a)
	}
	units, err := Units(l, coords)
	if err != nil {
		return nil, err
	}
	e2, err := epochsSquared(epochs)
	if err != nil {
		return nil, err
	}
	at := make(map[int]int, len(coords)) // coordinate → position in coords
	for i, c := range coords {
		at[c] = i
	}
	out := make([]Variance, len(coords))
	if a == OneVariance {
		d2, err := SquaredSensitivity(l, coords, epochs)
		if err != nil {
			return nil, err
		}
		v, err := VarianceFor(rho, d2)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i] = v
		}
		return out, nil
	}
	share, err := NewRho(new(big.Rat).Quo(rho.rat(), big.NewRat(int64(len(units)), 1)))
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		v, err := VarianceFor(share, new(big.Int).Mul(u.Bound, e2))
		if err != nil {
			return nil, err
		}
		for _, c := range u.Coords {
			out[at[c]] = v
		}
	}
	return out, nil
}

// LossOf returns the ρ of adding independent discrete Gaussians of
// variances vs (vs[i] to coords[i]) to the sums at coords over a job of
// epochs epochs: Σ over units of epochs²·Bound/(2σ²), with σ² the
// smallest variance in the unit (for a category block, Σ_k n_k²/(2σ_k²) ≤
// epochs²/(2·min σ_k²)). It is the check a node or an auditor runs on a
// calibration: LossOf(Calibrate(…, ρ, a)) = ρ exactly. It refuses a zero
// Variance with ErrParameter, len(vs) ≠ len(coords) with ErrCoordinates,
// and coordinates and epochs as SquaredSensitivity does.
func LossOf(l schema.Layout, coords []int, epochs uint64, vs []Variance) (Rho, error) {
	if len(vs) != len(coords) {
		return Rho{}, fmt.Errorf("%w: %d variances for %d coordinates", ErrCoordinates, len(vs), len(coords))
	}
	units, err := Units(l, coords)
	if err != nil {
		return Rho{}, err
	}
	e2, err := epochsSquared(epochs)
	if err != nil {
		return Rho{}, err
	}
	of := make(map[int]Variance, len(coords))
	for i, c := range coords {
		if vs[i].IsZero() {
			return Rho{}, fmt.Errorf("%w: the zero variance at coordinate %d", ErrParameter, c)
		}
		of[c] = vs[i]
	}
	total := Rho{}
	for _, u := range units {
		least := of[u.Coords[0]]
		for _, c := range u.Coords[1:] {
			if of[c].Rat().Cmp(least.Rat()) < 0 {
				least = of[c]
			}
		}
		r, err := RhoOf(least, new(big.Int).Mul(u.Bound, e2))
		if err != nil {
			return Rho{}, err
		}
		total = total.Add(r)
	}
	return total, nil
}

package stats

import (
	"fmt"
	"math"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// Count returns n, the number of records in the cohort: 0 for nil sums,
// math.MaxUint64 for a count beyond it (no Sums from schema.Layout.Decode
// has one: n ≤ the schema's max cohort).
func Count(s *schema.Sums) uint64 {
	n := count(s)
	switch {
	case n.Sign() < 0:
		return 0
	case !n.IsUint64():
		return math.MaxUint64
	}
	return n.Uint64()
}

// Sum returns Σ field over the cohort (for a bool field, the number of
// true values).
func Sum(s *schema.Sums, field string) (float64, error) {
	x, err := sum(s, field)
	if err != nil {
		return 0, err
	}
	return float(x), nil
}

// Mean returns (Σ field)/n. It needs n ≥ 1.
func Mean(s *schema.Sums, field string) (float64, error) {
	x, err := sum(s, field)
	if err != nil {
		return 0, err
	}
	if err := atLeast(s, 1, "mean of "+field); err != nil {
		return 0, err
	}
	return float(new(big.Rat).Quo(x, new(big.Rat).SetInt(count(s)))), nil
}

// Variance returns the sample variance (Σ x² − (Σ x)²/n)/(n − 1), computed
// exactly and rounded once. It needs n ≥ 2 and field in the schema's
// moments.
func Variance(s *schema.Sums, field string) (float64, error) {
	v, err := variance(s, field)
	if err != nil {
		return 0, err
	}
	return float(v), nil
}

// Stddev returns the square root of Variance.
func Stddev(s *schema.Sums, field string) (float64, error) {
	v, err := variance(s, field)
	if err != nil {
		return 0, err
	}
	return math.Sqrt(float(v)), nil
}

// variance returns the exact sample variance of field.
func variance(s *schema.Sums, field string) (*big.Rat, error) {
	c, err := centered(s, field, field)
	if err != nil {
		return nil, err
	}
	if err := atLeast(s, 2, "variance of "+field); err != nil {
		return nil, err
	}
	if c.Sign() < 0 {
		return nil, fmt.Errorf("stats: variance of %q: %w: Σ x² < (Σ x)²/n", field, schema.ErrInvalidSums)
	}
	n1 := new(big.Int).Sub(count(s), big.NewInt(1))
	return c.Quo(c, new(big.Rat).SetInt(n1)), nil
}

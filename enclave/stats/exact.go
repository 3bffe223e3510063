package stats

import (
	"fmt"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// SumExact returns Σ field over the cohort as an exact rational (for a bool
// field, the number of true values). The result is a fresh value the
// caller may modify.
func SumExact(s *schema.Sums, field string) (*big.Rat, error) {
	x, err := sum(s, field)
	if err != nil {
		return nil, err
	}
	return new(big.Rat).Set(x), nil
}

// MeanExact returns (Σ field)/n exactly. It needs n ≥ 1.
func MeanExact(s *schema.Sums, field string) (*big.Rat, error) {
	x, err := sum(s, field)
	if err != nil {
		return nil, err
	}
	if err := atLeast(s, 1, "mean of "+field); err != nil {
		return nil, err
	}
	return new(big.Rat).Quo(x, new(big.Rat).SetInt(count(s))), nil
}

// VarianceExact returns the sample variance (Σ x² − (Σ x)²/n)/(n − 1)
// exactly: the value Variance rounds. It needs n ≥ 2 and field in the
// schema's moments.
func VarianceExact(s *schema.Sums, field string) (*big.Rat, error) {
	return variance(s, field) // a fresh value
}

// CovarianceExact returns the sample covariance of a and b,
// (Σ a·b − (Σ a)(Σ b)/n)/(n − 1), exactly: the entry Covariance rounds. It
// needs n ≥ 2 and both fields in the schema's moments.
func CovarianceExact(s *schema.Sums, a, b string) (*big.Rat, error) {
	c, err := centered(s, a, b)
	if err != nil {
		return nil, err
	}
	if err := atLeast(s, 2, fmt.Sprintf("covariance of %s and %s", a, b)); err != nil {
		return nil, err
	}
	n1 := new(big.Int).Sub(count(s), big.NewInt(1))
	return c.Quo(c, new(big.Rat).SetInt(n1)), nil // c is fresh: centered allocates it
}

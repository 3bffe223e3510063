package stats

import (
	"fmt"
	"math"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// Covariance returns the sample covariance matrix of fields:
//
//	cov(a, b) = (Σ a·b − (Σ a)(Σ b)/n) / (n − 1),
//
// each entry computed exactly and rounded once. It needs n ≥ 2 and every
// field in the schema's moments. The matrix is symmetric; row i is fields[i].
func Covariance(s *schema.Sums, fields []string) ([][]float64, error) {
	c, err := centeredMatrix(s, fields)
	if err != nil {
		return nil, err
	}
	if err := atLeast(s, 2, "covariance"); err != nil {
		return nil, err
	}
	n1 := new(big.Rat).SetInt(new(big.Int).Sub(count(s), big.NewInt(1)))
	out := square(len(fields))
	for i := range fields {
		for j := i; j < len(fields); j++ {
			v := float(new(big.Rat).Quo(c[i][j], n1))
			out[i][j], out[j][i] = v, v
		}
	}
	return out, nil
}

// Correlation returns the Pearson correlation matrix of fields:
//
//	r(a, b) = C_ab / √(C_aa·C_bb),  C_ab = Σ a·b − (Σ a)(Σ b)/n.
//
// r² = C_ab²/(C_aa·C_bb) is computed exactly, so each entry is exact up to
// one rounding and one square root, the diagonal is exactly 1 and no entry
// leaves [−1, 1]. It needs n ≥ 2 and every field in the schema's moments, and
// refuses with ErrZeroVariance a field that is constant over the cohort.
func Correlation(s *schema.Sums, fields []string) ([][]float64, error) {
	c, err := centeredMatrix(s, fields)
	if err != nil {
		return nil, err
	}
	if err := atLeast(s, 2, "correlation"); err != nil {
		return nil, err
	}
	for i, f := range fields {
		if c[i][i].Sign() <= 0 {
			return nil, fmt.Errorf("stats: correlation: field %q: %w", f, ErrZeroVariance)
		}
	}
	out := square(len(fields))
	for i := range fields {
		out[i][i] = 1
		for j := i + 1; j < len(fields); j++ {
			r2 := new(big.Rat).Mul(c[i][j], c[i][j])
			r2.Quo(r2, new(big.Rat).Mul(c[i][i], c[j][j]))
			if r2.Cmp(big.NewRat(1, 1)) > 0 {
				return nil, fmt.Errorf("stats: correlation of %q and %q: %w: |r| > 1", fields[i], fields[j], schema.ErrInvalidSums)
			}
			r := math.Sqrt(float(r2))
			if c[i][j].Sign() < 0 {
				r = -r
			}
			out[i][j], out[j][i] = r, r
		}
	}
	return out, nil
}

// centeredMatrix returns the exact centered cross-products C_ab of every
// pair of fields (the upper triangle filled and mirrored).
func centeredMatrix(s *schema.Sums, fields []string) ([][]*big.Rat, error) {
	c := make([][]*big.Rat, len(fields))
	for i := range fields {
		c[i] = make([]*big.Rat, len(fields))
	}
	for i, a := range fields {
		for j := i; j < len(fields); j++ {
			v, err := centered(s, a, fields[j])
			if err != nil {
				return nil, err
			}
			c[i][j], c[j][i] = v, v
		}
	}
	return c, nil
}

// square returns a zero k×k matrix.
func square(k int) [][]float64 {
	out := make([][]float64, k)
	for i := range out {
		out[i] = make([]float64, k)
	}
	return out
}

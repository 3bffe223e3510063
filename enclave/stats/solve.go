package stats

import (
	"fmt"
	"math"
	"math/big"
)

// pivotTol is the smallest pivot the Cholesky factorization of the
// equilibrated matrix (unit diagonal) accepts. A smaller pivot means a
// condition number above about 1/pivotTol: the system is refused as
// singular rather than solved into noise.
const pivotTol = 1e-12

// refineSteps bounds the rounds of iterative refinement.
const refineSteps = 5

// solveSPD solves A·x = b for a symmetric positive definite A given
// exactly. The system is equilibrated (A' = D·A·D with D = diag(1/√A_ii), so
// A' has a unit diagonal and the solution no longer depends on the units of
// the fields), factored in float64 by Cholesky, and the float64 solution is
// refined with residuals b − A·x computed exactly in rationals, so that x is
// accurate to a few units in the last place whenever cond(A')·2⁻⁵³ ≪ 1.
// It returns an error wrapping ErrSingular when a diagonal entry is not
// positive or a pivot falls below pivotTol.
func solveSPD(A [][]*big.Rat, b []*big.Rat) ([]float64, error) {
	p := len(b)
	d := make([]float64, p)
	for i := range p {
		aii := float(A[i][i])
		if A[i][i].Sign() <= 0 || aii == 0 || math.IsInf(aii, 0) {
			return nil, fmt.Errorf("%w: column %d has no spread", ErrSingular, i)
		}
		d[i] = 1 / math.Sqrt(aii)
	}
	L := square(p)
	for i := range p {
		for j := range i + 1 {
			L[i][j] = float(A[i][j]) * d[i] * d[j]
		}
	}
	// In-place Cholesky: A' = L·Lᵀ, lower triangle.
	for j := range p {
		for k := range j {
			L[j][j] -= L[j][k] * L[j][k]
		}
		if !(L[j][j] >= pivotTol) { // also catches NaN
			return nil, fmt.Errorf("%w: column %d is (nearly) a combination of the others (pivot %.3g)", ErrSingular, j, L[j][j])
		}
		L[j][j] = math.Sqrt(L[j][j])
		for i := j + 1; i < p; i++ {
			for k := range j {
				L[i][j] -= L[i][k] * L[j][k]
			}
			L[i][j] /= L[j][j]
		}
	}

	x := make([]float64, p)
	xr := make([]*big.Rat, p)
	r := make([]float64, p)
	for range refineSteps {
		// r = D·(b − A·x), exactly up to the final rounding.
		for i := range p {
			if xr[i] = new(big.Rat).SetFloat64(x[i]); xr[i] == nil {
				return nil, fmt.Errorf("%w: the solution overflows float64", ErrSingular)
			}
		}
		acc := new(big.Rat)
		term := new(big.Rat)
		for i := range p {
			acc.Set(b[i])
			for j := range p {
				acc.Sub(acc, term.Mul(A[i][j], xr[j]))
			}
			r[i] = float(acc) * d[i]
		}
		// Solve L·Lᵀ·y = r, then x += D·y.
		for i := range p {
			for k := range i {
				r[i] -= L[i][k] * r[k]
			}
			r[i] /= L[i][i]
		}
		for i := p - 1; i >= 0; i-- {
			for k := i + 1; k < p; k++ {
				r[i] -= L[k][i] * r[k]
			}
			r[i] /= L[i][i]
		}
		change, size := 0.0, 0.0
		for i := range p {
			step := r[i] * d[i]
			x[i] += step
			change = math.Max(change, math.Abs(step))
			size = math.Max(size, math.Abs(x[i]))
		}
		if change <= 0x1p-60*size {
			break
		}
	}
	return x, nil
}

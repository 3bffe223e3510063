package reference

import (
	"fmt"
	"math/big"
)

// Fit is a fitted regression, rounded once from its exact solution.
type Fit struct {
	// Intercept is β₀.
	Intercept float64
	// Coefficients are β₁, … in the order of the features.
	Coefficients []float64
	// R2 is 1 − Σ(y − ŷ)² / Σ(y − ȳ)² of the fit on the records.
	R2 float64
}

// LinearRegression fits target = β₀ + Σ βⱼ·featureⱼ, minimising the
// squared error plus ridge·Σ βⱼ² (intercept unpenalised), by solving the
// normal equations (XᵀX + ridge·I′)β = Xᵀy exactly, X with a leading
// column of ones and I′ the identity without the intercept's entry; R² is
// exact for that β. ErrSingular when the system has no unique solution,
// ErrConstant when the target is constant.
func (c *Cohort) LinearRegression(target string, features []string, ridge float64) (*Fit, error) {
	return c.fit(target, features, ridge, big.NewRat(1, 1), new(big.Rat))
}

// LogisticApproximation is the quadratic approximation of logistic
// regression of a 0/1 target: the log-likelihood expanded to second order
// around β = 0, whose maximiser solves (XᵀX/4 + ridge·I′)β = Xᵀ(y − 1/2)
// exactly. R² is that of the predictions ŷ = 1/2 + Xβ/4 on the records.
func (c *Cohort) LogisticApproximation(target string, features []string, ridge float64) (*Fit, error) {
	return c.fit(target, features, ridge, big.NewRat(1, 4), big.NewRat(1, 2))
}

// fit solves (XᵀX·scale + ridge·I′)·β = Xᵀ(y − shift) and scores
// ŷ = shift + scale·Xβ.
func (c *Cohort) fit(target string, features []string, ridge float64, scale, shift *big.Rat) (*Fit, error) {
	y, err := c.values(target)
	if err != nil {
		return nil, err
	}
	cols := make([][]*big.Rat, len(features))
	for j, f := range features {
		if cols[j], err = c.values(f); err != nil {
			return nil, err
		}
	}
	lambda := new(big.Rat)
	if lambda.SetFloat64(ridge) == nil {
		return nil, fmt.Errorf("reference: ridge %v is not finite", ridge)
	}
	k := len(features) + 1
	x := func(r, j int) *big.Rat {
		if j == 0 {
			return big.NewRat(1, 1)
		}
		return cols[j-1][r]
	}
	A := make([][]*big.Rat, k)
	for i := range A {
		A[i] = make([]*big.Rat, k+1) // augmented with the right-hand side
		for j := range A[i] {
			A[i][j] = new(big.Rat)
		}
	}
	for r := range c.n {
		yr := new(big.Rat).Sub(y[r], shift)
		for i := range k {
			xi := x(r, i)
			for j := range k {
				A[i][j].Add(A[i][j], new(big.Rat).Mul(xi, x(r, j)))
			}
			A[i][k].Add(A[i][k], new(big.Rat).Mul(xi, yr))
		}
	}
	for i := range k {
		for j := range k {
			A[i][j].Mul(A[i][j], scale)
		}
		if i > 0 {
			A[i][i].Add(A[i][i], lambda)
		}
	}
	beta, err := solve(A)
	if err != nil {
		return nil, err
	}
	ybar, err := c.Mean(target)
	if err != nil {
		return nil, err
	}
	sse, sst := new(big.Rat), new(big.Rat)
	for r := range c.n {
		fit := new(big.Rat)
		for j := range k {
			fit.Add(fit, new(big.Rat).Mul(beta[j], x(r, j)))
		}
		fit.Mul(fit, scale).Add(fit, shift)
		e := new(big.Rat).Sub(y[r], fit)
		sse.Add(sse, e.Mul(e, e))
		d := new(big.Rat).Sub(y[r], ybar)
		sst.Add(sst, d.Mul(d, d))
	}
	if sst.Sign() == 0 {
		return nil, fmt.Errorf("%w: %s", ErrConstant, target)
	}
	out := &Fit{Coefficients: make([]float64, k-1)}
	out.R2, _ = new(big.Rat).Sub(big.NewRat(1, 1), sse.Quo(sse, sst)).Float64()
	out.Intercept, _ = beta[0].Float64()
	for j := range out.Coefficients {
		out.Coefficients[j], _ = beta[j+1].Float64()
	}
	return out, nil
}

// solve solves the augmented system A (n rows, n+1 columns) by
// Gauss–Jordan elimination in rationals, in place.
func solve(A [][]*big.Rat) ([]*big.Rat, error) {
	n := len(A)
	for col := range n {
		pivot := -1
		for r := col; r < n; r++ {
			if A[r][col].Sign() != 0 {
				pivot = r
				break
			}
		}
		if pivot < 0 {
			return nil, ErrSingular
		}
		A[col], A[pivot] = A[pivot], A[col]
		inv := new(big.Rat).Inv(A[col][col])
		for j := col; j <= n; j++ {
			A[col][j].Mul(A[col][j], inv)
		}
		for r := range n {
			if r == col || A[r][col].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Set(A[r][col])
			for j := col; j <= n; j++ {
				A[r][j].Sub(A[r][j], new(big.Rat).Mul(f, A[col][j]))
			}
		}
	}
	out := make([]*big.Rat, n)
	for i := range out {
		out[i] = A[i][n]
	}
	return out, nil
}

package stats

import (
	"fmt"
	"math"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// Regression is a fitted linear model ŷ = Intercept + Σ Coefficients[j]·x_j
// (for LogisticRegression, the log-odds), in the original units of the
// fields.
type Regression struct {
	Intercept    float64
	Coefficients []float64 // one per feature, in the order given
	// R2 is 1 − SSE/SST of the fit (for LogisticRegression, of the
	// linearised probability 1/2 + ŷ/4; see the package doc).
	R2 float64
	N  uint64 // records in the cohort
}

// LinearRegression fits target = β₀ + Σ β_j·feature_j by least squares with
// an optional ridge penalty: it minimises Σ (y − β₀ − x·β)² + ridge·‖β‖²
// (the intercept is not penalised; ridge = 0 is ordinary least squares).
// Target and every feature must be in the schema's moments, n must be at
// least 2 (at least len(features)+1 when ridge = 0) and the target must not
// be constant. See the package doc for the construction.
func LinearRegression(s *schema.Sums, target string, features []string, ridge float64) (*Regression, error) {
	sys, err := normalEquations(s, target, features, ridge)
	if err != nil {
		return nil, fmt.Errorf("stats: linear regression of %q: %w", target, err)
	}
	r, err := sys.fit()
	if err != nil {
		return nil, fmt.Errorf("stats: linear regression of %q on %q: %w", target, features, err)
	}
	return r, nil
}

// LogisticRegression fits P(target) = σ(β₀ + Σ β_j·feature_j) by the
// quadratic approximation of the log-loss around β = 0: β solves
//
//	(XᵀX/4 + ridge·I′)·β = Xᵀ(y − 1/2),
//
// with X the design matrix with a leading column of ones and I′ the
// identity without its intercept entry. This needs only the moments a
// linear regression needs, and equals 4× the linear regression of y (with
// ridge 4·ridge). target must be a bool field: the sums carry no field
// types, so a target whose sums show it is not 0/1 valued (Σ y² ≠ Σ y, or
// Σ y outside [0, n]) is refused with ErrNotBinary. The package doc states
// the accuracy of the approximation.
func LogisticRegression(s *schema.Sums, target string, features []string, ridge float64) (*Regression, error) {
	if err := checkRidge(ridge); err != nil {
		return nil, fmt.Errorf("stats: logistic regression of %q: %w", target, err)
	}
	sys, err := normalEquations(s, target, features, 4*ridge)
	if err != nil {
		return nil, fmt.Errorf("stats: logistic regression of %q: %w", target, err)
	}
	sy, _ := sum(s, target) // checked by normalEquations
	syy, _ := cross(s, target, target)
	if sy.Cmp(syy) != 0 || sy.Sign() < 0 || sy.Cmp(new(big.Rat).SetInt(count(s))) > 0 {
		return nil, fmt.Errorf("stats: logistic regression of %q: %w", target, ErrNotBinary)
	}
	// Regress t = 4y − 2 instead of y: the centered moments scale by 4 and
	// 16, the mean maps to 4ȳ − 2.
	four := big.NewRat(4, 1)
	for j := range sys.sxy {
		sys.sxy[j].Mul(sys.sxy[j], four)
	}
	sys.syy.Mul(sys.syy, big.NewRat(16, 1))
	sys.ybar.Mul(sys.ybar, four)
	sys.ybar.Sub(sys.ybar, big.NewRat(2, 1))
	r, err := sys.fit()
	if err != nil {
		return nil, fmt.Errorf("stats: logistic regression of %q on %q: %w", target, features, err)
	}
	return r, nil
}

// checkRidge refuses a negative, infinite or NaN ridge penalty.
func checkRidge(ridge float64) error {
	if math.IsNaN(ridge) || math.IsInf(ridge, 0) || ridge < 0 {
		return fmt.Errorf("%w: %v (want a finite λ ≥ 0)", ErrInvalidRidge, ridge)
	}
	return nil
}

// system holds the centered normal equations of a regression, exactly:
//
//	sxx[i][j] = Σ (x_i − x̄_i)(x_j − x̄_j),  sxy[j] = Σ (x_j − x̄_j)(y − ȳ),
//	syy = Σ (y − ȳ)²,
//
// and the ridge penalty.
type system struct {
	n     *big.Int
	sxx   [][]*big.Rat
	sxy   []*big.Rat
	syy   *big.Rat
	xbar  []*big.Rat
	ybar  *big.Rat
	ridge *big.Rat
}

// normalEquations assembles the centered normal equations exactly.
func normalEquations(s *schema.Sums, target string, features []string, ridge float64) (*system, error) {
	if err := checkRidge(ridge); err != nil {
		return nil, err
	}
	p := len(features)
	sys := &system{
		n:     count(s),
		sxx:   make([][]*big.Rat, p),
		sxy:   make([]*big.Rat, p),
		xbar:  make([]*big.Rat, p),
		ridge: new(big.Rat).SetFloat64(ridge),
	}
	syy, err := centered(s, target, target)
	if err != nil {
		return nil, err
	}
	sys.syy = syy
	for j, f := range features {
		if sys.sxy[j], err = centered(s, f, target); err != nil {
			return nil, err
		}
		sys.sxx[j] = make([]*big.Rat, p)
	}
	for i, a := range features {
		for j := i; j < p; j++ {
			v, err := centered(s, a, features[j])
			if err != nil {
				return nil, err
			}
			sys.sxx[i][j], sys.sxx[j][i] = v, v
		}
	}
	if err := atLeast(s, 2, "regression"); err != nil {
		return nil, err
	}
	if ridge == 0 {
		if err := atLeast(s, int64(p)+1, fmt.Sprintf("regression on %d features without ridge", p)); err != nil {
			return nil, err
		}
	}
	if syy.Sign() <= 0 {
		return nil, fmt.Errorf("target: %w", ErrZeroVariance)
	}
	nr := new(big.Rat).SetInt(sys.n)
	sy, _ := sum(s, target)
	sys.ybar = new(big.Rat).Quo(sy, nr)
	for j, f := range features {
		sx, _ := sum(s, f)
		sys.xbar[j] = new(big.Rat).Quo(sx, nr)
	}
	return sys, nil
}

// fit solves (sxx + ridge·I)·β = sxy, then sets β₀ = ȳ − x̄·β and
// R² = 1 − SSE/syy with SSE = syy − 2β·sxy + βᵀ·sxx·β, all from the exact
// moments and the float64 β.
func (sys *system) fit() (*Regression, error) {
	p := len(sys.sxy)
	A := make([][]*big.Rat, p)
	for i := range p {
		A[i] = make([]*big.Rat, p)
		copy(A[i], sys.sxx[i])
		A[i][i] = new(big.Rat).Add(sys.sxx[i][i], sys.ridge)
	}
	beta, err := solveSPD(A, sys.sxy)
	if err != nil {
		return nil, err
	}
	b := make([]*big.Rat, p)
	for j := range p {
		b[j] = new(big.Rat).SetFloat64(beta[j]) // finite: checked by solveSPD
	}
	intercept := new(big.Rat).Set(sys.ybar)
	sse := new(big.Rat).Set(sys.syy)
	term := new(big.Rat)
	two := big.NewRat(2, 1)
	for i := range p {
		intercept.Sub(intercept, term.Mul(sys.xbar[i], b[i]))
		sse.Sub(sse, term.Mul(term.Mul(two, b[i]), sys.sxy[i]))
		for j := range p {
			sse.Add(sse, term.Mul(term.Mul(b[i], sys.sxx[i][j]), b[j]))
		}
	}
	r2 := new(big.Rat).Quo(sse, sys.syy)
	r2.Sub(big.NewRat(1, 1), r2)
	n := uint64(math.MaxUint64)
	if sys.n.IsUint64() {
		n = sys.n.Uint64()
	}
	return &Regression{Intercept: float(intercept), Coefficients: beta, R2: float(r2), N: n}, nil
}

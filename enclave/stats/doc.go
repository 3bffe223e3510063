// Package stats computes the statistics and models a job releases from the
// sufficient statistics of a cohort, as decoded by schema.Layout.Decode into
// a *schema.Sums: the count n, Σ x for every numeric field, Σ x·y for every
// pair of moment fields (Σ x² included) and the count of every category
// value, all exact rationals in original units. The package does no I/O and
// sees no record; its functions are pure and safe for concurrent use, and
// they never modify the Sums they are given.
//
// # Formulas
//
// Every quantity below is first computed exactly in math/big.Rat from the
// sums and rounded to float64 once, at the end (a square root, where there
// is one, is taken after that rounding):
//
//	Sum       Σ x
//	Mean      Σ x / n                                        n ≥ 1
//	Variance  C_xx / (n − 1)                                 n ≥ 2
//	Stddev    √Variance
//	Covariance(a, b)   C_ab / (n − 1)                        n ≥ 2
//	Correlation(a, b)  sign(C_ab)·√(C_ab² / (C_aa·C_bb))     n ≥ 2, C_aa, C_bb > 0
//
// with the centered cross-product C_ab = Σ (a − ā)(b − b̄) = Σ a·b − (Σ a)(Σ b)/n.
// Because C_ab is exact, the textbook "Σ x² − (Σ x)²/n" loses nothing to
// cancellation here, the diagonal of a correlation matrix is exactly 1 and
// no correlation leaves [−1, 1]. Histogram returns the category counts.
//
// # Regression
//
// LinearRegression minimises Σ (y − β₀ − x·β)² + λ‖β‖² (λ = ridge ≥ 0, the
// intercept unpenalised). Eliminating β₀ = ȳ − x̄·β leaves the centered
// normal equations
//
//	(S_xx + λI)·β = S_xy,  S_xx[i][j] = C_{x_i x_j},  S_xy[j] = C_{x_j y},
//
// which are exactly the uncentered equations (XᵀX + λI′)·(β₀, β) = Xᵀy with
// the intercept row eliminated, and far better conditioned than them (the
// column of ones and a field like steps ≈ 10⁴ no longer compete). S_xx and
// S_xy are assembled exactly; the system is then equilibrated to a unit
// diagonal (so the solution does not depend on the units of the fields),
// factored by Cholesky in float64, and refined: each round computes the
// residual S_xy − (S_xx + λI)·β exactly in rationals from the float64 β
// and solves for a correction, until the correction is below 2⁻⁶⁰·‖β‖∞.
// The coefficients are therefore accurate to a few units in the last place
// whenever the equilibrated condition number is well below 2⁵³, and the
// tests hold them to 10⁻⁹ relative of an exact rational solve over the
// records. A feature with no spread (with λ = 0), or a Cholesky pivot of
// the equilibrated matrix below 10⁻¹² (a feature that is, to about twelve
// digits, a linear combination of the others), is refused with ErrSingular
// rather than solved into noise. R² = 1 − SSE/SST with SST = C_yy and
// SSE = C_yy − 2β·S_xy + βᵀS_xxβ, evaluated exactly for the returned β.
//
// LogisticRegression uses the quadratic approximation of the log-loss that
// privacy-preserving logistic regression uses when only XᵀX and Xᵀy can be
// released. With z = β₀ + x·β, the per-record loss log(1 + eᶻ) − y·z has the
// second-order Taylor expansion log 2 + (1/2 − y)·z + z²/8 around z = 0;
// minimising its sum plus (λ/2)‖β‖² gives
//
//	(XᵀX/4 + λI′)·(β₀, β) = Xᵀ(y − 1/2),
//
// which is the least-squares regression of t = 4y − 2 with ridge 4λ, and is
// solved as such (centered, exactly assembled, refined). Equivalently, it
// fits the linearised probability p ≈ 1/2 + z/4 by least squares, and R² is
// reported for that: 1 − Σ(y − 1/2 − z/4)² / Σ(y − ȳ)². It needs the same
// moments as a linear regression of the target (the target's square
// included).
//
// # Accuracy of the logistic approximation
//
// The expansion is exact to second order at z = 0, so it is accurate when
// every linear predictor stays near 0 — weak effects and balanced classes —
// and it shrinks coefficients toward 0 as |z| grows or the classes become
// unbalanced. Measured against the exact maximum-likelihood fit (Newton's
// method on the same records), worst case over 20 cohorts of n = 2000,
// x₁, x₂ uniform on [−2, 2], y ~ Bernoulli(σ(b₀ + b₁x₁ + b₂x₂)):
//
//	b = (0.1, 0.3, −0.2), ȳ ≈ 0.52    coefficients within 6%,   |Δp| ≤ 0.012 (mean 0.005)
//	b = (0.2, 0.8, −0.5), ȳ ≈ 0.54    coefficients within 23%,  |Δp| ≤ 0.055 (mean 0.034)
//	b = (0.5, 1.5, −1.0), ȳ ≈ 0.57    coefficients within 47%,  |Δp| ≤ 0.15  (mean 0.09)
//	b = (−2, 0.5, −0.3),  ȳ ≈ 0.13    coefficients within 59%,  |Δp| ≤ 0.11  (mean 0.066)
//
// and, on the demo fitness data, smoker on resting_hr and steps (nearly
// separable, ȳ ≈ 0.19), coefficients within 77% (about 3.5× too small) and
// |Δp| ≤ 0.34 (mean 0.17). In every case the signs agreed and every
// coefficient was shrunk toward 0. The approximation is therefore fit for
// the direction and relative size of effects, and for probabilities when
// effects are weak and classes balanced; it is not a substitute for an
// exact fit on strongly predictive or rare outcomes. TestLogisticAccuracy
// holds one cohort of each kind to these figures.
//
// # Inputs
//
// Field names come from the job; a name that is not in the sums is refused
// with ErrUnknownField, a category where a number is needed with
// ErrNotNumeric, a product the schema did not collect with
// ErrMissingMoment, and a cohort too small for the statistic with
// ErrTooFew. schema.Sums carries no field types, so LogisticRegression
// checks its target from the sums: Σ y² = Σ y and 0 ≤ Σ y ≤ n, which every
// bool field meets. Sums that no cohort of valid records yields and that
// the statistic would otherwise turn into NaN (a negative variance, |r| > 1,
// a negative count) are refused with schema.ErrInvalidSums. Minimum-cohort
// policy and noise are the job's concern, not this package's.
package stats

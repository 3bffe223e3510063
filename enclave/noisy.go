package enclave

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"gonum.org/v1/gonum/mat"

	"github.com/cohort-dev/cohort/enclave/stats"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// ErrNoiseModel: the noise model given to ReleaseNoisy is malformed.
var ErrNoiseModel = errors.New("malformed noise model")

// NoiseModel is the release noise on a job's sums (docs/design.md §6.7).
type NoiseModel struct {
	// StdDev[i] is the standard deviation of the total noise on values[i]
	// (the sum at coords[i]), in encoded units: 0 for the count, which is
	// never noised, and finite and > 0 for every other coordinate.
	StdDev []float64
	// Confidence is the level of every interval, in (0, 1), e.g. 0.95.
	Confidence float64
}

// regressionFloor is the smallest eigenvalue, relative to the largest (and
// to n/4, the largest centred sum of squares of a field spanning [0, 1]),
// that the projection leaves in the span-scaled centred Gram matrix of a
// regression: it bounds the condition number of the normal equations by
// about 10⁹, well inside what stats' solver accepts.
const regressionFloor = 1e-9

// ReleaseNoisy computes the outputs of a job from sums released with noise
// (docs/design.md §6.7): values[i] is the noisy sum over the cohort of
// coordinate coords[i], an integer that may be negative, above its bound,
// or inconsistent with the other sums; values[i] for coordinate 0, the
// count n, is exact. Every output is post-processing of these sums:
//
//  1. Each value coordinate is clamped into [0, n·Span] (what a cohort of n
//     valid records sums to), each category count into [0, n], each product
//     into [0, n·Max], and the sum of squares of a bool field is replaced
//     by its (clamped) sum, since x² = x for a bool.
//  2. The sums are decoded with schema.Layout.DecodeNoisy.
//  3. For a variance, standard deviation, covariance, correlation or
//     regression, the centred Gram matrix C (C_ab = Σab − ΣaΣb/n) of its
//     fields, each scaled by its span, is projected onto the positive
//     semidefinite cone by flooring its eigenvalues (gonum's EigenSym) at 0
//     (at regressionFloor times the largest eigenvalue, or n/4 if larger,
//     for a regression, so that its normal equations are positive
//     definite); a C already above the floor is left as it is, exactly.
//  4. The output is computed as Release computes it, except: a correlation
//     is C_ab/√(C_aa·C_bb) clamped into [−1, 1] (0 when a field has no
//     spread left, 1 on the diagonal); a logistic regression is fitted as
//     4× the linear regression of its target with ridge 4λ, which is what
//     stats.LogisticRegression computes, without its 0/1 check of the
//     target's sums that noise breaks.
//
// So a variance is ≥ 0, a standard deviation its square root, a mean in
// the field's range, a histogram bin the noisy count clamped into [0, n]
// (a bool field's true count likewise, its false count n minus that). The count
// is released as Release does, with its exact value; every other Number
// has no exact value and carries an Interval: its standard error and the
// interval value ± z·SE (z the two-sided normal quantile of Confidence)
// intersected with the output's range ([0, ∞) for variances, standard
// deviations and covariance diagonals, [−1, 1] for correlations, the
// clamping range above for sums, means and bins). For a sum, mean or bin
// the standard error is exact: the noise's, scaled by the decoding. For
// the others it is a first-order approximation: the output's change
// between the sums with one coordinate moved up and down by h = round(σ) ≥ 1,
// times σ/(2h), summed in quadrature over the noised coordinates the output
// reads.
//
// Noise never makes ReleaseNoisy fail. It refuses malformed input as
// Release does (ErrCoordinates, ErrMissingCoordinate, *SpecError), a
// NoiseModel without one finite standard deviation per coordinate, 0
// exactly for the count and > 0 for every other, or with a Confidence
// outside (0, 1), with ErrNoiseModel, and a statistic the exact count
// does not support (stats.ErrTooFew: a mean of no record; a variance,
// covariance, correlation or regression of fewer than 2, or a regression
// without ridge of fewer than features+1) wrapped with the output's index;
// an eigendecomposition that does not converge (not seen on any finite
// input) is an error wrapping stats.ErrSingular.
// No output is returned beside an error. The result is a deterministic
// function of the inputs; the inputs are not modified.
func ReleaseNoisy(s *schema.Schema, coords []int, values []*big.Int, noise NoiseModel, outputs []*cohortv1.Output) ([]*cohortv1.OutputValue, error) {
	l, S, err := gather(s, coords, values, outputs)
	if err != nil {
		return nil, err
	}
	r := &noisyRelease{l: l, x: newFieldIndex(l), S: S, sigma: make([]float64, l.Len)}
	if r.z, err = noise.check(l, coords, r.sigma); err != nil {
		return nil, fmt.Errorf("enclave: release: %w", err)
	}
	if S[0].Sign() < 0 {
		return nil, fmt.Errorf("enclave: release: %w: negative count %s", ErrCoordinates, S[0])
	}
	return eachOutput(outputs, r.fill)
}

// check validates the model against coords, fills sigma (by coordinate)
// and returns z, the two-sided normal quantile of the confidence.
func (m NoiseModel) check(l schema.Layout, coords []int, sigma []float64) (float64, error) {
	if len(m.StdDev) != len(coords) {
		return 0, fmt.Errorf("%w: %d standard deviations for %d coordinates", ErrNoiseModel, len(m.StdDev), len(coords))
	}
	for i, c := range coords {
		sd := m.StdDev[i]
		switch {
		case c == 0 && sd != 0:
			return 0, fmt.Errorf("%w: the count is exact, not noised with standard deviation %v", ErrNoiseModel, sd)
		case c != 0 && !(sd > 0 && !math.IsInf(sd, 0)):
			return 0, fmt.Errorf("%w: coordinate %d (%s): standard deviation %v (want finite and > 0)", ErrNoiseModel, c, l.Name(c), sd)
		}
		sigma[c] = sd
	}
	if !(m.Confidence > 0 && m.Confidence < 1) {
		return 0, fmt.Errorf("%w: confidence %v (want 0 < confidence < 1)", ErrNoiseModel, m.Confidence)
	}
	return normalQuantile((1 + m.Confidence) / 2), nil
}

// noisyRelease holds what ReleaseNoisy computes every output from.
type noisyRelease struct {
	l     schema.Layout
	x     *fieldIndex
	S     []*big.Int // the noisy sums, by coordinate; nil where not given
	sigma []float64  // noise standard deviation, by coordinate
	z     float64    // two-sided normal quantile of the confidence
}

// fill computes the checked output o into v, with its intervals.
func (r *noisyRelease) fill(o *cohortv1.Output, v *cohortv1.OutputValue) error {
	if err := r.eval(r.S, o, v); err != nil {
		return err
	}
	n := float(new(big.Rat).SetInt(r.S[0]))
	switch o.GetKind() {
	case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		return nil // exact
	case cohortv1.OutputKind_OUTPUT_KIND_SUM, cohortv1.OutputKind_OUTPUT_KIND_MEAN:
		vc := r.x.value[o.GetFields()[0]]
		unit := math.Pow10(-vc.Decimals)
		lo, hi := float64(vc.Offset)*unit, (float64(vc.Offset)+float64(vc.Span))*unit
		se := r.sigma[vc.Index] * unit
		if o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_SUM {
			lo, hi = lo*n, hi*n
		} else {
			se /= n
		}
		num := v.GetScalar()
		num.Exact = ""
		num.Interval = r.interval(num.GetValue(), se, lo, hi)
		return nil
	case cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
		field := o.GetFields()[0]
		for k, b := range v.GetHistogram().GetBins() {
			c := r.x.value[field].Index // a bool: both bins read its sum
			if cat, ok := r.x.category[field]; ok {
				c = cat.Start + k
			}
			b.Interval = r.interval(float64(b.GetCount()), r.sigma[c], 0, n)
		}
		return nil
	}
	return r.delta(o, v)
}

// delta attaches to the non-linear output v of o the intervals of its
// first-order expansion in the noised sums it reads.
func (r *noisyRelease) delta(o *cohortv1.Output, v *cohortv1.OutputValue) error {
	needed, err := Coordinates(r.l, []*cohortv1.Output{o})
	if err != nil {
		return err
	}
	nums := numbers(v)
	variance := make([]float64, len(nums))
	S := make([]*big.Int, len(r.S))
	copy(S, r.S)
	for _, c := range needed[1:] { // needed[0] is the count
		h := max(1, math.Round(r.sigma[c]))
		step, _ := new(big.Float).SetFloat64(h).Int(nil) // h is a finite integer
		var up, down cohortv1.OutputValue
		S[c] = new(big.Int).Add(r.S[c], step)
		errUp := r.eval(S, o, &up)
		S[c] = new(big.Int).Sub(r.S[c], step)
		errDown := r.eval(S, o, &down)
		S[c] = r.S[c]
		if err := errors.Join(errUp, errDown); err != nil {
			return err
		}
		hi, lo := numbers(&up), numbers(&down)
		for k := range variance {
			d := (hi[k].GetValue() - lo[k].GetValue()) / (2 * h) * r.sigma[c]
			variance[k] += d * d
		}
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	switch o.GetKind() {
	case cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, cohortv1.OutputKind_OUTPUT_KIND_STDDEV:
		lo = 0
	case cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		lo, hi = -1, 1
	}
	k := len(o.GetFields())
	for i, num := range nums {
		lo := lo
		if o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE && i%(k+1) == 0 {
			lo = 0 // a diagonal entry: a variance
		}
		num.Interval = r.interval(num.GetValue(), math.Sqrt(variance[i]), lo, hi)
	}
	if reg := v.GetRegression(); reg != nil {
		reg.InterceptInterval = nums[0].GetInterval()
		for _, num := range nums[1:] {
			reg.CoefficientIntervals = append(reg.CoefficientIntervals, num.GetInterval())
		}
	}
	return nil
}

// interval returns value ± z·se intersected with [lo, hi]; value is in
// [lo, hi].
func (r *noisyRelease) interval(value, se, lo, hi float64) *cohortv1.Interval {
	return &cohortv1.Interval{
		StandardError: se,
		Low:           max(value-r.z*se, lo),
		High:          min(value+r.z*se, hi),
	}
}

// numbers returns the Numbers of a scalar, matrix or regression value, in
// order (a regression's as intercept, then coefficients, as fresh
// Numbers).
func numbers(v *cohortv1.OutputValue) []*cohortv1.Number {
	switch x := v.GetValue().(type) {
	case *cohortv1.OutputValue_Scalar:
		return []*cohortv1.Number{x.Scalar}
	case *cohortv1.OutputValue_Matrix:
		return x.Matrix.GetEntries()
	case *cohortv1.OutputValue_Regression:
		out := []*cohortv1.Number{{Value: x.Regression.GetIntercept()}}
		for _, c := range x.Regression.GetCoefficients() {
			out = append(out, &cohortv1.Number{Value: c})
		}
		return out
	}
	return nil
}

// eval computes the output o from the noisy sums S into v, as ReleaseNoisy
// documents (steps 1 to 4), without intervals; every Number but the count
// has no exact value.
func (r *noisyRelease) eval(S []*big.Int, o *cohortv1.Output, v *cohortv1.OutputValue) error {
	sums, err := r.l.DecodeNoisy(r.clamp(S))
	if err != nil {
		return err
	}
	var fields []string
	floor := 0.0
	switch o.GetKind() {
	case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		return r.x.compute(sums, o, v)
	case cohortv1.OutputKind_OUTPUT_KIND_SUM, cohortv1.OutputKind_OUTPUT_KIND_MEAN, cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
	case cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, cohortv1.OutputKind_OUTPUT_KIND_STDDEV,
		cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		fields = o.GetFields()
	default: // a regression
		fields = append([]string{o.GetTarget()}, o.GetFeatures()...)
		floor = regressionFloor
	}
	if err := r.project(sums, fields, floor); err != nil {
		return err
	}
	switch o.GetKind() {
	case cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		err = correlation(sums, o.GetFields(), v)
	case cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION:
		err = r.logistic(sums, o, v)
	default:
		err = r.x.compute(sums, o, v)
	}
	if err != nil {
		return err
	}
	for _, num := range numbers(v) {
		num.Exact = ""
	}
	return nil
}

// clamp returns a copy of S with each value coordinate clamped into
// [0, n·Span], each category count into [0, n], each product into
// [0, n·Max], and the square of each bool field replaced by its clamped
// sum (step 1 of ReleaseNoisy).
func (r *noisyRelease) clamp(S []*big.Int) []*big.Int {
	out := make([]*big.Int, len(S))
	copy(out, S)
	n := S[0]
	for _, vc := range r.l.Values {
		clampInt(out, vc.Index, new(big.Int).Mul(n, new(big.Int).SetUint64(vc.Span)))
		if p, ok := r.x.productOf(vc.Index, vc.Index); ok && vc.Type == schema.Bool && out[p] != nil && out[vc.Index] != nil {
			out[p] = out[vc.Index]
		}
	}
	for _, c := range r.l.Categories {
		for k := range c.Values {
			clampInt(out, c.Start+k, n)
		}
	}
	for _, p := range r.l.Products { // a bool's square, now its sum, is in range
		clampInt(out, p.Index, new(big.Int).Mul(n, new(big.Int).SetUint64(p.Max)))
	}
	return out
}

// clampInt clamps S[i], when present, into [0, top].
func clampInt(S []*big.Int, i int, top *big.Int) {
	switch x := S[i]; {
	case x == nil:
	case x.Sign() < 0:
		S[i] = new(big.Int)
	case x.Cmp(top) > 0:
		S[i] = top
	}
}

// project replaces the cross sums of fields in sums so that their centred
// Gram matrix, each field scaled by its span, has no eigenvalue below
// floor·max(λ_max, n/4) (step 3 of ReleaseNoisy). A matrix already above
// that is left exactly as it is, and so are sums of fewer than 2 records,
// which every statistic of them refuses.
func (r *noisyRelease) project(sums *schema.Sums, fields []string, floor float64) error {
	k := len(fields)
	if k == 0 || sums.Count.Cmp(big.NewInt(2)) < 0 {
		return nil
	}
	n := new(big.Rat).SetInt(sums.Count)
	mean := make([]*big.Rat, k) // Σ a / n
	scale := make([]float64, k)
	for i, f := range fields {
		vc := r.x.value[f]
		mean[i] = new(big.Rat).Quo(sums.Sum[f], n)
		scale[i] = float64(vc.Span) * math.Pow10(-vc.Decimals)
	}
	keys := make([][]([2]string), k)
	C := mat.NewSymDense(k, nil)
	for i, a := range fields {
		keys[i] = make([][2]string, k)
		for j := i; j < k; j++ {
			key := [2]string{a, fields[j]}
			if _, ok := sums.Cross[key]; !ok {
				key = [2]string{fields[j], a}
			}
			keys[i][j] = key
			c := new(big.Rat).Mul(mean[i], sums.Sum[fields[j]])
			C.SetSym(i, j, float(c.Sub(sums.Cross[key], c))/(scale[i]*scale[j]))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(C, true) {
		return fmt.Errorf("%w: the eigendecomposition of the centred moments of %q did not converge", stats.ErrSingular, fields)
	}
	lambda := eig.Values(nil) // ascending
	tau := floor * max(lambda[k-1], float(n)/4)
	if lambda[0] >= tau {
		return nil
	}
	var V mat.Dense
	eig.VectorsTo(&V)
	for m := range lambda {
		lambda[m] = max(lambda[m], tau)
	}
	for i := range k {
		for j := i; j < k; j++ {
			c := 0.0
			for m := range k {
				c += V.At(i, m) * lambda[m] * V.At(j, m)
			}
			if i == j {
				c = max(c, 0)
			}
			cross := new(big.Rat).SetFloat64(c * scale[i] * scale[j])
			if cross == nil {
				return fmt.Errorf("%w: the centred moments of %q overflow", stats.ErrSingular, fields)
			}
			sums.Cross[keys[i][j]] = cross.Add(cross, new(big.Rat).Mul(mean[i], sums.Sum[fields[j]]))
		}
	}
	return nil
}

// correlation sets v to the correlation matrix of fields from the
// projected sums: C_ab/√(C_aa·C_bb) clamped into [−1, 1], 0 when C_aa or
// C_bb is 0, 1 on the diagonal.
func correlation(sums *schema.Sums, fields []string, v *cohortv1.OutputValue) error {
	cov, err := stats.Covariance(sums, fields)
	if err != nil {
		return err
	}
	k := len(fields)
	m := &cohortv1.Matrix{Fields: append([]string(nil), fields...), Entries: make([]*cohortv1.Number, k*k)}
	for i := range k {
		for j := range k {
			e := 0.0
			switch d := math.Sqrt(cov[i][i] * cov[j][j]); {
			case i == j:
				e = 1
			case d > 0:
				e = max(-1, min(1, cov[i][j]/d))
			}
			m.Entries[i*k+j] = &cohortv1.Number{Value: e}
		}
	}
	v.Value = &cohortv1.OutputValue_Matrix{Matrix: m}
	return nil
}

// logistic sets v to the logistic regression o: the linear regression of
// its target with ridge 4λ, its intercept b mapped to 4b − 2 and its
// coefficients to 4×, as stats.LogisticRegression documents.
func (r *noisyRelease) logistic(sums *schema.Sums, o *cohortv1.Output, v *cohortv1.OutputValue) error {
	lin := &cohortv1.Output{
		Kind:        cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION,
		Target:      o.GetTarget(),
		Features:    o.GetFeatures(),
		RidgeLambda: 4 * o.GetRidgeLambda(),
	}
	if err := r.x.compute(sums, lin, v); err != nil {
		return err
	}
	reg := v.GetRegression()
	reg.Intercept = 4*reg.Intercept - 2
	for j := range reg.Coefficients {
		reg.Coefficients[j] *= 4
	}
	reg.RidgeLambda = o.GetRidgeLambda()
	return nil
}

// float returns the float64 nearest to x.
func float(x *big.Rat) float64 {
	f, _ := x.Float64()
	return f
}

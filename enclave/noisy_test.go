package enclave

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/enclave/stats"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

func TestNormalQuantile(t *testing.T) {
	for _, tc := range []struct{ p, want float64 }{
		{0.5, 0},
		{0.975, 1.959963984540054},
		{0.995, 2.5758293035489004},
		{0.95, 1.6448536269514722},
		{0.8413447460685429, 1},
		{0.001, -3.090232306167813},
		{1e-10, -6.361340902404056},
		{0.99999, 4.264890793922602},
	} {
		if got := normalQuantile(tc.p); math.Abs(got-tc.want) > 1e-12*max(1, math.Abs(tc.want)) {
			t.Errorf("Φ⁻¹(%v) = %.17g, want %.17g", tc.p, got, tc.want)
		}
	}
	for _, p := range []float64{0, 1, -0.5, 2, math.NaN()} {
		if !math.IsNaN(normalQuantile(p)) {
			t.Errorf("Φ⁻¹(%v) is not NaN", p)
		}
	}
}

// noiseFor returns a noise model over coords: 0 for the count, sd(c) for
// every other coordinate c.
func noiseFor(coords []int, sd func(c int) float64) NoiseModel {
	m := NoiseModel{StdDev: make([]float64, len(coords)), Confidence: 0.95}
	for i, c := range coords {
		if c != 0 {
			m.StdDev[i] = sd(c)
		}
	}
	return m
}

// scaledNoise is noise of standard deviation k times each coordinate's
// per-record bound (Span, Span_a·Span_b, 1 for a category indicator).
func scaledNoise(l schema.Layout, k float64) func(int) float64 {
	bound := make([]float64, l.Len)
	for i := range bound {
		bound[i] = 1
	}
	for _, v := range l.Values {
		bound[v.Index] = float64(v.Span)
	}
	for _, p := range l.Products {
		bound[p.Index] = float64(p.Max)
	}
	return func(c int) float64 { return k * bound[c] }
}

// addNoise returns values with rounded N(0, σ²) noise on every coordinate
// but the count.
func addNoise(rng *rand.Rand, coords []int, values []*big.Int, m NoiseModel) []*big.Int {
	out := make([]*big.Int, len(values))
	for i, v := range values {
		out[i] = new(big.Int).Set(v)
		if coords[i] != 0 {
			out[i].Add(out[i], big.NewInt(int64(math.Round(rng.NormFloat64()*m.StdDev[i]))))
		}
	}
	return out
}

// checkNoisy checks the invariants of every noisy release: the count
// exact, every other Number without an exact value and with an interval
// holding it, ranges respected.
func checkNoisy(t *testing.T, n int, o *cohortv1.Output, v *cohortv1.OutputValue) {
	t.Helper()
	if v.GetKind() != o.GetKind() || v.GetLabel() != o.GetLabel() {
		t.Errorf("kind %s label %q, want %s %q", v.GetKind(), v.GetLabel(), o.GetKind(), o.GetLabel())
	}
	holds := func(what string, x float64, iv *cohortv1.Interval) {
		t.Helper()
		switch {
		case iv == nil:
			t.Errorf("%s %v: no interval", what, x)
		case math.IsNaN(x) || math.IsInf(x, 0):
			t.Errorf("%s: value %v", what, x)
		case !(iv.GetStandardError() >= 0) || math.IsInf(iv.GetStandardError(), 0):
			t.Errorf("%s: standard error %v", what, iv.GetStandardError())
		case !(iv.GetLow() <= x && x <= iv.GetHigh()):
			t.Errorf("%s: %v outside its interval [%v, %v]", what, x, iv.GetLow(), iv.GetHigh())
		}
	}
	what := fmt.Sprintf("%s %q", o.GetKind(), append(o.GetFields(), o.GetTarget()))
	switch o.GetKind() {
	case kCount:
		if s := v.GetScalar(); s.GetExact() != fmt.Sprint(n) || s.GetInterval() != nil {
			t.Errorf("count: %v, want exact %d without interval", s, n)
		}
		return
	case kHistogram:
		for _, b := range v.GetHistogram().GetBins() {
			holds(what+" bin "+b.GetValue(), float64(b.GetCount()), b.GetInterval())
			if b.GetInterval().GetLow() < 0 || b.GetInterval().GetHigh() > float64(n) {
				t.Errorf("%s: bin interval %v outside [0, %d]", what, b.GetInterval(), n)
			}
		}
		return
	case kLinear, kLogistic:
		r := v.GetRegression()
		holds(what+" intercept", r.GetIntercept(), r.GetInterceptInterval())
		if len(r.GetCoefficientIntervals()) != len(r.GetCoefficients()) || len(r.GetCoefficients()) != len(o.GetFeatures()) {
			t.Fatalf("%s: %d coefficients, %d intervals", what, len(r.GetCoefficients()), len(r.GetCoefficientIntervals()))
		}
		for j, c := range r.GetCoefficients() {
			holds(fmt.Sprintf("%s coefficient %d", what, j), c, r.GetCoefficientIntervals()[j])
		}
		if r.GetRidgeLambda() != o.GetRidgeLambda() || r.GetTarget() != o.GetTarget() {
			t.Errorf("%s: ridge %v target %q", what, r.GetRidgeLambda(), r.GetTarget())
		}
		return
	}
	for k, num := range numbers(v) {
		if num.GetExact() != "" {
			t.Errorf("%s: entry %d has the exact value %q", what, k, num.GetExact())
		}
		holds(fmt.Sprintf("%s entry %d", what, k), num.GetValue(), num.GetInterval())
		x := num.GetValue()
		switch o.GetKind() {
		case kVariance, kStddev:
			if x < 0 {
				t.Errorf("%s: %v < 0", what, x)
			}
		case kCorrelation:
			if x < -1 || x > 1 || (k%(len(o.GetFields())+1) == 0 && x != 1) {
				t.Errorf("%s: entry %d = %v", what, k, x)
			}
		case kCovariance:
			if k%(len(o.GetFields())+1) == 0 && x < 0 {
				t.Errorf("%s: diagonal entry %v < 0", what, x)
			}
		}
	}
}

// With noise of every size, including noise that drives sums negative and
// far above their bounds, every output is released, in range, without an
// exact value, with an interval.
func TestReleaseNoisyEveryKind(t *testing.T) {
	p := newPlain(t, schema.Default(), 40, 11)
	l := p.s.Layout()
	rng := rand.New(rand.NewPCG(5, 5))
	for _, k := range []float64{0.01, 1, 30, 1000} {
		for i, o := range releaseCases() {
			t.Run(fmt.Sprintf("noise %v/%d-%s", k, i, o.GetKind()), func(t *testing.T) {
				coords, values := p.reconstruct(t, []*cohortv1.Output{o})
				m := noiseFor(coords, scaledNoise(l, k))
				for range 3 {
					got, err := ReleaseNoisy(p.s, coords, addNoise(rng, coords, values, m), m, []*cohortv1.Output{o})
					if err != nil {
						t.Fatal(err)
					}
					checkNoisy(t, p.n, o, got[0])
				}
			})
		}
	}
}

// sumsWith returns the plaintext sums at the coordinates outputs need, with
// set applied (coordinate → new value).
func (p *plain) sumsWith(t *testing.T, outputs []*cohortv1.Output, set map[int]int64) ([]int, []*big.Int) {
	t.Helper()
	coords, values := p.reconstruct(t, outputs)
	for i, c := range coords {
		if v, ok := set[c]; ok {
			values[i] = big.NewInt(v)
		}
	}
	return coords, values
}

// Sums no cohort yields, one output kind at a time, with the value each
// clamp or projection gives.
func TestReleaseNoisyClamps(t *testing.T) {
	p := newPlain(t, schema.Default(), 10, 12)
	l := p.s.Layout()
	x := newFieldIndex(l)
	age, smoker, steps := x.value["age"], x.value["smoker"], x.value["steps"]
	ageAge, _ := x.productOf(age.Index, age.Index)
	ageSteps, _ := x.productOf(age.Index, steps.Index)
	stepsSteps, _ := x.productOf(steps.Index, steps.Index)
	north := x.category["region"].Start
	n := int64(p.n)
	span := int64(age.Span)
	for _, tc := range []struct {
		name  string
		o     *cohortv1.Output
		set   map[int]int64
		check func(t *testing.T, v *cohortv1.OutputValue)
	}{
		{"negative sum", out(kSum, "age"), map[int]int64{age.Index: -500}, func(t *testing.T, v *cohortv1.OutputValue) {
			if got := v.GetScalar().GetValue(); got != 18*float64(n) {
				t.Errorf("sum %v, want n·min = %d", got, 18*n)
			}
		}},
		{"sum above its bound", out(kMean, "age"), map[int]int64{age.Index: n*span + 1e6}, func(t *testing.T, v *cohortv1.OutputValue) {
			if got := v.GetScalar().GetValue(); got != 100 {
				t.Errorf("mean %v, want max = 100", got)
			}
		}},
		{"negative variance", out(kVariance, "age"), map[int]int64{ageAge: 0}, func(t *testing.T, v *cohortv1.OutputValue) {
			if got := v.GetScalar().GetValue(); got != 0 {
				t.Errorf("variance %v, want 0", got)
			}
		}},
		{"negative variance, stddev", out(kStddev, "age"), map[int]int64{ageAge: -1e9}, func(t *testing.T, v *cohortv1.OutputValue) {
			if got := v.GetScalar().GetValue(); got != 0 {
				t.Errorf("stddev %v, want 0", got)
			}
		}},
		{"category counts below 0 and above n", out(kHistogram, "region"), map[int]int64{north: -7, north + 1: n + 40}, func(t *testing.T, v *cohortv1.OutputValue) {
			b := v.GetHistogram().GetBins()
			if b[0].GetCount() != 0 || b[1].GetCount() != uint64(n) {
				t.Errorf("bins %v, want north 0, south %d", b, n)
			}
		}},
		{"bool true count above n", out(kHistogram, "smoker"), map[int]int64{smoker.Index: n + 3}, func(t *testing.T, v *cohortv1.OutputValue) {
			b := v.GetHistogram().GetBins()
			if b[0].GetCount() != 0 || b[1].GetCount() != uint64(n) {
				t.Errorf("bins %v, want false 0, true %d", b, n)
			}
		}},
		{"bool true count negative", out(kHistogram, "smoker"), map[int]int64{smoker.Index: -3}, func(t *testing.T, v *cohortv1.OutputValue) {
			b := v.GetHistogram().GetBins()
			if b[0].GetCount() != uint64(n) || b[1].GetCount() != 0 {
				t.Errorf("bins %v, want false %d, true 0", b, n)
			}
		}},
		{"|r| > 1", out(kCorrelation, "age", "steps"), map[int]int64{ageSteps: 1 << 50}, func(t *testing.T, v *cohortv1.OutputValue) {
			if r := v.GetMatrix().GetEntries()[1].GetValue(); r != 1 {
				t.Errorf("correlation %v, want 1 after projection", r)
			}
		}},
		{"negative variance in a correlation", out(kCorrelation, "age", "steps"), map[int]int64{ageAge: -1e9}, func(t *testing.T, v *cohortv1.OutputValue) {
			// The nearest PSD matrix has rank one: |r| = 1.
			if r := v.GetMatrix().GetEntries()[1].GetValue(); math.Abs(r) < 1-1e-9 {
				t.Errorf("correlation %v, want ±1", r)
			}
		}},
		{"covariance not PSD", out(kCovariance, "age", "steps"), map[int]int64{ageSteps: 1 << 50, stepsSteps: 0}, func(t *testing.T, v *cohortv1.OutputValue) {
			e := v.GetMatrix().GetEntries()
			if det := e[0].GetValue()*e[3].GetValue() - e[1].GetValue()*e[2].GetValue(); det < -1e-6*e[0].GetValue()*e[3].GetValue() || e[1].GetValue() != e[2].GetValue() {
				t.Errorf("covariance %v not symmetric PSD (det %v)", e, det)
			}
		}},
		{"regression, non-PD XᵀX", regression(kLinear, "resting_hr", "age", "steps"), map[int]int64{ageSteps: 1 << 50, ageAge: 0}, nil},
		{"regression, feature without spread", regression(kLinear, "resting_hr", "age"), map[int]int64{ageAge: -1e12}, nil},
		{"logistic regression, target sums not 0/1", regression(kLogistic, "smoker", "age"), map[int]int64{smoker.Index: -4}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coords, values := p.sumsWith(t, []*cohortv1.Output{tc.o}, tc.set)
			m := noiseFor(coords, scaledNoise(l, 1))
			got, err := ReleaseNoisy(p.s, coords, values, m, []*cohortv1.Output{tc.o})
			if err != nil {
				t.Fatal(err)
			}
			checkNoisy(t, p.n, tc.o, got[0])
			if tc.check != nil {
				tc.check(t, got[0])
			}
		})
	}
}

// Noise that happens to be zero: the values are those of Release (up to
// the solver's rounding), without exact values.
func TestReleaseNoisyWithoutNoiseMatchesRelease(t *testing.T) {
	p := newPlain(t, schema.Default(), 60, 13)
	outputs := releaseCases()
	coords, values := p.reconstruct(t, outputs)
	want, err := Release(p.s, coords, values, outputs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReleaseNoisy(p.s, coords, values, noiseFor(coords, scaledNoise(p.s.Layout(), 0.1)), outputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outputs {
		checkNoisy(t, p.n, o, got[i])
		if o.GetKind() == kHistogram {
			for k, b := range got[i].GetHistogram().GetBins() {
				if b.GetCount() != want[i].GetHistogram().GetBins()[k].GetCount() {
					t.Errorf("output %d bin %d: %d, want %d", i, k, b.GetCount(), want[i].GetHistogram().GetBins()[k].GetCount())
				}
			}
			continue
		}
		g, w := numbers(got[i]), numbers(want[i])
		for k := range w {
			if !near(g[k].GetValue(), w[k].GetValue()) && math.Abs(g[k].GetValue()-w[k].GetValue()) > 1e-12 {
				t.Errorf("output %d (%s) entry %d: %.17g, Release %.17g", i, o.GetKind(), k, g[k].GetValue(), w[k].GetValue())
			}
		}
	}
}

// Cohorts of 1 and 2: what n supports is released whatever the noise;
// what it does not is refused with stats.ErrTooFew, as by Release.
func TestReleaseNoisySmallCohorts(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 2} {
		p := newPlain(t, schema.Default(), n, uint64(20+n))
		l := p.s.Layout()
		for i, o := range releaseCases() {
			coords, values := p.reconstruct(t, []*cohortv1.Output{o})
			m := noiseFor(coords, scaledNoise(l, 2))
			got, err := ReleaseNoisy(p.s, coords, addNoise(rng, coords, values, m), m, []*cohortv1.Output{o})
			tooFew := false
			switch o.GetKind() {
			case kVariance, kStddev, kCovariance, kCorrelation:
				tooFew = n < 2
			case kLinear, kLogistic:
				tooFew = n < 2 || (o.GetRidgeLambda() == 0 && n < len(o.GetFeatures())+1)
			}
			switch {
			case tooFew && !errors.Is(err, stats.ErrTooFew):
				t.Errorf("n = %d, output %d (%s): %v, want ErrTooFew", n, i, o.GetKind(), err)
			case tooFew && got != nil:
				t.Errorf("n = %d, output %d: outputs beside an error", n, i)
			case !tooFew && err != nil:
				t.Errorf("n = %d, output %d (%s): %v", n, i, o.GetKind(), err)
			case !tooFew:
				checkNoisy(t, n, o, got[0])
			}
		}
	}
}

// The same inputs give byte-identical outputs, and the inputs are not
// modified.
func TestReleaseNoisyDeterministic(t *testing.T) {
	p, outputs, coords, noisy, m := noisyCohort(t, 50, 14)
	keep := make([]string, len(noisy))
	for i, v := range noisy {
		keep[i] = v.String()
	}
	var first []byte
	for range 3 {
		got, err := ReleaseNoisy(p.s, coords, noisy, m, outputs)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&cohortv1.Result{Outputs: got})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = raw
		} else if string(raw) != string(first) {
			t.Fatal("two releases of the same sums differ")
		}
	}
	for i, v := range noisy {
		if v.String() != keep[i] {
			t.Fatal("ReleaseNoisy modified its input")
		}
	}
}

func TestReleaseNoisyRefuses(t *testing.T) {
	p := newPlain(t, schema.Default(), 30, 15)
	outputs := allOutputs()
	coords, values := p.reconstruct(t, outputs)
	good := noiseFor(coords, scaledNoise(p.s.Layout(), 1))
	with := func(i int, sd float64) NoiseModel {
		m := NoiseModel{StdDev: append([]float64(nil), good.StdDev...), Confidence: good.Confidence}
		m.StdDev[i] = sd
		return m
	}
	for _, tc := range []struct {
		name    string
		s       *schema.Schema
		coords  []int
		values  []*big.Int
		noise   NoiseModel
		outputs []*cohortv1.Output
		want    error
	}{
		{"nil schema", nil, coords, values, good, outputs, nil},
		{"too few standard deviations", p.s, coords, values, NoiseModel{StdDev: good.StdDev[1:], Confidence: 0.95}, outputs, ErrNoiseModel},
		{"noised count", p.s, coords, values, with(0, 1), outputs, ErrNoiseModel},
		{"un-noised sum", p.s, coords, values, with(1, 0), outputs, ErrNoiseModel},
		{"negative standard deviation", p.s, coords, values, with(1, -1), outputs, ErrNoiseModel},
		{"NaN standard deviation", p.s, coords, values, with(2, math.NaN()), outputs, ErrNoiseModel},
		{"infinite standard deviation", p.s, coords, values, with(2, math.Inf(1)), outputs, ErrNoiseModel},
		{"confidence 0", p.s, coords, values, NoiseModel{StdDev: good.StdDev}, outputs, ErrNoiseModel},
		{"confidence 1", p.s, coords, values, NoiseModel{StdDev: good.StdDev, Confidence: 1}, outputs, ErrNoiseModel},
		{"confidence NaN", p.s, coords, values, NoiseModel{StdDev: good.StdDev, Confidence: math.NaN()}, outputs, ErrNoiseModel},
		{"length mismatch", p.s, coords, values[1:], good, outputs, ErrCoordinates},
		{"negative count", p.s, coords, append([]*big.Int{big.NewInt(-1)}, values[1:]...), good, outputs, ErrCoordinates},
		{"missing coordinate", p.s, coords[:len(coords)-1], values[:len(coords)-1], NoiseModel{StdDev: good.StdDev[:len(coords)-1], Confidence: 0.95}, outputs, ErrMissingCoordinate},
		{"invalid output", p.s, coords, values, good, []*cohortv1.Output{out(kMean, "nope")}, ErrInvalidSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReleaseNoisy(tc.s, tc.coords, tc.values, tc.noise, tc.outputs)
			if err == nil || got != nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.HasPrefix(err.Error(), "enclave: release") {
				t.Fatalf("%v, %v; want an error wrapping %v", got, err, tc.want)
			}
		})
	}
}

// Coverage: over many noisy releases of one cohort, the 95% intervals of
// sums, means and histogram bins (exact standard errors) contain the true
// value at a rate in [0.93, 0.97] (±3.5 binomial standard errors of 0.95
// over 2000 trials), and those of variances and standard deviations
// (first-order) in [0.90, 0.98].
func TestReleaseNoisyCoverage(t *testing.T) {
	trials := 2000
	if testing.Short() {
		trials = 500
	}
	p := newPlain(t, schema.Default(), 200, 16)
	outputs := []*cohortv1.Output{
		out(kSum, "steps"), out(kMean, "age"), out(kMean, "sleep_h"), out(kHistogram, "region"), out(kHistogram, "smoker"),
		out(kVariance, "age"), out(kStddev, "resting_hr"),
	}
	truth := make([][]float64, len(outputs))
	coords, values := p.reconstruct(t, outputs)
	exact, err := Release(p.s, coords, values, outputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range exact {
		if h := v.GetHistogram(); h != nil {
			for _, b := range h.GetBins() {
				truth[i] = append(truth[i], float64(b.GetCount()))
			}
			continue
		}
		truth[i] = []float64{v.GetScalar().GetValue()}
	}
	// At least 10 on a count, so that the rounding of the noise to integers
	// does not coarsen the coverage (with σ = 3 an integer noise is inside
	// ±1.96σ only when |e| ≤ 5: 93.3%), and small enough next to the counts
	// (about 50 per region) that the clamp at 0, which only moves a value
	// toward the truth, seldom binds.
	scaled := scaledNoise(p.s.Layout(), 3)
	m := noiseFor(coords, func(c int) float64 { return max(10, scaled(c)) })
	rng := rand.New(rand.NewPCG(8, 8))
	hits := make([][]int, len(outputs))
	for i := range hits {
		hits[i] = make([]int, len(truth[i]))
	}
	for range trials {
		got, err := ReleaseNoisy(p.s, coords, addNoise(rng, coords, values, m), m, outputs)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			var ivs []*cohortv1.Interval
			if h := v.GetHistogram(); h != nil {
				for _, b := range h.GetBins() {
					ivs = append(ivs, b.GetInterval())
				}
			} else {
				ivs = []*cohortv1.Interval{v.GetScalar().GetInterval()}
			}
			for k, iv := range ivs {
				if iv.GetLow() <= truth[i][k] && truth[i][k] <= iv.GetHigh() {
					hits[i][k]++
				}
			}
		}
	}
	for i, o := range outputs {
		lo, hi := 0.93, 0.97
		if o.GetKind() == kVariance || o.GetKind() == kStddev {
			lo, hi = 0.90, 0.98
		}
		if testing.Short() {
			lo, hi = lo-0.03, hi+0.02
		}
		for k, h := range hits[i] {
			rate := float64(h) / float64(trials)
			t.Logf("%s %v[%d]: coverage %.3f", o.GetKind(), o.GetFields(), k, rate)
			if rate < lo || rate > hi {
				t.Errorf("%s %v[%d]: coverage %.3f outside [%v, %v]", o.GetKind(), o.GetFields(), k, rate, lo, hi)
			}
		}
	}
}

// noisyCohort returns a cohort of n records of the demo schema, every
// release case, and the sums they need with noise of 3 bounds.
func noisyCohort(tb testing.TB, n int, seed uint64) (*plain, []*cohortv1.Output, []int, []*big.Int, NoiseModel) {
	p := newPlain(tb, schema.Default(), n, seed)
	outputs := releaseCases()
	coords, values := p.reconstruct(tb, outputs)
	m := noiseFor(coords, scaledNoise(p.s.Layout(), 3))
	return p, outputs, coords, addNoise(rand.New(rand.NewPCG(seed, 7)), coords, values, m), m
}

func BenchmarkReleaseNoisy(b *testing.B) {
	p, outputs, coords, noisy, m := noisyCohort(b, 500, 17)
	for b.Loop() {
		if _, err := ReleaseNoisy(p.s, coords, noisy, m, outputs); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzReleaseNoisy gives ReleaseNoisy arbitrary noisy sums (any sign, any
// size) for a fixed set of outputs: with every coordinate present and a
// count of at least 2 it must release every output, in range and with its
// intervals; it must never panic.
func FuzzReleaseNoisy(f *testing.F) {
	s := schema.Default()
	outputs := []*cohortv1.Output{
		out(kCount), out(kMean, "sleep_h"), out(kHistogram, "smoker"), out(kHistogram, "region"), out(kVariance, "age"),
		out(kCorrelation, "age", "steps"), regression(kLogistic, "smoker", "age"), regression(kLinear, "resting_hr", "age", "steps"),
	}
	coords, err := Coordinates(s.Layout(), outputs)
	if err != nil {
		f.Fatal(err)
	}
	m := noiseFor(coords, scaledNoise(s.Layout(), 2))
	seed := newPlain(f, s, 40, 7).fuzzSeed(coords)
	f.Add(seed, uint64(0))
	f.Add(seed, uint64(0xffff))
	f.Add([]byte{1, 2}, uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, negative uint64) {
		values := make([]*big.Int, 0, len(coords))
		for i := range coords {
			if len(data) == 0 {
				break
			}
			k := min(int(data[0]%17), len(data)-1)
			x := new(big.Int).SetBytes(data[1 : 1+k])
			if i > 0 && negative&(1<<(i%64)) != 0 {
				x.Neg(x)
			}
			values = append(values, x)
			data = data[1+k:]
		}
		got, err := ReleaseNoisy(s, coords[:len(values)], values, NoiseModel{StdDev: m.StdDev[:len(values)], Confidence: 0.95}, outputs)
		if err != nil {
			if got != nil {
				t.Fatal("outputs beside an error")
			}
			if len(values) == len(coords) && values[0].Cmp(big.NewInt(2)) >= 0 {
				t.Fatalf("noisy sums refused: %v", err)
			}
			return
		}
		if len(got) != len(outputs) {
			t.Fatalf("%d outputs", len(got))
		}
		n, _ := new(big.Float).SetInt(values[0]).Float64()
		for i, o := range outputs {
			if o.GetKind() != kCount {
				checkNoisy(t, int(n), o, got[i])
			}
		}
	})
}

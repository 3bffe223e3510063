package enclave

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/enclave/stats"
	"github.com/cohort-dev/cohort/enclave/stats/reference"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// plain is a cohort of records kept in plaintext, so that every released
// output can be checked against a direct computation over the values
// (package reference).
type plain struct {
	s     *schema.Schema
	n     int
	ref   *reference.Cohort // the records, in plaintext
	total []*big.Int        // coordinate-wise sum of the encoded vectors
}

func newPlain(t testing.TB, s *schema.Schema, n int, seed uint64) *plain {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	p := &plain{s: s, n: n}
	p.total = make([]*big.Int, s.Layout().Len)
	for i := range p.total {
		p.total[i] = new(big.Int)
	}
	recs := make([]schema.Record, n)
	for k := range recs {
		r := s.RandomRecord(rng)
		v, err := s.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			p.total[i].Add(p.total[i], new(big.Int).SetUint64(x))
		}
		recs[k] = r
	}
	var err error
	if p.ref, err = reference.New(s, recs); err != nil {
		t.Fatal(err)
	}
	return p
}

// reconstruct returns the coordinates outputs need and the sums at them,
// as the nodes would reconstruct them.
func (p *plain) reconstruct(t testing.TB, outputs []*cohortv1.Output) ([]int, []*big.Int) {
	t.Helper()
	coords, err := Coordinates(p.s.Layout(), outputs)
	if err != nil {
		t.Fatal(err)
	}
	values := make([]*big.Int, len(coords))
	for i, c := range coords {
		values[i] = new(big.Int).Set(p.total[c])
	}
	return coords, values
}

const relTol = 1e-9

func near(got, want float64) bool {
	return math.Abs(got-want) <= relTol*math.Max(math.Abs(got), math.Abs(want))
}

// checkNumber compares a released number with the exact plaintext value:
// the exact string must match and the float64 be within relTol.
func checkNumber(t *testing.T, what string, got *cohortv1.Number, want *big.Rat) {
	t.Helper()
	if got.GetExact() != want.RatString() {
		t.Errorf("%s: exact %q, plaintext %q", what, got.GetExact(), want.RatString())
	}
	if w, _ := want.Float64(); !near(got.GetValue(), w) {
		t.Errorf("%s: value %.17g, plaintext %.17g", what, got.GetValue(), w)
	}
}

// checkOutput compares one released output with the plaintext computation.
func (p *plain) checkOutput(t *testing.T, o *cohortv1.Output, got *cohortv1.OutputValue) {
	t.Helper()
	if got.GetKind() != o.GetKind() || got.GetLabel() != o.GetLabel() {
		t.Errorf("kind %s label %q, want %s %q", got.GetKind(), got.GetLabel(), o.GetKind(), o.GetLabel())
	}
	var f string
	if len(o.GetFields()) > 0 {
		f = o.GetFields()[0]
	}
	must := func(x *big.Rat, err error) *big.Rat {
		t.Helper()
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		return x
	}
	switch o.GetKind() {
	case kCount:
		checkNumber(t, "count", got.GetScalar(), big.NewRat(int64(p.n), 1))
	case kSum:
		checkNumber(t, "sum of "+f, got.GetScalar(), must(p.ref.Sum(f)))
	case kMean:
		checkNumber(t, "mean of "+f, got.GetScalar(), must(p.ref.Mean(f)))
	case kVariance:
		checkNumber(t, "variance of "+f, got.GetScalar(), must(p.ref.Variance(f)))
	case kStddev:
		v, _ := must(p.ref.Variance(f)).Float64()
		if sd := got.GetScalar(); sd.GetExact() != "" || !near(sd.GetValue(), math.Sqrt(v)) {
			t.Errorf("stddev of %s: %v, plaintext %.17g", f, sd, math.Sqrt(v))
		}
	case kHistogram:
		h := got.GetHistogram()
		values := []string{"false", "true"}
		if field, _ := p.s.Field(f); field.Type == schema.Category {
			values = field.Values
		}
		want, err := p.ref.Histogram(f)
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		if h.GetField() != f || len(h.GetBins()) != len(values) {
			t.Fatalf("histogram of %s: %v", f, h)
		}
		for k, b := range h.GetBins() {
			if b.GetValue() != values[k] || b.GetCount() != want[values[k]] {
				t.Errorf("histogram of %s, bin %d: %s = %d, plaintext %s = %d", f, k, b.GetValue(), b.GetCount(), values[k], want[values[k]])
			}
		}
	case kCovariance, kCorrelation:
		m := got.GetMatrix()
		fields := o.GetFields()
		if !slices.Equal(m.GetFields(), fields) || len(m.GetEntries()) != len(fields)*len(fields) {
			t.Fatalf("matrix %v", m)
		}
		for i, a := range fields {
			for j, b := range fields {
				e := m.GetEntries()[i*len(fields)+j]
				what := fmt.Sprintf("%s(%s, %s)", o.GetKind(), a, b)
				if o.GetKind() == kCovariance {
					checkNumber(t, what, e, must(p.ref.Covariance(a, b)))
					continue
				}
				r, err := p.ref.Correlation(a, b)
				if err != nil || e.GetExact() != "" || !near(e.GetValue(), r) {
					t.Errorf("%s = %v, plaintext %.17g (%v)", what, e, r, err)
				}
			}
		}
	case kLinear, kLogistic:
		r := got.GetRegression()
		fit := p.ref.LinearRegression
		if o.GetKind() == kLogistic {
			fit = p.ref.LogisticApproximation
		}
		want, err := fit(o.GetTarget(), o.GetFeatures(), o.GetRidgeLambda())
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		if r.GetTarget() != o.GetTarget() || !slices.Equal(r.GetFeatures(), o.GetFeatures()) ||
			r.GetRidgeLambda() != o.GetRidgeLambda() || len(r.GetCoefficients()) != len(want.Coefficients) {
			t.Fatalf("regression %v", r)
		}
		if !near(r.GetIntercept(), want.Intercept) {
			t.Errorf("%s intercept %.17g, plaintext %.17g", o.GetKind(), r.GetIntercept(), want.Intercept)
		}
		for j, c := range r.GetCoefficients() {
			if !near(c, want.Coefficients[j]) {
				t.Errorf("%s coefficient of %s: %.17g, plaintext %.17g", o.GetKind(), o.GetFeatures()[j], c, want.Coefficients[j])
			}
		}
		if !near(r.GetR2(), want.R2) {
			t.Errorf("%s R² %.17g, plaintext %.17g", o.GetKind(), r.GetR2(), want.R2)
		}
	default:
		t.Fatalf("no check for %s", o.GetKind())
	}
}

// releaseCases are outputs of every kind over the demo schema, several of
// each.
func releaseCases() []*cohortv1.Output {
	return append(allOutputs(),
		out(kSum, "sleep_h"), out(kSum, "age"),
		out(kMean, "smoker"), out(kMean, "resting_hr"),
		out(kVariance, "sleep_h"), out(kVariance, "smoker"),
		out(kStddev, "steps"),
		out(kCovariance, "smoker", "resting_hr", "sleep_h", "steps", "age"),
		out(kCorrelation, "age", "steps", "resting_hr", "sleep_h", "smoker"),
		regression(kLinear, "sleep_h", "age"),
		regression(kLinear, "steps", "age", "resting_hr", "sleep_h", "smoker"),
		&cohortv1.Output{Kind: kLinear, Target: "age", Features: []string{"steps", "sleep_h"}, RidgeLambda: 1e6},
		&cohortv1.Output{Kind: kLogistic, Target: "smoker", Features: []string{"age", "sleep_h"}, RidgeLambda: 3},
		regression(kLogistic, "smoker", "age", "steps", "resting_hr", "sleep_h"),
	)
}

// Each output alone: only its coordinates are reconstructed, and its value
// matches the plaintext computation over the records.
func TestReleaseMatchesPlaintext(t *testing.T) {
	p := newPlain(t, schema.Default(), 200, 1)
	for i, o := range releaseCases() {
		t.Run(fmt.Sprintf("%d-%s", i, o.GetKind()), func(t *testing.T) {
			coords, values := p.reconstruct(t, []*cohortv1.Output{o})
			got, err := Release(p.s, coords, values, []*cohortv1.Output{o})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d outputs", len(got))
			}
			p.checkOutput(t, o, got[0])
		})
	}
}

// All outputs at once, in order, from coordinates given in any order and
// from the whole vector.
func TestReleaseAllTogether(t *testing.T) {
	p := newPlain(t, schema.Default(), 211, 2)
	outputs := releaseCases()
	coords, values := p.reconstruct(t, outputs)
	perm := rand.New(rand.NewPCG(3, 3)).Perm(len(coords))
	shuffledC, shuffledV := make([]int, len(coords)), make([]*big.Int, len(coords))
	for i, j := range perm {
		shuffledC[i], shuffledV[i] = coords[j], values[j]
	}
	every := make([]int, len(p.total))
	for i := range every {
		every[i] = i
	}
	for name, in := range map[string]struct {
		c []int
		v []*big.Int
	}{"needed": {coords, values}, "shuffled": {shuffledC, shuffledV}, "every coordinate": {every, p.total}} {
		t.Run(name, func(t *testing.T) {
			got, err := Release(p.s, in.c, in.v, outputs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(outputs) {
				t.Fatalf("%d outputs, want %d", len(got), len(outputs))
			}
			for i, o := range outputs {
				p.checkOutput(t, o, got[i])
			}
		})
	}
	if p.total[0].Int64() != 211 {
		t.Fatal("Release modified its input")
	}
}

// Another schema: negative offsets, no bool or category field.
func TestReleaseOtherSchema(t *testing.T) {
	s := schema.Synthetic(4, true)
	p := newPlain(t, s, 150, 4)
	outputs := []*cohortv1.Output{
		out(kCount), out(kSum, "f1"), out(kMean, "f0"), out(kVariance, "f3"), out(kStddev, "f2"),
		out(kCovariance, "f0", "f1", "f2", "f3"), out(kCorrelation, "f3", "f0"),
		regression(kLinear, "f0", "f1", "f2", "f3"),
	}
	coords, values := p.reconstruct(t, outputs)
	got, err := Release(s, coords, values, outputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outputs {
		p.checkOutput(t, o, got[i])
	}
}

func TestReleaseRefuses(t *testing.T) {
	p := newPlain(t, schema.Default(), 30, 5)
	outputs := []*cohortv1.Output{out(kMean, "steps"), out(kVariance, "age"), out(kHistogram, "region")}
	// coords: 0, 1 age, 2 steps, 6..9 region, 10 age².
	tests := []struct {
		name    string
		s       *schema.Schema
		change  func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output)
		want    error
		message string
	}{
		{"more values", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			return c, append(v, big.NewInt(1)), o
		}, ErrCoordinates, "8 coordinates, 9 values"},
		{"fewer values", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			return c, v[:3], o
		}, ErrCoordinates, "8 coordinates, 3 values"},
		{"coordinate out of range", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			c[3] = 25
			return c, v, o
		}, ErrCoordinates, "coordinate 25 out of range"},
		{"negative coordinate", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			c[3] = -1
			return c, v, o
		}, ErrCoordinates, "out of range"},
		{"repeated coordinate", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			c[2] = 1
			return c, v, o
		}, ErrCoordinates, "coordinate 1 (age) given twice"},
		{"nil value", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			v[4] = nil
			return c, v, o
		}, ErrCoordinates, "has no value"},
		{"missing coordinate", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			return c[:len(c)-1], v[:len(v)-1], o
		}, ErrMissingCoordinate, "10 (age*age)"},
		{"missing count", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			return c[1:], v[1:], o
		}, ErrMissingCoordinate, "0 (1)"},
		{"missing for a later output", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			return c, v, append(o, out(kMean, "sleep_h"))
		}, ErrMissingCoordinate, "4 (sleep_h)"},
		{"negative value", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			v[2].Neg(v[2])
			return c, v, o
		}, schema.ErrInvalidSums, "coordinate 2 (steps) is negative"},
		{"negative count", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			v[0].SetInt64(-30)
			return c, v, o
		}, schema.ErrInvalidSums, "negative"},
		{"value beyond its bound", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			v[2].SetInt64(30*60000 + 1)
			return c, v, o
		}, schema.ErrInvalidSums, "exceeds"},
		{"category counts", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			v[3].Add(v[3], big.NewInt(1))
			return c, v, o
		}, schema.ErrInvalidSums, "region"},
		{"invalid output", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			return c, v, append(o, out(kMean))
		}, ErrFieldCount, "outputs[3].fields"},
		{"nil output", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			return c, v, append(o, nil)
		}, ErrOutputKind, "outputs[3].kind"},
		{"statistic refused", nil, func(c []int, v []*big.Int, o []*cohortv1.Output) ([]int, []*big.Int, []*cohortv1.Output) {
			// One record: the mean exists, the variance does not.
			one := newPlain(t, schema.Default(), 1, 6)
			for i := range v {
				v[i] = new(big.Int).Set(one.total[c[i]])
			}
			return c, v, o
		}, stats.ErrTooFew, "outputs[1]: "},
		{"nil schema", nil, nil, nil, "nil schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, v := p.reconstruct(t, outputs)
			o := slices.Clone(outputs)
			s := p.s
			if tc.change != nil {
				c, v, o = tc.change(c, v, o)
			} else {
				s = nil
			}
			got, err := Release(s, c, v, o)
			if got != nil || err == nil {
				t.Fatalf("Release = %v, %v; want an error", got, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v does not wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not contain %q", err, tc.message)
			}
		})
	}
}

// FuzzRelease gives Release arbitrary reconstructed values for a fixed set
// of outputs: it must never panic, and return either an error or one
// output per request.
func FuzzRelease(f *testing.F) {
	s := schema.Default()
	outputs := []*cohortv1.Output{
		out(kCount), out(kMean, "sleep_h"), out(kHistogram, "smoker"), out(kHistogram, "region"),
		out(kCorrelation, "age", "steps"), regression(kLogistic, "smoker", "age"),
	}
	coords, err := Coordinates(s.Layout(), outputs)
	if err != nil {
		f.Fatal(err)
	}
	seed := newPlain(f, s, 40, 7).fuzzSeed(coords)
	f.Add(seed, uint8(0))
	f.Add([]byte{1, 1}, uint8(1))
	f.Add([]byte{}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		values := make([]*big.Int, 0, len(coords))
		for range coords {
			if len(data) == 0 {
				break
			}
			k := min(int(data[0]%17), len(data)-1)
			x := new(big.Int).SetBytes(data[1 : 1+k])
			if flags&1 != 0 && len(values) == 1 {
				x.Neg(x)
			}
			values = append(values, x)
			data = data[1+k:]
		}
		c := coords
		if flags&2 != 0 && len(c) > 1 {
			c = c[1:]
			values = values[min(1, len(values)):]
		}
		got, err := Release(s, c, values, outputs)
		if err != nil {
			if got != nil {
				t.Fatal("outputs beside an error")
			}
			return
		}
		if len(got) != len(outputs) {
			t.Fatalf("%d outputs", len(got))
		}
		for _, o := range got {
			if o.GetValue() == nil {
				t.Fatal("an output without a value")
			}
		}
	})
}

// fuzzSeed encodes the cohort's sums at coords as the fuzz targets read
// them: each value's length in a byte, then its big-endian bytes.
func (p *plain) fuzzSeed(coords []int) []byte {
	var seed []byte
	for _, c := range coords {
		b := p.total[c].Bytes()
		seed = append(seed, byte(len(b)))
		seed = append(seed, b...)
	}
	return seed
}

func BenchmarkRelease(b *testing.B) {
	p := newPlain(b, schema.Default(), 200, 8)
	outputs := releaseCases()
	coords, values := p.reconstruct(b, outputs)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Release(p.s, coords, values, outputs); err != nil {
			b.Fatal(err)
		}
	}
}

package stats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/cohort-dev/cohort/enclave/stats/reference"
	"github.com/cohort-dev/cohort/schema"
)

// cohort is a set of plaintext records together with the sums a job would
// reconstruct from them, so that every statistic can be checked against a
// direct computation over the records (package reference).
type cohort struct {
	schema *schema.Schema
	sums   *schema.Sums
	ref    *reference.Cohort    // the records, in plaintext
	num    map[string][]float64 // numeric field → value of each record, rounded to float64
	n      int
}

// newCohort encodes recs, sums the vectors coordinate-wise as big integers
// and decodes the sums, as the enclave does after reconstruction.
func newCohort(t testing.TB, s *schema.Schema, recs []schema.Record) *cohort {
	t.Helper()
	layout := s.Layout()
	S := make([]*big.Int, layout.Len)
	for i := range S {
		S[i] = new(big.Int)
	}
	c := &cohort{schema: s, num: map[string][]float64{}, n: len(recs)}
	for _, r := range recs {
		v, err := s.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			S[i].Add(S[i], new(big.Int).SetUint64(x))
		}
	}
	sums, err := layout.Decode(S)
	if err != nil {
		t.Fatal(err)
	}
	c.sums = sums
	if c.ref, err = reference.New(s, recs); err != nil {
		t.Fatal(err)
	}
	for _, f := range numericFields(s) {
		if c.num[f], err = c.ref.Floats(f); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// uniformCohort draws n records of s uniformly at random.
func uniformCohort(t testing.TB, s *schema.Schema, n int, seed uint64) *cohort {
	rng := rand.New(rand.NewPCG(seed, 1))
	recs := make([]schema.Record, n)
	for i := range recs {
		recs[i] = s.RandomRecord(rng)
	}
	return newCohort(t, s, recs)
}

// fitnessCohort draws n plausible records of the default fitness schema:
// older people walk a little less, walkers have lower resting heart rates,
// smokers (20%) higher ones.
func fitnessCohort(t testing.TB, n int, seed uint64) *cohort {
	r := rand.New(rand.NewPCG(seed, 2))
	clamp := func(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
	regions := []string{"north", "south", "east", "west"}
	recs := make([]schema.Record, n)
	for i := range recs {
		age := clamp(math.Round(45+15*r.NormFloat64()), 18, 100)
		steps := clamp(math.Round(9000-60*(age-45)+3000*r.NormFloat64()), 0, 60000)
		smoker := r.Float64() < 0.2
		hr := 72 - (steps-8000)/1000 + 2*r.NormFloat64()
		if smoker {
			hr += 6
		}
		hr = clamp(math.Round(hr), 30, 220)
		sleep := clamp(math.Round((7+0.8*r.NormFloat64())*100), 0, 1600)
		recs[i] = schema.Record{
			"age":        schema.IntValue(int64(age)),
			"steps":      schema.IntValue(int64(steps)),
			"resting_hr": schema.IntValue(int64(hr)),
			"sleep_h":    schema.ScaledValue(int64(sleep), 2),
			"smoker":     schema.BoolValue(smoker),
			"region":     schema.CategoryValue(regions[r.IntN(len(regions))]),
		}
	}
	return newCohort(t, schema.Default(), recs)
}

// numericFields returns the names of s's int, fixed and bool fields.
func numericFields(s *schema.Schema) []string {
	var out []string
	for _, f := range s.Fields {
		if f.Type.Numeric() {
			out = append(out, f.Name)
		}
	}
	return out
}

// mean and cov are the plaintext mean and sample covariance, rounded to
// float64; NaN where the reference has none.
func (c *cohort) mean(f string) float64 {
	m, err := c.ref.Mean(f)
	if err != nil {
		return math.NaN()
	}
	return float(m)
}

func (c *cohort) cov(a, b string) float64 {
	v, err := c.ref.Covariance(a, b)
	if err != nil {
		return math.NaN()
	}
	return float(v)
}

// fit is the plaintext fit of target on features (package reference):
// least squares with ridge, or the quadratic approximation of logistic
// regression. It returns (β₀, β₁, …) and R².
func (c *cohort) fit(t testing.TB, target string, features []string, ridge float64, logistic bool) ([]float64, float64) {
	t.Helper()
	fit := c.ref.LinearRegression
	if logistic {
		fit = c.ref.LogisticApproximation
	}
	f, err := fit(target, features, ridge)
	if err != nil {
		t.Fatalf("reference fit: %v", err)
	}
	return append([]float64{f.Intercept}, f.Coefficients...), f.R2
}

// near reports whether got is within rel of want, relatively.
func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want) || got == want
}

const tol = 1e-9

package stats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

// cohort is a set of plaintext records together with the sums a job would
// reconstruct from them, so that every statistic can be checked against a
// direct computation over the records.
type cohort struct {
	schema *schema.Schema
	sums   *schema.Sums
	exact  map[string][]*big.Rat // numeric field → value of each record
	num    map[string][]float64  // the same, rounded to float64
	cat    map[string][]string   // category field → value of each record
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
	c := &cohort{schema: s, exact: map[string][]*big.Rat{}, num: map[string][]float64{}, cat: map[string][]string{}, n: len(recs)}
	for _, r := range recs {
		v, err := s.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			S[i].Add(S[i], new(big.Int).SetUint64(x))
		}
		for _, f := range s.Fields {
			text := r[f.Name].String()
			switch f.Type {
			case schema.Category:
				c.cat[f.Name] = append(c.cat[f.Name], text)
				continue
			case schema.Bool:
				text = map[string]string{"true": "1", "false": "0"}[text]
			}
			x, ok := new(big.Rat).SetString(text)
			if !ok {
				t.Fatalf("value %q of %s", text, f.Name)
			}
			c.exact[f.Name] = append(c.exact[f.Name], x)
			c.num[f.Name] = append(c.num[f.Name], float(x))
		}
	}
	sums, err := layout.Decode(S)
	if err != nil {
		t.Fatal(err)
	}
	c.sums = sums
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

// mean and cov are the plaintext two-pass float64 computations.
func (c *cohort) mean(f string) float64 {
	m := 0.0
	for _, x := range c.num[f] {
		m += x
	}
	return m / float64(c.n)
}

func (c *cohort) cov(a, b string) float64 {
	ma, mb := c.mean(a), c.mean(b)
	s := 0.0
	for i := range c.n {
		s += (c.num[a][i] - ma) * (c.num[b][i] - mb)
	}
	return s / float64(c.n-1)
}

// exactFit solves the uncentered normal equations over the records, exactly:
//
//	(XᵀX·scale + ridge·I′)·β = Xᵀ(y − shift),
//
// with X the design matrix with a leading column of ones and I′ the
// identity without its intercept entry. scale = 1, shift = 0 is ridge
// regression; scale = 1/4, shift = 1/2 is the quadratic approximation of
// logistic regression. It returns (β₀, β₁, …).
func (c *cohort) exactFit(t testing.TB, target string, features []string, ridge float64, scale, shift *big.Rat) []float64 {
	t.Helper()
	k := len(features) + 1
	A := make([][]*big.Rat, k)
	for i := range A {
		A[i] = make([]*big.Rat, k+1) // augmented with the right-hand side
		for j := range A[i] {
			A[i][j] = new(big.Rat)
		}
	}
	row := make([]*big.Rat, k)
	tmp := new(big.Rat)
	for r := range c.n {
		row[0] = big.NewRat(1, 1)
		for j, f := range features {
			row[j+1] = c.exact[f][r]
		}
		y := new(big.Rat).Sub(c.exact[target][r], shift)
		for i := range k {
			for j := range k {
				A[i][j].Add(A[i][j], tmp.Mul(row[i], row[j]))
			}
			A[i][k].Add(A[i][k], tmp.Mul(row[i], y))
		}
	}
	lambda := new(big.Rat).SetFloat64(ridge)
	for i := range k {
		for j := range k {
			A[i][j].Mul(A[i][j], scale)
		}
		if i > 0 {
			A[i][i].Add(A[i][i], lambda)
		}
	}
	// Gauss–Jordan elimination in rationals.
	for col := range k {
		p := col
		for p < k && A[p][col].Sign() == 0 {
			p++
		}
		if p == k {
			t.Fatalf("reference system is singular")
		}
		A[col], A[p] = A[p], A[col]
		for r := range k {
			if r == col || A[r][col].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Quo(A[r][col], A[col][col])
			for j := col; j <= k; j++ {
				A[r][j].Sub(A[r][j], tmp.Mul(f, A[col][j]))
			}
		}
	}
	beta := make([]float64, k)
	for i := range k {
		beta[i] = float(new(big.Rat).Quo(A[i][k], A[i][i]))
	}
	return beta
}

// r2 returns 1 − Σ(y − ŷ)²/Σ(y − ȳ)² of predictions over the records.
func (c *cohort) r2(target string, predict func(r int) float64) float64 {
	m := c.mean(target)
	sse, sst := 0.0, 0.0
	for r := range c.n {
		y := c.num[target][r]
		sse += (y - predict(r)) * (y - predict(r))
		sst += (y - m) * (y - m)
	}
	return 1 - sse/sst
}

// near reports whether got is within rel of want, relatively.
func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want) || got == want
}

const tol = 1e-9

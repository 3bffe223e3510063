package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

// logisticYAML is a schema for a logistic model of y on two features.
const logisticYAML = `
id: logistic
fields:
  - {name: x1, type: fixed, min: -2, max: 2, decimals: 2}
  - {name: x2, type: fixed, min: -2, max: 2, decimals: 2}
  - {name: y,  type: bool}
moments: [x1, x2, y]
purposes: [academic-research]
epoch: weekly
min_cohort: 1
`

// logisticCohort draws n records with x1, x2 uniform on [−2, 2] (in
// hundredths) and y ~ Bernoulli(σ(b[0] + b[1]·x1 + b[2]·x2)).
func logisticCohort(t testing.TB, n int, seed uint64, b [3]float64) *cohort {
	t.Helper()
	s, err := schema.Parse([]byte(logisticYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 3))
	recs := make([]schema.Record, n)
	for i := range recs {
		x1 := int64(r.IntN(401)) - 200
		x2 := int64(r.IntN(401)) - 200
		z := b[0] + b[1]*float64(x1)/100 + b[2]*float64(x2)/100
		recs[i] = schema.Record{
			"x1": schema.ScaledValue(x1, 2),
			"x2": schema.ScaledValue(x2, 2),
			"y":  schema.BoolValue(r.Float64() < sigmoid(z)),
		}
	}
	return newCohort(t, s, recs)
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// newtonLogistic fits an exact (maximum-likelihood) logistic regression on
// the records by Newton's method, in float64 on centered, scaled features.
// It returns (β₀, β₁, …) in original units.
func (c *cohort) newtonLogistic(t testing.TB, target string, features []string) []float64 {
	t.Helper()
	k := len(features) + 1
	mean := make([]float64, k)
	scale := make([]float64, k)
	mean[0], scale[0] = 0, 1
	for j, f := range features {
		mean[j+1] = c.mean(f)
		scale[j+1] = math.Sqrt(c.cov(f, f))
	}
	x := func(r, j int) float64 {
		if j == 0 {
			return 1
		}
		return (c.num[features[j-1]][r] - mean[j]) / scale[j]
	}
	b := make([]float64, k)
	for iter := 0; ; iter++ {
		if iter == 50 {
			t.Fatal("Newton did not converge")
		}
		H := square(k)
		g := make([]float64, k)
		for r := range c.n {
			z := 0.0
			for j := range k {
				z += b[j] * x(r, j)
			}
			p := sigmoid(z)
			for i := range k {
				g[i] += (c.num[target][r] - p) * x(r, i)
				for j := range k {
					H[i][j] += p * (1 - p) * x(r, i) * x(r, j)
				}
			}
		}
		step := gauss(H, g)
		change := 0.0
		for j := range k {
			b[j] += step[j]
			change = math.Max(change, math.Abs(step[j]))
		}
		if change < 1e-13 {
			break
		}
	}
	out := make([]float64, k)
	out[0] = b[0]
	for j := 1; j < k; j++ {
		out[j] = b[j] / scale[j]
		out[0] -= out[j] * mean[j]
	}
	return out
}

// gauss solves A·x = b by Gaussian elimination with partial pivoting.
func gauss(A [][]float64, b []float64) []float64 {
	k := len(b)
	for col := range k {
		p := col
		for r := col + 1; r < k; r++ {
			if math.Abs(A[r][col]) > math.Abs(A[p][col]) {
				p = r
			}
		}
		A[col], A[p] = A[p], A[col]
		b[col], b[p] = b[p], b[col]
		for r := col + 1; r < k; r++ {
			f := A[r][col] / A[col][col]
			for j := col; j < k; j++ {
				A[r][j] -= f * A[col][j]
			}
			b[r] -= f * b[col]
		}
	}
	x := make([]float64, k)
	for i := k - 1; i >= 0; i-- {
		x[i] = b[i]
		for j := i + 1; j < k; j++ {
			x[i] -= A[i][j] * x[j]
		}
		x[i] /= A[i][i]
	}
	return x
}

// TestLogisticAccuracy measures the quadratic approximation against the
// exact logistic regression fitted by Newton's method on the same records,
// and holds it to the figures stated in the package doc.
func TestLogisticAccuracy(t *testing.T) {
	tests := []struct {
		name     string
		c        *cohort
		target   string
		features []string
		// bounds stated in the package doc
		maxProb, maxCoefRel float64
	}{
		{"weak", logisticCohort(t, 2000, 11, [3]float64{0.1, 0.3, -0.2}), "y", []string{"x1", "x2"}, 0.02, 0.08},
		{"moderate", logisticCohort(t, 2000, 11, [3]float64{0.2, 0.8, -0.5}), "y", []string{"x1", "x2"}, 0.06, 0.25},
		{"strong", logisticCohort(t, 2000, 11, [3]float64{0.5, 1.5, -1}), "y", []string{"x1", "x2"}, 0.16, 0.50},
		{"rare", logisticCohort(t, 2000, 11, [3]float64{-2, 0.5, -0.3}), "y", []string{"x1", "x2"}, 0.12, 0.65},
		{"fitness", fitnessCohort(t, 2000, 12), "smoker", []string{"resting_hr", "steps"}, 0.35, 0.80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			approx, err := LogisticRegression(tt.c.sums, tt.target, tt.features, 0)
			if err != nil {
				t.Fatal(err)
			}
			exact := tt.c.newtonLogistic(t, tt.target, tt.features)
			coefRel := 0.0
			for j, f := range tt.features {
				a, e := approx.Coefficients[j], exact[j+1]
				if math.Signbit(a) != math.Signbit(e) {
					t.Errorf("β[%s]: approximation %.4g, exact %.4g: signs differ", f, a, e)
				}
				if math.Abs(a) > math.Abs(e) {
					t.Errorf("β[%s]: approximation %.4g not shrunk toward 0 from exact %.4g", f, a, e)
				}
				coefRel = math.Max(coefRel, math.Abs(a-e)/math.Abs(e))
			}
			maxProb, meanProb := 0.0, 0.0
			for r := range tt.c.n {
				za, ze := approx.Intercept, exact[0]
				for j, f := range tt.features {
					za += approx.Coefficients[j] * tt.c.num[f][r]
					ze += exact[j+1] * tt.c.num[f][r]
				}
				d := math.Abs(sigmoid(za) - sigmoid(ze))
				maxProb = math.Max(maxProb, d)
				meanProb += d / float64(tt.c.n)
			}
			t.Logf("n=%d ȳ=%.3f: exact β=%s, approx β₀=%.4g β=%s; max coefficient rel. error %.3f; |Δp| max %.4f mean %.4f",
				tt.c.n, tt.c.mean(tt.target), fmt.Sprintf("%.4g", exact), approx.Intercept, fmt.Sprintf("%.4g", approx.Coefficients), coefRel, maxProb, meanProb)
			if coefRel > tt.maxCoefRel {
				t.Errorf("coefficients off by %.3f relative, documented at most %.2f", coefRel, tt.maxCoefRel)
			}
			if maxProb > tt.maxProb {
				t.Errorf("probabilities off by up to %.4f, documented at most %.2f", maxProb, tt.maxProb)
			}
		})
	}
}

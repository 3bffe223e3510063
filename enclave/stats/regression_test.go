package stats

import (
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

func TestLinearRegression(t *testing.T) {
	fitness := fitnessCohort(t, 500, 5)
	uniform := uniformCohort(t, schema.Default(), 300, 6)
	synthetic := uniformCohort(t, schema.Synthetic(6, true), 300, 7)
	tests := []struct {
		name     string
		c        *cohort
		target   string
		features []string
		ridge    float64
	}{
		{"fitness/ols", fitness, "resting_hr", []string{"age", "steps", "sleep_h", "smoker"}, 0},
		{"fitness/ridge", fitness, "resting_hr", []string{"age", "steps", "sleep_h", "smoker"}, 2500},
		{"fitness/one-feature", fitness, "steps", []string{"age"}, 0},
		{"fitness/intercept-only", fitness, "sleep_h", nil, 0},
		{"uniform/fixed-target", uniform, "sleep_h", []string{"age", "steps", "resting_hr", "smoker"}, 0},
		{"synthetic/ols", synthetic, "f0", []string{"f1", "f2", "f3", "f4", "f5"}, 0},
		{"synthetic/ridge", synthetic, "f5", []string{"f0", "f1", "f2", "f3", "f4"}, 1e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LinearRegression(tt.c.sums, tt.target, tt.features, tt.ridge)
			if err != nil {
				t.Fatal(err)
			}
			want, wantR2 := tt.c.fit(t, tt.target, tt.features, tt.ridge, false)
			checkFit(t, got, want, tt.features, tt.c.n)
			if len(tt.features) == 0 {
				wantR2 = 0
			}
			if !near(got.R2, wantR2, tol) && !(len(tt.features) == 0 && got.R2 == 0) {
				t.Errorf("R² = %.17g, plaintext %.17g", got.R2, wantR2)
			}
		})
	}
}

// checkFit compares a fit with the reference (β₀, β₁, …).
func checkFit(t *testing.T, got *Regression, want []float64, features []string, n int) {
	t.Helper()
	if got.N != uint64(n) || len(got.Coefficients) != len(features) {
		t.Fatalf("N = %d, %d coefficients; want %d, %d", got.N, len(got.Coefficients), n, len(features))
	}
	if !near(got.Intercept, want[0], tol) {
		t.Errorf("intercept = %.17g, plaintext %.17g", got.Intercept, want[0])
	}
	for j, f := range features {
		if !near(got.Coefficients[j], want[j+1], tol) {
			t.Errorf("β[%s] = %.17g, plaintext %.17g", f, got.Coefficients[j], want[j+1])
		}
	}
}

func TestLogisticRegressionQuadratic(t *testing.T) {
	fitness := fitnessCohort(t, 500, 8)
	balanced := logisticCohort(t, 400, 9, [3]float64{0.2, 0.8, -0.5})
	tests := []struct {
		name     string
		c        *cohort
		target   string
		features []string
		ridge    float64
	}{
		{"fitness", fitness, "smoker", []string{"resting_hr", "steps", "age"}, 0},
		{"fitness/ridge", fitness, "smoker", []string{"resting_hr", "steps", "age", "sleep_h"}, 10},
		{"balanced", balanced, "y", []string{"x1", "x2"}, 0},
		{"balanced/ridge", balanced, "y", []string{"x1", "x2"}, 3.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LogisticRegression(tt.c.sums, tt.target, tt.features, tt.ridge)
			if err != nil {
				t.Fatal(err)
			}
			want, wantR2 := tt.c.fit(t, tt.target, tt.features, tt.ridge, true)
			checkFit(t, got, want, tt.features, tt.c.n)
			// R² is that of the linearised probability 1/2 + z/4.
			if !near(got.R2, wantR2, tol) {
				t.Errorf("R² = %.17g, plaintext %.17g", got.R2, wantR2)
			}
		})
	}
}

// The functions read the sums and never modify them.
func TestSumsUnchanged(t *testing.T) {
	c := fitnessCohort(t, 100, 10)
	before := fitnessCohort(t, 100, 10).sums
	features := []string{"age", "steps", "resting_hr", "sleep_h"}
	for range 2 {
		if _, err := LogisticRegression(c.sums, "smoker", features, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := LinearRegression(c.sums, "resting_hr", []string{"age", "steps"}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := Correlation(c.sums, features); err != nil {
			t.Fatal(err)
		}
	}
	for f, x := range before.Sum {
		if c.sums.Sum[f].Cmp(x) != 0 {
			t.Errorf("Σ %s changed", f)
		}
	}
	for k, x := range before.Cross {
		if c.sums.Cross[k].Cmp(x) != 0 {
			t.Errorf("Σ %s·%s changed", k[0], k[1])
		}
	}
}

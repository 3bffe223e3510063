package stats

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

func testCohorts(t *testing.T) map[string]*cohort {
	return map[string]*cohort{
		"fitness":   fitnessCohort(t, 500, 1),
		"uniform":   uniformCohort(t, schema.Default(), 300, 2),
		"synthetic": uniformCohort(t, schema.Synthetic(6, true), 300, 3),
	}
}

func TestUnivariate(t *testing.T) {
	for name, c := range testCohorts(t) {
		t.Run(name, func(t *testing.T) {
			if got := Count(c.sums); got != uint64(c.n) {
				t.Fatalf("Count = %d, want %d", got, c.n)
			}
			for _, f := range numericFields(c.schema) {
				want := map[string]float64{
					"Sum":      c.mean(f) * float64(c.n),
					"Mean":     c.mean(f),
					"Variance": c.cov(f, f),
					"Stddev":   math.Sqrt(c.cov(f, f)),
				}
				funcs := map[string]func(*schema.Sums, string) (float64, error){
					"Sum": Sum, "Mean": Mean, "Variance": Variance, "Stddev": Stddev,
				}
				for fn, compute := range funcs {
					got, err := compute(c.sums, f)
					if err != nil {
						t.Fatalf("%s(%s): %v", fn, f, err)
					}
					if !near(got, want[fn], tol) {
						t.Errorf("%s(%s) = %.17g, plaintext %.17g", fn, f, got, want[fn])
					}
				}
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	c := fitnessCohort(t, 500, 4)
	got, err := Histogram(c.sums, "region")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"north": 0, "south": 0, "east": 0, "west": 0}
	labels, err := c.ref.Labels("region")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range labels {
		want[v]++
	}
	if len(got) != len(want) {
		t.Fatalf("got %d buckets, want %d", len(got), len(want))
	}
	if !slices.IsSortedFunc(got, func(a, b Bucket) int { return strings.Compare(a.Value, b.Value) }) {
		t.Errorf("buckets not sorted by value: %v", got)
	}
	total := uint64(0)
	for _, b := range got {
		if b.Count != want[b.Value] {
			t.Errorf("count of %q = %d, plaintext %d", b.Value, b.Count, want[b.Value])
		}
		total += b.Count
	}
	if total != Count(c.sums) {
		t.Errorf("counts add up to %d, not n = %d", total, Count(c.sums))
	}
}

func TestCovarianceCorrelation(t *testing.T) {
	for name, c := range testCohorts(t) {
		t.Run(name, func(t *testing.T) {
			fields := c.schema.Moments
			cov, err := Covariance(c.sums, fields)
			if err != nil {
				t.Fatal(err)
			}
			cor, err := Correlation(c.sums, fields)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range fields {
				for j, b := range fields {
					want := c.cov(a, b)
					if !near(cov[i][j], want, tol) {
						t.Errorf("cov(%s, %s) = %.17g, plaintext %.17g", a, b, cov[i][j], want)
					}
					if want, err = c.ref.Correlation(a, b); err != nil || !near(cor[i][j], want, tol) {
						t.Errorf("cor(%s, %s) = %.17g, plaintext %.17g", a, b, cor[i][j], want)
					}
					if cov[i][j] != cov[j][i] || cor[i][j] != cor[j][i] || math.Abs(cor[i][j]) > 1 {
						t.Errorf("(%s, %s): not symmetric or |r| > 1", a, b)
					}
				}
				if cor[i][i] != 1 {
					t.Errorf("cor(%s, %s) = %v, want exactly 1", a, a, cor[i][i])
				}
			}
		})
	}
}

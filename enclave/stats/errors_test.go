package stats

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

func TestErrors(t *testing.T) {
	fit := fitnessCohort(t, 200, 20).sums
	one := fitnessCohort(t, 1, 21).sums
	three := fitnessCohort(t, 3, 22).sums
	noMoments := uniformCohort(t, schema.Synthetic(3, false), 50, 23).sums
	empty, err := schema.Default().Layout().Decode(zeros(schema.Default().Layout().Len))
	if err != nil {
		t.Fatal(err)
	}
	// Every record aged 30: age is constant, the rest varies.
	s := schema.Default()
	rng := rand.New(rand.NewPCG(24, 0))
	recs := make([]schema.Record, 50)
	for i := range recs {
		recs[i] = s.RandomRecord(rng)
		recs[i]["age"] = schema.IntValue(30)
	}
	constAge := newCohort(t, s, recs).sums

	all := []string{"age", "steps", "resting_hr", "sleep_h"}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"mean/unknown", func() error { _, err := Mean(fit, "weight"); return err }, ErrUnknownField},
		{"mean/nil sums", func() error { _, err := Mean(nil, "age"); return err }, ErrUnknownField},
		{"sum/category", func() error { _, err := Sum(fit, "region"); return err }, ErrNotNumeric},
		{"mean/empty", func() error { _, err := Mean(empty, "age"); return err }, ErrTooFew},
		{"sum/empty", func() error { _, err := Sum(empty, "age"); return err }, nil},
		{"variance/n=1", func() error { _, err := Variance(one, "age"); return err }, ErrTooFew},
		{"stddev/empty", func() error { _, err := Stddev(empty, "age"); return err }, ErrTooFew},
		{"variance/not a moment", func() error { _, err := Variance(noMoments, "f0"); return err }, ErrMissingMoment},
		{"histogram/numeric", func() error { _, err := Histogram(fit, "age"); return err }, ErrNotCategory},
		{"histogram/unknown", func() error { _, err := Histogram(fit, "weight"); return err }, ErrUnknownField},
		{"histogram/nil sums", func() error { _, err := Histogram(nil, "region"); return err }, ErrUnknownField},
		{"covariance/category", func() error { _, err := Covariance(fit, []string{"age", "region"}); return err }, ErrNotNumeric},
		{"covariance/not a moment", func() error { _, err := Covariance(noMoments, []string{"f0", "f1"}); return err }, ErrMissingMoment},
		{"covariance/n=1", func() error { _, err := Covariance(one, all); return err }, ErrTooFew},
		{"correlation/constant", func() error { _, err := Correlation(constAge, all); return err }, ErrZeroVariance},
		{"covariance/constant", func() error { _, err := Covariance(constAge, all); return err }, nil},
		{"linear/unknown feature", func() error { _, err := LinearRegression(fit, "age", []string{"weight"}, 0); return err }, ErrUnknownField},
		{"linear/category target", func() error { _, err := LinearRegression(fit, "region", all, 0); return err }, ErrNotNumeric},
		{"linear/not a moment", func() error { _, err := LinearRegression(noMoments, "f0", []string{"f1"}, 0); return err }, ErrMissingMoment},
		{"linear/n ≤ p", func() error { _, err := LinearRegression(three, "resting_hr", all[:3], 0); return err }, ErrTooFew},
		{"linear/n ≤ p, ridge", func() error {
			_, err := LinearRegression(three, "steps", []string{"age", "resting_hr", "sleep_h", "smoker"}, 1)
			return err
		}, nil},
		{"linear/n=1, ridge", func() error { _, err := LinearRegression(one, "age", nil, 1); return err }, ErrTooFew},
		{"linear/constant target", func() error { _, err := LinearRegression(constAge, "age", []string{"steps"}, 0); return err }, ErrZeroVariance},
		{"linear/constant feature", func() error { _, err := LinearRegression(constAge, "steps", []string{"age"}, 0); return err }, ErrSingular},
		{"linear/constant feature, ridge", func() error { _, err := LinearRegression(constAge, "steps", []string{"age"}, 1); return err }, nil},
		{"linear/collinear", func() error { _, err := LinearRegression(fit, "steps", []string{"age", "age"}, 0); return err }, ErrSingular},
		{"linear/collinear, ridge", func() error { _, err := LinearRegression(fit, "steps", []string{"age", "age"}, 10); return err }, nil},
		{"linear/ridge < 0", func() error { _, err := LinearRegression(fit, "steps", all, -1); return err }, ErrInvalidRidge},
		{"linear/ridge NaN", func() error { _, err := LinearRegression(fit, "steps", all, math.NaN()); return err }, ErrInvalidRidge},
		{"linear/ridge Inf", func() error { _, err := LinearRegression(fit, "steps", all, math.Inf(1)); return err }, ErrInvalidRidge},
		{"logistic/not binary", func() error { _, err := LogisticRegression(fit, "age", []string{"steps"}, 0); return err }, ErrNotBinary},
		{"logistic/category target", func() error { _, err := LogisticRegression(fit, "region", all, 0); return err }, ErrNotNumeric},
		{"logistic/ridge < 0", func() error { _, err := LogisticRegression(fit, "smoker", all, -1); return err }, ErrInvalidRidge},
		{"logistic/ridge huge", func() error { _, err := LogisticRegression(fit, "smoker", all, math.MaxFloat64); return err }, ErrInvalidRidge},
		{"logistic/collinear", func() error { _, err := LogisticRegression(fit, "smoker", []string{"age", "age"}, 0); return err }, ErrSingular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// Sums that no cohort produces are refused, not turned into NaN or a panic.
func TestInconsistentSums(t *testing.T) {
	s := &schema.Sums{
		Count:  big.NewInt(10),
		Sum:    map[string]*big.Rat{"a": big.NewRat(10, 1), "b": big.NewRat(10, 1)},
		Cross:  map[[2]string]*big.Rat{{"a", "a"}: big.NewRat(5, 1), {"a", "b"}: big.NewRat(30, 1), {"b", "b"}: big.NewRat(20, 1)},
		Counts: map[string]map[string]*big.Int{"c": {"x": big.NewInt(-1)}},
	}
	if _, err := Variance(s, "a"); !errors.Is(err, schema.ErrInvalidSums) {
		t.Errorf("Σ a² < (Σ a)²/n: got %v", err)
	}
	s.Cross[[2]string{"a", "a"}] = big.NewRat(11, 1) // C_aa = 1, C_bb = 10, C_ab = 20
	if _, err := Correlation(s, []string{"a", "b"}); !errors.Is(err, schema.ErrInvalidSums) {
		t.Errorf("|r| > 1: got %v", err)
	}
	if _, err := Histogram(s, "c"); !errors.Is(err, schema.ErrInvalidSums) {
		t.Errorf("negative count: got %v", err)
	}
	if got := Count(&schema.Sums{}); got != 0 {
		t.Errorf("Count of empty sums = %d", got)
	}
}

func zeros(k int) []*big.Int {
	out := make([]*big.Int, k)
	for i := range out {
		out[i] = new(big.Int)
	}
	return out
}

func BenchmarkLinearRegression(b *testing.B) {
	c := uniformCohort(b, schema.Synthetic(32, true), 1000, 30)
	features := c.schema.Moments[1:]
	b.ResetTimer()
	for b.Loop() {
		if _, err := LinearRegression(c.sums, "f0", features, 0); err != nil {
			b.Fatal(err)
		}
	}
}

package reference

import (
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

// line is a cohort where resting_hr = 100 − age/2 + 3·smoker exactly,
// steps is collinear with age and sleep_h constant.
func line(t *testing.T, n int) *Cohort {
	t.Helper()
	regions := []string{"north", "south", "east", "west"}
	var recs []schema.Record
	for i := range n {
		age := int64(20 + 4*i)
		smoker := i%3 == 0
		hr := 100 - age/2
		if smoker {
			hr += 3
		}
		recs = append(recs, schema.Record{
			"age": schema.IntValue(age), "steps": schema.IntValue(1000 * int64(i)), "resting_hr": schema.IntValue(hr),
			"sleep_h": schema.ScaledValue(700, 2), "smoker": schema.BoolValue(smoker), "region": schema.CategoryValue(regions[i%4]),
		})
	}
	c, err := New(schema.Default(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestStatistics(t *testing.T) {
	c := line(t, 12)
	if c.Len() != 12 {
		t.Fatalf("Len %d", c.Len())
	}
	if s, err := c.Sum("age"); err != nil || s.Cmp(big.NewRat(504, 1)) != 0 {
		t.Errorf("sum age %v, %v", s, err)
	}
	if m, err := c.Mean("age"); err != nil || m.Cmp(big.NewRat(42, 1)) != 0 {
		t.Errorf("mean age %v, %v", m, err)
	}
	// ages 20, 24, …, 64: Σ(x − 42)² = 16·Σ(i − 5.5)² = 16·143.
	if v, err := c.Variance("age"); err != nil || v.Cmp(big.NewRat(16*143, 11)) != 0 {
		t.Errorf("variance age %v, %v", v, err)
	}
	if m, err := c.Mean("sleep_h"); err != nil || m.Cmp(big.NewRat(7, 1)) != 0 {
		t.Errorf("mean of a fixed field %v, %v", m, err)
	}
	if m, err := c.Mean("smoker"); err != nil || m.Cmp(big.NewRat(1, 3)) != 0 {
		t.Errorf("mean of a bool %v, %v", m, err)
	}
	if v, err := c.Covariance("sleep_h", "age"); err != nil || v.Sign() != 0 {
		t.Errorf("covariance with a constant %v, %v", v, err)
	}
	if r, err := c.Correlation("age", "steps"); err != nil || !near(r, 1) {
		t.Errorf("correlation of collinear fields %v, %v", r, err)
	}
	if r, err := c.Correlation("age", "resting_hr"); err != nil || r > -0.9 {
		t.Errorf("correlation age, resting_hr %v, %v", r, err)
	}
	if r, err := c.Correlation("age", "sleep_h"); err != nil || !math.IsNaN(r) {
		t.Errorf("correlation with a constant %v, %v; want NaN", r, err)
	}
	if h, err := c.Histogram("region"); err != nil || h["north"] != 3 || h["east"] != 3 || len(h) != 4 {
		t.Errorf("histogram %v, %v", h, err)
	}
	if h, err := c.Histogram("smoker"); err != nil || h["true"] != 4 || h["false"] != 8 {
		t.Errorf("smoker histogram %v, %v", h, err)
	}
	xs, err := c.Floats("steps")
	if err != nil || len(xs) != 12 || xs[11] != 11000 {
		t.Errorf("Floats %v, %v", xs, err)
	}
	if l, err := c.Labels("smoker"); err != nil || !slices.Equal(l[:3], []string{"true", "false", "false"}) {
		t.Errorf("Labels %v, %v", l, err)
	}
}

// Results are fresh values: modifying them changes nothing in the cohort.
func TestResultsAreFresh(t *testing.T) {
	c := line(t, 5)
	vs, _ := c.Values("age")
	vs[0].SetInt64(-1)
	s, _ := c.Sum("age")
	s.SetInt64(-1)
	if m, _ := c.Mean("age"); m.Cmp(big.NewRat(28, 1)) != 0 {
		t.Errorf("mean after modifying results: %v", m)
	}
}

func TestRegression(t *testing.T) {
	c := line(t, 12)
	fit, err := c.LinearRegression("resting_hr", []string{"age", "smoker"}, 0)
	if err != nil || !near(fit.Intercept, 100) || !near(fit.Coefficients[0], -0.5) || !near(fit.Coefficients[1], 3) || !near(fit.R2, 1) {
		t.Errorf("regression %+v, %v", fit, err)
	}
	if _, err := c.LinearRegression("resting_hr", []string{"age", "steps"}, 0); !errors.Is(err, ErrSingular) {
		t.Errorf("collinear features: %v", err)
	}
	if _, err := c.LinearRegression("resting_hr", []string{"age", "steps"}, 0.5); err != nil {
		t.Errorf("ridge makes collinear features solvable: %v", err)
	}
	if _, err := c.LinearRegression("sleep_h", []string{"age"}, 0); !errors.Is(err, ErrConstant) {
		t.Errorf("constant target: %v", err)
	}
	if _, err := c.LinearRegression("resting_hr", []string{"age"}, math.Inf(1)); err == nil {
		t.Error("infinite ridge accepted")
	}
	// The quadratic logistic approximation of smoker on a feature that
	// separates nothing: β₁ = 0, β₀ solves n/4·β₀ = Σ(y − 1/2) = 4 − 6.
	one := line(t, 12)
	fit, err = one.LogisticApproximation("smoker", []string{"sleep_h"}, 1)
	if err != nil || !near(fit.Intercept, -2.0/3) || !near(fit.Coefficients[0], 0) {
		t.Errorf("logistic approximation %+v, %v", fit, err)
	}
	// ŷ = 1/2 + β₀/4 = 1/3 = ȳ: no better than the mean.
	if !near(fit.R2, 0) {
		t.Errorf("logistic approximation R² %v, want 0", fit.R2)
	}
}

func TestErrors(t *testing.T) {
	c := line(t, 3)
	one := line(t, 1)
	empty := line(t, 0)
	for name, err := range map[string]error{
		"sum of a category":  second(c.Sum("region")),
		"unknown field":      second(c.Mean("weight")),
		"values of unknown":  second(c.Values("weight")),
		"labels of an int":   second(c.Labels("age")),
		"histogram of int":   second(c.Histogram("age")),
		"regression target":  second(c.LinearRegression("region", []string{"age"}, 0)),
		"regression feature": second(c.LinearRegression("age", []string{"region"}, 0)),
	} {
		if !errors.Is(err, ErrUnknownField) {
			t.Errorf("%s: %v, want ErrUnknownField", name, err)
		}
	}
	for name, err := range map[string]error{
		"mean of none":        second(empty.Mean("age")),
		"variance of one":     second(one.Variance("age")),
		"covariance of none":  second(empty.Covariance("age", "steps")),
		"correlation of none": func() error { _, err := empty.Correlation("age", "steps"); return err }(),
	} {
		if !errors.Is(err, ErrTooFew) {
			t.Errorf("%s: %v, want ErrTooFew", name, err)
		}
	}
	if s, err := empty.Sum("age"); err != nil || s.Sign() != 0 {
		t.Errorf("sum of none: %v, %v", s, err)
	}
	if _, err := New(schema.Default(), []schema.Record{{"age": schema.IntValue(1)}}); err == nil {
		t.Error("a record without every field accepted")
	}
	bad := schema.Record{"age": schema.CategoryValue("old"), "steps": schema.IntValue(1), "resting_hr": schema.IntValue(1),
		"sleep_h": schema.IntValue(1), "smoker": schema.BoolValue(true), "region": schema.CategoryValue("east")}
	if _, err := New(schema.Default(), []schema.Record{bad}); err == nil {
		t.Error("a non-number accepted for an int field")
	}
	bad["age"], bad["smoker"] = schema.IntValue(1), schema.IntValue(1)
	if _, err := New(schema.Default(), []schema.Record{bad}); err == nil {
		t.Error("a non-bool accepted for a bool field")
	}
}

func second[T any](_ T, err error) error { return err }

package stats

import (
	"errors"
	"math/big"
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

// must returns a reference value, failing the test on an error.
func must(t *testing.T) func(*big.Rat, error) *big.Rat {
	return func(x *big.Rat, err error) *big.Rat {
		t.Helper()
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		return x
	}
}

func TestExactMatchesRecords(t *testing.T) {
	for name, c := range testCohorts(t) {
		t.Run(name, func(t *testing.T) {
			for _, f := range numericFields(c.schema) {
				wantSum, wantMean := must(t)(c.ref.Sum(f)), must(t)(c.ref.Mean(f))
				got, err := SumExact(c.sums, f)
				if err != nil || got.Cmp(wantSum) != 0 {
					t.Errorf("SumExact(%s) = %v, %v; want %v", f, got, err, wantSum)
				}
				got, err = MeanExact(c.sums, f)
				if err != nil || got.Cmp(wantMean) != 0 {
					t.Errorf("MeanExact(%s) = %v, %v; want %v", f, got, err, wantMean)
				}
				if m, _ := Mean(c.sums, f); got != nil && m != float(got) {
					t.Errorf("Mean(%s) = %v is not MeanExact rounded (%v)", f, m, float(got))
				}
			}
			for _, a := range c.schema.Moments {
				wantVar := must(t)(c.ref.Variance(a))
				got, err := VarianceExact(c.sums, a)
				if err != nil || got.Cmp(wantVar) != 0 {
					t.Errorf("VarianceExact(%s) = %v, %v; want %v", a, got, err, wantVar)
				}
				if v, _ := Variance(c.sums, a); got != nil && v != float(got) {
					t.Errorf("Variance(%s) = %v is not VarianceExact rounded", a, v)
				}
				for _, b := range c.schema.Moments {
					wantCov := must(t)(c.ref.Covariance(a, b))
					got, err := CovarianceExact(c.sums, a, b)
					if err != nil || got.Cmp(wantCov) != 0 {
						t.Errorf("CovarianceExact(%s, %s) = %v, %v; want %v", a, b, got, err, wantCov)
					}
				}
			}
		})
	}
}

// The results are fresh values: modifying them leaves the sums alone.
func TestExactResultsAreFresh(t *testing.T) {
	c := fitnessCohort(t, 50, 30)
	before := new(big.Rat).Set(c.sums.Sum["age"])
	beforeSq, _ := c.sums.CrossOf("age", "steps")
	beforeSq = new(big.Rat).Set(beforeSq)
	for _, get := range []func() (*big.Rat, error){
		func() (*big.Rat, error) { return SumExact(c.sums, "age") },
		func() (*big.Rat, error) { return MeanExact(c.sums, "age") },
		func() (*big.Rat, error) { return VarianceExact(c.sums, "age") },
		func() (*big.Rat, error) { return CovarianceExact(c.sums, "age", "steps") },
	} {
		x, err := get()
		if err != nil {
			t.Fatal(err)
		}
		x.SetInt64(-12345)
	}
	after, _ := c.sums.CrossOf("age", "steps")
	if c.sums.Sum["age"].Cmp(before) != 0 || after.Cmp(beforeSq) != 0 {
		t.Error("an exact result aliases the sums")
	}
}

func TestExactErrors(t *testing.T) {
	fit := fitnessCohort(t, 100, 31).sums
	one := fitnessCohort(t, 1, 32).sums
	noMoments := uniformCohort(t, schema.Synthetic(3, false), 20, 33).sums
	empty, err := schema.Default().Layout().Decode(zeros(schema.Default().Layout().Len))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() (*big.Rat, error)
		want error
	}{
		{"sum/unknown", func() (*big.Rat, error) { return SumExact(fit, "weight") }, ErrUnknownField},
		{"sum/category", func() (*big.Rat, error) { return SumExact(fit, "region") }, ErrNotNumeric},
		{"sum/nil", func() (*big.Rat, error) { return SumExact(nil, "age") }, ErrUnknownField},
		{"sum/empty", func() (*big.Rat, error) { return SumExact(empty, "age") }, nil},
		{"mean/empty", func() (*big.Rat, error) { return MeanExact(empty, "age") }, ErrTooFew},
		{"mean/category", func() (*big.Rat, error) { return MeanExact(fit, "region") }, ErrNotNumeric},
		{"variance/n=1", func() (*big.Rat, error) { return VarianceExact(one, "age") }, ErrTooFew},
		{"variance/not a moment", func() (*big.Rat, error) { return VarianceExact(noMoments, "f0") }, ErrMissingMoment},
		{"covariance/n=1", func() (*big.Rat, error) { return CovarianceExact(one, "age", "steps") }, ErrTooFew},
		{"covariance/not a moment", func() (*big.Rat, error) { return CovarianceExact(noMoments, "f0", "f1") }, ErrMissingMoment},
		{"covariance/unknown", func() (*big.Rat, error) { return CovarianceExact(fit, "age", "weight") }, ErrUnknownField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := tc.call()
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err != nil && x != nil {
				t.Error("a value beside an error")
			}
		})
	}
	// A variance the sums make negative is refused, not returned.
	bad, _ := schema.Default().Layout().Decode(zeros(schema.Default().Layout().Len))
	bad.Count.SetInt64(2)
	bad.Sum["age"] = big.NewRat(100, 1)
	bad.Cross[[2]string{"age", "age"}] = big.NewRat(1, 1)
	if _, err := VarianceExact(bad, "age"); !errors.Is(err, schema.ErrInvalidSums) {
		t.Errorf("negative variance: %v", err)
	}
}

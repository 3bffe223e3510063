package enclave

import (
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/cohort-dev/cohort/enclave/stats"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Sentinel errors of Release, besides *SpecError (outputs that do not
// check), schema.ErrInvalidSums (sums no cohort of valid records yields)
// and the sentinels of package stats (a statistic the cohort does not
// support, such as a variance of one record).
var (
	// ErrCoordinates: the reconstructed coordinates are malformed: as many
	// values as coordinates were not given, or a coordinate is out of
	// range, repeated, or has a nil value.
	ErrCoordinates = errors.New("malformed reconstructed coordinates")
	// ErrMissingCoordinate: a coordinate an output needs was not
	// reconstructed.
	ErrMissingCoordinate = errors.New("coordinate not reconstructed")
)

// Release computes the outputs of a job from the reconstructed sums:
// values[i] is the sum over the cohort of coordinate coords[i] of s's
// encoded vectors (a non-negative integer). coords need not be sorted and
// may include coordinates no output needs, but must include every one of
// Coordinates(s.Layout(), outputs).
//
// The sums are decoded with schema.Layout.DecodePartial (undoing shifts and
// scales, exactly) and each output is filled in order, its kind and label
// echoed:
//
//	COUNT, SUM, MEAN, VARIANCE   a Number with the exact value ("p" or "p/q"
//	                             in lowest terms) and the nearest float64
//	STDDEV                       a Number, value only
//	HISTOGRAM                    the count of every value in schema order
//	                             (bool fields: "false", then "true")
//	COVARIANCE                   the n×n matrix, row-major, entries exact
//	CORRELATION                  the n×n matrix, values only
//	LINEAR/LOGISTIC_REGRESSION   intercept, coefficients and R² from
//	                             stats.LinearRegression or LogisticRegression
//
// The outputs are checked as by ValidateSpec (a *SpecError otherwise).
// Malformed coordinates are refused with ErrCoordinates, a missing one with
// ErrMissingCoordinate, and values no cohort of valid records sums to
// (negative, above the count times the coordinate's bound, category counts
// not adding up to the count) with schema.ErrInvalidSums; a statistic
// refused by package stats is returned wrapped with the output's index
// ("outputs[3]: …"). No output is returned beside an error. The inputs are
// not modified. Sums released with noise go to ReleaseNoisy instead.
func Release(s *schema.Schema, coords []int, values []*big.Int, outputs []*cohortv1.Output) ([]*cohortv1.OutputValue, error) {
	l, S, err := gather(s, coords, values, outputs)
	if err != nil {
		return nil, err
	}
	sums, err := l.DecodePartial(S)
	if err != nil {
		return nil, fmt.Errorf("enclave: release: %w", err)
	}
	x := newFieldIndex(l)
	return eachOutput(outputs, func(o *cohortv1.Output, v *cohortv1.OutputValue) error {
		return x.compute(sums, o, v)
	})
}

// gather checks the reconstructed coordinates against s's layout l and the
// outputs and returns l and the coordinates as a vector of l.Len sums, nil
// where a coordinate was not reconstructed.
func gather(s *schema.Schema, coords []int, values []*big.Int, outputs []*cohortv1.Output) (schema.Layout, []*big.Int, error) {
	if s == nil {
		return schema.Layout{}, nil, errors.New("enclave: release: nil schema")
	}
	l := s.Layout()
	if len(coords) != len(values) {
		return l, nil, fmt.Errorf("enclave: release: %w: %d coordinates, %d values", ErrCoordinates, len(coords), len(values))
	}
	S := make([]*big.Int, l.Len)
	for i, c := range coords {
		switch {
		case c < 0 || c >= l.Len:
			return l, nil, fmt.Errorf("enclave: release: %w: coordinate %d out of range 0..%d", ErrCoordinates, c, l.Len-1)
		case S[c] != nil:
			return l, nil, fmt.Errorf("enclave: release: %w: coordinate %d (%s) given twice", ErrCoordinates, c, l.Name(c))
		case values[i] == nil:
			return l, nil, fmt.Errorf("enclave: release: %w: coordinate %d (%s) has no value", ErrCoordinates, c, l.Name(c))
		}
		S[c] = values[i]
	}
	needed, err := Coordinates(l, outputs)
	if err != nil {
		return l, nil, fmt.Errorf("enclave: release: %w", err)
	}
	for _, c := range needed {
		if S[c] == nil {
			return l, nil, fmt.Errorf("enclave: release: %w: %d (%s)", ErrMissingCoordinate, c, l.Name(c))
		}
	}
	return l, S, nil
}

// eachOutput fills one OutputValue per output, in order, its kind and
// label echoed, by fill; an error names the output's index.
func eachOutput(outputs []*cohortv1.Output, fill func(*cohortv1.Output, *cohortv1.OutputValue) error) ([]*cohortv1.OutputValue, error) {
	out := make([]*cohortv1.OutputValue, len(outputs))
	for i, o := range outputs {
		v := &cohortv1.OutputValue{Kind: o.GetKind(), Label: o.GetLabel()}
		if err := fill(o, v); err != nil {
			return nil, fmt.Errorf("enclave: release: outputs[%d]: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// compute fills v with the value of the checked output o.
func (x *fieldIndex) compute(sums *schema.Sums, o *cohortv1.Output, v *cohortv1.OutputValue) error {
	scalar := func(r *big.Rat, err error) error {
		if err != nil {
			return err
		}
		v.Value = &cohortv1.OutputValue_Scalar{Scalar: exact(r)}
		return nil
	}
	var field string
	if len(o.GetFields()) > 0 {
		field = o.GetFields()[0]
	}
	switch o.GetKind() {
	case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		return scalar(new(big.Rat).SetInt(sums.Count), nil)
	case cohortv1.OutputKind_OUTPUT_KIND_SUM:
		return scalar(stats.SumExact(sums, field))
	case cohortv1.OutputKind_OUTPUT_KIND_MEAN:
		return scalar(stats.MeanExact(sums, field))
	case cohortv1.OutputKind_OUTPUT_KIND_VARIANCE:
		return scalar(stats.VarianceExact(sums, field))
	case cohortv1.OutputKind_OUTPUT_KIND_STDDEV:
		sd, err := stats.Stddev(sums, field)
		if err != nil {
			return err
		}
		v.Value = &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: sd}}
		return nil
	case cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
		h, err := x.histogram(sums, field)
		if err != nil {
			return err
		}
		v.Value = &cohortv1.OutputValue_Histogram{Histogram: h}
		return nil
	case cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE:
		m, err := covarianceMatrix(sums, o.GetFields())
		if err != nil {
			return err
		}
		v.Value = &cohortv1.OutputValue_Matrix{Matrix: m}
		return nil
	case cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		fields := o.GetFields()
		r, err := stats.Correlation(sums, fields)
		if err != nil {
			return err
		}
		m := &cohortv1.Matrix{Fields: slices.Clone(fields), Entries: make([]*cohortv1.Number, 0, len(fields)*len(fields))}
		for _, row := range r {
			for _, e := range row {
				m.Entries = append(m.Entries, &cohortv1.Number{Value: e})
			}
		}
		v.Value = &cohortv1.OutputValue_Matrix{Matrix: m}
		return nil
	}
	fit := stats.LinearRegression
	if o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION {
		fit = stats.LogisticRegression
	}
	r, err := fit(sums, o.GetTarget(), o.GetFeatures(), o.GetRidgeLambda())
	if err != nil {
		return err
	}
	v.Value = &cohortv1.OutputValue_Regression{Regression: &cohortv1.Regression{
		Target:       o.GetTarget(),
		Features:     slices.Clone(o.GetFeatures()),
		Intercept:    r.Intercept,
		Coefficients: r.Coefficients,
		RidgeLambda:  o.GetRidgeLambda(),
		R2:           r.R2,
	}}
	return nil
}

// histogram returns the counts of a category field in schema order, or of
// a bool field as "false", "true".
func (x *fieldIndex) histogram(sums *schema.Sums, field string) (*cohortv1.Histogram, error) {
	h := &cohortv1.Histogram{Field: field}
	if c, ok := x.category[field]; ok {
		buckets, err := stats.Histogram(sums, field)
		if err != nil {
			return nil, err
		}
		counts := make(map[string]uint64, len(buckets))
		for _, b := range buckets {
			counts[b.Value] = b.Count
		}
		for _, val := range c.Values {
			h.Bins = append(h.Bins, &cohortv1.HistogramBin{Value: val, Count: counts[val]})
		}
		return h, nil
	}
	trues, err := stats.SumExact(sums, field)
	if err != nil {
		return nil, err
	}
	n := sums.Count
	if !trues.IsInt() || trues.Sign() < 0 || trues.Num().Cmp(n) > 0 || !n.IsUint64() {
		return nil, fmt.Errorf("histogram of %q: %w: %s true values in a cohort of %s", field, schema.ErrInvalidSums, trues.RatString(), n)
	}
	t := trues.Num().Uint64()
	h.Bins = []*cohortv1.HistogramBin{
		{Value: "false", Count: n.Uint64() - t},
		{Value: "true", Count: t},
	}
	return h, nil
}

// covarianceMatrix returns the sample covariance matrix of fields with
// exact entries.
func covarianceMatrix(sums *schema.Sums, fields []string) (*cohortv1.Matrix, error) {
	k := len(fields)
	entries := make([]*cohortv1.Number, k*k)
	for i, a := range fields {
		for j := i; j < k; j++ {
			c, err := stats.CovarianceExact(sums, a, fields[j])
			if err != nil {
				return nil, err
			}
			entries[i*k+j] = exact(c)
			entries[j*k+i] = exact(c)
		}
	}
	return &cohortv1.Matrix{Fields: slices.Clone(fields), Entries: entries}, nil
}

// exact returns r as a Number: the nearest float64 and "p" or "p/q" in
// lowest terms.
func exact(r *big.Rat) *cohortv1.Number {
	f, _ := r.Float64()
	return &cohortv1.Number{Value: f, Exact: r.RatString()}
}

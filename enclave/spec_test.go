package enclave

import (
	"errors"
	"math"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Output constructors for tests.
func out(kind cohortv1.OutputKind, fields ...string) *cohortv1.Output {
	return &cohortv1.Output{Kind: kind, Fields: fields}
}

func regression(kind cohortv1.OutputKind, target string, features ...string) *cohortv1.Output {
	return &cohortv1.Output{Kind: kind, Target: target, Features: features}
}

const (
	kCount       = cohortv1.OutputKind_OUTPUT_KIND_COUNT
	kSum         = cohortv1.OutputKind_OUTPUT_KIND_SUM
	kMean        = cohortv1.OutputKind_OUTPUT_KIND_MEAN
	kVariance    = cohortv1.OutputKind_OUTPUT_KIND_VARIANCE
	kStddev      = cohortv1.OutputKind_OUTPUT_KIND_STDDEV
	kHistogram   = cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM
	kCovariance  = cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE
	kCorrelation = cohortv1.OutputKind_OUTPUT_KIND_CORRELATION
	kLinear      = cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION
	kLogistic    = cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION
)

// allOutputs asks one output of every kind of the demo schema.
func allOutputs() []*cohortv1.Output {
	return []*cohortv1.Output{
		out(kCount),
		out(kSum, "steps"),
		out(kMean, "sleep_h"),
		out(kVariance, "age"),
		out(kStddev, "resting_hr"),
		out(kHistogram, "region"),
		out(kHistogram, "smoker"),
		out(kCovariance, "age", "steps", "sleep_h"),
		out(kCorrelation, "steps", "resting_hr"),
		{Kind: kLinear, Target: "resting_hr", Features: []string{"steps", "age", "smoker"}, RidgeLambda: 0.5, Label: "hr model"},
		regression(kLogistic, "smoker", "resting_hr", "steps"),
	}
}

func validSpec() *cohortv1.JobSpec {
	return &cohortv1.JobSpec{
		DatasetId: "fitness-2026", EpochFrom: 3, EpochTo: 5, Purpose: "academic-research",
		Outputs: allOutputs(), MinCohort: 50,
	}
}

// fewMoments is the demo schema with sleep_h and smoker left out of moments.
func fewMoments() *schema.Schema {
	s := schema.Default()
	s.Moments = []string{"age", "steps", "resting_hr"}
	return s
}

func TestValidateSpec(t *testing.T) {
	mpc := cohortv1.Backend_BACKEND_MPC
	tests := []struct {
		name   string
		schema *schema.Schema
		change func(*cohortv1.JobSpec) *cohortv1.JobSpec
		want   error // nil: valid
		field  string
	}{
		{"valid", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { return j }, nil, ""},
		{"valid/single epoch, own backend", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.EpochFrom, j.EpochTo, j.Backend = 4, 4, mpc
			return j
		}, nil, ""},
		{"valid/64 outputs", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs = nil
			for range MaxOutputs {
				j.Outputs = append(j.Outputs, out(kCount))
			}
			return j
		}, nil, ""},
		{"valid/label of 64 bytes", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs[0].Label = strings.Repeat("é", 32)
			return j
		}, nil, ""},
		{"valid/fewer moments", fewMoments(), func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs = []*cohortv1.Output{out(kMean, "sleep_h"), out(kSum, "smoker"), out(kVariance, "steps")}
			return j
		}, nil, ""},
		{"nil spec", nil, func(*cohortv1.JobSpec) *cohortv1.JobSpec { return nil }, ErrInvalidSpec, "spec"},
		{"epoch range", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.EpochFrom = 6; return j }, ErrEpochRange, "epoch_to"},
		{"unknown purpose", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Purpose = "marketing"; return j }, ErrUnknownPurpose, "purpose"},
		{"empty purpose", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Purpose = ""; return j }, ErrUnknownPurpose, "purpose"},
		{"other backend", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Backend = cohortv1.Backend_BACKEND_HE; return j }, ErrBackend, "backend"},
		{"unknown backend", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Backend = 9; return j }, ErrBackend, "backend"},
		{"no outputs", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs = nil; return j }, ErrOutputCount, "outputs"},
		{"65 outputs", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			for len(j.Outputs) <= MaxOutputs {
				j.Outputs = append(j.Outputs, out(kCount))
			}
			return j
		}, ErrOutputCount, "outputs"},
		{"unspecified kind", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[2].Kind = 0; return j }, ErrOutputKind, "outputs[2].kind"},
		{"unknown kind", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[1].Kind = 11; return j }, ErrOutputKind, "outputs[1].kind"},
		{"nil output", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[3] = nil; return j }, ErrOutputKind, "outputs[3].kind"},
		{"label", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs[4].Label = strings.Repeat("x", MaxLabelLen+1)
			return j
		}, ErrLabel, "outputs[4].label"},
		{"sum of two", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[1].Fields = []string{"age", "steps"}; return j }, ErrFieldCount, "outputs[1].fields"},
		{"mean of none", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[2].Fields = nil; return j }, ErrFieldCount, "outputs[2].fields"},
		{"covariance of one", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[7].Fields = []string{"age"}; return j }, ErrFieldCount, "outputs[7].fields"},
		{"correlation of 65", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs[8].Fields = make([]string, MaxOutputFields+1)
			return j
		}, ErrFieldCount, "outputs[8].fields"},
		{"regression without target", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].Target = ""; return j }, ErrFieldCount, "outputs[9].target"},
		{"regression without features", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[10].Features = nil; return j }, ErrFieldCount, "outputs[10].features"},
		{"unknown field", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[1].Fields = []string{"weight"}; return j }, ErrUnknownField, "outputs[1].fields[0]"},
		{"unknown covariance field", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[7].Fields[2] = ""; return j }, ErrUnknownField, "outputs[7].fields[2]"},
		{"unknown target", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].Target = "weight"; return j }, ErrUnknownField, "outputs[9].target"},
		{"unknown feature", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].Features[1] = "weight"; return j }, ErrUnknownField, "outputs[9].features[1]"},
		{"sum of a category", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[1].Fields = []string{"region"}; return j }, ErrFieldType, "outputs[1].fields[0]"},
		{"histogram of an int", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[5].Fields = []string{"age"}; return j }, ErrFieldType, "outputs[5].fields[0]"},
		{"histogram of a fixed", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[6].Fields = []string{"sleep_h"}; return j }, ErrFieldType, "outputs[6].fields[0]"},
		{"variance of a category", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[3].Fields = []string{"region"}; return j }, ErrFieldType, "outputs[3].fields[0]"},
		{"logistic target not bool", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[10].Target = "age"; return j }, ErrFieldType, "outputs[10].target"},
		{"category feature", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[10].Features[0] = "region"; return j }, ErrFieldType, "outputs[10].features[0]"},
		{"variance not in moments", fewMoments(), func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs = []*cohortv1.Output{out(kStddev, "sleep_h")}
			return j
		}, ErrNotInMoments, "outputs[0].fields[0]"},
		{"correlation not in moments", fewMoments(), func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs = []*cohortv1.Output{out(kCount), out(kCorrelation, "age", "steps", "smoker")}
			return j
		}, ErrNotInMoments, "outputs[1].fields[2]"},
		{"logistic target not in moments", fewMoments(), func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs = []*cohortv1.Output{regression(kLogistic, "smoker", "age")}
			return j
		}, ErrNotInMoments, "outputs[0].target"},
		{"feature not in moments", fewMoments(), func(j *cohortv1.JobSpec) *cohortv1.JobSpec {
			j.Outputs = []*cohortv1.Output{regression(kLinear, "age", "steps", "sleep_h")}
			return j
		}, ErrNotInMoments, "outputs[0].features[1]"},
		{"duplicate covariance field", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[7].Fields[2] = "age"; return j }, ErrDuplicateField, "outputs[7].fields[2]"},
		{"duplicate feature", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].Features[2] = "steps"; return j }, ErrDuplicateField, "outputs[9].features[2]"},
		{"feature is target", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].Features[1] = "resting_hr"; return j }, ErrDuplicateField, "outputs[9].features[1]"},
		{"target on mean", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[2].Target = "age"; return j }, ErrNotApplicable, "outputs[2].target"},
		{"features on histogram", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[5].Features = []string{"age"}; return j }, ErrNotApplicable, "outputs[5].features"},
		{"ridge on count", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[0].RidgeLambda = 1; return j }, ErrNotApplicable, "outputs[0].ridge_lambda"},
		{"fields on count", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[0].Fields = []string{"age"}; return j }, ErrNotApplicable, "outputs[0].fields"},
		{"fields on regression", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].Fields = []string{"age"}; return j }, ErrNotApplicable, "outputs[9].fields"},
		{"negative ridge", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].RidgeLambda = -1; return j }, ErrRidge, "outputs[9].ridge_lambda"},
		{"NaN ridge", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[10].RidgeLambda = math.NaN(); return j }, ErrRidge, "outputs[10].ridge_lambda"},
		{"infinite ridge", nil, func(j *cohortv1.JobSpec) *cohortv1.JobSpec { j.Outputs[9].RidgeLambda = math.Inf(1); return j }, ErrRidge, "outputs[9].ridge_lambda"},
	}
	sentinels := []error{ErrInvalidSpec, ErrEpochRange, ErrUnknownPurpose, ErrBackend, ErrOutputCount, ErrOutputKind,
		ErrFieldCount, ErrUnknownField, ErrFieldType, ErrNotInMoments, ErrDuplicateField, ErrNotApplicable, ErrRidge, ErrLabel}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.schema
			if s == nil {
				s = schema.Default()
			}
			err := ValidateSpec(tc.change(validSpec()), s, mpc)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				return
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SpecError", err)
			}
			if se.Err != tc.want || se.Field != tc.field {
				t.Errorf("refused at %s with %v (%v), want %s with %v", se.Field, se.Err, err, tc.field, tc.want)
			}
			if !errors.Is(err, ErrInvalidSpec) || !errors.Is(err, tc.want) {
				t.Errorf("errors.Is fails on %v", err)
			}
			for _, other := range sentinels[1:] {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("message %q does not name %s", err, tc.field)
			}
		})
	}
	if err := ValidateSpec(validSpec(), nil, mpc); err == nil {
		t.Error("nil schema accepted")
	}
}

// Names from the spec are echoed only in part.
func TestSpecErrorQuotesBriefly(t *testing.T) {
	j := validSpec()
	j.Outputs[1].Fields = []string{strings.Repeat("a", 1000)}
	err := ValidateSpec(j, schema.Default(), 0)
	if !errors.Is(err, ErrUnknownField) || len(err.Error()) > 200 {
		t.Errorf("error %q", err)
	}
}

func TestEffectiveMinimum(t *testing.T) {
	s := schema.Default() // min_cohort 20
	tests := []struct {
		spec   *cohortv1.JobSpec
		schema *schema.Schema
		want   uint64
	}{
		{&cohortv1.JobSpec{MinCohort: 0}, s, 20},
		{&cohortv1.JobSpec{MinCohort: 19}, s, 20},
		{&cohortv1.JobSpec{MinCohort: 21}, s, 21},
		{&cohortv1.JobSpec{MinCohort: math.MaxUint32}, s, math.MaxUint32},
		{nil, s, 20},
		{&cohortv1.JobSpec{}, &schema.Schema{}, 1},
		{&cohortv1.JobSpec{MinCohort: 1}, &schema.Schema{}, 1},
		{&cohortv1.JobSpec{MinCohort: 5}, nil, 5},
	}
	for i, tc := range tests {
		if got := EffectiveMinimum(tc.spec, tc.schema); got != tc.want {
			t.Errorf("case %d: EffectiveMinimum = %d, want %d", i, got, tc.want)
		}
	}
}

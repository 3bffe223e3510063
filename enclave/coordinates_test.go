package enclave

import (
	"errors"
	"slices"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

func TestCoordinates(t *testing.T) {
	// The demo layout: 0 count; 1 age, 2 steps, 3 resting_hr, 4 sleep_h,
	// 5 smoker; 6..9 region; products of age(1), steps(2), resting_hr(3),
	// sleep_h(4), smoker(5): 10 age², 11 age·steps, 12 age·hr,
	// 13 age·sleep, 14 age·smoker, 15 steps², 16 steps·hr, 17 steps·sleep,
	// 18 steps·smoker, 19 hr², 20 hr·sleep, 21 hr·smoker, 22 sleep²,
	// 23 sleep·smoker, 24 smoker².
	l := schema.Default().Layout()
	tests := []struct {
		name    string
		outputs []*cohortv1.Output
		want    []int
	}{
		{"none", nil, []int{0}},
		{"count", []*cohortv1.Output{out(kCount)}, []int{0}},
		{"sum", []*cohortv1.Output{out(kSum, "smoker")}, []int{0, 5}},
		{"mean", []*cohortv1.Output{out(kMean, "steps")}, []int{0, 2}},
		{"variance", []*cohortv1.Output{out(kVariance, "age")}, []int{0, 1, 10}},
		{"stddev", []*cohortv1.Output{out(kStddev, "sleep_h")}, []int{0, 4, 22}},
		{"category histogram", []*cohortv1.Output{out(kHistogram, "region")}, []int{0, 6, 7, 8, 9}},
		{"bool histogram", []*cohortv1.Output{out(kHistogram, "smoker")}, []int{0, 5}},
		{"covariance", []*cohortv1.Output{out(kCovariance, "age", "steps")}, []int{0, 1, 2, 10, 11, 15}},
		{"correlation, reversed", []*cohortv1.Output{out(kCorrelation, "steps", "age")}, []int{0, 1, 2, 10, 11, 15}},
		{"linear", []*cohortv1.Output{regression(kLinear, "resting_hr", "steps")}, []int{0, 2, 3, 15, 16, 19}},
		{"logistic", []*cohortv1.Output{regression(kLogistic, "smoker", "age")}, []int{0, 1, 5, 10, 14, 24}},
		{"repeats merged", []*cohortv1.Output{out(kVariance, "age"), out(kMean, "age"), out(kCount), out(kStddev, "age")}, []int{0, 1, 10}},
		{"union", []*cohortv1.Output{out(kMean, "sleep_h"), out(kHistogram, "smoker"), out(kVariance, "age")}, []int{0, 1, 4, 5, 10}},
		{"three fields", []*cohortv1.Output{out(kCovariance, "age", "resting_hr", "smoker")}, []int{0, 1, 3, 5, 10, 12, 14, 19, 21, 24}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Coordinates(l, tc.outputs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Coordinates = %v, want %v", got, tc.want)
			}
		})
	}
}

// No output pulls in a coordinate of a field it does not name, and every
// coordinate names only its fields; only outputs of several fields (or a
// variance) pull in products.
func TestCoordinatesOnlyOwnFields(t *testing.T) {
	l := schema.Default().Layout()
	for i, o := range allOutputs() {
		got, err := Coordinates(l, []*cohortv1.Output{o})
		if err != nil {
			t.Fatal(err)
		}
		own := map[string]bool{o.GetTarget(): true}
		for _, f := range append(slices.Clone(o.GetFields()), o.GetFeatures()...) {
			own[f] = true
		}
		for _, c := range got[1:] {
			name := l.Name(c)
			name, _, _ = strings.Cut(name, "=") // a category indicator
			for part := range strings.SplitSeq(name, "*") {
				if !own[part] {
					t.Errorf("output %d (%s): coordinate %d (%s) is not of its fields", i, o.GetKind(), c, l.Name(c))
				}
			}
			if strings.Contains(l.Name(c), "*") && (o.GetKind() == kSum || o.GetKind() == kMean || o.GetKind() == kHistogram) {
				t.Errorf("output %d (%s) needs product %s", i, o.GetKind(), l.Name(c))
			}
		}
	}
}

func TestCoordinatesRefusesUncheckedOutputs(t *testing.T) {
	l := fewMoments().Layout()
	for _, tc := range []struct {
		o    *cohortv1.Output
		want error
	}{
		{nil, ErrOutputKind},
		{out(kMean), ErrFieldCount},
		{out(kMean, "weight"), ErrUnknownField},
		{out(kVariance, "sleep_h"), ErrNotInMoments},
		{out(kHistogram, "steps"), ErrFieldType},
		{out(kCorrelation, "age", "age"), ErrDuplicateField},
		{regression(kLinear, "age"), ErrFieldCount},
	} {
		got, err := Coordinates(l, []*cohortv1.Output{out(kCount), tc.o})
		var se *SpecError
		if got != nil || !errors.As(err, &se) || se.Err != tc.want || !strings.HasPrefix(se.Field, "outputs[1]") {
			t.Errorf("%v: Coordinates = %v, %v; want %v at outputs[1]", tc.o, got, err, tc.want)
		}
	}
}

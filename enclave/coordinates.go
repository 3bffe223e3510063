package enclave

import (
	"slices"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Coordinates returns the coordinates of the sufficient statistics (see
// schema.Layout) that outputs need, sorted and without repeats. The count,
// coordinate 0, is always included. Per output:
//
//	COUNT                          nothing more
//	SUM, MEAN                      the field's value coordinate x
//	VARIANCE, STDDEV               x and x·x
//	HISTOGRAM                      a category's whole one-hot block; a bool's x
//	COVARIANCE, CORRELATION,
//	LINEAR/LOGISTIC_REGRESSION     every field's x and every product x_a·x_b
//	                               of two of them, squares included
//
// These are the only coordinates a job reconstructs: a mean of one field
// never reveals another field's sum or any product. The outputs are
// checked as by ValidateSpec (with the layout standing in for the schema)
// and the first problem is returned as a *SpecError, so Coordinates never
// returns coordinates for an output it could not compute; the number of
// outputs is not checked.
func Coordinates(l schema.Layout, outputs []*cohortv1.Output) ([]int, error) {
	x := newFieldIndex(l)
	need := map[int]bool{0: true}
	for i, o := range outputs {
		if err := x.validateOutput(i, o); err != nil {
			return nil, err
		}
		switch o.GetKind() {
		case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		case cohortv1.OutputKind_OUTPUT_KIND_SUM, cohortv1.OutputKind_OUTPUT_KIND_MEAN:
			need[x.value[o.GetFields()[0]].Index] = true
		case cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
			name := o.GetFields()[0]
			if c, ok := x.category[name]; ok {
				for k := range c.Values {
					need[c.Start+k] = true
				}
			} else {
				need[x.value[name].Index] = true
			}
		case cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, cohortv1.OutputKind_OUTPUT_KIND_STDDEV,
			cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
			x.addMoments(need, o.GetFields())
		default: // a regression
			x.addMoments(need, append([]string{o.GetTarget()}, o.GetFeatures()...))
		}
	}
	out := make([]int, 0, len(need))
	for i := range need {
		out = append(out, i)
	}
	slices.Sort(out)
	return out, nil
}

// addMoments adds the value coordinate of every field and the product of
// every pair, squares included. The fields are checked: all are in moments.
func (x *fieldIndex) addMoments(need map[int]bool, fields []string) {
	for i, a := range fields {
		va := x.value[a].Index
		need[va] = true
		for _, b := range fields[i:] {
			p, _ := x.productOf(va, x.value[b].Index) // present: both in moments
			need[p] = true
		}
	}
}

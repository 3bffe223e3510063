package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// JobResult is one job of a results document: the job (its id, state and
// spec, whose outputs name the fields of scalar results) and its result,
// nil for a job that released none.
type JobResult struct {
	Job    *cohortv1.Job
	Result *cohortv1.Result
}

// ResultsJSON returns the results document of jobs on a dataset, indented
// by two spaces and ending in a newline:
//
//	{"dataset": ID, "jobs": [{"job_id", "status", "backend", "cohort", "outputs": [...]}]}
//
// with members in that order, "jobs" null when no job released a result,
// and each output an object whose "kind" is its name in the job YAML and
// whose other members follow from the kind:
//
//	count                       value
//	sum, mean, variance, stddev field, value
//	histogram                   field, counts {value: count, in schema order}
//	covariance, correlation     fields, matrix [[…], …]
//	linear/logistic_regression  target, features, intercept, coefficients, r2
//
// All numbers are JSON numbers. Jobs without a result are left out. The
// format is what README.md documents for the demo's results.json, which
// other tools read: it changes only with that documentation. An output
// without the value its kind needs (a scalar without its field in the
// spec, a matrix that is not n×n, no value) is an error.
func ResultsJSON(datasetID string, jobs []JobResult) ([]byte, error) {
	var list []any
	for _, j := range jobs {
		if j.Result == nil {
			continue
		}
		specs := j.Job.GetSpec().GetOutputs()
		outs := make([]any, 0, len(j.Result.GetOutputs()))
		for i, v := range j.Result.GetOutputs() {
			var spec *cohortv1.Output
			if i < len(specs) {
				spec = specs[i]
			}
			o, err := outputJSON(spec, v)
			if err != nil {
				return nil, fmt.Errorf("render: results of job %s: output %d: %w", j.Job.GetJobId(), i, err)
			}
			outs = append(outs, o)
		}
		list = append(list, jsonObject{
			{"job_id", j.Job.GetJobId()},
			{"status", enumName(j.Job.GetState().String(), "JOB_STATE_")},
			{"backend", strings.ToLower(enumName(j.Result.GetBackend().String(), "BACKEND_"))},
			{"cohort", j.Result.GetCohortSize()},
			{"outputs", outs},
		})
	}
	doc := jsonObject{{"dataset", datasetID}, {"jobs", list}}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render: results: %w", err)
	}
	return append(raw, '\n'), nil
}

// outputJSON is one released output in the results document's shape;
// spec may be nil.
func outputJSON(spec *cohortv1.Output, v *cohortv1.OutputValue) (jsonObject, error) {
	kind := client.OutputKindName(v.GetKind())
	o := jsonObject{{"kind", kind}}
	switch x := v.GetValue().(type) {
	case *cohortv1.OutputValue_Scalar:
		if v.GetKind() != cohortv1.OutputKind_OUTPUT_KIND_COUNT {
			if len(spec.GetFields()) != 1 {
				return nil, fmt.Errorf("%s without its field", kind)
			}
			o = append(o, jsonMember{"field", spec.GetFields()[0]})
		}
		o = append(o, jsonMember{"value", x.Scalar.GetValue()})
	case *cohortv1.OutputValue_Histogram:
		counts := jsonObject{}
		for _, b := range x.Histogram.GetBins() {
			counts = append(counts, jsonMember{b.GetValue(), b.GetCount()})
		}
		o = append(o, jsonMember{"field", x.Histogram.GetField()}, jsonMember{"counts", counts})
	case *cohortv1.OutputValue_Matrix:
		fs := x.Matrix.GetFields()
		if len(x.Matrix.GetEntries()) != len(fs)*len(fs) {
			return nil, fmt.Errorf("%d entries for %d fields", len(x.Matrix.GetEntries()), len(fs))
		}
		rows := make([][]float64, len(fs))
		for i := range rows {
			rows[i] = make([]float64, len(fs))
			for j := range rows[i] {
				rows[i][j] = x.Matrix.GetEntries()[i*len(fs)+j].GetValue()
			}
		}
		o = append(o, jsonMember{"fields", fs}, jsonMember{"matrix", rows})
	case *cohortv1.OutputValue_Regression:
		r := x.Regression
		o = append(o, jsonMember{"target", r.GetTarget()}, jsonMember{"features", r.GetFeatures()},
			jsonMember{"intercept", r.GetIntercept()}, jsonMember{"coefficients", r.GetCoefficients()}, jsonMember{"r2", r.GetR2()})
	default:
		return nil, fmt.Errorf("%s without a value", kind)
	}
	return o, nil
}

// jsonObject is a JSON object that keeps its members in the order given.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// jsonObject is a JSON object that keeps its keys in the order given.
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

// writeResultsJSON writes the demo's released results:
//
//	{"dataset": ID, "jobs": [{"job_id", "status", "backend", "cohort", "outputs": [...]}]}
//
// with each output an object whose "kind" is its name in the job YAML and
// whose other members follow from the kind:
//
//	count                       value
//	sum, mean, variance, stddev field, value
//	histogram                   field, counts {value: count, in schema order}
//	covariance, correlation     fields, matrix [[…], …]
//	linear/logistic_regression  target, features, intercept, coefficients, r2
//
// All numbers are JSON numbers.
func writeResultsJSON(path, datasetID string, jobs []*demoJob) error {
	var list []any
	for _, j := range jobs {
		if j.result == nil {
			continue
		}
		outs := make([]any, 0, len(j.result.GetOutputs()))
		for i, v := range j.result.GetOutputs() {
			o, err := outputJSON(j.job.GetSpec().GetOutputs()[i], v)
			if err != nil {
				return fmt.Errorf("demo: results of job %s: output %d: %w", j.job.GetJobId(), i, err)
			}
			outs = append(outs, o)
		}
		list = append(list, jsonObject{
			{"job_id", j.job.GetJobId()},
			{"status", enumName(j.job.GetState().String(), "JOB_STATE_")},
			{"backend", strings.ToLower(enumName(j.result.GetBackend().String(), "BACKEND_"))},
			{"cohort", j.result.GetCohortSize()},
			{"outputs", outs},
		})
	}
	doc := jsonObject{{"dataset", datasetID}, {"jobs", list}}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o600)
}

// outputJSON is one released output in results.json's shape.
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

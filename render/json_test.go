package render

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestResultsJSON(t *testing.T) {
	num := func(v float64) *cohortv1.Number { return &cohortv1.Number{Value: v} }
	spec := &cohortv1.JobSpec{Outputs: []*cohortv1.Output{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Fields: []string{"age", "steps"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age"}},
	}}
	res := &cohortv1.Result{JobId: "job-1", CohortSize: 44, Backend: cohortv1.Backend_BACKEND_MPC, Outputs: []*cohortv1.OutputValue{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: num(44)}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Value: &cohortv1.OutputValue_Scalar{Scalar: num(51.25)}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Value: &cohortv1.OutputValue_Histogram{Histogram: &cohortv1.Histogram{Field: "region", Bins: []*cohortv1.HistogramBin{
			{Value: "north", Count: 10}, {Value: "south", Count: 12}, {Value: "east", Count: 11}, {Value: "west", Count: 11}}}}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Value: &cohortv1.OutputValue_Matrix{Matrix: &cohortv1.Matrix{Fields: []string{"age", "steps"},
			Entries: []*cohortv1.Number{num(1), num(-0.5), num(-0.5), num(1)}}}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Value: &cohortv1.OutputValue_Regression{Regression: &cohortv1.Regression{
			Target: "resting_hr", Features: []string{"age"}, Intercept: 55.5, Coefficients: []float64{0.25}, R2: 0.5}}},
	}}
	job := JobResult{Job: &cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_DONE, Spec: spec}, Result: res}
	got, err := ResultsJSON("fitness-2026", []JobResult{job})
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, got); err != nil {
		t.Fatal(err)
	}
	want := `{"dataset":"fitness-2026","jobs":[{"job_id":"job-1","status":"DONE","backend":"mpc","cohort":44,"outputs":[` +
		`{"kind":"count","value":44},{"kind":"mean","field":"age","value":51.25},` +
		`{"kind":"histogram","field":"region","counts":{"north":10,"south":12,"east":11,"west":11}},` +
		`{"kind":"correlation","fields":["age","steps"],"matrix":[[1,-0.5],[-0.5,1]]},` +
		`{"kind":"linear_regression","target":"resting_hr","features":["age"],"intercept":55.5,"coefficients":[0.25],"r2":0.5}]}]}`
	if compact.String() != want {
		t.Fatalf("results.json\n got %s\nwant %s", compact.String(), want)
	}
}

// TestResultsJSONGolden compares ResultsJSON's bytes with those the demo
// wrote to results.json before the rendering moved here
// (testdata/results*.json): other tools read that file.
func TestResultsJSONGolden(t *testing.T) {
	num := func(v float64) *cohortv1.Number { return &cohortv1.Number{Value: v} }
	spec := &cohortv1.JobSpec{Outputs: []*cohortv1.Output{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Fields: []string{"age", "steps"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Fields: []string{"sleep_h"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION, Target: "smoker", Features: []string{"age", "steps"}},
	}}
	res := &cohortv1.Result{JobId: "job-1", CohortSize: 44, Backend: cohortv1.Backend_BACKEND_MPC, Outputs: []*cohortv1.OutputValue{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: num(44)}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Value: &cohortv1.OutputValue_Scalar{Scalar: num(51.25)}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Value: &cohortv1.OutputValue_Histogram{Histogram: &cohortv1.Histogram{Field: "region", Bins: []*cohortv1.HistogramBin{
			{Value: "north", Count: 10}, {Value: "south", Count: 12}, {Value: "east", Count: 11}, {Value: "west", Count: 11}}}}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Value: &cohortv1.OutputValue_Matrix{Matrix: &cohortv1.Matrix{Fields: []string{"age", "steps"},
			Entries: []*cohortv1.Number{num(1), num(-0.5), num(-0.5), num(1)}}}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Value: &cohortv1.OutputValue_Regression{Regression: &cohortv1.Regression{
			Target: "resting_hr", Features: []string{"age"}, Intercept: 55.5, Coefficients: []float64{0.25}, R2: 0.5}}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Value: &cohortv1.OutputValue_Scalar{Scalar: num(1.0 / 3)}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION, Value: &cohortv1.OutputValue_Regression{Regression: &cohortv1.Regression{
			Target: "smoker", Features: []string{"age", "steps"}, Intercept: -1e-7, Coefficients: []float64{0.5, 2e21}, R2: 0.015625}}},
	}}
	res2 := &cohortv1.Result{JobId: "job-2", CohortSize: 7, Backend: cohortv1.Backend_BACKEND_HE, Outputs: []*cohortv1.OutputValue{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: num(7)}},
	}}
	jobs := []JobResult{
		{Job: &cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_DONE, Spec: spec}, Result: res},
		{Job: &cohortv1.Job{JobId: "job-x", State: cohortv1.JobState_JOB_STATE_FAILED, Spec: spec}}, // no result: left out
		{Job: &cohortv1.Job{JobId: "job-2", State: cohortv1.JobState_JOB_STATE_DONE, Spec: &cohortv1.JobSpec{Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}}, Result: res2},
	}
	for file, jobs := range map[string][]JobResult{"results.json": jobs, "results-empty.json": nil} {
		want, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ResultsJSON("fitness-2026", jobs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: got\n%s\nwant\n%s", file, got, want)
		}
	}
}

func TestResultsJSONRefusesMalformed(t *testing.T) {
	scalar := &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: 1}}}
	for name, tc := range map[string]struct {
		spec *cohortv1.JobSpec
		out  *cohortv1.OutputValue
		want string
	}{
		"scalar without a spec": {nil, scalar, "mean without its field"},
		"matrix not n×n": {&cohortv1.JobSpec{Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION}}},
			&cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Value: &cohortv1.OutputValue_Matrix{Matrix: &cohortv1.Matrix{Fields: []string{"a", "b"}}}},
			"0 entries for 2 fields"},
		"no value": {&cohortv1.JobSpec{Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_SUM}}},
			&cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_SUM}, "sum without a value"},
	} {
		job := JobResult{Job: &cohortv1.Job{JobId: "job-1", Spec: tc.spec}, Result: &cohortv1.Result{Outputs: []*cohortv1.OutputValue{tc.out}}}
		if _, err := ResultsJSON("d", []JobResult{job}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "job job-1: output 0") {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

// TestResultsJSONNoisyGolden: a noisy result adds each value's standard
// error and interval and the release to the document's shape
// (testdata/results-noisy.json), and nothing else changes.
func TestResultsJSONNoisyGolden(t *testing.T) {
	r, spec := noisyResult()
	job := JobResult{Job: &cohortv1.Job{JobId: "job-3", State: cohortv1.JobState_JOB_STATE_DONE, Spec: spec}, Result: r}
	got, err := ResultsJSON("fitness-2026", []JobResult{job})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "results-noisy.json", got)
	var doc struct {
		Jobs []struct {
			Outputs []map[string]any `json:"outputs"`
			Release struct {
				Mechanism string  `json:"mechanism"`
				Rho       string  `json:"rho"`
				Sums      []any   `json:"sums"`
				Conf      float64 `json:"confidence"`
			} `json:"release"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	j := doc.Jobs[0]
	if j.Release.Mechanism != "discrete_gaussian" || j.Release.Rho != "1/20" || len(j.Release.Sums) != 5 || j.Release.Conf != 0.95 {
		t.Errorf("release %+v", j.Release)
	}
	if _, ok := j.Outputs[0]["interval"]; ok {
		t.Error("the exact count has an interval")
	}
	if iv, ok := j.Outputs[1]["interval"].([]any); !ok || len(iv) != 2 || iv[0] != 45.17377 {
		t.Errorf("mean interval %v", j.Outputs[1]["interval"])
	}
}

// TestResultsJSONBudget: a job given the budget left after it ends with
// "budget" {rho_charged, rho_left}, after "release"; without, the
// document is the noisy golden one unchanged.
func TestResultsJSONBudget(t *testing.T) {
	r, spec := noisyResult()
	job := JobResult{Job: &cohortv1.Job{JobId: "job-3", State: cohortv1.JobState_JOB_STATE_DONE, Spec: spec}, Result: r, BudgetLeft: "39/20"}
	got, err := ResultsJSON("fitness-2026", []JobResult{job})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(got), "\n      },\n      \"budget\": {\n        \"rho_charged\": \"1/20\",\n        \"rho_left\": \"39/20\"\n      }\n    }\n  ]\n}\n") {
		t.Errorf("the budget is not the job's last member:\n%s", got)
	}
	job.BudgetLeft = ""
	plain, err := ResultsJSON("fitness-2026", []JobResult{job})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "results-noisy.json", plain)
}

package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// testResult is a result with an output of every shape; its first four
// outputs have a spec.
func testResult() (*cohortv1.Result, *cohortv1.JobSpec) {
	num := func(v float64, exact string) *cohortv1.Number { return &cohortv1.Number{Value: v, Exact: exact} }
	r := &cohortv1.Result{
		JobId: "job-1", DatasetId: "fitness-2026", Backend: cohortv1.Backend_BACKEND_MPC, CohortSize: 44, TranscriptId: "tr-1", ReleasedAt: 1_800_000_000,
		Outputs: []*cohortv1.OutputValue{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: num(44, "44")}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Label: "average age", Value: &cohortv1.OutputValue_Scalar{Scalar: num(51.22727272727273, "1127/22")}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Value: &cohortv1.OutputValue_Histogram{Histogram: &cohortv1.Histogram{Field: "region", Bins: []*cohortv1.HistogramBin{
				{Value: "north", Count: 10}, {Value: "south", Count: 34}}}}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_STDDEV, Value: &cohortv1.OutputValue_Scalar{Scalar: num(2.5, "")}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Value: &cohortv1.OutputValue_Matrix{Matrix: &cohortv1.Matrix{Fields: []string{"age", "resting_hr"},
				Entries: []*cohortv1.Number{num(1, ""), num(-0.25, ""), num(-0.25, ""), num(1, "")}}}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Value: &cohortv1.OutputValue_Regression{Regression: &cohortv1.Regression{
				Target: "resting_hr", Features: []string{"age", "steps"}, Intercept: 60.5, Coefficients: []float64{0.125, -0.0006}, RidgeLambda: 0.5, R2: 0.75}}},
		},
	}
	spec := &cohortv1.JobSpec{Outputs: []*cohortv1.Output{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}, Label: "average age"},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_STDDEV, Fields: []string{"steps"}},
	}}
	return r, spec
}

func TestResult(t *testing.T) {
	r, spec := testResult()
	var out bytes.Buffer
	if err := Result(&out, r, spec); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	lines := strings.Split(s, "\n")
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return l
			}
		}
		t.Errorf("no line starting %q in:\n%s", prefix, s)
		return ""
	}
	for _, want := range []string{
		"job job-1 on dataset fitness-2026 (MPC): cohort of 44 records",
		"transcript tr-1",
		"histogram region:",
		"correlation:",
		"linear_regression: resting_hr ~ age + steps (ridge λ = 0.5), R² = 0.75",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if f := strings.Fields(find("count")); len(f) != 2 || f[1] != "44" {
		t.Errorf("count row %q: an integer's exact value repeats it", f)
	}
	if f := strings.Fields(find(`mean age ("average age")`)); f[len(f)-1] != "1127/22" || f[len(f)-2] != "51.22727273" {
		t.Errorf("mean row %q", f)
	}
	if f := strings.Fields(find("north")); len(f) != 2 || f[1] != "10" {
		t.Errorf("histogram row %q", f)
	}
	if f := strings.Fields(find("total")); f[1] != "44" {
		t.Errorf("histogram total %q", f)
	}
	// The matrix is a grid: a header of the fields, one row per field.
	hdr, row := find("age  "), find("resting_hr")
	if f := strings.Fields(row); len(f) != 3 || f[1] != "-0.25" || f[2] != "1" {
		t.Errorf("matrix row %q", f)
	}
	if len(hdr) != len(row) {
		t.Errorf("matrix columns are not aligned:\n%s\n%s", hdr, row)
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space in %q", l)
		}
	}
	// Without the spec, scalars are named by kind alone.
	out.Reset()
	if err := Result(&out, r, nil); err != nil || !strings.Contains(out.String(), "\nmean (\"average age\")") {
		t.Errorf("without a spec: %v\n%s", err, out.String())
	}
	if f := strings.Fields(find("intercept")); f[1] != "60.5" {
		t.Errorf("intercept row %q", f)
	}
	if f := strings.Fields(find("steps  ")); f[1] != "-0.0006" {
		t.Errorf("coefficient row %q", f)
	}
	if f := strings.Fields(find("stddev steps")); len(f) != 3 || f[2] != "2.5" {
		t.Errorf("stddev row %q", f)
	}
}

// TestResultGolden compares Result's bytes with those the buyer command
// printed before the text rendering moved here (testdata/result*.txt),
// for outputs of every shape, malformed ones included.
func TestResultGolden(t *testing.T) {
	num := func(v float64) *cohortv1.Number { return &cohortv1.Number{Value: v} }
	r, spec := testResult()
	r.Outputs = append(r.Outputs,
		&cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, Value: &cohortv1.OutputValue_Matrix{Matrix: &cohortv1.Matrix{Fields: []string{"age", "steps"},
			Entries: []*cohortv1.Number{num(1)}}}},
		&cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION, Label: "smoking", Value: &cohortv1.OutputValue_Regression{Regression: &cohortv1.Regression{
			Target: "smoker", Features: []string{"resting_hr"}, Intercept: -3.25, Coefficients: []float64{0.0123456789012}, R2: 0.125}}},
		&cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_SUM},
	)
	for file, spec := range map[string]*cohortv1.JobSpec{"result.txt": spec, "result-nospec.txt": nil} {
		want, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Result(&out, r, spec); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s: got\n%s\nwant\n%s", file, out.Bytes(), want)
		}
	}
}

func TestFloat(t *testing.T) {
	for v, want := range map[float64]string{44: "44", 51.22727272727273: "51.22727273", -0.0006: "-0.0006", 2e21: "2e+21", 0: "0"} {
		if got := Float(v); got != want {
			t.Errorf("Float(%v) = %q, want %q", v, got, want)
		}
	}
}

// noisyResult is a result released with noise: the count exact, every
// other value with its interval, and how it was released.
func noisyResult() (*cohortv1.Result, *cohortv1.JobSpec) {
	iv := func(se, low, high float64) *cohortv1.Interval {
		return &cohortv1.Interval{StandardError: se, Low: low, High: high}
	}
	num := func(v float64, i *cohortv1.Interval) *cohortv1.Number { return &cohortv1.Number{Value: v, Interval: i} }
	r := &cohortv1.Result{
		JobId: "job-3", DatasetId: "fitness-2026", Backend: cohortv1.Backend_BACKEND_MPC, CohortSize: 44, TranscriptId: "tr-3", ReleasedAt: 1_800_000_000,
		Release: &cohortv1.ReleaseInfo{
			Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN, Rho: "1/20", NoisingNodes: 3, Confidence: 0.95,
			Sums: []*cohortv1.SumNoise{
				{Coordinate: 0, Name: "count"},
				{Coordinate: 1, Name: "sum of age", NodeVariance: "6724", Stddev: 142.02},
				{Coordinate: 6, Name: "sum of region=north", NodeVariance: "4", Stddev: 3.4641016151377544},
				{Coordinate: 7, Name: "sum of region=south", NodeVariance: "4", Stddev: 3.4641016151377544},
				{Coordinate: 10, Name: "sum of age*age", NodeVariance: "45212176", Stddev: 11646.2},
			},
		},
		Outputs: []*cohortv1.OutputValue{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: 44, Exact: "44"}}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Label: "average age", Value: &cohortv1.OutputValue_Scalar{Scalar: num(51.5, iv(3.2277272727272727, 45.17377, 57.82623))}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Value: &cohortv1.OutputValue_Scalar{Scalar: num(180.25, iv(270.8, 0, 711.0))}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Value: &cohortv1.OutputValue_Histogram{Histogram: &cohortv1.Histogram{Field: "region", Bins: []*cohortv1.HistogramBin{
				{Value: "north", Count: 0, Interval: iv(3.4641016151377544, 0, 6.789)},
				{Value: "south", Count: 37, Interval: iv(3.4641016151377544, 30.21, 43.79)}}}}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Value: &cohortv1.OutputValue_Matrix{Matrix: &cohortv1.Matrix{Fields: []string{"age", "resting_hr"},
				Entries: []*cohortv1.Number{num(1, iv(0, 1, 1)), num(-0.25, iv(0.125, -0.495, 0)), num(-0.25, iv(0.125, -0.495, 0)), num(1, iv(0, 1, 1))}}}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Value: &cohortv1.OutputValue_Regression{Regression: &cohortv1.Regression{
				Target: "resting_hr", Features: []string{"age"}, Intercept: 60.5, Coefficients: []float64{0.125}, R2: 0.5,
				InterceptInterval: iv(4, 52.66, 68.34), CoefficientIntervals: []*cohortv1.Interval{iv(0.05, 0.027, 0.223)}}}},
		},
	}
	spec := &cohortv1.JobSpec{Outputs: []*cohortv1.Output{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}, Label: "average age"},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Fields: []string{"age"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Fields: []string{"age", "resting_hr"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age"}},
	}}
	return r, spec
}

// TestResultNoisyGolden: a noisy result shows how it was released and each
// value's standard error and interval (testdata/result-noisy.txt).
func TestResultNoisyGolden(t *testing.T) {
	r, spec := noisyResult()
	var out bytes.Buffer
	if err := Result(&out, r, spec); err != nil {
		t.Fatal(err)
	}
	golden(t, "result-noisy.txt", out.Bytes())
	for _, want := range []string{
		"release DISCRETE_GAUSSIAN, ρ = 1/20 charged per epoch, noise from 3 nodes, intervals at 95% confidence",
		"[45.17377, 57.82623]",
		"95% intervals:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// golden compares got with testdata/file; with COHORT_UPDATE_GOLDEN=1 it
// writes the file instead.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if os.Getenv("COHORT_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", file, got, want)
	}
}

// An exact result says so, with a warning, before its values.
func TestResultExactWarning(t *testing.T) {
	r := &cohortv1.Result{JobId: "job-1", DatasetId: "fitness", CohortSize: 3,
		Release: &cohortv1.ReleaseInfo{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}}
	var b strings.Builder
	if err := Result(&b, r, &cohortv1.JobSpec{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "release EXACT_INSECURE_DEV: WARNING no noise") {
		t.Errorf("exact result printed without its warning:\n%s", b.String())
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestPrintResult(t *testing.T) {
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
	var out bytes.Buffer
	if err := printResult(&out, r, spec); err != nil {
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
	if err := printResult(&out, r, nil); err != nil || !strings.Contains(out.String(), "\nmean (\"average age\")") {
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

func TestJobPrinter(t *testing.T) {
	var out bytes.Buffer
	p := newJobPrinter(&out)
	job := func(s cohortv1.JobState, progress string) *cohortv1.Job {
		return &cohortv1.Job{JobId: "job-1", State: s, Progress: progress}
	}
	p(job(cohortv1.JobState_JOB_STATE_SUBMITTED, "waiting to start"))
	p(job(cohortv1.JobState_JOB_STATE_SUBMITTED, "waiting to start")) // no change: no line
	p(job(cohortv1.JobState_JOB_STATE_ADMITTED, "selecting"))
	p(&cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_DONE, CohortSize: 43,
		Excluded: &cohortv1.Exclusions{Purpose: 5, Revoked: 2}})
	s := out.String()
	if n := strings.Count(s, "\n"); n != 3 {
		t.Errorf("%d lines:\n%s", n, s)
	}
	if !strings.Contains(s, "DONE         cohort of 43 records; excluded: 5 not consented to the purpose, 2 revoked") {
		t.Errorf("final line:\n%s", s)
	}
	out.Reset()
	p(&cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_REJECTED, Reason: "cohort of 3 records is below the minimum of 20"})
	if !strings.Contains(out.String(), "REJECTED     cohort of 3 records is below the minimum of 20") {
		t.Errorf("rejection line: %q", out.String())
	}
}

func TestBuyerToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "buyer.token")
	os.WriteFile(file, []byte("cohort-buyer-from-file\n"), 0o600)

	t.Setenv(buyerTokenEnv, "")
	g := &buyerFlags{tokenFile: file}
	if tok, err := g.token(); err != nil || tok != "cohort-buyer-from-file" {
		t.Fatalf("from the file: %q, %v", tok, err)
	}
	t.Setenv(buyerTokenEnv, "cohort-buyer-from-env")
	if tok, _ := g.token(); tok != "cohort-buyer-from-env" {
		t.Fatalf("the environment does not override the default file: %q", tok)
	}
	g.tokenSet = true
	if tok, _ := g.token(); tok != "cohort-buyer-from-file" {
		t.Fatalf("an explicit --token-file does not win over the environment: %q", tok)
	}
	t.Setenv(buyerTokenEnv, "")
	g = &buyerFlags{tokenFile: filepath.Join(dir, "none")}
	if _, err := g.token(); err == nil || !strings.Contains(err.Error(), buyerTokenEnv) {
		t.Fatalf("missing token: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := (&buyerFlags{tokenFile: empty}).token(); err == nil {
		t.Fatal("empty token file accepted")
	}
}

func TestBuyerCommandFlags(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "buyer.token")
	os.WriteFile(tok, []byte("cohort-buyer-x\n"), 0o600)
	spec := filepath.Join(dir, "job.yaml")
	os.WriteFile(spec, []byte("dataset: d\nepoch: 1\npurpose: p\noutputs: [count]\n"), 0o600)
	t.Setenv(buyerTokenEnv, "")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"buyer", "--token-file", tok, "jobs"}, "--ca is required"},
		{[]string{"buyer", "--token-file", tok, "--ca", "x.pem", "--insecure-plaintext", "jobs"}, "not both"},
		{[]string{"buyer", "--token-file", tok, "--ca", filepath.Join(dir, "none.pem"), "jobs"}, "--ca"},
		{[]string{"buyer", "--token-file", filepath.Join(dir, "none"), "jobs"}, "no buyer token"},
		{[]string{"buyer", "--token-file", tok, "--insecure-plaintext", "submit", filepath.Join(dir, "none.yaml")}, "no such file"},
		{[]string{"buyer", "--token-file", tok, "--insecure-plaintext", "result"}, "accepts 1 arg"},
		{[]string{"buyer", "--token-file", tok, "--node", "127.0.0.1:1", "--insecure-plaintext", "submit", spec}, "Unavailable"},
		{[]string{"admin", "buyers", "create"}, "accepts 1 arg"},
	}
	for _, tc := range cases {
		root := newRootCmd()
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(tc.args)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

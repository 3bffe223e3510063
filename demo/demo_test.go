package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/enclave/stats/reference"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/render"
	"github.com/cohort-dev/cohort/schema"
)

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestDemoRefusals(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	noNodes := func(context.Context, string, io.Writer, net.Listener, net.Listener) error {
		return errors.New("no nodes in this test")
	}
	base := Options{Contributors: 50, Backend: "mpc", BasePort: 7400, RegistryDepth: 20, Seed: 1, RunNode: noNodes}
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"he above its cap", func(o *Options) { o.Backend = "he"; o.Contributors = 1000 }, "at most 150"},
		{"backend", func(o *Options) { o.Backend = "tee" }, "want mpc or he"},
		{"no contributors", func(o *Options) { o.Contributors = 0 }, "want 1..10000"},
		{"too many contributors", func(o *Options) { o.Contributors = 10001 }, "want 1..10000"},
		{"too few for the minimum cohort", func(o *Options) { o.Contributors = 20 }, "below the minimum cohort of 20"},
		{"registry too small", func(o *Options) { o.RegistryDepth = 4; o.Contributors = 17; o.MinCohort = 3 }, "fewer than 17 contributors"},
		{"depth", func(o *Options) { o.RegistryDepth = 33 }, "--registry-depth"},
		{"port", func(o *Options) { o.BasePort = 65530 }, "--base-port"},
		{"data dir not empty", func(o *Options) { o.DataDir = full }, "not empty"},
		{"no node runner", func(o *Options) { o.RunNode = nil }, "no node runner"},
	}
	for _, tc := range cases {
		o := base
		tc.edit(&o)
		err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestDemoSchema(t *testing.T) {
	y, s, err := datasetSchema(0, "mpc")
	if err != nil || s.MinCohort != 20 || !bytes.Equal(y, schema.DefaultYAML()) {
		t.Fatalf("default: %v, %v", s, err)
	}
	_, s3, err := datasetSchema(3, "mpc")
	if err != nil || s3.MinCohort != 3 || s3.Digest() == s.Digest() {
		t.Fatalf("min cohort 3: %v, %v", s3, err)
	}
	// The HE demo caps max_cohort at what bgv-n12-q109 can sum and decrypt
	// with the demo's smudging; its snapshot key differs with the schema.
	_, sh, err := datasetSchema(3, "he")
	if err != nil || sh.MinCohort != 3 || sh.MaxCohort != heMaxCohort || sh.Digest() == s3.Digest() {
		t.Fatalf("HE: %v, %v", sh, err)
	}
	p, _, err := he.Choose(he.Capacity{Nodes: Nodes, Threshold: 2, MaxCohort: sh.MaxCohort, MaxCoord: sh.Bounds().MaxCoord,
		Smudging: he.Smudging{StatisticalBits: heSmudgingBits}}, false, nil)
	if err != nil || p.ID() != he.BGVN12Q109 {
		t.Fatalf("the HE demo's schema chooses %v, %v; want %s", p, err, he.BGVN12Q109)
	}
}

func TestDemoRecords(t *testing.T) {
	recs := people(2000, 11)
	if !slices.EqualFunc(recs[:50], people(50, 11), func(a, b person) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatal("the records depend on more than the seed")
	}
	if fmt.Sprint(people(5, 12)) == fmt.Sprint(recs[:5]) {
		t.Fatal("the seed changes nothing")
	}
	s := schema.Default()
	smokers, commercial := 0, 0
	var all []schema.Record
	regions := map[string]int{}
	for i, r := range recs {
		if _, err := s.Encode(r.record()); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Age < 18 || r.Age > 90 || r.SleepH < 400 || r.SleepH > 1050 {
			t.Fatalf("record %d out of range: %+v", i, r)
		}
		if r.Smoker {
			smokers++
		}
		if !r.consents(jobPurpose) {
			commercial++
			if !slices.Equal(r.Purposes, commercialPurposes) {
				t.Fatalf("record %d purposes %v", i, r.Purposes)
			}
		}
		regions[r.Region]++
		all = append(all, r.record())
	}
	if smokers < 300 || smokers > 500 {
		t.Errorf("%d smokers of 2000, want about 400", smokers)
	}
	if commercial != 200 {
		t.Errorf("%d commercial-only contributors of 2000, want 200", commercial)
	}
	if len(regions) != 4 {
		t.Errorf("regions %v", regions)
	}
	ref, err := reference.New(s, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a, b string
		sign float64
	}{
		{"steps~age", "steps", "age", -1}, {"steps~smoker", "steps", "smoker", -1},
		{"hr~age", "resting_hr", "age", 1}, {"hr~smoker", "resting_hr", "smoker", 1}, {"hr~steps", "resting_hr", "steps", -1},
	} {
		if r, err := ref.Correlation(c.a, c.b); err != nil || r*c.sign < 0.1 {
			t.Errorf("correlation %s = %.3f (%v), want sign %v", c.name, r, err, c.sign)
		}
	}
}

func TestWriteRecordsCSV(t *testing.T) {
	recs := []person{
		{Age: 30, Steps: 12000, RestingHR: 60, SleepH: 725, Smoker: true, Region: "east", Purposes: researchPurposes},
		{Age: 70, Steps: 4000, RestingHR: 75, SleepH: 400, Region: "north", Purposes: commercialPurposes},
		{Age: 45, Steps: 8000, RestingHR: 66, SleepH: 1050, Region: "west", Purposes: researchPurposes, Revoked: true},
	}
	path := filepath.Join(t.TempDir(), "records.csv")
	if err := writeRecordsCSV(path, schema.Default(), recs, jobPurpose); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "age,steps,resting_hr,sleep_h,smoker,region,eligible\n30,12000,60,7.25,1,east,1\n70,4000,75,4.00,0,north,0\n45,8000,66,10.50,0,west,0\n"
	if string(got) != want {
		t.Fatalf("records.csv:\n%s\nwant:\n%s", got, want)
	}
}

func TestDemoTruth(t *testing.T) {
	// resting_hr = 100 − age/2 + 3·smoker exactly.
	var recs []person
	for i := range 12 {
		age := int64(20 + 4*i)
		smoker := i%3 == 0
		hr := 100 - age/2
		if smoker {
			hr += 3
		}
		recs = append(recs, person{Age: age, Steps: int64(1000 * i), RestingHR: hr, SleepH: 700, Smoker: smoker, Region: regionNames[i%4], Purposes: researchPurposes})
	}
	recs = append(recs, person{Age: 90, RestingHR: 200, SleepH: 700, Region: "east", Purposes: researchPurposes, Revoked: true})
	tr, err := eligibleCohort(schema.Default(), recs, jobPurpose)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 12 {
		t.Fatalf("count %d: the revoked record counted", tr.Len())
	}
	if m, err := tr.Mean("age"); err != nil || m.Cmp(big.NewRat(42, 1)) != 0 {
		t.Errorf("mean age %v, %v", m, err)
	}
	if v, err := tr.Covariance("sleep_h", "sleep_h"); err != nil || v.Sign() != 0 {
		t.Errorf("variance of a constant %v, %v", v, err)
	}
	if h, err := tr.Histogram("region"); err != nil || h["north"] != 3 || h["east"] != 3 {
		t.Errorf("histogram %v, %v", h, err)
	}
	if h, err := tr.Histogram("smoker"); err != nil || h["true"] != 4 || h["false"] != 8 {
		t.Errorf("smoker histogram %v, %v", h, err)
	}
	if r, err := tr.Correlation("age", "steps"); err != nil || !near(r, 1) {
		t.Errorf("correlation of collinear fields %v, %v", r, err)
	}
	fit, err := tr.LinearRegression("resting_hr", []string{"age", "smoker"}, 0)
	if err != nil || !near(fit.Intercept, 100) || !near(fit.Coefficients[0], -0.5) || !near(fit.Coefficients[1], 3) || !near(fit.R2, 1) {
		t.Errorf("regression %+v %v", fit, err)
	}
	if _, err := tr.LinearRegression("resting_hr", []string{"age", "steps"}, 0); err == nil {
		t.Error("collinear features solved")
	}
	if _, err := tr.LinearRegression("resting_hr", []string{"age", "steps"}, 0.5); err != nil {
		t.Errorf("ridge makes collinear features solvable: %v", err)
	}
}

func TestCompareOutputDetectsDifferences(t *testing.T) {
	recs := people(30, 3)
	tr, err := eligibleCohort(schema.Default(), recs, jobPurpose)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tr.Mean("age")
	if err != nil {
		t.Fatal(err)
	}
	wantMean, _ := m.Float64()
	exact := m.RatString()
	mean := &cohortv1.Output{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}}
	scalar := func(v float64, exact string) *cohortv1.OutputValue {
		return &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: v, Exact: exact}}}
	}
	for _, tc := range []struct {
		v     *cohortv1.OutputValue
		match bool
	}{
		{scalar(wantMean, exact), true},
		{scalar(wantMean, ""), true},
		{scalar(wantMean*(1+1e-12), exact), true},
		{scalar(wantMean*(1+1e-8), exact), false},
		{scalar(wantMean, "1/3"), false},
	} {
		rows, err := compareOutput(mean, tc.v, tr, false)
		if err != nil || !rows[0].exact || rows[0].ok != tc.match {
			t.Errorf("%v: %v, %v; want match %v", tc.v, rows, err, tc.match)
		}
	}
	var out bytes.Buffer
	spec := &cohortv1.JobSpec{Outputs: []*cohortv1.Output{mean}}
	exactRelease := &cohortv1.ReleaseInfo{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
	_, err = compareResult(&out, spec, &cohortv1.Result{Outputs: []*cohortv1.OutputValue{scalar(wantMean+1, "")}, Release: exactRelease}, tr)
	if err == nil || !strings.Contains(out.String(), "DIFFERS") {
		t.Errorf("a wrong mean passed: %v\n%s", err, out.String())
	}
	// A result without a release is compared exactly too.
	out.Reset()
	if _, err = compareResult(&out, spec, &cohortv1.Result{Outputs: []*cohortv1.OutputValue{scalar(wantMean*(1+1e-8), "")}}, tr); err == nil {
		t.Errorf("a wrong mean passed without a release\n%s", out.String())
	}
}

// noisyMean is a noised mean of age at value with standard error se and
// the 95% interval value ± 1.96·se.
func noisyMean(value, se float64) *cohortv1.OutputValue {
	return &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: value,
		Interval: &cohortv1.Interval{StandardError: se, Low: value - 1.96*se, High: value + 1.96*se}}}}
}

// Under noise the count must still be exact; a mean, sum or bin fails the
// demo beyond 6 standard errors, or when too many miss their intervals;
// a value with an approximate standard error is shown, not judged.
func TestCompareNoisy(t *testing.T) {
	tr, err := eligibleCohort(schema.Default(), people(30, 3), jobPurpose)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := tr.Mean("age")
	mean, _ := m.Float64()
	v, _ := tr.Variance("age")
	variance, _ := v.Float64()
	n := int64(tr.Len())
	rel := &cohortv1.ReleaseInfo{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN, Rho: "1/2", NoisingNodes: Nodes, Confidence: 0.95}
	count := &cohortv1.Output{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}
	meanOut := &cohortv1.Output{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}}
	varOut := &cohortv1.Output{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Fields: []string{"age"}}
	countOf := func(c int64) *cohortv1.OutputValue {
		return &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: float64(c), Exact: fmt.Sprint(c)}}}
	}
	variance99 := &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: variance + 99,
		Interval: &cohortv1.Interval{StandardError: 1, Low: variance + 97, High: variance + 101}}}}
	run := func(outputs []*cohortv1.Output, values ...*cohortv1.OutputValue) (tally, string, error) {
		var out bytes.Buffer
		tl, err := compareResult(&out, &cohortv1.JobSpec{Outputs: outputs}, &cohortv1.Result{Outputs: values, Release: rel}, tr)
		return tl, out.String(), err
	}
	// Inside, 3 SE outside, and a variance 99 SE off: all pass.
	tl, s, err := run([]*cohortv1.Output{count, meanOut, meanOut, varOut}, countOf(n), noisyMean(mean+0.5, 1), noisyMean(mean+3, 1), variance99)
	if err != nil || tl.exact != 1 || tl.exactOK != 1 || tl.noised != 3 || tl.inside != 1 || tl.linear != 2 || tl.linIn != 1 || tl.far != 0 {
		t.Errorf("%+v, %v\n%s", tl, err, s)
	}
	for _, want := range []string{"95% interval", "inside", "outside, 3.0 SE off", "≈1", "1 of 3 intervals contain the plaintext value"} {
		if !strings.Contains(s, want) {
			t.Errorf("comparison lacks %q:\n%s", want, s)
		}
	}
	// A mean 7 SE off fails.
	if tl, s, err := run([]*cohortv1.Output{meanOut}, noisyMean(mean+7, 1)); err == nil || tl.far != 1 || !strings.Contains(s, "FAR outside") {
		t.Errorf("a mean 7 SE off passed: %+v, %v\n%s", tl, err, s)
	}
	// A count that differs fails, noise or not.
	if _, s, err := run([]*cohortv1.Output{count}, countOf(n+1)); err == nil || !strings.Contains(s, "DIFFERS") {
		t.Errorf("a wrong count passed: %v\n%s", err, s)
	}
	// A noised value without an interval, or with an exact value, is refused.
	bare := &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: mean}}}
	if _, _, err := run([]*cohortv1.Output{meanOut}, bare); err == nil || !strings.Contains(err.Error(), "no interval") {
		t.Errorf("a noised mean without an interval: %v", err)
	}
	withExact := noisyMean(mean, 1)
	withExact.GetScalar().Exact = m.RatString()
	if _, _, err := run([]*cohortv1.Output{meanOut}, withExact); err == nil || !strings.Contains(err.Error(), "an exact value") {
		t.Errorf("a noised mean with its exact value: %v", err)
	}
	// Ten means 2.5 SE off: ten misses of ten is implausible.
	var outs []*cohortv1.Output
	var vals []*cohortv1.OutputValue
	for range 10 {
		outs, vals = append(outs, meanOut), append(vals, noisyMean(mean+2.5, 1))
	}
	if tl, _, err := run(outs, vals...); err == nil || !strings.Contains(err.Error(), "10 of 10 values miss their 95% intervals") || tl.far != 0 {
		t.Errorf("ten misses of ten passed: %+v, %v", tl, err)
	}
}

func TestAllowedMisses(t *testing.T) {
	// P(X > m) for X ~ Binomial(k, 0.05) first falls to 10⁻⁶ at these m.
	for k, want := range map[int]int{0: 0, 1: 1, 2: 2, 4: 4, 5: 4, 15: 7, 100: 18} {
		if got := allowedMisses(k); got != want {
			t.Errorf("allowedMisses(%d) = %d, want %d", k, got, want)
		}
	}
}

func TestCheckRelease(t *testing.T) {
	noisy := &cohortv1.ReleaseInfo{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN, Rho: "1/2", NoisingNodes: Nodes}
	exact := &cohortv1.ReleaseInfo{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
	for _, tc := range []struct {
		ri   *cohortv1.ReleaseInfo
		rho  string
		want string
	}{
		{noisy, "1/2", ""}, {noisy, "0.5", ""}, {exact, "", ""},
		{noisy, "1/4", "charged ρ"}, {exact, "1/2", "discrete Gaussian"}, {nil, "1/2", "discrete Gaussian"},
		{noisy, "", "policy is exact"}, {nil, "", "policy is exact"},
		{&cohortv1.ReleaseInfo{Mechanism: noisy.Mechanism, Rho: "1/2", NoisingNodes: 2}, "1/2", "by 2 nodes"},
	} {
		err := checkRelease(&cohortv1.Result{JobId: "job-1", Release: tc.ri}, tc.rho)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v, ρ %q: %v, want %q", tc.ri, tc.rho, err, tc.want)
		}
	}
}

// The noised jobs state ρ and leave out the outputs hopeless at demo
// size; the exact ones state none and ask for everything.
func TestDemoJobs(t *testing.T) {
	s := schema.Default()
	for _, rho := range []string{jobRho, ""} {
		jobs := jobsFor(s, rho)
		if len(jobs) != 2 || jobs[0].name != "statistics" || jobs[1].name != "regression" {
			t.Fatalf("jobs %v", jobs)
		}
		for _, j := range jobs {
			spec, err := client.ParseJobSpec([]byte(j.yaml), func(string) (uint64, error) { return 3, nil })
			if err != nil {
				t.Fatalf("%s: %v\n%s", j.name, err, j.yaml)
			}
			if got, _ := enclave.SpecRho(spec); (rho == "") != got.IsZero() {
				t.Errorf("%s at ρ %q spends %v", j.name, rho, got)
			}
		}
		st := jobs[0].yaml
		if noised := rho != ""; strings.Contains(st, "correlation") == noised || strings.Contains(st, "{variance: steps}") == noised ||
			!strings.Contains(st, "{variance: age}") || !strings.Contains(st, "{mean: steps}") || !strings.Contains(st, "{histogram: region}") {
			t.Errorf("statistics at ρ %q:\n%s", rho, st)
		}
	}
}

// TestWriteResultsJSON: the demo writes the document package render makes
// (whose shape render's tests pin), for its jobs in order.
func TestWriteResultsJSON(t *testing.T) {
	spec := &cohortv1.JobSpec{Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	res := &cohortv1.Result{JobId: "job-1", CohortSize: 44, Backend: cohortv1.Backend_BACKEND_MPC, Outputs: []*cohortv1.OutputValue{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: 44}}},
	}}
	jobs := []*jobRun{
		{job: &cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_DONE, Spec: spec}, result: res, budgetLeft: "7/2"},
		{job: &cohortv1.Job{JobId: "job-2", State: cohortv1.JobState_JOB_STATE_REJECTED, Spec: spec}},
	}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := writeResultsJSON(path, "fitness-2026", jobs); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := render.ResultsJSON("fitness-2026", []render.JobResult{{Job: jobs[0].job, Result: res, BudgetLeft: "7/2"}, {Job: jobs[1].job}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || !bytes.Contains(got, []byte(`"rho_left": "7/2"`)) {
		t.Fatalf("results.json\n got %s\nwant %s", got, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("results.json mode %v (%v)", st.Mode().Perm(), err)
	}
}

func TestDemoSnapshot(t *testing.T) {
	src := filepath.Join(t.TempDir(), "federation")
	files := map[string]os.FileMode{"federation.yaml": 0o644, "node-0/signing.key": 0o600, "node-0/data/cohort.db": 0o600, "ca.pem": 0o644}
	for name, mode := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	root := t.TempDir()
	key := cacheKey("dev", [32]byte{1}, nil, 4, 7400, 3, 5, 100)
	snap := filepath.Join(root, key)
	if _, err := restoreSnapshot(snap, key, filepath.Join(t.TempDir(), "x")); !errNoSnapshot(err) {
		t.Fatalf("missing snapshot: %v", err)
	}
	meta := snapshotMetadata{Key: key, Dataset: "fitness-2026", CircuitDigest: "ab"}
	if err := saveSnapshot(snap, src, meta); err != nil {
		t.Fatal(err)
	}
	if err := saveSnapshot(snap, src, meta); err != nil { // replaces
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Fatalf("cache root holds %d entries", len(entries))
	}
	dst := filepath.Join(t.TempDir(), "restored")
	got, err := restoreSnapshot(snap, key, dst)
	if err != nil || got.Dataset != "fitness-2026" || got.Format != snapshotFormat {
		t.Fatalf("restore: %+v, %v", got, err)
	}
	for name, mode := range files {
		p := filepath.Join(dst, name)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %04o", name, fi, err, mode)
		}
		if b, _ := os.ReadFile(p); string(b) != name {
			t.Errorf("%s: content %q", name, b)
		}
		if di, _ := os.Stat(filepath.Dir(filepath.Join(snap, snapshotFed, name))); di.Mode().Perm() != 0o700 {
			t.Errorf("snapshot directory of %s has mode %04o", name, di.Mode().Perm())
		}
	}
	if _, err := restoreSnapshot(snap, key, dst); err == nil {
		t.Error("restored over an existing directory")
	}
	// Another key's or a damaged metadata file is an unusable snapshot, not a missing one.
	if _, err := restoreSnapshot(snap, cacheKey("dev", [32]byte{2}, nil, 4, 7400, 3, 5, 100), filepath.Join(t.TempDir(), "y")); err == nil || errNoSnapshot(err) {
		t.Errorf("other key: %v", err)
	}
	os.WriteFile(filepath.Join(snap, snapshotMeta), []byte("{"), 0o600)
	if _, err := restoreSnapshot(snap, key, filepath.Join(t.TempDir(), "z")); err == nil || errNoSnapshot(err) {
		t.Errorf("damaged metadata: %v", err)
	}
	// Links are not copied.
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	if err := copyTree(src, filepath.Join(t.TempDir(), "w")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlink: %v", err)
	}
}

func TestDemoCacheKey(t *testing.T) {
	pol := (&run{}).policy()
	k := cacheKey("dev", [32]byte{1}, pol, 20, 7400, 3, 5, 100)
	if k != cacheKey("dev", [32]byte{1}, (&run{}).policy(), 20, 7400, 3, 5, 100) || len(k) != 32 {
		t.Fatalf("key %q not stable", k)
	}
	for _, other := range []string{
		cacheKey("dev", [32]byte{2}, pol, 20, 7400, 3, 5, 100), cacheKey("dev", [32]byte{1}, pol, 4, 7400, 3, 5, 100),
		cacheKey("dev", [32]byte{1}, pol, 20, 7500, 3, 5, 100), cacheKey("dev", [32]byte{1}, pol, 20, 7400, 4, 5, 100), cacheKey("v1.2.3", [32]byte{1}, pol, 20, 7400, 3, 5, 100),
		cacheKey("dev", [32]byte{1}, enclave.DefaultPolicy(), 20, 7400, 3, 5, 100), cacheKey("dev", [32]byte{1}, nil, 20, 7400, 3, 5, 100),
		cacheKey("dev", [32]byte{1}, pol, 20, 7400, 3, 6, 100), cacheKey("dev", [32]byte{1}, pol, 20, 7400, 3, 5, 101),
	} {
		if other == k {
			t.Errorf("key does not depend on every input")
		}
	}
}

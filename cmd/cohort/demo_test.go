package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-dev/cohort/audit"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/schema"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeBasePort finds a base port whose demo ports (BASE+10N, BASE+10N+1)
// are free now.
func freeBasePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 20000 + 10*rand.IntN(4000)
		var held []net.Listener
		ok := true
		for n := range demoNodes {
			for _, p := range []int{base + 10*n, base + 10*n + 1} {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
				if err != nil {
					ok = false
					break
				}
				held = append(held, l)
			}
		}
		for _, l := range held {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports for the demo")
	return 0
}

// TestDemo runs the demo twice with a small registry and eight
// contributors: first cold (federation init and a real ceremony, cached),
// then warm from the cached snapshot with --keep-running, driving the
// running federation with the buyer and admin commands before stopping it.
// Each run's results.json is checked against statistics recomputed here
// from its records.csv.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("ceremony, proving and jobs among three nodes: long tier")
	}
	cache := t.TempDir()
	o := demoOptions{contributors: 8, backend: "mpc", basePort: freeBasePort(t), depth: 4, cacheRoot: cache, minCohort: 3, seed: 7}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	cold := o
	cold.dataDir = filepath.Join(t.TempDir(), "cold")
	var out bytes.Buffer
	if err := runDemo(ctx, &out, cold); err != nil {
		t.Fatalf("cold demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Groth16 ceremony among the 3 nodes", "keys cached in " + cache, "revoked their records",
		"excluded: 1 not consented to public-health, 2 revoked; cohort of 5", "every released value equals the plaintext"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("cold demo output lacks %q:\n%s", want, out.String())
		}
	}
	checkDemoFiles(t, cold.dataDir)
	checkDemoTranscripts(t, cold.dataDir)
	if fi, err := os.Stat(filepath.Join(cold.dataDir, "buyer.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("buyer.token: %v, %v", fi, err)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want one snapshot", len(entries))
	}
	if fi, _ := os.Stat(filepath.Join(cache, entries[0].Name())); fi.Mode().Perm() != 0o700 {
		t.Errorf("snapshot directory mode %04o", fi.Mode().Perm())
	}

	warm := o
	warm.dataDir = filepath.Join(t.TempDir(), "warm")
	warm.keepRunning = true
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wout syncBuffer
	done := make(chan error, 1)
	go func() { done <- runDemo(wctx, &wout, warm) }()
	for !strings.Contains(wout.String(), "serving until interrupted") {
		select {
		case err := <-done:
			t.Fatalf("warm demo ended: %v\n%s", err, wout.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	s := wout.String()
	if !strings.Contains(s, "dataset keys from an earlier demo's ceremony among these same nodes: "+cache) || strings.Contains(s, "Groth16 ceremony among") {
		t.Errorf("the second run did not start from the snapshot:\n%s", s)
	}
	for n := range demoNodes {
		if want := fmt.Sprintf("node %d serving on 127.0.0.1:%d\n", n, o.basePort+10*n); !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkDemoFiles(t, warm.dataDir)
	exerciseBuyerCommands(t, warm.dataDir, fmt.Sprintf("127.0.0.1:%d", o.basePort))
	exerciseAuditCommands(t, warm.dataDir, fmt.Sprintf("127.0.0.1:%d", o.basePort))

	stop()
	if err := <-done; err != nil {
		t.Fatalf("warm demo: %v\n%s", err, wout.String())
	}
	if !strings.Contains(wout.String(), "stopping the nodes") {
		t.Errorf("no graceful stop:\n%s", wout.String())
	}

	// A snapshot that lost a node's store is refused with a warning and the
	// ceremony runs again (stopped here as soon as it starts).
	snap := filepath.Join(cache, entries[0].Name())
	if err := os.RemoveAll(filepath.Join(snap, demoSnapshotFed, "node-1", "data")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(snap, demoSnapshotFed, "node-1", "data"), 0o700)
	broken := o
	broken.dataDir = filepath.Join(t.TempDir(), "broken")
	bctx, bstop := context.WithCancel(ctx)
	defer bstop()
	var bout syncBuffer
	go func() { done <- runDemo(bctx, &bout, broken) }()
	for !strings.Contains(bout.String(), "Groth16 ceremony among") {
		select {
		case err := <-done:
			t.Fatalf("demo from a broken snapshot ended: %v\n%s", err, bout.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	bstop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled demo: %v", err)
	}
	if s := bout.String(); !strings.Contains(s, "WARNING: the cached snapshot "+snap+" is unusable") {
		t.Errorf("no warning about the broken snapshot:\n%s", s)
	}
}

// demoResults is results.json.
type demoResults struct {
	Dataset string `json:"dataset"`
	Jobs    []struct {
		JobID   string            `json:"job_id"`
		Status  string            `json:"status"`
		Backend string            `json:"backend"`
		Cohort  int               `json:"cohort"`
		Outputs []json.RawMessage `json:"outputs"`
	} `json:"jobs"`
}

type demoOutput struct {
	Kind         string            `json:"kind"`
	Field        string            `json:"field"`
	Fields       []string          `json:"fields"`
	Value        *float64          `json:"value"`
	Counts       map[string]uint64 `json:"counts"`
	Matrix       [][]float64       `json:"matrix"`
	Target       string            `json:"target"`
	Features     []string          `json:"features"`
	Intercept    *float64          `json:"intercept"`
	Coefficients []float64         `json:"coefficients"`
	R2           *float64          `json:"r2"`
}

// checkDemoFiles parses results.json strictly in its documented shape and
// checks count, means, variances, histograms and correlations against the
// eligible rows of records.csv.
func checkDemoFiles(t *testing.T, dir string) {
	t.Helper()
	rows := readEligibleRows(t, filepath.Join(dir, "records.csv"))
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res demoResults
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("results.json: %v\n%s", err, raw)
	}
	if res.Dataset != "fitness-2026" || len(res.Jobs) != 2 {
		t.Fatalf("results.json: dataset %q, %d jobs", res.Dataset, len(res.Jobs))
	}
	kinds := map[string]int{}
	for _, j := range res.Jobs {
		if !strings.HasPrefix(j.JobID, "job-") || j.Status != "DONE" || j.Backend != "mpc" || j.Cohort != len(rows) {
			t.Errorf("job %+v; want DONE, mpc, cohort %d", j, len(rows))
		}
		for _, rawOut := range j.Outputs {
			var o demoOutput
			d := json.NewDecoder(bytes.NewReader(rawOut))
			d.DisallowUnknownFields()
			if err := d.Decode(&o); err != nil {
				t.Fatalf("output %s: %v", rawOut, err)
			}
			kinds[o.Kind]++
			checkDemoOutput(t, o, rows)
		}
	}
	for _, k := range []string{"count", "mean", "variance", "histogram", "correlation", "linear_regression"} {
		if kinds[k] == 0 {
			t.Errorf("results.json has no %s output", k)
		}
	}
}

// readEligibleRows returns the rows of records.csv with eligible = 1, by
// column name.
func readEligibleRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"age", "steps", "resting_hr", "sleep_h", "smoker", "region", "eligible"}
	if !slices.Equal(all[0], want) {
		t.Fatalf("records.csv header %q, want %q", all[0], want)
	}
	var rows []map[string]string
	for _, rec := range all[1:] {
		row := map[string]string{}
		for i, name := range all[0] {
			row[name] = rec[i]
		}
		if row["eligible"] == "1" {
			rows = append(rows, row)
		}
	}
	return rows
}

func column(t *testing.T, rows []map[string]string, field string) []*big.Rat {
	t.Helper()
	out := make([]*big.Rat, len(rows))
	for i, r := range rows {
		x, ok := new(big.Rat).SetString(r[field])
		if !ok {
			t.Fatalf("records.csv: %s = %q", field, r[field])
		}
		out[i] = x
	}
	return out
}

func ratMean(xs []*big.Rat) *big.Rat {
	s := new(big.Rat)
	for _, x := range xs {
		s.Add(s, x)
	}
	return s.Quo(s, big.NewRat(int64(len(xs)), 1))
}

// centeredSum is Σ (x − x̄)(y − ȳ).
func centeredSum(xs, ys []*big.Rat) *big.Rat {
	mx, my := ratMean(xs), ratMean(ys)
	s := new(big.Rat)
	for i := range xs {
		a, b := new(big.Rat).Sub(xs[i], mx), new(big.Rat).Sub(ys[i], my)
		s.Add(s, a.Mul(a, b))
	}
	return s
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func checkDemoOutput(t *testing.T, o demoOutput, rows []map[string]string) {
	t.Helper()
	n := float64(len(rows))
	switch o.Kind {
	case "count":
		if o.Value == nil || *o.Value != n {
			t.Errorf("count %v, want %v", o.Value, n)
		}
	case "mean":
		want, _ := ratMean(column(t, rows, o.Field)).Float64()
		if o.Value == nil || !near(*o.Value, want) {
			t.Errorf("mean %s = %v, want %v", o.Field, o.Value, want)
		}
	case "variance":
		xs := column(t, rows, o.Field)
		want, _ := new(big.Rat).Quo(centeredSum(xs, xs), big.NewRat(int64(len(xs)-1), 1)).Float64()
		if o.Value == nil || !near(*o.Value, want) {
			t.Errorf("variance %s = %v, want %v", o.Field, o.Value, want)
		}
	case "histogram":
		want := map[string]uint64{}
		for _, r := range rows {
			v := r[o.Field]
			if o.Field == "smoker" {
				v = map[string]string{"0": "false", "1": "true"}[v]
			}
			want[v]++
		}
		for k, c := range want {
			if o.Counts[k] != c {
				t.Errorf("histogram %s: %s = %d, want %d (%v)", o.Field, k, o.Counts[k], c, o.Counts)
			}
		}
	case "correlation":
		if len(o.Matrix) != len(o.Fields) {
			t.Fatalf("correlation matrix of %d rows for %d fields", len(o.Matrix), len(o.Fields))
		}
		for i, a := range o.Fields {
			for j, b := range o.Fields {
				xa, xb := column(t, rows, a), column(t, rows, b)
				r2, _ := new(big.Rat).Quo(new(big.Rat).Mul(centeredSum(xa, xb), centeredSum(xa, xb)),
					new(big.Rat).Mul(centeredSum(xa, xa), centeredSum(xb, xb))).Float64()
				want := float64(centeredSum(xa, xb).Sign()) * math.Sqrt(r2)
				if !near(o.Matrix[i][j], want) {
					t.Errorf("correlation(%s, %s) = %v, want %v", a, b, o.Matrix[i][j], want)
				}
			}
		}
	case "linear_regression":
		if o.Target != "resting_hr" || len(o.Coefficients) != len(o.Features) || o.Intercept == nil || o.R2 == nil || *o.R2 < 0 || *o.R2 > 1 {
			t.Errorf("regression %+v", o)
		}
	default:
		t.Errorf("unexpected kind %q", o.Kind)
	}
}

// exerciseBuyerCommands drives a running demo federation with the buyer
// and admin commands.
func exerciseBuyerCommands(t *testing.T, dataDir, node string) {
	t.Helper()
	run := func(args ...string) (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	ca, tok := filepath.Join(dataDir, "ca.pem"), filepath.Join(dataDir, "buyer.token")
	buyer := func(args ...string) (string, error) {
		return run(append([]string{"buyer", "--node", node, "--ca", ca, "--token-file", tok}, args...)...)
	}
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}

	if s := must(buyer("datasets")); !strings.Contains(s, "fitness-2026") || !strings.Contains(s, "READY") || !strings.Contains(s, "region:CATEGORY") {
		t.Errorf("datasets:\n%s", s)
	}
	if s := must(buyer("jobs")); strings.Count(s, "DONE") != 2 {
		t.Errorf("jobs:\n%s", s)
	}
	s := must(buyer("submit", filepath.Join(dataDir, "jobs", "regression.yaml"), "--wait"))
	for _, want := range []string{"submitted to node 0", "AGGREGATING", "DONE", "cohort of 5 records", "linear_regression: resting_hr ~ age + steps + sleep_h + smoker", "intercept", "R² = "} {
		if !strings.Contains(s, want) {
			t.Errorf("submit --wait lacks %q:\n%s", want, s)
		}
	}
	id := strings.Fields(s)[1]
	js := must(buyer("result", id, "--json"))
	var res cohortv1.Result
	if err := protojson.Unmarshal([]byte(js), &res); err != nil || res.GetJobId() != id || res.GetCohortSize() != 5 ||
		res.GetOutputs()[0].GetRegression().GetTarget() != "resting_hr" {
		t.Errorf("result --json: %v\n%s", err, js)
	}
	if !strings.Contains(js, "\n  \"jobId\": \""+id+"\",\n") {
		t.Errorf("result --json is not indented JSON:\n%s", js)
	}
	if ws := must(buyer("watch", id)); !strings.Contains(ws, "DONE") {
		t.Errorf("watch of a finished job:\n%s", ws)
	}
	if out, err := buyer("cancel", id); err == nil || !strings.Contains(err.Error(), "FailedPrecondition") {
		t.Errorf("cancel of a finished job: %v\n%s", err, out)
	}

	// A job below the minimum cohort is rejected: watch fails with the reason.
	big := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(big, []byte("dataset: fitness-2026\nepoch: current\npurpose: public-health\nmin_cohort: 1000\noutputs: [count]\n"), 0o600)
	out, err := buyer("submit", big, "--wait")
	if err == nil || !strings.Contains(err.Error(), "rejected") || !strings.Contains(out, "REJECTED") {
		t.Errorf("job below the minimum cohort: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("dataset: fitness-2026\nepoch: current\npurpose: public-health\noutputs:\n  - {median: age}\n"), 0o600)
	if _, err := buyer("submit", bad); err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("bad spec: %v", err)
	}
	if _, err := buyer("submit", filepath.Join(dataDir, "jobs", "statistics.yaml")); err != nil {
		t.Error(err)
	}

	// A second buyer, its token in a new 0600 file, sees none of the first one's jobs.
	second := filepath.Join(t.TempDir(), "second.token")
	s = must(run("admin", "buyers", "create", "second-buyer", "--dir", filepath.Join(dataDir, "federation"), "--token-file", second))
	if !strings.Contains(s, "second-buyer created") {
		t.Errorf("buyers create:\n%s", s)
	}
	if fi, err := os.Stat(second); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("second token file: %v, %v", fi, err)
	}
	if _, err := run("admin", "buyers", "create", "third", "--dir", filepath.Join(dataDir, "federation"), "--token-file", second); err == nil {
		t.Error("buyers create replaced an existing token file")
	}
	if s := must(run("buyer", "--node", node, "--ca", ca, "--token-file", second, "jobs")); !strings.Contains(s, "no jobs") {
		t.Errorf("second buyer's jobs:\n%s", s)
	}
	if _, err := run("buyer", "--node", node, "--ca", ca, "--token-file", second, "result", id); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("another buyer's result: %v", err)
	}
	printed := must(run("admin", "buyers", "create", "printed", "--dir", filepath.Join(dataDir, "federation")))
	if !strings.HasPrefix(printed, "cohort-buyer-") {
		t.Errorf("buyers create printed %q", printed)
	}
	t.Setenv(buyerTokenEnv, strings.TrimSpace(printed))
	if s := must(run("buyer", "--node", node, "--ca", ca, "jobs")); !strings.Contains(s, "no jobs") {
		t.Errorf("token from the environment:\n%s", s)
	}
}

func TestDemoRefusals(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	base := demoOptions{contributors: 50, backend: "mpc", basePort: 7400, depth: 20, seed: 1}
	cases := []struct {
		name string
		edit func(*demoOptions)
		want string
	}{
		{"he above its cap", func(o *demoOptions) { o.backend = "he"; o.contributors = 1000 }, "at most 150"},
		{"backend", func(o *demoOptions) { o.backend = "tee" }, "want mpc or he"},
		{"no contributors", func(o *demoOptions) { o.contributors = 0 }, "want 1..10000"},
		{"too many contributors", func(o *demoOptions) { o.contributors = 10001 }, "want 1..10000"},
		{"too few for the minimum cohort", func(o *demoOptions) { o.contributors = 20 }, "below the minimum cohort of 20"},
		{"registry too small", func(o *demoOptions) { o.depth = 4; o.contributors = 17; o.minCohort = 3 }, "fewer than 17 contributors"},
		{"depth", func(o *demoOptions) { o.depth = 33 }, "--registry-depth"},
		{"port", func(o *demoOptions) { o.basePort = 65530 }, "--base-port"},
		{"data dir not empty", func(o *demoOptions) { o.dataDir = full }, "not empty"},
	}
	for _, tc := range cases {
		o := base
		tc.edit(&o)
		err := runDemo(context.Background(), &bytes.Buffer{}, o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestDemoSchema(t *testing.T) {
	y, s, err := demoSchema(0, "mpc")
	if err != nil || s.MinCohort != 20 || !bytes.Equal(y, schema.DefaultYAML()) {
		t.Fatalf("default: %v, %v", s, err)
	}
	_, s3, err := demoSchema(3, "mpc")
	if err != nil || s3.MinCohort != 3 || s3.Digest() == s.Digest() {
		t.Fatalf("min cohort 3: %v, %v", s3, err)
	}
	// The HE demo caps max_cohort at what bgv-n12-q109 can sum and decrypt
	// with the demo's smudging; its snapshot key differs with the schema.
	_, sh, err := demoSchema(3, "he")
	if err != nil || sh.MinCohort != 3 || sh.MaxCohort != demoHEMaxCohort || sh.Digest() == s3.Digest() {
		t.Fatalf("HE: %v, %v", sh, err)
	}
	p, _, err := he.Choose(he.Capacity{Nodes: demoNodes, Threshold: 2, MaxCohort: sh.MaxCohort, MaxCoord: sh.Bounds().MaxCoord,
		Smudging: he.Smudging{StatisticalBits: demoHESmudgingBits}}, false)
	if err != nil || p.ID() != he.BGVN12Q109 {
		t.Fatalf("the HE demo's schema chooses %v, %v; want %s", p, err, he.BGVN12Q109)
	}
}

func TestDemoRecords(t *testing.T) {
	recs := demoRecords(2000, 11)
	if !slices.EqualFunc(recs[:50], demoRecords(50, 11), func(a, b demoRecord) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatal("the records depend on more than the seed")
	}
	if fmt.Sprint(demoRecords(5, 12)) == fmt.Sprint(recs[:5]) {
		t.Fatal("the seed changes nothing")
	}
	s := schema.Default()
	smokers, commercial := 0, 0
	var age, steps, hr, smoke []float64
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
		if !r.consents(demoJobPurpose) {
			commercial++
			if !slices.Equal(r.Purposes, demoCommercialPurposes) {
				t.Fatalf("record %d purposes %v", i, r.Purposes)
			}
		}
		regions[r.Region]++
		age, steps, hr = append(age, float64(r.Age)), append(steps, float64(r.Steps)), append(hr, float64(r.RestingHR))
		smoke = append(smoke, map[bool]float64{false: 0, true: 1}[r.Smoker])
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
	for _, c := range []struct {
		name string
		a, b []float64
		sign float64
	}{
		{"steps~age", steps, age, -1}, {"steps~smoker", steps, smoke, -1},
		{"hr~age", hr, age, 1}, {"hr~smoker", hr, smoke, 1}, {"hr~steps", hr, steps, -1},
	} {
		if r := pearson(c.a, c.b); r*c.sign < 0.1 {
			t.Errorf("correlation %s = %.3f, want sign %v", c.name, r, c.sign)
		}
	}
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

func TestWriteRecordsCSV(t *testing.T) {
	recs := []demoRecord{
		{Age: 30, Steps: 12000, RestingHR: 60, SleepH: 725, Smoker: true, Region: "east", Purposes: demoResearchPurposes},
		{Age: 70, Steps: 4000, RestingHR: 75, SleepH: 400, Region: "north", Purposes: demoCommercialPurposes},
		{Age: 45, Steps: 8000, RestingHR: 66, SleepH: 1050, Region: "west", Purposes: demoResearchPurposes, Revoked: true},
	}
	path := filepath.Join(t.TempDir(), "records.csv")
	if err := writeRecordsCSV(path, schema.Default(), recs, demoJobPurpose); err != nil {
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
	var recs []demoRecord
	for i := range 12 {
		age := int64(20 + 4*i)
		smoker := i%3 == 0
		hr := 100 - age/2
		if smoker {
			hr += 3
		}
		recs = append(recs, demoRecord{Age: age, Steps: int64(1000 * i), RestingHR: hr, SleepH: 700, Smoker: smoker, Region: demoRegions[i%4], Purposes: demoResearchPurposes})
	}
	recs = append(recs, demoRecord{Age: 90, RestingHR: 200, SleepH: 700, Region: "east", Purposes: demoResearchPurposes, Revoked: true})
	tr, err := newDemoTruth(schema.Default(), recs, demoJobPurpose)
	if err != nil {
		t.Fatal(err)
	}
	if tr.count() != 12 {
		t.Fatalf("count %d: the revoked record counted", tr.count())
	}
	if m := tr.mean("age"); m.Cmp(big.NewRat(42, 1)) != 0 {
		t.Errorf("mean age %v", m)
	}
	if v := tr.covariance("sleep_h", "sleep_h"); v.Sign() != 0 {
		t.Errorf("variance of a constant %v", v)
	}
	if h := tr.histogram("region"); h["north"] != 3 || h["east"] != 3 {
		t.Errorf("histogram %v", h)
	}
	if h := tr.histogram("smoker"); h["true"] != 4 || h["false"] != 8 {
		t.Errorf("smoker histogram %v", h)
	}
	if r := tr.correlation("age", "steps"); !near(r, 1) {
		t.Errorf("correlation of collinear fields %v", r)
	}
	b0, bs, r2, err := tr.linearRegression("resting_hr", []string{"age", "smoker"}, 0)
	if err != nil || !near(b0, 100) || !near(bs[0], -0.5) || !near(bs[1], 3) || !near(r2, 1) {
		t.Errorf("regression %v %v %v %v", b0, bs, r2, err)
	}
	if _, _, _, err := tr.linearRegression("resting_hr", []string{"age", "steps"}, 0); err == nil {
		t.Error("collinear features solved")
	}
	if _, _, _, err := tr.linearRegression("resting_hr", []string{"age", "steps"}, 0.5); err != nil {
		t.Errorf("ridge makes collinear features solvable: %v", err)
	}
}

func TestCompareOutputDetectsDifferences(t *testing.T) {
	recs := demoRecords(30, 3)
	tr, err := newDemoTruth(schema.Default(), recs, demoJobPurpose)
	if err != nil {
		t.Fatal(err)
	}
	wantMean, _ := tr.mean("age").Float64()
	exact := tr.mean("age").RatString()
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
		rows, err := compareOutput(mean, tc.v, tr)
		if err != nil || rows[0].ok != tc.match {
			t.Errorf("%v: %v, %v; want match %v", tc.v, rows, err, tc.match)
		}
	}
	var out bytes.Buffer
	spec := &cohortv1.JobSpec{Outputs: []*cohortv1.Output{mean}}
	err = compareDemoResult(&out, spec, &cohortv1.Result{Outputs: []*cohortv1.OutputValue{scalar(wantMean+1, "")}}, tr)
	if err == nil || !strings.Contains(out.String(), "DIFFERS") {
		t.Errorf("a wrong mean passed: %v\n%s", err, out.String())
	}
}

func TestWriteResultsJSON(t *testing.T) {
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
	path := filepath.Join(t.TempDir(), "results.json")
	job := &demoJob{job: &cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_DONE, Spec: spec}, result: res}
	if err := writeResultsJSON(path, "fitness-2026", []*demoJob{job}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
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
	key := demoCacheKey([32]byte{1}, 4, 7400, 3)
	snap := filepath.Join(root, key)
	if _, err := restoreDemoSnapshot(snap, key, filepath.Join(t.TempDir(), "x")); !errNoSnapshot(err) {
		t.Fatalf("missing snapshot: %v", err)
	}
	meta := demoSnapshotMetadata{Key: key, Dataset: "fitness-2026", CircuitDigest: "ab"}
	if err := saveDemoSnapshot(snap, src, meta); err != nil {
		t.Fatal(err)
	}
	if err := saveDemoSnapshot(snap, src, meta); err != nil { // replaces
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Fatalf("cache root holds %d entries", len(entries))
	}
	dst := filepath.Join(t.TempDir(), "restored")
	got, err := restoreDemoSnapshot(snap, key, dst)
	if err != nil || got.Dataset != "fitness-2026" || got.Format != demoSnapshotFormat {
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
		if di, _ := os.Stat(filepath.Dir(filepath.Join(snap, demoSnapshotFed, name))); di.Mode().Perm() != 0o700 {
			t.Errorf("snapshot directory of %s has mode %04o", name, di.Mode().Perm())
		}
	}
	if _, err := restoreDemoSnapshot(snap, key, dst); err == nil {
		t.Error("restored over an existing directory")
	}
	// Another key's or a damaged metadata file is an unusable snapshot, not a missing one.
	if _, err := restoreDemoSnapshot(snap, demoCacheKey([32]byte{2}, 4, 7400, 3), filepath.Join(t.TempDir(), "y")); err == nil || errNoSnapshot(err) {
		t.Errorf("other key: %v", err)
	}
	os.WriteFile(filepath.Join(snap, demoSnapshotMeta), []byte("{"), 0o600)
	if _, err := restoreDemoSnapshot(snap, key, filepath.Join(t.TempDir(), "z")); err == nil || errNoSnapshot(err) {
		t.Errorf("damaged metadata: %v", err)
	}
	// Links are not copied.
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	if err := copyTree(src, filepath.Join(t.TempDir(), "w")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlink: %v", err)
	}
}

func TestDemoCacheKey(t *testing.T) {
	k := demoCacheKey([32]byte{1}, 20, 7400, 3)
	if k != demoCacheKey([32]byte{1}, 20, 7400, 3) || len(k) != 32 {
		t.Fatalf("key %q not stable", k)
	}
	for _, other := range []string{
		demoCacheKey([32]byte{2}, 20, 7400, 3), demoCacheKey([32]byte{1}, 4, 7400, 3),
		demoCacheKey([32]byte{1}, 20, 7500, 3), demoCacheKey([32]byte{1}, 20, 7400, 4),
	} {
		if other == k {
			t.Errorf("key does not depend on every input")
		}
	}
}

// checkDemoTranscripts runs `cohort audit verify` on the bundles the demo
// wrote (each must pass; the demo's keys come from a real ceremony), and
// verifies copies with one byte flipped at spread positions (each must
// fail), sharing one cache so that the ceremony is replayed once.
func checkDemoTranscripts(t *testing.T, dir string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "transcripts", "*.bundle"))
	if err != nil || len(paths) != 2 {
		t.Fatalf("transcripts: %v (%v), want one per job", paths, err)
	}
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"audit", "verify", "--json"}, paths...))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), `"ok":true`); n != 2 {
		t.Errorf("%d reports say ok, want 2:\n%s", n, out.String())
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	cache := audit.NewCache()
	for k := range 16 {
		pos := (k*7919 + 13) % len(b)
		if k == 0 {
			pos = len(b) - 1
		}
		c := bytes.Clone(b)
		c[pos] ^= 0x40
		if rep := audit.VerifyEncoded(c, audit.DefaultLimits(), audit.WithCache(cache)); rep.OK() {
			t.Errorf("a bundle with byte %d flipped verifies:\n%s", pos, rep)
		}
	}
}

// exerciseAuditCommands, against the live demo federation: `audit fetch`
// returns the bundle the demo wrote; a new contributor contributes through
// the CLI, a job counts the record, and `contributor jobs` finds that job
// (and only it) in the published transcripts.
func exerciseAuditCommands(t *testing.T, dataDir, node string) {
	t.Helper()
	run := func(args ...string) string {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("cohort %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	ca := filepath.Join(dataDir, "ca.pem")
	paths, err := filepath.Glob(filepath.Join(dataDir, "transcripts", "*.bundle"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	id := strings.TrimSuffix(filepath.Base(paths[0]), ".bundle")
	fetched := filepath.Join(t.TempDir(), "fetched.bundle")
	run("audit", "fetch", "--job", id, "--node", node, "--ca", ca, "-o", fetched)
	a, _ := os.ReadFile(paths[0])
	b, _ := os.ReadFile(fetched)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("audit fetch returned %d bytes, the demo wrote %d", len(b), len(a))
	}

	dir := t.TempDir()
	ident := filepath.Join(dir, "alice.json")
	c := []string{"contributor", "--identity", ident, "--node", node, "--ca", ca, "--cache", filepath.Join(dir, "cache")}
	run(append(c, "init")...)
	inv := strings.TrimSpace(run("admin", "invites", "--dir", filepath.Join(dataDir, "federation"), "--count", "1"))
	run(append(c, "register", "--invite", inv)...)
	rec := filepath.Join(dir, "rec.json")
	if err := os.WriteFile(rec, []byte(`{"age":34,"steps":9120,"resting_hr":58,"sleep_h":7.25,"smoker":false,"region":"east"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	run(append(c, "contribute", "--dataset", "fitness-2026", "--epoch", "current", "--record", rec,
		"--purposes", "public-health", "--expiry", time.Now().Add(30*24*time.Hour).Format("2006-01-02"), "--min-cohort", "3")...)
	before := run(append(c, "jobs", "--dataset", "fitness-2026")...)
	if !strings.Contains(before, "0 of ") {
		t.Errorf("jobs before any job counted the record:\n%s", before)
	}
	s := run("buyer", "--node", node, "--ca", ca, "--token-file", filepath.Join(dataDir, "buyer.token"),
		"submit", filepath.Join(dataDir, "jobs", "statistics.yaml"), "--wait")
	job := strings.Fields(s)[1]
	after := run(append(c, "jobs", "--dataset", "fitness-2026")...)
	if !strings.Contains(after, job) || !strings.Contains(after, "1 of ") {
		t.Errorf("contributor jobs does not find job %s:\n%s", job, after)
	}
}

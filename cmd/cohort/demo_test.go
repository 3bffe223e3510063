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
	"github.com/cohort-dev/cohort/demo"
	"github.com/cohort-dev/cohort/enclave/stats/reference"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
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
// are free now and lie below the kernel's ephemeral range. The demo test
// keeps one base for minutes (its cold, warm and exact runs share a cached
// snapshot keyed by it); a port inside the ephemeral range can meanwhile be
// handed to any other test's outgoing connection or port-0 listener, and
// then a later run cannot bind it. Below that range only an explicit bind
// takes a port.
func freeBasePort(t *testing.T) int {
	t.Helper()
	const lowest = 20000
	ephemeral := ephemeralLow()
	span := (ephemeral - 10*demo.Nodes - lowest) / 10
	if span <= 0 {
		t.Fatalf("no ports between %d and the ephemeral range's start %d", lowest, ephemeral)
	}
	for range 50 {
		base := lowest + 10*rand.IntN(span)
		var held []net.Listener
		ok := true
		for n := range demo.Nodes {
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

// ephemeralLow is the first port of Linux's ephemeral range, or 32768 (the
// lowest start among common kernels' defaults) where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low > 32768 {
		return 32768
	}
	return low
}

// TestDemo runs the demo twice with a small registry and eight
// contributors: first cold (federation init and a real ceremony, cached),
// then warm from the cached snapshot with --keep-running, driving the
// running federation with the buyer and admin commands before stopping it;
// both release with noise. Then once more with --exact-insecure-dev. Each
// run's results.json is checked against statistics recomputed here from
// its records.csv: exactly, or within the stated standard errors.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("ceremony, proving and jobs among three nodes: long tier")
	}
	cache := t.TempDir()
	o := demo.Options{Contributors: 8, Backend: "mpc", BasePort: freeBasePort(t), RegistryDepth: 4, CacheDir: cache, MinCohort: 3, Seed: 7, Version: version, RunNode: demoNodeRunner}
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Minute)
	defer cancel()

	cold := o
	cold.DataDir = filepath.Join(t.TempDir(), "cold")
	var out bytes.Buffer
	cold.Out = &out
	if err := demo.Run(ctx, cold); err != nil {
		t.Fatalf("cold demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Groth16 ceremony among the 3 nodes", "keys cached in " + cache, "revoked their records",
		"release policy: discrete Gaussian noise from every node; budget ρ = 8 per epoch, ρ = 8 per buyer and epoch; each demo job spends ρ = 1",
		"excluded: 1 not consented to public-health, 2 revoked; cohort of 5", "95% interval", "std. error",
		"ρ = 1 charged to epoch", "ρ = 7 left of the buyer's 8", "ρ = 6 left of the buyer's 8",
		"the count is exact; ", "noised values lie within their 95% intervals of the plaintext computation over the 5 eligible records",
		"2 jobs spent ρ = 1 each, ρ = 6 of the buyer's 8 is left.",
		"claim keys from ceremony claims-", "credited 20000000 micro-credits",
		"charge: 125 micro-credits (5 per record × 5 counted + 100 fee)", "refunded",
		"buyer's balance: credited 20000000, charged 250, held 0",
		"claimed job", "payout account", "from 2 claims", "refused (AlreadyExists)",
		"2 contributors claimed their rewards anonymously"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("cold demo output lacks %q:\n%s", want, out.String())
		}
	}
	if y, err := os.ReadFile(filepath.Join(cold.DataDir, "jobs", "statistics.yaml")); err != nil || !strings.Contains(string(y), "privacy: {rho: 1}") {
		t.Errorf("statistics.yaml states no ρ: %v\n%s", err, y)
	}
	checkDemoFiles(t, cold.DataDir, false)
	checkDemoTranscripts(t, cold.DataDir)
	if fi, err := os.Stat(filepath.Join(cold.DataDir, "buyer.token")); err != nil || fi.Mode().Perm() != 0o600 {
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
	warm.DataDir = filepath.Join(t.TempDir(), "warm")
	warm.KeepRunning = true
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wout syncBuffer
	done := make(chan error, 1)
	warm.Out = &wout
	go func() { done <- demo.Run(wctx, warm) }()
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
	for n := range demo.Nodes {
		if want := fmt.Sprintf("node %d serving on 127.0.0.1:%d\n", n, o.BasePort+10*n); !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkDemoFiles(t, warm.DataDir, false)
	exerciseBuyerCommands(t, warm.DataDir, fmt.Sprintf("127.0.0.1:%d", o.BasePort))
	exerciseAuditCommands(t, warm.DataDir, fmt.Sprintf("127.0.0.1:%d", o.BasePort))

	stop()
	if err := <-done; err != nil {
		t.Fatalf("warm demo: %v\n%s", err, wout.String())
	}
	if !strings.Contains(wout.String(), "stopping the nodes") {
		t.Errorf("no graceful stop:\n%s", wout.String())
	}

	// A snapshot that lost a node's store is refused with a warning and the
	// ceremony runs again (stopped here as soon as it starts). The snapshot
	// keeps the federation directory in its "federation" subdirectory.
	snap := filepath.Join(cache, entries[0].Name())
	if err := os.RemoveAll(filepath.Join(snap, "federation", "node-1", "data")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(snap, "federation", "node-1", "data"), 0o700)
	broken := o
	broken.DataDir = filepath.Join(t.TempDir(), "broken")
	bctx, bstop := context.WithCancel(ctx)
	defer bstop()
	var bout syncBuffer
	broken.Out = &bout
	go func() { done <- demo.Run(bctx, broken) }()
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

	// The exact development mode: an insecure single-party setup, no
	// cache, exact sums that must equal the plaintext.
	exact := o
	exact.ExactInsecureDev = true
	exact.DataDir = filepath.Join(t.TempDir(), "exact")
	var eout bytes.Buffer
	exact.Out = &eout
	if err := demo.Run(ctx, exact); err != nil {
		t.Fatalf("exact demo: %v\n%s", err, eout.String())
	}
	for _, want := range []string{"INSECURE single-party Groth16 setup", "INSECURE_DEV setup", "release policy: EXACT sums",
		"every released value equals the plaintext computation over the 5 eligible records (exact release: development only)."} {
		if !strings.Contains(eout.String(), want) {
			t.Errorf("exact demo output lacks %q:\n%s", want, eout.String())
		}
	}
	if s := eout.String(); strings.Contains(s, "Groth16 ceremony among") || strings.Contains(s, "cached") || strings.Contains(s, "95% interval") {
		t.Errorf("the exact demo ran a ceremony, used the cache or showed intervals:\n%s", s)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 1 {
		t.Errorf("the exact demo cached its keys: %d snapshots", len(entries))
	}
	checkDemoFiles(t, exact.DataDir, true)
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
		Release *struct {
			Mechanism    string  `json:"mechanism"`
			Rho          string  `json:"rho"`
			NoisingNodes int     `json:"noising_nodes"`
			Confidence   float64 `json:"confidence"`
			Sums         []struct {
				Coordinate   int     `json:"coordinate"`
				Name         string  `json:"name"`
				NodeVariance string  `json:"node_variance"`
				StdDev       float64 `json:"stddev"`
			} `json:"sums"`
		} `json:"release"`
		Budget *struct {
			RhoCharged string `json:"rho_charged"`
			RhoLeft    string `json:"rho_left"`
		} `json:"budget"`
		Charge *struct {
			PricePerRecord uint64 `json:"price_per_record"`
			JobFee         uint64 `json:"job_fee"`
			Cohort         uint64 `json:"cohort"`
			Charged        uint64 `json:"charged"`
			Held           uint64 `json:"held"`
			Refunded       uint64 `json:"refunded"`
		} `json:"charge"`
		Claims []struct {
			PayoutKey string `json:"payout_key"`
			Amount    uint64 `json:"amount"`
			ClaimedAt int64  `json:"claimed_at"`
		} `json:"claims"`
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

	// Noised values' standard errors and intervals.
	StandardError             *float64              `json:"standard_error"`
	Interval                  *[2]float64           `json:"interval"`
	StandardErrors            map[string]float64    `json:"standard_errors"`
	Intervals                 map[string][2]float64 `json:"intervals"`
	InterceptStandardError    *float64              `json:"intercept_standard_error"`
	InterceptInterval         *[2]float64           `json:"intercept_interval"`
	CoefficientStandardErrors []float64             `json:"coefficient_standard_errors"`
	CoefficientIntervals      [][2]float64          `json:"coefficient_intervals"`
}

// checkDemoFiles parses results.json strictly in its documented shape and
// checks count, means, variances, histograms and correlations against the
// eligible rows of records.csv (package reference): exactly, or, noised,
// the count exactly, each mean and bin within 6 of its standard errors,
// and each job's release and budget (ρ = 1 charged of the buyer's 8).
func checkDemoFiles(t *testing.T, dir string, exact bool) {
	t.Helper()
	ref := readEligibleRecords(t, filepath.Join(dir, "records.csv"))
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
	for k, j := range res.Jobs {
		if !strings.HasPrefix(j.JobID, "job-") || j.Status != "DONE" || j.Backend != "mpc" || j.Cohort != ref.Len() {
			t.Errorf("job %+v; want DONE, mpc, cohort %d", j, ref.Len())
		}
		if exact {
			if j.Release == nil || j.Release.Mechanism != "exact_insecure_dev" || j.Release.Rho != "" || j.Budget != nil {
				t.Errorf("exact job %s: release %+v, budget %+v", j.JobID, j.Release, j.Budget)
			}
		} else {
			if r := j.Release; r == nil || r.Mechanism != "discrete_gaussian" || r.Rho != "1" || r.NoisingNodes != 3 || r.Confidence != 0.95 || len(r.Sums) == 0 {
				t.Errorf("noised job %s: release %+v", j.JobID, j.Release)
			}
			if left := []string{"7", "6"}[k]; j.Budget == nil || j.Budget.RhoCharged != "1" || j.Budget.RhoLeft != left {
				t.Errorf("job %s: budget %+v, want ρ 1 charged, %s left", j.JobID, j.Budget, left)
			}
			// Priced: the buyer was charged price × cohort + fee, the rest
			// of the quote refunded, and the first demo.Claimants counted
			// contributors claimed the reward per record.
			c := j.Charge
			if c == nil || c.PricePerRecord != demo.PricePerRecord || c.JobFee != demo.JobFee || c.Cohort != uint64(ref.Len()) ||
				c.Charged != demo.PricePerRecord*uint64(ref.Len())+demo.JobFee || c.Held <= c.Charged || c.Refunded != c.Held-c.Charged {
				t.Errorf("job %s: charge %+v", j.JobID, c)
			}
			if len(j.Claims) != demo.Claimants {
				t.Errorf("job %s: %d claims, want %d", j.JobID, len(j.Claims), demo.Claimants)
			}
			for _, cl := range j.Claims {
				if cl.Amount != demo.PricePerRecord || len(cl.PayoutKey) != 64 || cl.ClaimedAt == 0 {
					t.Errorf("job %s: claim %+v", j.JobID, cl)
				}
			}
		}
		for _, rawOut := range j.Outputs {
			var o demoOutput
			d := json.NewDecoder(bytes.NewReader(rawOut))
			d.DisallowUnknownFields()
			if err := d.Decode(&o); err != nil {
				t.Fatalf("output %s: %v", rawOut, err)
			}
			kinds[o.Kind]++
			checkDemoOutput(t, o, ref, exact)
		}
	}
	want := []string{"count", "mean", "variance", "histogram", "linear_regression"}
	if exact {
		want = append(want, "correlation")
	}
	for _, k := range want {
		if kinds[k] == 0 {
			t.Errorf("results.json has no %s output", k)
		}
	}
}

// readEligibleRecords reads the rows of records.csv with eligible = 1, by
// column name, as records of the default schema.
func readEligibleRecords(t *testing.T, path string) *reference.Cohort {
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
	s := schema.Default()
	var recs []schema.Record
	for _, row := range all[1:] {
		cols := map[string]string{}
		for i, name := range all[0] {
			cols[name] = row[i]
		}
		if cols["eligible"] != "1" {
			continue
		}
		rec := schema.Record{}
		for _, fl := range s.Fields {
			text := cols[fl.Name]
			switch fl.Type {
			case schema.Int:
				x, err := strconv.ParseInt(text, 10, 64)
				if err != nil {
					t.Fatalf("records.csv: %s = %q", fl.Name, text)
				}
				rec[fl.Name] = schema.IntValue(x)
			case schema.Fixed:
				v, err := schema.FixedValue(text)
				if err != nil {
					t.Fatalf("records.csv: %s = %q", fl.Name, text)
				}
				rec[fl.Name] = v
			case schema.Bool:
				if text != "0" && text != "1" {
					t.Fatalf("records.csv: %s = %q", fl.Name, text)
				}
				rec[fl.Name] = schema.BoolValue(text == "1")
			case schema.Category:
				rec[fl.Name] = schema.CategoryValue(text)
			}
		}
		recs = append(recs, rec)
	}
	ref, err := reference.New(s, recs)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func checkDemoOutput(t *testing.T, o demoOutput, ref *reference.Cohort, exact bool) {
	t.Helper()
	float := func(x *big.Rat, err error) float64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		f, _ := x.Float64()
		return f
	}
	// within: a noised value with its interval around it and the truth
	// within 6 standard errors (+ 1/2 for a rounded bin).
	within := func(name string, v float64, se *float64, iv *[2]float64, want, slack float64) {
		t.Helper()
		if se == nil || iv == nil || *se < 0 || iv[0] > v || v > iv[1] || math.Abs(v-want) > 6**se+slack {
			t.Errorf("%s = %v ± %v %v, truth %v", name, v, se, iv, want)
		}
	}
	n := float64(ref.Len())
	switch o.Kind {
	case "count":
		if o.Value == nil || *o.Value != n || o.StandardError != nil || o.Interval != nil {
			t.Errorf("count %v (interval %v), want %v exactly", o.Value, o.Interval, n)
		}
	case "mean":
		want := float(ref.Mean(o.Field))
		switch {
		case o.Value == nil:
			t.Errorf("mean %s without a value", o.Field)
		case exact && (!near(*o.Value, want) || o.Interval != nil):
			t.Errorf("mean %s = %v, want %v", o.Field, *o.Value, want)
		case !exact:
			within("mean "+o.Field, *o.Value, o.StandardError, o.Interval, want, 0)
		}
	case "variance":
		want := float(ref.Variance(o.Field))
		switch {
		case o.Value == nil:
			t.Errorf("variance %s without a value", o.Field)
		case exact && !near(*o.Value, want):
			t.Errorf("variance %s = %v, want %v", o.Field, *o.Value, want)
		case !exact && (*o.Value < 0 || o.StandardError == nil || o.Interval == nil):
			t.Errorf("noised variance %s = %v ± %v", o.Field, *o.Value, o.StandardError)
		}
	case "histogram":
		want, err := ref.Histogram(o.Field)
		if err != nil {
			t.Fatal(err)
		}
		for k, c := range want {
			if exact && o.Counts[k] != c {
				t.Errorf("histogram %s: %s = %d, want %d (%v)", o.Field, k, o.Counts[k], c, o.Counts)
			}
			if !exact {
				se, iv := o.StandardErrors[k], o.Intervals[k]
				within("histogram "+o.Field+"="+k, float64(o.Counts[k]), &se, &iv, float64(c), 0.5)
			}
		}
	case "correlation":
		if len(o.Matrix) != len(o.Fields) {
			t.Fatalf("correlation matrix of %d rows for %d fields", len(o.Matrix), len(o.Fields))
		}
		for i, a := range o.Fields {
			for j, b := range o.Fields {
				want, err := ref.Correlation(a, b)
				if err != nil || (exact && !near(o.Matrix[i][j], want)) || math.Abs(o.Matrix[i][j]) > 1 {
					t.Errorf("correlation(%s, %s) = %v, want %v (%v)", a, b, o.Matrix[i][j], want, err)
				}
			}
		}
	case "linear_regression":
		if o.Target != "resting_hr" || len(o.Coefficients) != len(o.Features) || o.Intercept == nil || o.R2 == nil || *o.R2 < 0 || *o.R2 > 1 {
			t.Errorf("regression %+v", o)
		}
		if !exact && (o.InterceptStandardError == nil || o.InterceptInterval == nil || len(o.CoefficientStandardErrors) != len(o.Features) || len(o.CoefficientIntervals) != len(o.Features)) {
			t.Errorf("noised regression without its intervals: %+v", o)
		}
	default:
		t.Errorf("unexpected kind %q", o.Kind)
	}
	if exact && (o.StandardError != nil || o.Interval != nil || o.StandardErrors != nil || o.Intervals != nil || o.InterceptInterval != nil || o.CoefficientIntervals != nil) {
		t.Errorf("an exact %s output with intervals: %+v", o.Kind, o)
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
	os.WriteFile(big, []byte("dataset: fitness-2026\nepoch: current\npurpose: public-health\nmin_cohort: 1000\nprivacy: {rho: 1/8}\noutputs: [count, {mean: age}]\n"), 0o600)
	out, err := buyer("submit", big, "--wait")
	if err == nil || !strings.Contains(err.Error(), "rejected") || !strings.Contains(out, "REJECTED") {
		t.Errorf("job below the minimum cohort: %v\n%s", err, out)
	}
	// The demo's two jobs and the regression above spent ρ = 3 of 8; the
	// rejected job nothing.
	if s := must(buyer("budget", "--dataset", "fitness-2026")); !strings.Contains(s, "discrete_gaussian, ρ per epoch 8 for all buyers, 8 per buyer") ||
		!strings.Contains(s, "available: ρ = 5 for one job") {
		t.Errorf("budget:\n%s", s)
	}
	// A job asking more than the buyer's budget per epoch is refused at submission.
	greedy := filepath.Join(t.TempDir(), "greedy.yaml")
	os.WriteFile(greedy, []byte("dataset: fitness-2026\nepoch: current\npurpose: public-health\nprivacy: {rho: 9}\noutputs: [{mean: age}]\n"), 0o600)
	if _, err := buyer("submit", greedy); err == nil || !strings.Contains(err.Error(), "exceeds the dataset's budget") {
		t.Errorf("a job above the budget: %v", err)
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
	s = must(run("buyer", "--token-file", second, "keygen", "second-buyer"))
	_, pub, ok := strings.Cut(s, "public key: ")
	if !ok {
		t.Fatalf("keygen printed:\n%s", s)
	}
	pub = strings.TrimSpace(pub)
	if fi, err := os.Stat(filepath.Join(filepath.Dir(second), "buyer.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("second buyer's key file: %v, %v", fi, err)
	}
	if _, err := run("admin", "buyers", "create", "keyless", "--dir", filepath.Join(dataDir, "federation")); err == nil || !strings.Contains(err.Error(), "--public-key") {
		t.Errorf("buyers create without a public key: %v", err)
	}
	s = must(run("admin", "buyers", "create", "second-buyer", "--public-key", pub, "--dir", filepath.Join(dataDir, "federation"), "--token-file", second))
	if !strings.Contains(s, "second-buyer created") {
		t.Errorf("buyers create:\n%s", s)
	}
	if fi, err := os.Stat(second); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("second token file: %v, %v", fi, err)
	}
	if _, err := run("admin", "buyers", "create", "third", "--public-key", pub, "--dir", filepath.Join(dataDir, "federation"), "--token-file", second); err == nil {
		t.Error("buyers create replaced an existing token file")
	}
	if s := must(run("buyer", "--node", node, "--ca", ca, "--token-file", second, "jobs")); !strings.Contains(s, "no jobs") {
		t.Errorf("second buyer's jobs:\n%s", s)
	}
	if _, err := run("buyer", "--node", node, "--ca", ca, "--token-file", second, "result", id); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("another buyer's result: %v", err)
	}
	printed := must(run("admin", "buyers", "create", "printed", "--public-key", pub, "--dir", filepath.Join(dataDir, "federation")))
	if !strings.HasPrefix(printed, "cohort-buyer-") {
		t.Errorf("buyers create printed %q", printed)
	}
	t.Setenv(buyerTokenEnv, strings.TrimSpace(printed))
	if s := must(run("buyer", "--node", node, "--ca", ca, "jobs")); !strings.Contains(s, "no jobs") {
		t.Errorf("token from the environment:\n%s", s)
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
	cmd.SetArgs(append([]string{"audit", "verify", "--json", "--federation", filepath.Join(dir, "federation", "federation.yaml")}, paths...))
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
	c := []string{"contributor", "--identity", ident, "--node", node, "--ca", ca, "--federation", filepath.Join(dataDir, "federation", "federation.yaml"),
		"--cache", filepath.Join(dir, "cache")}
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

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

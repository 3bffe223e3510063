package benchmarks

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The performance report: TestPerformanceReport runs the benchmarks of
// proving, verification, ingest, jobs and the audit as `go test -bench`
// subprocesses, one command per figure, parses their output and writes
// REPORT.md with its tables and report/*.png with its plots. Each figure
// names the command it came from, so anyone can rerun it. It runs only with
// -perf-report (make bench-report), so that make test skips it.
var writePerfReport = flag.Bool("perf-report", false, "run the benchmarks and write REPORT.md and report/*.png (make bench-report)")

// Sizes of the report's figures. The job's cohort sizes default to those
// that finish on two cores in a bounded time (seeding 100,000 records on
// three nodes takes a few minutes); add 1000000 for the million-record
// point, e.g. make bench-report BENCH_JOB_RECORDS=1000,10000,100000,1000000.
var (
	perfJobRecords   = flag.String("perf.job-records", "1000,10000,100000", "cohort sizes of the report's job figure")
	perfAuditRecords = flag.String("perf.audit-records", "1000,10000,100000", "transcript sizes of the report's audit figure")
	perfIngestN      = flag.Int("perf.ingest-uploads", 100, "uploads of each run of the report's ingest figure")
	// perfRun names the figures to run, comma separated; the others are
	// read back from the output their last run kept in report/perf/.
	perfRun = flag.String("perf.run", "prove,batch,ingest,job,audit", "figures of the report to run; the others are rendered from report/perf/")
)

// rawHeader starts the output a figure keeps in report/perf/: when and how
// long it ran, and the load average around it.
const rawHeader = "# cohort-bench "

// figure is one benchmark command of the report and what it printed.
type figure struct {
	name    string   // file stem of its raw output and plot
	pkg     string   // package, relative to the module root
	args    []string // after `go test PKG -run '^$'`
	results []benchResult
	elapsed time.Duration
	load    [2]string // load average before and after
	date    time.Time // when it started
}

// readHeader takes the date, duration and load of a figure's last run from
// the header of its kept output.
func (f *figure) readHeader(out []byte) {
	line, _, _ := bytes.Cut(out, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte(rawHeader))
	if !ok {
		return
	}
	for _, kv := range strings.Fields(string(rest)) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "date":
			f.date, _ = time.Parse(time.RFC3339, v)
		case "elapsed":
			f.elapsed, _ = time.ParseDuration(v)
		case "load-before":
			f.load[0] = strings.ReplaceAll(v, ",", " ")
		case "load-after":
			f.load[1] = strings.ReplaceAll(v, ",", " ")
		}
	}
}

// command is the figure's command as a user types it at the module root.
func (f *figure) command() string {
	q := make([]string, 0, len(f.args))
	for _, a := range f.args {
		if strings.ContainsAny(a, "$^*|() ") {
			a = "'" + a + "'"
		}
		q = append(q, a)
	}
	return "go test " + f.pkg + " -run '^$' " + strings.Join(q, " ")
}

// benchResult is one line of `go test -bench` output: the benchmark's name
// without its GOMAXPROCS suffix, its iterations and its metrics by unit
// (ns/op, B/op, and every b.ReportMetric).
type benchResult struct {
	name    string
	n       int
	metrics map[string]float64
}

func (r benchResult) get(unit string) float64 { return r.metrics[unit] }

// parseBench reads the result lines of `go test -bench` output.
func parseBench(out []byte) []benchResult {
	var rs []benchResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || !strings.HasPrefix(fs[0], "Benchmark") || len(fs)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(fs[1])
		if err != nil {
			continue
		}
		name := fs[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := benchResult{name: name, n: n, metrics: map[string]float64{}}
		for i := 2; i+1 < len(fs); i += 2 {
			v, err := strconv.ParseFloat(fs[i], 64)
			if err != nil {
				continue
			}
			r.metrics[fs[i+1]] = v
		}
		rs = append(rs, r)
	}
	return rs
}

// find returns the results whose name starts with prefix, in order.
func (f *figure) find(prefix string) []benchResult {
	var out []benchResult
	for _, r := range f.results {
		if strings.HasPrefix(r.name, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// subValue is the integer after key= in a sub-benchmark's name, or -1.
func subValue(name, key string) int {
	for _, part := range strings.Split(name, "/") {
		if v, ok := strings.CutPrefix(part, key+"="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "unknown"
	}
	return strings.Join(fs[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func TestPerformanceReport(t *testing.T) {
	if !*writePerfReport {
		t.Skip("runs the benchmarks and writes the performance report: run with -perf-report (make bench-report)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	figs := []*figure{
		{name: "prove", pkg: "./benchmarks", args: []string{"-bench", "^BenchmarkContributionProve$", "-benchtime", "1x", "-timeout", "60m"}},
		{name: "batch", pkg: "./circuits", args: []string{"-bench", "^BenchmarkBatchVerify$", "-benchtime", "2s"}},
		{name: "ingest", pkg: "./node", args: []string{"-bench", "^BenchmarkIngest$", "-benchtime", fmt.Sprintf("%dx", *perfIngestN), "-ingest.clients", "32", "-timeout", "60m"}},
		{name: "job", pkg: "./node", args: []string{"-bench", "^BenchmarkJob$", "-benchtime", "3x", "-job.records", *perfJobRecords, "-timeout", "120m"}},
		{name: "audit", pkg: "./benchmarks", args: []string{"-bench", "^BenchmarkAuditProofs$", "-benchtime", "1x", "-audit.records", *perfAuditRecords}},
	}
	rawDir := filepath.Join("report", "perf")
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := map[string]bool{}
	for _, name := range strings.Split(*perfRun, ",") {
		run[strings.TrimSpace(name)] = true
	}
	start := time.Now()
	for _, f := range figs {
		raw := filepath.Join(rawDir, f.name+".txt")
		if !run[f.name] {
			out, err := os.ReadFile(raw)
			if err != nil {
				t.Fatalf("%s is not run (-perf.run) and its last output is missing: %v", f.name, err)
			}
			f.readHeader(out)
			if f.results = parseBench(out); len(f.results) == 0 {
				t.Fatalf("%s holds no benchmark results", raw)
			}
			continue
		}
		args := append([]string{"test", f.pkg, "-run", "^$"}, f.args...)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		f.load[0] = loadAverage()
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		f.elapsed = time.Since(t0)
		f.load[1] = loadAverage()
		f.date = t0.UTC()
		header := fmt.Sprintf("%sdate=%s elapsed=%s load-before=%s load-after=%s\n# %s\n", rawHeader,
			f.date.Format(time.RFC3339), f.elapsed.Round(time.Second), strings.ReplaceAll(f.load[0], " ", ","),
			strings.ReplaceAll(f.load[1], " ", ","), f.command())
		if werr := os.WriteFile(raw, append([]byte(header), out...), 0o644); werr != nil {
			t.Fatal(werr)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", f.command(), err, out)
		}
		f.results = parseBench(out)
		if len(f.results) == 0 {
			t.Fatalf("%s printed no benchmark results:\n%s", f.command(), out)
		}
		t.Logf("%s: %d results in %s", f.name, len(f.results), f.elapsed.Round(time.Second))
	}
	md, err := renderPerfReport(figs, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("REPORT.md", md, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote REPORT.md and report/*.png in %s", time.Since(start).Round(time.Second))
}

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkJob/records=10000-2         	       3	3021236567 ns/op	       107.6 peak-heap-MB	     10000 records	412613997 B/op	 3299005 allocs/op
BenchmarkBatchVerify/batch/n=8-16    	     100	   1234 ns/op	  800.5 proofs/s
--- FAIL: BenchmarkX
ok  	github.com/cohort-dev/cohort/node	17.048s
`)
	rs := parseBench(out)
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2: %+v", len(rs), rs)
	}
	if rs[0].name != "BenchmarkJob/records=10000" || rs[0].n != 3 || rs[0].get("ns/op") != 3021236567 ||
		rs[0].get("peak-heap-MB") != 107.6 || rs[0].get("allocs/op") != 3299005 {
		t.Errorf("first result %+v", rs[0])
	}
	if subValue(rs[0].name, "records") != 10000 || subValue(rs[1].name, "n") != 8 || subValue(rs[1].name, "records") != -1 {
		t.Errorf("sub-benchmark values of %q, %q", rs[0].name, rs[1].name)
	}
	if rs[1].name != "BenchmarkBatchVerify/batch/n=8" || rs[1].get("proofs/s") != 800.5 {
		t.Errorf("second result %+v", rs[1])
	}
}

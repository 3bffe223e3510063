package benchmarks

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// series is one line of a plot.
type series struct {
	label  string
	xys    plotter.XYs
	points bool // points alone, unjoined
}

// writeLinePlot draws series as lines with points at report/<name>.png.
func writeLinePlot(name, title, xLabel, yLabel string, logX, logY bool, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	if logX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if logY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, s := range ss {
		if len(s.xys) == 0 {
			continue
		}
		for _, xy := range s.xys {
			xlo, xhi, ylo, yhi = min(xlo, xy.X), max(xhi, xy.X), min(ylo, xy.Y), max(yhi, xy.Y)
		}
		line, points, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return fmt.Errorf("plot %s, %s: %w", name, s.label, err)
		}
		c := kindColors[i%len(kindColors)]
		line.Color, points.Color = c, c
		points.Shape = draw.CircleGlyph{}
		if s.points {
			p.Add(points)
		} else {
			p.Add(line, points)
		}
		if s.label != "" {
			p.Legend.Add(s.label, line, points)
		}
	}
	if logX && xlo > 0 {
		p.X.Min, p.X.Max = xlo/1.5, xhi*1.5
	}
	if logY && ylo > 0 {
		p.Y.Min, p.Y.Max = ylo/2, yhi*2
	} else if !logY {
		p.Y.Min = 0
	}
	p.Legend.Left, p.Legend.Top = true, true
	return p.Save(5*vg.Inch, 3.5*vg.Inch, filepath.Join("report", name+".png"))
}

// writeBarPlot draws one bar per label at report/<name>.png.
func writeBarPlot(name, title, yLabel string, labels []string, values []float64) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(40))
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	bars.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	p.Add(bars)
	p.NominalX(labels...)
	p.Y.Min = 0
	return p.Save(4*vg.Inch, 3*vg.Inch, filepath.Join("report", name+".png"))
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func seconds(ns float64) string {
	switch s := ns / 1e9; {
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	case s >= 0.1:
		return fmt.Sprintf("%.2f s", s)
	default:
		return fmt.Sprintf("%.1f ms", s*1e3)
	}
}

// renderPerfReport writes the plots and returns REPORT.md.
func renderPerfReport(figs []*figure, total time.Duration) ([]byte, error) {
	byName := map[string]*figure{}
	for _, f := range figs {
		byName[f.name] = f
	}
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Cohort performance report\n\n")
	w("Written by `make bench-report` (TestPerformanceReport in this directory,\n")
	w("with `-perf-report`), which runs each benchmark below as a `go test -bench`\n")
	w("command at the module root, keeps its output in `report/perf/`, and draws\n")
	w("the plots in `report/`. Every figure names its command: run it to check\n")
	w("the figure. Design: docs/design.md §5.6 (verification and ingest), §7.6\n")
	w("(jobs that stream), §7.7 (these figures).\n\n")
	w("**Machine.** %s, %d CPUs as Go sees them (GOMAXPROCS %d), %s/%s, %s.\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	w("Rendered %s from the runs below, each with its date (`-perf.run` names\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	w("the figures to rerun; the others keep their last run; %s of benchmarks\n", total.Round(time.Second))
	w("this time). The machine was shared: the load average (1, 5,\n")
	w("15 minutes) before and after each command is given with it; where it is\n")
	w("above the CPU count, wall times are slower than on an idle machine, by up\n")
	w("to the ratio of the two, and CPU times (where reported) are the steadier\n")
	w("measure.\n\n")

	for _, sec := range []struct {
		name   string
		render func(*bytes.Buffer, *figure) error
	}{{"prove", renderProve}, {"batch", renderBatch}, {"ingest", renderIngest}, {"job", renderJob}, {"audit", renderAudit}} {
		f := byName[sec.name]
		if f == nil {
			continue
		}
		if err := sec.render(&b, f); err != nil {
			return nil, err
		}
		w("\n_Command_ (run %s, %s, load average %s before, %s after):\n\n",
			f.date.Format("2006-01-02 15:04 MST"), f.elapsed.Round(time.Second), f.load[0], f.load[1])
		w("    %s\n\n", f.command())
	}
	return b.Bytes(), nil
}

func renderProve(b *bytes.Buffer, f *figure) error {
	rs := f.find("BenchmarkContributionProve/")
	slices.SortFunc(rs, func(x, y benchResult) int { return int(x.get("constraints") - y.get("constraints")) })
	fmt.Fprintf(b, "## Proving time against schema size\n\n")
	fmt.Fprintf(b, "A contributor's work for one record (share, prove, seal; `Prover.Build`,\n")
	fmt.Fprintf(b, "k = 3 nodes, registry depth 20) for the demo schema and synthetic schemas of\n")
	fmt.Fprintf(b, "4, 16 and 64 fields, without and with every second moment.\n\n")
	fmt.Fprintf(b, "| schema | constraints | coordinates | payload bytes | prove |\n| --- | ---: | ---: | ---: | ---: |\n")
	var xys plotter.XYs
	for _, r := range rs {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", strings.TrimPrefix(r.name, "BenchmarkContributionProve/"),
			thousands(int(r.get("constraints"))), thousands(int(r.get("coords"))), thousands(int(r.get("payload-bytes"))), seconds(r.get("ns/op")))
		xys = append(xys, plotter.XY{X: r.get("constraints"), Y: r.get("ns/op") / 1e9})
	}
	fmt.Fprintf(b, "\n![proving time against constraints](report/prove.png)\n")
	return writeLinePlot("prove", "Proving time per record", "constraints", "seconds", true, true, []series{{xys: xys, points: true}})
}

func renderBatch(b *bytes.Buffer, f *figure) error {
	fmt.Fprintf(b, "## Batch against single verification\n\n")
	fmt.Fprintf(b, "Time per proof of `VerifyBatch` (one multi-Miller loop and one final\n")
	fmt.Fprintf(b, "exponentiation per batch, docs/design.md §5.6) and of gnark's verifier on\n")
	fmt.Fprintf(b, "each proof in parallel across the CPUs, against the batch size; the MPC\n")
	fmt.Fprintf(b, "test circuit. At n = 1 both run gnark's verifier once.\n\n")
	fmt.Fprintf(b, "| n | batch: µs/proof | proofs/s | each: µs/proof | proofs/s | ratio |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var batch, each plotter.XYs
	for _, r := range f.find("BenchmarkBatchVerify/batch/") {
		n := subValue(r.name, "n")
		var e benchResult
		for _, c := range f.find("BenchmarkBatchVerify/each/") {
			if subValue(c.name, "n") == n {
				e = c
			}
		}
		bp, ep := r.get("proofs/s"), e.get("proofs/s")
		if bp == 0 || ep == 0 {
			continue
		}
		fmt.Fprintf(b, "| %d | %.0f | %s | %.0f | %s | %.1f× |\n", n, 1e6/bp, thousands(int(bp)), 1e6/ep, thousands(int(ep)), bp/ep)
		batch = append(batch, plotter.XY{X: float64(n), Y: 1e6 / bp})
		each = append(each, plotter.XY{X: float64(n), Y: 1e6 / ep})
	}
	fmt.Fprintf(b, "\n![time per proof against batch size](report/batch.png)\n")
	return writeLinePlot("batch", "Verification time per proof", "batch size n", "µs per proof", true, true,
		[]series{{label: "VerifyBatch", xys: batch}, {label: "gnark Verify on each", xys: each}})
}

func renderIngest(b *bytes.Buffer, f *figure) error {
	fmt.Fprintf(b, "## Ingest rate\n\n")
	fmt.Fprintf(b, "The federation's sustained rate: three nodes on loopback (real gRPC,\n")
	fmt.Fprintf(b, "mTLS between peers, SQLite), proved payloads uploaded by 32 concurrent\n")
	fmt.Fprintf(b, "clients; each contribution costs every node a proof check, an HPKE open\n")
	fmt.Fprintf(b, "and a durable commit. Both ways of verifying in one run. CPU is that of\n")
	fmt.Fprintf(b, "the three nodes and the clients, per contribution.\n\n")
	fmt.Fprintf(b, "| verification | uploads | contributions/s | CPU per contribution |\n| --- | ---: | ---: | ---: |\n")
	var labels []string
	var values []float64
	for _, r := range f.find("BenchmarkIngest/") {
		label := strings.TrimPrefix(r.name, "BenchmarkIngest/")
		fmt.Fprintf(b, "| %s | %d | %.1f | %.1f ms |\n", label, r.n, r.get("contributions/s"), r.get("cpu-ms/contribution"))
		labels, values = append(labels, label), append(values, r.get("contributions/s"))
	}
	if len(values) == 2 && values[0] > 0 {
		fmt.Fprintf(b, "\nBatched verification ingests %.2f× the rate of per-proof verification in this run.\n", values[1]/values[0])
	}
	fmt.Fprintf(b, "\n![ingest rate](report/ingest.png)\n")
	return writeBarPlot("ingest", "Ingest, 32 clients", "contributions/s", labels, values)
}

func renderJob(b *bytes.Buffer, f *figure) error {
	fmt.Fprintf(b, "## Job time and memory against records\n\n")
	fmt.Fprintf(b, "A whole MPC job (the demo's statistics job, exact release) on three nodes\n")
	fmt.Fprintf(b, "on loopback, SQLite, from SubmitJob to DONE: selection, partial sums,\n")
	fmt.Fprintf(b, "combination, release, the transcript built, checked and signed by every\n")
	fmt.Fprintf(b, "node. Each job starts once every node has stored the previous job's\n")
	fmt.Fprintf(b, "transcript (`-job.settle`), so its time is a job's latency; its CPU counts\n")
	fmt.Fprintf(b, "that publishing too. The first job of each size is the first over its\n")
	fmt.Fprintf(b, "freshly seeded records (its nodes fault the database into memory and hash\n")
	fmt.Fprintf(b, "every claim subtree), so each row averages one such job with later ones;\n")
	fmt.Fprintf(b, "`-job.warm` times later jobs alone. Records are seeded into every node's store as ingest would have\n")
	fmt.Fprintf(b, "written them (one ingested, the rest with its proof; node's\n")
	fmt.Fprintf(b, "seedContributions). Peak heap is the largest heap in use during the jobs\n")
	fmt.Fprintf(b, "above what the harness held before them, for the three nodes together\n")
	fmt.Fprintf(b, "(they share the process), so it bounds each node's. CPU is all three\n")
	fmt.Fprintf(b, "nodes' per job. Targets: 100,000 records in at most 2 s, 1,000,000 in at\n")
	fmt.Fprintf(b, "most 20 s. The million-record point is opt-in: `make bench-report\n")
	fmt.Fprintf(b, "BENCH_JOB_RECORDS=1000,10000,100000,1000000`.\n\n")
	fmt.Fprintf(b, "| records | time / job | CPU / job | peak heap | allocated / job |\n| ---: | ---: | ---: | ---: | ---: |\n")
	var tm, cpu, heap plotter.XYs
	for _, r := range f.find("BenchmarkJob/") {
		n := float64(subValue(r.name, "records"))
		fmt.Fprintf(b, "| %s | %s | %.2f s | %.0f MB | %.0f MB |\n", thousands(int(n)), seconds(r.get("ns/op")), r.get("cpu-s/op"), r.get("peak-heap-MB"), r.get("B/op")/(1<<20))
		tm = append(tm, plotter.XY{X: n, Y: r.get("ns/op") / 1e9})
		cpu = append(cpu, plotter.XY{X: n, Y: r.get("cpu-s/op")})
		heap = append(heap, plotter.XY{X: n, Y: max(r.get("peak-heap-MB"), 0.1)})
	}
	renderJobPhases(b, f)
	fmt.Fprintf(b, "\n![job time against records](report/job-time.png) ![peak heap against records](report/job-memory.png)\n")
	if err := writeLinePlot("job-time", "MPC job, 3 nodes", "records", "seconds per job", true, true,
		[]series{{label: "wall time", xys: tm}, {label: "CPU time, 3 nodes", xys: cpu}}); err != nil {
		return err
	}
	return writeLinePlot("job-memory", "MPC job, 3 nodes", "records", "peak heap, MB", true, true, []series{{xys: heap}})
}

// jobPhases are the phases of a job's round BenchmarkJob reports, as
// <phase>-ms/op (the coordinator's cohort_job_phase_seconds).
var jobPhases = []string{"select", "partial", "transcript", "sign", "release"}

// renderJobPhases writes where a job's time goes, phase by phase, when
// the run reported it.
func renderJobPhases(b *bytes.Buffer, f *figure) {
	rs := f.find("BenchmarkJob/")
	if len(rs) == 0 || rs[0].metrics["select-ms/op"] == 0 {
		return
	}
	fmt.Fprintf(b, "\nWhere a job's time goes: its coordinator's round, phase by phase\n")
	fmt.Fprintf(b, "(`cohort_job_phase_seconds`; design §7.7): select is PrepareJob on every\n")
	fmt.Fprintf(b, "node (each reads its cohort's rows once), partial ComputePartial, transcript\n")
	fmt.Fprintf(b, "its building, sign the peers' checks and signatures, release the bundle,\n")
	fmt.Fprintf(b, "result and DONE committed. The publish to the peers comes after DONE.\n\n")
	fmt.Fprintf(b, "| records | %s |\n| ---: |%s\n", strings.Join(jobPhases, " | "), strings.Repeat(" ---: |", len(jobPhases)))
	for _, r := range rs {
		fmt.Fprintf(b, "| %s |", thousands(subValue(r.name, "records")))
		for _, p := range jobPhases {
			fmt.Fprintf(b, " %s |", seconds(r.get(p+"-ms/op")*1e6))
		}
		fmt.Fprintf(b, "\n")
	}
}

func renderAudit(b *bytes.Buffer, f *figure) error {
	fmt.Fprintf(b, "## Audit time against records\n\n")
	fmt.Fprintf(b, "The part of `cohort audit verify` that grows with an MPC transcript's\n")
	fmt.Fprintf(b, "records: decoding every record's proof and public inputs and checking\n")
	fmt.Fprintf(b, "every proof in one `VerifyBatch` call, as the audit does (demo schema;\n")
	fmt.Fprintf(b, "16 proved records repeated, each occurrence checked in full).\n\n")
	fmt.Fprintf(b, "| records | time | proofs/s |\n| ---: | ---: | ---: |\n")
	var xys plotter.XYs
	for _, r := range f.find("BenchmarkAuditProofs/") {
		n := float64(subValue(r.name, "records"))
		fmt.Fprintf(b, "| %s | %s | %s |\n", thousands(int(n)), seconds(r.get("ns/op")), thousands(int(r.get("proofs/s"))))
		xys = append(xys, plotter.XY{X: n, Y: r.get("ns/op") / 1e9})
	}
	fmt.Fprintf(b, "\n![audit time against records](report/audit.png)\n")
	return writeLinePlot("audit", "Audit proof checks", "records", "seconds", true, true, []series{{xys: xys}})
}

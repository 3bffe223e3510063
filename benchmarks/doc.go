// Package benchmarks holds Cohort's cross-package benchmarks. Run them with
// `make bench` or, for one family, e.g.
//
//	go test ./benchmarks -run '^$' -bench 'Contribution' -benchtime 5x
//
// Each benchmark reports its figures with b.ReportMetric (constraints,
// payload bytes, …) beside the time, so that a run's output is the report.
//
// The performance report (docs/design.md §7.7) is TestPerformanceReport,
// which runs only with -perf-report (make bench-report runs it after the
// accuracy report). It runs the benchmarks of proving
// (BenchmarkContributionProve), verification (circuits'
// BenchmarkBatchVerify), ingest (node's BenchmarkIngest), whole jobs
// (node's BenchmarkJob) and the audit's proof checks (BenchmarkAuditProofs)
// as `go test -bench` subprocesses, keeps their output with its date and
// load in report/perf/, and writes REPORT.md with its tables and
// report/*.png with its plots (gonum/plot), each figure naming its command.
// -perf.run=ingest,job reruns only those figures and renders the others
// from their kept output; -perf.job-records and -perf.audit-records set the
// sizes.
//
// The accuracy report of the discrete Gaussian release (docs/design.md
// §6.6, §6.7) is TestAccuracyReport, which runs only with -report:
//
//	make bench-report
//
// writes report/accuracy.md (median relative error and 95% interval
// coverage of every output kind, for n ∈ {100, 1000, 10000, 100000} and
// ρ ∈ {1/10, 1/2, 2}, 100 releases each) and report/accuracy.svg (the
// errors against n, log-log). Records and noise come from fixed seeds, so
// a run rewrites the committed files byte for byte on the same
// architecture and Go release. It takes about 50 s on 2 cores, build
// cached. The cost of the noise itself is measured beside the code:
// BenchmarkDiscreteGaussian (dp), BenchmarkJobNoise (enclave, a node's
// whole draw for the demo's statistics job) and BenchmarkJobRound (node, a
// round over 10,000 records, exact against noised).
package benchmarks

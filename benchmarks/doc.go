// Package benchmarks holds Cohort's cross-package benchmarks. Run them with
// `make bench` or, for one family, e.g.
//
//	go test ./benchmarks -run '^$' -bench 'Contribution' -benchtime 5x
//
// Each benchmark reports its figures with b.ReportMetric (constraints,
// payload bytes, …) beside the time, so that a run's output is the report.
package benchmarks

// Package reference computes statistics directly from plaintext records:
// the values a job over those records should release, against which the
// enclave's results are checked (by the demo, before it trusts a released
// value, and by the tests of packages enclave and enclave/stats).
//
// It is deliberately naive and independent of what it checks: it works
// record by record, two-pass, in exact rationals (math/big), and knows
// nothing of the encoded vectors, the sufficient statistics, the shares or
// package stats. Sums, means and (co)variances are exact; correlations are
// the square root of an exact r², with its sign; regressions solve the
// normal equations exactly by Gauss–Jordan elimination and round once.
// Its cost is that of exact arithmetic over every record: fine for
// thousands of records, not for production cohorts.
//
// A Cohort is immutable after New and safe for concurrent use; every
// result is a fresh value the caller may modify.
package reference

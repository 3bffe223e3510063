// Package demo runs Cohort end to end on one machine: a federation of
// three nodes in this process on loopback (each with its own configuration,
// keys, SQLite store and TLS listeners, run by the caller's NodeRunner),
// the demo dataset created through the nodes' Groth16 ceremony, synthetic
// contributors who register, contribute and in part revoke, and a buyer
// whose statistics and regression jobs are checked value by value against
// the same statistics computed from the eligible plaintext records. `cohort
// demo` is Run with its flags as Options.
//
// Differential privacy is on (docs/design.md §6.6, §6.7). The dataset's
// policy is the discrete Gaussian with a budget of ρ = 8 per epoch for all
// buyers and for one buyer (demoEpochRho, demoBuyerRho), and each job
// states ρ = 1 (jobRho) in the YAML it is submitted as: the demo's two jobs
// spend ρ = 2 and leave ρ = 6 for jobs tried by hand. After each job the
// demo asks BuyerService.GetBudget and prints the ρ left; results.json
// gives each job's ρ charged and left. Every node adds noise of the full
// variance, so the released sums carry three draws.
//
// Sizes. The noise on a sum is calibrated to the schema's bound on the
// field, not to the data: at ρ = 1 over the statistics job's 8 noised
// units its standard deviation is 2√3 ≈ 3.5 times the field's range on
// the total of three nodes' draws. With the default 300 contributors (268
// eligible records) a mean's standard error is then about 2–4% of the
// value for age, resting_hr and sleep_h, 9% for steps (bounded at 60 000
// for a mean near 8 600), 6% for smoker; a histogram bin's 3.5 (smoker)
// or 4.9 (region) records of about 60; the variance of smoker's about 5%
// and of age's (whose records fill its range) about 45%. The variances of
// steps, resting_hr and sleep_h, whose bounds are ten to twenty times
// their records' spread, and the correlations of the moment fields would
// be noise at this size and would cost the other outputs precision, so
// the noised statistics job leaves them out (noisyVariances). The
// regression job is kept to show what a noised regression over five
// moments says about 268 records: standard errors larger than the
// coefficients, and first-order intervals that often miss at this noise
// (shown, not judged). More contributors shrink every standard error in
// proportion (--contributors), at about half a second of proving and
// checking per record on two cores, with two contributors at a time: 300
// records take about 70 s, which keeps the first run near four minutes.
//
// The comparison prints each released value, the plaintext truth, the 95%
// interval and standard error, and whether the truth is inside. The run
// fails only on a fault (tally.fault): a count (released exactly: cohort
// membership is public) that differs; a mean, sum or histogram bin, whose
// standard error is exact, more than 6 standard errors from the truth
// (about 2·10⁻⁹ for correct noise); or more of those outside their 95%
// intervals than Binomial(k, 0.05) exceeds with chance 10⁻⁶
// (allowedMisses). Variances, correlations and regression coefficients
// carry first-order standard errors (marked ≈), which are an indication
// where the noise is large next to the statistic's spread: they are shown,
// not judged; R² comes without an interval.
//
// Options.ExactInsecureDev (--exact-insecure-dev) runs the demo as before
// noise existed: the dataset's policy is EXACT_INSECURE_DEV, which a node
// accepts only with a single-party setup, so the federation allows the
// insecure setup, node 0 runs it alone (no ceremony, nothing cached), the
// jobs state no ρ and ask for every variance and the correlation matrix,
// and every released value must equal the plaintext computation up to
// rounding. It is for development: two exact jobs whose cohorts differ by
// one record reveal it.
//
// The dataset's keys are kept after the first ceremony as a snapshot of the
// whole federation directory in a cache directory (0700, files keeping
// their modes), named by a hash of the software, schema, privacy policy,
// registry depth, ports and node count; a later run with the same
// configuration starts from it, and an unusable snapshot (or one whose
// dataset has another policy) is discarded with a warning.
//
// The demo's records and keys are for trying the system out: the records
// are drawn from a seed, records.csv holds them in plaintext, and the
// snapshot holds every node's secrets.
package demo

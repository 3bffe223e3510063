package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/enclave/stats/reference"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/render"
	"github.com/cohort-dev/cohort/schema"
)

// tolerance is how far a float released exactly (under the exact policy,
// and the count) may be from the plaintext computation, relative: the
// outputs are computed exactly and rounded once, so anything beyond a few
// units in the last place is a fault.
const tolerance = 1e-9

// jobRun is a job of the demo: its spec as YAML and what became of it.
type jobRun struct {
	name   string
	yaml   string
	job    *cohortv1.Job
	result *cohortv1.Result
	// budgetLeft is the buyer's ρ left on the job's epoch after it
	// (BuyerService.GetBudget's available_rho); empty for an exact policy.
	budgetLeft string
	// charge is the job's settled escrow; claims the reward claims the
	// demo's contributors made on it.
	charge *cohortv1.Escrow
	claims []render.RewardClaim
	// reward is the job's reward per counted record, as its transcript
	// states it.
	reward uint64
}

// noisyVariances are the fields whose variance the demo's noised
// statistics job asks for: those whose records fill much of their schema
// range (age 18–90 of 18–100; smoker 0/1). The noise on a sum of squares
// is calibrated to the square of the field's bound, and the bounds of
// steps (60 000), resting_hr (30–220) and sleep_h (0–16 h) are ten to
// twenty times their records' spread: at demo sizes that noise swamps
// their variances, and their correlations and the regression with them.
var noisyVariances = map[string]bool{"age": true, "smoker": true}

// jobsFor are the demo's jobs on the schema, spending rho each ("" for an
// exact policy: no privacy line). The statistics job has a count, the
// mean of every numeric field and a histogram of every category and bool
// field; exact, it also has the variance of every numeric field and the
// correlation of the moment fields; noised, the variance only of the
// fields of noisyVariances and no correlation (what more coordinates
// would cost every other output in noise). The regression job fits resting
// heart rate on the other moment fields: noised, at demo sizes, its
// standard errors show how little such a fit says.
func jobsFor(s *schema.Schema, rho string) []*jobRun {
	head := fmt.Sprintf("dataset: %s\nepoch: current\npurpose: %s\n", s.ID, jobPurpose)
	if rho != "" {
		head += fmt.Sprintf("privacy: {rho: %s}\n", rho)
	}
	head += "outputs:\n"
	var st strings.Builder
	st.WriteString("# Statistics of the public-health cohort (written by cohort demo).\n" + head + "  - count\n")
	for _, f := range s.Fields {
		if f.Type.Numeric() {
			fmt.Fprintf(&st, "  - {mean: %s}\n", f.Name)
			if rho == "" || noisyVariances[f.Name] {
				fmt.Fprintf(&st, "  - {variance: %s}\n", f.Name)
			}
		}
	}
	for _, f := range s.Fields {
		if f.Type == schema.Category || f.Type == schema.Bool {
			fmt.Fprintf(&st, "  - {histogram: %s}\n", f.Name)
		}
	}
	if len(s.Moments) >= 2 && rho == "" {
		fmt.Fprintf(&st, "  - {correlation: [%s]}\n", strings.Join(s.Moments, ", "))
	}
	jobs := []*jobRun{{name: "statistics", yaml: st.String()}}
	var features []string
	for _, m := range s.Moments {
		if m != "resting_hr" {
			features = append(features, m)
		}
	}
	if len(features) > 0 && len(features) < len(s.Moments) {
		jobs = append(jobs, &jobRun{name: "regression", yaml: "# Resting heart rate against the other moment fields (written by cohort demo).\n" + head +
			fmt.Sprintf("  - {linear_regression: {target: resting_hr, features: [%s]}}\n", strings.Join(features, ", "))})
	}
	return jobs
}

// runJob writes the job's YAML to dir, submits it, follows it, fetches
// its result, checks every released value against the plaintext truth
// and the exclusions against what the demo did, and, under a noised
// policy (rho ≠ ""), asks the buyer's budget left on the epoch.
func runJob(ctx context.Context, out io.Writer, b *client.Buyer, j *jobRun, dir string, epoch uint64, truth *reference.Cohort, want *cohortv1.Exclusions, rho string) (tally, error) {
	path := filepath.Join(dir, j.name+".yaml")
	if err := os.WriteFile(path, []byte(j.yaml), 0o600); err != nil {
		return tally{}, err
	}
	spec, err := client.ParseJobSpec([]byte(j.yaml), func(string) (uint64, error) { return epoch, nil })
	if err != nil {
		return tally{}, fmt.Errorf("demo: %s: %w", path, err)
	}
	sub, err := b.SubmitJob(ctx, spec, "")
	if err != nil {
		return tally{}, err
	}
	fmt.Fprintf(out, "           job %s (%s, %d outputs, spec in %s):\n", sub.GetJobId(), j.name, len(spec.GetOutputs()), path)
	if j.job, err = b.WatchJob(ctx, sub.GetJobId(), render.JobProgress(&indentWriter{w: out, prefix: "         "})); err != nil {
		return tally{}, err
	}
	if err := client.JobError(j.job); err != nil {
		return tally{}, err
	}
	if j.result, err = b.Result(ctx, sub.GetJobId()); err != nil {
		return tally{}, err
	}
	got := j.job.GetExcluded()
	fmt.Fprintf(out, "           excluded: %d not consented to %s, %d revoked; cohort of %d\n",
		got.GetPurpose(), spec.GetPurpose(), got.GetRevoked(), j.result.GetCohortSize())
	if got.GetPurpose() != want.GetPurpose() || got.GetRevoked() != want.GetRevoked() || got.GetEpoch()+got.GetExpired()+got.GetContributorMinimum() != 0 {
		return tally{}, fmt.Errorf("demo: job %s excluded %v, the demo expected %v", sub.GetJobId(), got, want)
	}
	if int(j.result.GetCohortSize()) != truth.Len() {
		return tally{}, fmt.Errorf("demo: job %s released a cohort of %d, the plaintext has %d eligible records", sub.GetJobId(), j.result.GetCohortSize(), truth.Len())
	}
	if err := checkRelease(j.result, rho); err != nil {
		return tally{}, err
	}
	if rho != "" {
		bud, err := b.Budget(ctx, spec.GetDatasetId(), epoch, epoch)
		if err != nil {
			return tally{}, err
		}
		j.budgetLeft = bud.GetAvailableRho()
		fmt.Fprintf(out, "           released with discrete Gaussian noise from each of the %d nodes: ρ = %s charged to epoch %d, ρ = %s left of the buyer's %s\n",
			j.result.GetRelease().GetNoisingNodes(), j.result.GetRelease().GetRho(), epoch, j.budgetLeft, bud.GetPolicy().GetBuyerRho())
	}
	return compareResult(out, spec, j.result, truth)
}

// comparison is one released value beside the plaintext truth.
type comparison struct {
	name            string
	released, truth float64
	// exact: the value is released exactly and must equal the truth
	// (ok says whether it does).
	exact, ok bool
	// iv is a noised value's interval, nil for an exact value and for one
	// released without (R²).
	iv *cohortv1.Interval
	// linear: iv's standard error is exact (a sum, mean or histogram
	// bin); otherwise it is a first-order approximation (docs/design.md
	// §6.7).
	linear bool
}

// farOut is how many standard errors from the truth a value whose
// standard error is exact may lie before the demo calls it a fault: for
// Gaussian noise the chance is about 2·10⁻⁹.
const farOut = 6

// coverageRisk is the chance under correct noise at which too few values
// inside their 95% intervals fails the demo (allowedMisses).
const coverageRisk = 1e-6

// tally counts what a comparison found, over one job or the whole demo.
type tally struct {
	exact, exactOK int // exact values, and those equal to the truth
	noised, inside int // noised values with an interval, and those containing the truth
	linear, linIn  int // of those, with an exact standard error, and inside
	far            int // linear values beyond farOut standard errors
	unchecked      int // noised values released without an interval
}

func (t *tally) add(u tally) {
	t.exact += u.exact
	t.exactOK += u.exactOK
	t.noised += u.noised
	t.inside += u.inside
	t.linear += u.linear
	t.linIn += u.linIn
	t.far += u.far
	t.unchecked += u.unchecked
}

// fault says what in the tally is a fault, or "" when nothing is: an exact
// value that differs from the truth, a value with an exact standard error
// beyond farOut of them from the truth, or fewer values with an exact
// standard error inside their 95% intervals than allowedMisses allows.
// Values with an approximate standard error are shown, not judged: their
// intervals are an indication where the noise is large next to the
// statistic's spread (docs/design.md §6.7).
func (t tally) fault() string {
	var why []string
	if t.exact != t.exactOK {
		why = append(why, fmt.Sprintf("%d of %d exact values differ from the plaintext computation", t.exact-t.exactOK, t.exact))
	}
	if t.far > 0 {
		why = append(why, fmt.Sprintf("%d values lie more than %d standard errors from the plaintext", t.far, farOut))
	}
	if miss := t.linear - t.linIn; miss > allowedMisses(t.linear) {
		why = append(why, fmt.Sprintf("%d of %d values miss their 95%% intervals, more than the %d that correct noise exceeds with chance %g",
			miss, t.linear, allowedMisses(t.linear), coverageRisk))
	}
	return strings.Join(why, "; ")
}

// allowedMisses is the most of k values with exact standard errors that
// may lie outside their 95% intervals: the least m with P(X > m) ≤
// coverageRisk for X ~ Binomial(k, 0.05), what independent correct noise
// gives. (The bins of one histogram are not independent, which makes a
// miss of several together likelier; the bound is for a demo, not a
// statistical test.)
func allowedMisses(k int) int {
	p := 0.05
	pmf := math.Pow(1-p, float64(k)) // P(X = 0)
	cdf := pmf
	for m := 0; m < k; m++ {
		if 1-cdf <= coverageRisk {
			return m
		}
		pmf *= float64(k-m) / float64(m+1) * p / (1 - p)
		cdf += pmf
	}
	return k
}

// checkRelease checks how a result says it was released against the
// demo's policy: noised with the job's ρ, or exact.
func checkRelease(r *cohortv1.Result, rho string) error {
	ri := r.GetRelease()
	if rho == "" {
		if ri.GetMechanism() != cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV {
			return fmt.Errorf("demo: job %s released with %v, the dataset's policy is exact", r.GetJobId(), ri.GetMechanism())
		}
		return nil
	}
	if ri.GetMechanism() != cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN || ri.GetNoisingNodes() != Nodes {
		return fmt.Errorf("demo: job %s released with %v by %d nodes; the demo expects the discrete Gaussian from all %d", r.GetJobId(), ri.GetMechanism(), ri.GetNoisingNodes(), Nodes)
	}
	want, _ := new(big.Rat).SetString(rho)
	if got, ok := new(big.Rat).SetString(ri.GetRho()); !ok || got.Cmp(want) != 0 {
		return fmt.Errorf("demo: job %s charged ρ = %q, it asked ρ = %s", r.GetJobId(), ri.GetRho(), rho)
	}
	return nil
}

// compareResult prints every released value beside the plaintext truth
// and, for a noised value, its interval and whether the truth is inside;
// it returns what it found and fails on a fault (tally.fault).
func compareResult(out io.Writer, spec *cohortv1.JobSpec, r *cohortv1.Result, truth *reference.Cohort) (tally, error) {
	if len(r.GetOutputs()) != len(spec.GetOutputs()) {
		return tally{}, fmt.Errorf("demo: %d outputs released for %d requested", len(r.GetOutputs()), len(spec.GetOutputs()))
	}
	noised := r.GetRelease().GetMechanism() == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN
	var rows []comparison
	for i, o := range spec.GetOutputs() {
		rs, err := compareOutput(o, r.GetOutputs()[i], truth, noised)
		if err != nil {
			return tally{}, fmt.Errorf("demo: output %d (%s): %w", i, client.OutputKindName(o.GetKind()), err)
		}
		rows = append(rows, rs...)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	if noised {
		fmt.Fprintf(tw, "           statistic\treleased\tplaintext\t%s interval\tstd. error\t\t\n", confidence(r))
	} else {
		fmt.Fprintln(tw, "           statistic\treleased\tplaintext\t\t")
	}
	var t tally
	for _, c := range rows {
		mark := ""
		switch {
		case c.exact:
			t.exact++
			mark = "DIFFERS"
			if c.ok {
				t.exactOK++
				mark = "="
			}
		case c.iv == nil:
			t.unchecked++
			mark = "no interval"
		default:
			t.noised++
			se := c.iv.GetStandardError()
			in := c.iv.GetLow() <= c.truth && c.truth <= c.iv.GetHigh()
			if in {
				t.inside++
				mark = "inside"
			} else {
				mark = "outside"
			}
			z := math.Inf(1)
			if d := math.Abs(c.released - c.truth); se > 0 {
				z = d / se
			} else if d == 0 {
				z = 0
			}
			if !in {
				mark += fmt.Sprintf(", %.1f SE off", z)
			}
			if c.linear {
				t.linear++
				if in {
					t.linIn++
				}
				if z > farOut {
					t.far++
					mark = "FAR " + mark
				}
			}
		}
		if !noised {
			fmt.Fprintf(tw, "           %s\t%s\t%s\t%s\t\n", c.name, render.Float(c.released), render.Float(c.truth), mark)
			continue
		}
		ivText, seText := "", ""
		if c.iv != nil {
			ivText = fmt.Sprintf("[%s, %s]", render.Float(c.iv.GetLow()), render.Float(c.iv.GetHigh()))
			seText = render.Float(c.iv.GetStandardError())
			if !c.linear {
				seText = "≈" + seText
			}
		}
		fmt.Fprintf(tw, "           %s\t%s\t%s\t%s\t%s\t%s\t\n", c.name, render.Float(c.released), render.Float(c.truth), ivText, seText, mark)
	}
	if err := tw.Flush(); err != nil {
		return tally{}, err
	}
	if noised {
		exact := ""
		if t.exact > 0 {
			exact = "; the count is exact"
		}
		fmt.Fprintf(out, "           %d of %d intervals contain the plaintext value (≈: a first-order standard error, shown, not judged)%s\n", t.inside, t.noised, exact)
	}
	if why := t.fault(); why != "" {
		return t, fmt.Errorf("demo: %s", why)
	}
	return t, nil
}

// confidence is the result's confidence level as a percentage.
func confidence(r *cohortv1.Result) string {
	return strconv.FormatFloat(100*r.GetRelease().GetConfidence(), 'g', 4, 64) + "%"
}

// compareOutput compares one released output with the plaintext
// computation (package reference). Noised, only the count is exact and
// every other value carries its interval (R² none); exact, every value
// must match.
func compareOutput(o *cohortv1.Output, v *cohortv1.OutputValue, t *reference.Cohort, noised bool) ([]comparison, error) {
	if v.GetKind() != o.GetKind() {
		return nil, fmt.Errorf("released kind %s", v.GetKind())
	}
	kind := client.OutputKindName(o.GetKind())
	// value is a released float with, when noised, its interval.
	value := func(name string, got, want float64, iv *cohortv1.Interval, linear bool) (comparison, error) {
		c := comparison{name: name, released: got, truth: want, linear: linear}
		if !noised {
			c.exact, c.ok = true, closeEnough(got, want)
			return c, nil
		}
		if iv == nil {
			return c, fmt.Errorf("%s released with noise and no interval", name)
		}
		c.iv = iv
		return c, nil
	}
	scalar := func(want *big.Rat, err error, name string) ([]comparison, error) {
		if err != nil {
			return nil, err
		}
		n := v.GetScalar()
		if n == nil {
			return nil, fmt.Errorf("no number released")
		}
		wf, _ := want.Float64()
		if o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_COUNT || !noised {
			// Exact: the float and, when given, the exact value.
			ok := closeEnough(n.GetValue(), wf)
			if n.GetExact() != "" || o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_COUNT {
				exact, valid := new(big.Rat).SetString(n.GetExact())
				ok = ok && valid && exact.Cmp(want) == 0
			}
			return []comparison{{name: name, released: n.GetValue(), truth: wf, exact: true, ok: ok}}, nil
		}
		if n.GetExact() != "" {
			return nil, fmt.Errorf("%s released with noise and an exact value", name)
		}
		c, err := value(name, n.GetValue(), wf, n.GetInterval(), o.GetKind() != cohortv1.OutputKind_OUTPUT_KIND_VARIANCE)
		return []comparison{c}, err
	}
	field := func() (string, error) {
		if len(o.GetFields()) != 1 {
			return "", fmt.Errorf("%s of %d fields", kind, len(o.GetFields()))
		}
		return o.GetFields()[0], nil
	}
	switch o.GetKind() {
	case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		return scalar(big.NewRat(int64(t.Len()), 1), nil, "count")
	case cohortv1.OutputKind_OUTPUT_KIND_SUM, cohortv1.OutputKind_OUTPUT_KIND_MEAN, cohortv1.OutputKind_OUTPUT_KIND_VARIANCE:
		f, err := field()
		if err != nil {
			return nil, err
		}
		switch o.GetKind() {
		case cohortv1.OutputKind_OUTPUT_KIND_SUM:
			x, err := t.Sum(f)
			return scalar(x, err, kind+" "+f)
		case cohortv1.OutputKind_OUTPUT_KIND_MEAN:
			x, err := t.Mean(f)
			return scalar(x, err, kind+" "+f)
		}
		x, err := t.Variance(f)
		return scalar(x, err, kind+" "+f)
	case cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
		h := v.GetHistogram()
		if h == nil {
			return nil, fmt.Errorf("no histogram released")
		}
		f, err := field()
		if err != nil {
			return nil, err
		}
		want, err := t.Histogram(f)
		if err != nil {
			return nil, err
		}
		var rows []comparison
		var seen uint64
		for _, b := range h.GetBins() {
			name := fmt.Sprintf("%s=%s", h.GetField(), b.GetValue())
			got, w := float64(b.GetCount()), float64(want[b.GetValue()])
			if !noised {
				rows = append(rows, comparison{name: name, released: got, truth: w, exact: true, ok: b.GetCount() == want[b.GetValue()]})
			} else {
				c, err := value(name, got, w, b.GetInterval(), true)
				if err != nil {
					return nil, err
				}
				rows = append(rows, c)
			}
			seen += want[b.GetValue()]
		}
		if seen != uint64(t.Len()) {
			return nil, fmt.Errorf("the histogram of %s lacks values the records have", h.GetField())
		}
		return rows, nil
	case cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		m := v.GetMatrix()
		fs := o.GetFields()
		if m == nil || len(m.GetEntries()) != len(fs)*len(fs) {
			return nil, fmt.Errorf("no %d×%d matrix released", len(fs), len(fs))
		}
		var rows []comparison
		for i := range fs {
			for j := i + 1; j < len(fs); j++ {
				e := m.GetEntries()[i*len(fs)+j]
				var want float64
				if o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_CORRELATION {
					r, err := t.Correlation(fs[i], fs[j])
					if err != nil {
						return nil, err
					}
					want = r
				} else {
					c, err := t.Covariance(fs[i], fs[j])
					if err != nil {
						return nil, err
					}
					want, _ = c.Float64()
				}
				c, err := value(fmt.Sprintf("%s(%s, %s)", kind, fs[i], fs[j]), e.GetValue(), want, e.GetInterval(), false)
				if err != nil {
					return nil, err
				}
				rows = append(rows, c)
			}
		}
		return rows, nil
	case cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION:
		reg := v.GetRegression()
		if reg == nil || len(reg.GetCoefficients()) != len(o.GetFeatures()) {
			return nil, fmt.Errorf("no regression with %d coefficients released", len(o.GetFeatures()))
		}
		if noised && len(reg.GetCoefficientIntervals()) != len(o.GetFeatures()) {
			return nil, fmt.Errorf("a noised regression with %d coefficient intervals for %d coefficients", len(reg.GetCoefficientIntervals()), len(o.GetFeatures()))
		}
		fit, err := t.LinearRegression(o.GetTarget(), o.GetFeatures(), o.GetRidgeLambda())
		if err != nil {
			return nil, err
		}
		c, err := value("intercept", reg.GetIntercept(), fit.Intercept, reg.GetInterceptInterval(), false)
		if err != nil {
			return nil, err
		}
		rows := []comparison{c}
		for i, f := range o.GetFeatures() {
			var iv *cohortv1.Interval
			if noised {
				iv = reg.GetCoefficientIntervals()[i]
			}
			c, err := value("coefficient "+f, reg.GetCoefficients()[i], fit.Coefficients[i], iv, false)
			if err != nil {
				return nil, err
			}
			rows = append(rows, c)
		}
		// R² comes without an interval: noised, it is shown, not judged.
		r2 := comparison{name: "R²", released: reg.GetR2(), truth: fit.R2}
		if !noised {
			r2.exact, r2.ok = true, closeEnough(reg.GetR2(), fit.R2)
		}
		return append(rows, r2), nil
	}
	return nil, fmt.Errorf("the demo has no plaintext computation of %s", o.GetKind())
}

// closeEnough reports whether a released float matches the truth up to
// tolerance, relative.
func closeEnough(got, want float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return false
	}
	d := math.Abs(got - want)
	return d <= tolerance*math.Max(math.Abs(got), math.Abs(want)) || d < 1e-15
}

// indentWriter prefixes every line written through it.
type indentWriter struct {
	w      io.Writer
	prefix string
	mid    bool // within a line
}

func (iw *indentWriter) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		if !iw.mid {
			if _, err := io.WriteString(iw.w, iw.prefix); err != nil {
				return 0, err
			}
		}
		if _, err := io.WriteString(iw.w, line); err != nil {
			return 0, err
		}
		iw.mid = !strings.HasSuffix(line, "\n")
	}
	return len(p), nil
}

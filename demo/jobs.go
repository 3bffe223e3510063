package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/enclave/stats/reference"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/render"
	"github.com/cohort-dev/cohort/schema"
)

// tolerance is how far a released float may be from the plaintext
// computation, relative: the outputs are computed exactly and rounded once,
// so anything beyond a few units in the last place is a fault.
const tolerance = 1e-9

// jobRun is a job of the demo: its spec as YAML and what became of it.
type jobRun struct {
	name   string
	yaml   string
	job    *cohortv1.Job
	result *cohortv1.Result
}

// jobsFor are the demo's jobs on the schema: statistics of every field (a
// count; mean and variance of every numeric field; a histogram of every
// category and bool field; the correlation of the moment fields), and a
// linear regression of resting heart rate on the other moment fields.
func jobsFor(s *schema.Schema) []*jobRun {
	head := fmt.Sprintf("dataset: %s\nepoch: current\npurpose: %s\noutputs:\n", s.ID, jobPurpose)
	var st strings.Builder
	st.WriteString("# Statistics of the public-health cohort (written by cohort demo).\n" + head + "  - count\n")
	for _, f := range s.Fields {
		if f.Type.Numeric() {
			fmt.Fprintf(&st, "  - {mean: %s}\n  - {variance: %s}\n", f.Name, f.Name)
		}
	}
	for _, f := range s.Fields {
		if f.Type == schema.Category || f.Type == schema.Bool {
			fmt.Fprintf(&st, "  - {histogram: %s}\n", f.Name)
		}
	}
	if len(s.Moments) >= 2 {
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
// its result and checks every released value against the plaintext truth
// and the exclusions against what the demo did.
func runJob(ctx context.Context, out io.Writer, b *client.Buyer, j *jobRun, dir string, epoch uint64, truth *reference.Cohort, want *cohortv1.Exclusions) error {
	path := filepath.Join(dir, j.name+".yaml")
	if err := os.WriteFile(path, []byte(j.yaml), 0o600); err != nil {
		return err
	}
	spec, err := client.ParseJobSpec([]byte(j.yaml), func(string) (uint64, error) { return epoch, nil })
	if err != nil {
		return fmt.Errorf("demo: %s: %w", path, err)
	}
	sub, err := b.SubmitJob(ctx, spec, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "           job %s (%s, %d outputs, spec in %s):\n", sub.GetJobId(), j.name, len(spec.GetOutputs()), path)
	if j.job, err = b.WatchJob(ctx, sub.GetJobId(), render.JobProgress(&indentWriter{w: out, prefix: "         "})); err != nil {
		return err
	}
	if err := client.JobError(j.job); err != nil {
		return err
	}
	if j.result, err = b.Result(ctx, sub.GetJobId()); err != nil {
		return err
	}
	got := j.job.GetExcluded()
	fmt.Fprintf(out, "           excluded: %d not consented to %s, %d revoked; cohort of %d\n",
		got.GetPurpose(), spec.GetPurpose(), got.GetRevoked(), j.result.GetCohortSize())
	if got.GetPurpose() != want.GetPurpose() || got.GetRevoked() != want.GetRevoked() || got.GetEpoch()+got.GetExpired()+got.GetContributorMinimum() != 0 {
		return fmt.Errorf("demo: job %s excluded %v, the demo expected %v", sub.GetJobId(), got, want)
	}
	if int(j.result.GetCohortSize()) != truth.Len() {
		return fmt.Errorf("demo: job %s released a cohort of %d, the plaintext has %d eligible records", sub.GetJobId(), j.result.GetCohortSize(), truth.Len())
	}
	return compareResult(out, spec, j.result, truth)
}

// comparison is one row of the released-versus-plaintext table.
type comparison struct {
	name              string
	released, expects string
	ok                bool
}

// compareResult prints every released value beside the plaintext truth
// and fails if any differs beyond rounding.
func compareResult(out io.Writer, spec *cohortv1.JobSpec, r *cohortv1.Result, truth *reference.Cohort) error {
	if len(r.GetOutputs()) != len(spec.GetOutputs()) {
		return fmt.Errorf("demo: %d outputs released for %d requested", len(r.GetOutputs()), len(spec.GetOutputs()))
	}
	var rows []comparison
	for i, o := range spec.GetOutputs() {
		rs, err := compareOutput(o, r.GetOutputs()[i], truth)
		if err != nil {
			return fmt.Errorf("demo: output %d (%s): %w", i, client.OutputKindName(o.GetKind()), err)
		}
		rows = append(rows, rs...)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "           statistic\treleased\tplaintext\t\t")
	bad := 0
	for _, c := range rows {
		mark := "="
		if !c.ok {
			mark, bad = "DIFFERS", bad+1
		}
		fmt.Fprintf(tw, "           %s\t%s\t%s\t%s\t\n", c.name, c.released, c.expects, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("demo: %d of %d released values differ from the plaintext computation", bad, len(rows))
	}
	return nil
}

// compareOutput compares one released output with the plaintext
// computation (package reference).
func compareOutput(o *cohortv1.Output, v *cohortv1.OutputValue, t *reference.Cohort) ([]comparison, error) {
	if v.GetKind() != o.GetKind() {
		return nil, fmt.Errorf("released kind %s", v.GetKind())
	}
	kind := client.OutputKindName(o.GetKind())
	scalar := func(want *big.Rat, err error, name string) ([]comparison, error) {
		if err != nil {
			return nil, err
		}
		n := v.GetScalar()
		if n == nil {
			return nil, fmt.Errorf("no number released")
		}
		wf, _ := want.Float64()
		ok := closeEnough(n.GetValue(), wf)
		if n.GetExact() != "" {
			exact, valid := new(big.Rat).SetString(n.GetExact())
			ok = ok && valid && exact.Cmp(want) == 0
		}
		return []comparison{{name, render.Float(n.GetValue()), render.Float(wf), ok}}, nil
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
			rows = append(rows, comparison{fmt.Sprintf("%s=%s", h.GetField(), b.GetValue()),
				fmt.Sprint(b.GetCount()), fmt.Sprint(want[b.GetValue()]), b.GetCount() == want[b.GetValue()]})
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
				got := m.GetEntries()[i*len(fs)+j].GetValue()
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
				rows = append(rows, comparison{fmt.Sprintf("%s(%s, %s)", kind, fs[i], fs[j]), render.Float(got), render.Float(want), closeEnough(got, want)})
			}
		}
		return rows, nil
	case cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION:
		reg := v.GetRegression()
		if reg == nil || len(reg.GetCoefficients()) != len(o.GetFeatures()) {
			return nil, fmt.Errorf("no regression with %d coefficients released", len(o.GetFeatures()))
		}
		fit, err := t.LinearRegression(o.GetTarget(), o.GetFeatures(), o.GetRidgeLambda())
		if err != nil {
			return nil, err
		}
		rows := []comparison{{"intercept", render.Float(reg.GetIntercept()), render.Float(fit.Intercept), closeEnough(reg.GetIntercept(), fit.Intercept)}}
		for i, f := range o.GetFeatures() {
			got := reg.GetCoefficients()[i]
			rows = append(rows, comparison{"coefficient " + f, render.Float(got), render.Float(fit.Coefficients[i]), closeEnough(got, fit.Coefficients[i])})
		}
		return append(rows, comparison{"R²", render.Float(reg.GetR2()), render.Float(fit.R2), closeEnough(reg.GetR2(), fit.R2)}), nil
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

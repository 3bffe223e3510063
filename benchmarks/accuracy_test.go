package benchmarks

import (
	"flag"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/dp/dptest"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// The accuracy report (docs/design.md §6.6, §6.7): how far the outputs the
// discrete Gaussian mechanism releases are from the truth, by cohort size
// and ρ, and how often their 95% intervals contain it. It is a test that
// runs only with -report (make bench-report), so that make test skips it.
var writeReport = flag.Bool("report", false, "write the accuracy report to report/ (make bench-report)")

// Parameters of the accuracy report.
var (
	accuracySizes = []int{100, 1_000, 10_000, 100_000}
	accuracyRhos  = []string{"1/10", "1/2", "2"}
)

const (
	accuracyTrials = 100
	accuracyNodes  = 3
	accuracySeed   = 2026 // the synthetic records'
)

// accuracyKinds are the rows of the report, in order: every released
// number of an output kind is one sample of its kind (a histogram's bins,
// a correlation matrix's entries off the diagonal, a regression's
// coefficients).
var accuracyKinds = []string{"sum", "mean", "variance", "histogram bin", "correlation", "regression coefficient"}

// accuracyOutputs are the demo's statistics job (the count; mean and
// variance of every numeric field; a histogram of every category and bool
// field; the correlation of the moment fields) with the sum of every
// numeric field and the demo's regression of resting heart rate on the
// other moment fields. The sums and the regression read no coordinate the
// statistics need not already, so the noise is that of the statistics job.
func accuracyOutputs(s *schema.Schema) []*cohortv1.Output {
	o := func(kind cohortv1.OutputKind, fields ...string) *cohortv1.Output {
		return &cohortv1.Output{Kind: kind, Fields: fields}
	}
	outs := []*cohortv1.Output{o(cohortv1.OutputKind_OUTPUT_KIND_COUNT)}
	for _, f := range s.Fields {
		if f.Type.Numeric() {
			outs = append(outs, o(cohortv1.OutputKind_OUTPUT_KIND_SUM, f.Name), o(cohortv1.OutputKind_OUTPUT_KIND_MEAN, f.Name),
				o(cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, f.Name))
		}
	}
	for _, f := range s.Fields {
		if f.Type == schema.Category || f.Type == schema.Bool {
			outs = append(outs, o(cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, f.Name))
		}
	}
	outs = append(outs, o(cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, s.Moments...))
	var features []string
	for _, m := range s.Moments {
		if m != "resting_hr" {
			features = append(features, m)
		}
	}
	return append(outs, &cohortv1.Output{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: features})
}

// fitnessRecord draws one synthetic record of the demo schema whose fields
// depend on each other, so that no correlation or regression coefficient
// is near zero and a relative error means something: steps fall with age
// and smoking, resting heart rate rises with age and smoking and falls
// with steps, sleep falls with age.
func fitnessRecord(r *rand.Rand) schema.Record {
	clamp := func(x float64, lo, hi int64) int64 { return min(hi, max(lo, int64(math.Round(x)))) }
	age := clamp(45+15*r.NormFloat64(), 18, 100)
	smoker := r.Float64() < 0.15+0.004*float64(age-18)
	s := 0.0
	if smoker {
		s = 1
	}
	steps := clamp(11000-80*float64(age-45)-2500*s+3000*r.NormFloat64(), 0, 60000)
	hr := clamp(68+0.2*float64(age-45)-0.0008*float64(steps-9000)+6*s+7*r.NormFloat64(), 30, 220)
	sleep := clamp(100*(7.2-0.015*float64(age-45)+0.9*r.NormFloat64()), 0, 1600)
	region := []string{"north", "north", "north", "north", "south", "south", "south", "east", "east", "west"}[r.IntN(10)]
	return schema.Record{
		"age": schema.IntValue(age), "steps": schema.IntValue(steps), "resting_hr": schema.IntValue(hr),
		"sleep_h": schema.ScaledValue(sleep, 2), "smoker": schema.BoolValue(smoker), "region": schema.CategoryValue(region),
	}
}

// released is one released number with its interval (lo = hi = value for
// an exact one).
type released struct {
	kind          string
	value, lo, hi float64
}

// flatten lists the numbers of outputs that the report measures, in a
// fixed order, with their kinds.
func flatten(vs []*cohortv1.OutputValue) []released {
	var out []released
	add := func(kind string, v float64, iv *cohortv1.Interval) {
		r := released{kind: kind, value: v, lo: v, hi: v}
		if iv != nil {
			r.lo, r.hi = iv.GetLow(), iv.GetHigh()
		}
		out = append(out, r)
	}
	for _, v := range vs {
		switch v.GetKind() {
		case cohortv1.OutputKind_OUTPUT_KIND_SUM, cohortv1.OutputKind_OUTPUT_KIND_MEAN, cohortv1.OutputKind_OUTPUT_KIND_VARIANCE:
			add(strings.ToLower(strings.TrimPrefix(v.GetKind().String(), "OUTPUT_KIND_")), v.GetScalar().GetValue(), v.GetScalar().GetInterval())
		case cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
			for _, b := range v.GetHistogram().GetBins() {
				add("histogram bin", float64(b.GetCount()), b.GetInterval())
			}
		case cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
			k := len(v.GetMatrix().GetFields())
			for i, e := range v.GetMatrix().GetEntries() {
				if i/k < i%k { // above the diagonal: the diagonal is 1, the matrix symmetric
					add("correlation", e.GetValue(), e.GetInterval())
				}
			}
		case cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION:
			r := v.GetRegression()
			ivs := r.GetCoefficientIntervals() // none in an exact release
			for j, c := range r.GetCoefficients() {
				var iv *cohortv1.Interval
				if j < len(ivs) {
					iv = ivs[j]
				}
				add("regression coefficient", c, iv)
			}
		}
	}
	return out
}

// accuracyCell is what the report states for one kind, n and ρ.
type accuracyCell struct {
	median   float64 // median relative error over trials and numbers
	coverage float64 // fraction of 95% intervals that contain the truth
	samples  int
}

// TestAccuracyReport writes report/accuracy.md and report/accuracy.svg:
// for every cohort size and ρ (one epoch, the default policy's allocation
// with its budgets raised to ρ), synthetic records (fitnessRecord, fixed
// seed), their exact sums, and accuracyTrials releases, each with the
// noise of 3 nodes drawn by the mechanism itself (Privacy.Mechanism, the
// exact sampler of package dp, fed by dptest's seeded stream so that the
// report is the same on every run) and the outputs computed by the
// mechanism (ReleaseNoisy). The truth is the exact release of the same
// sums (enclave.Release).
func TestAccuracyReport(t *testing.T) {
	if !*writeReport {
		t.Skip("writes the accuracy report: run with -report (make bench-report)")
	}
	start := time.Now()
	s := schema.Default()
	outputs := accuracyOutputs(s)
	l := s.Layout()
	coords, err := enclave.Coordinates(l, outputs)
	if err != nil {
		t.Fatal(err)
	}
	// One stream of records; a cohort of n is its first n.
	rng := rand.New(rand.NewPCG(accuracySeed, 0))
	total := make([]*big.Int, l.Len)
	for i := range total {
		total[i] = new(big.Int)
	}
	cells := map[string]accuracyCell{} // key: kind, n, ρ
	var sigmas []string
	done := 0
	for _, n := range accuracySizes {
		for ; done < n; done++ {
			v, err := s.Encode(fitnessRecord(rng))
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range v {
				total[i].Add(total[i], new(big.Int).SetUint64(x))
			}
		}
		sums := make([]*big.Int, len(coords))
		for i, c := range coords {
			sums[i] = total[c]
		}
		exact, err := enclave.Release(s, coords, sums, outputs)
		if err != nil {
			t.Fatal(err)
		}
		truth := flatten(exact)
		for ri, rho := range accuracyRhos {
			policy := enclave.DefaultPolicy()
			policy.EpochRho, policy.BuyerRho = rho, rho
			spec := &cohortv1.JobSpec{DatasetId: s.ID, EpochFrom: 1, EpochTo: 1, Purpose: "public-health", Outputs: outputs,
				Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: rho}}}
			priv, err := enclave.JobPrivacy(policy, spec, l, coords)
			if err != nil {
				t.Fatal(err)
			}
			if n == accuracySizes[0] {
				sigmas = append(sigmas, noiseSummary(l, priv, rho))
			}
			m, err := priv.Mechanism(dptest.Reader(t, uint64(1000*n+ri)))
			if err != nil {
				t.Fatal(err)
			}
			errs, hits := map[string][]float64{}, map[string]int{}
			for range accuracyTrials {
				noisy := make([]*big.Int, len(sums))
				for i := range sums {
					noisy[i] = new(big.Int).Set(sums[i])
				}
				for range accuracyNodes {
					z, err := m.Noise(coords)
					if err != nil {
						t.Fatal(err)
					}
					for i := range noisy {
						noisy[i].Add(noisy[i], z[i])
					}
				}
				rel, err := m.Release(coords, noisy)
				if err != nil {
					t.Fatal(err)
				}
				vs, err := m.Outputs(s, coords, rel, outputs, accuracyNodes)
				if err != nil {
					t.Fatal(err)
				}
				got := flatten(vs)
				if len(got) != len(truth) {
					t.Fatalf("%d released numbers, %d true ones", len(got), len(truth))
				}
				for i, g := range got {
					w := truth[i].value
					errs[g.kind] = append(errs[g.kind], math.Abs(g.value-w)/math.Abs(w))
					if g.lo <= w && w <= g.hi {
						hits[g.kind]++
					}
				}
			}
			for _, k := range accuracyKinds {
				e := errs[k]
				slices.Sort(e)
				cells[cellKey(k, n, rho)] = accuracyCell{median: median(e), coverage: float64(hits[k]) / float64(len(e)), samples: len(e)}
			}
		}
	}
	elapsed := time.Since(start)
	dir := "report"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accuracy.md"), []byte(accuracyMarkdown(cells, sigmas)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeAccuracyPlot(filepath.Join(dir, "accuracy.svg"), cells); err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy report written to %s in %s", dir, elapsed.Round(time.Second))
}

func cellKey(kind string, n int, rho string) string { return fmt.Sprintf("%s|%d|%s", kind, n, rho) }

// median of sorted values.
func median(sorted []float64) float64 {
	k := len(sorted)
	if k == 0 {
		return math.NaN()
	}
	if k%2 == 1 {
		return sorted[k/2]
	}
	return (sorted[k/2-1] + sorted[k/2]) / 2
}

// noiseSummary states the standard deviation of the total noise (3
// nodes) on each field's sum, in the field's units, at ρ.
func noiseSummary(l schema.Layout, p enclave.Privacy, rho string) string {
	sd := p.NoiseStdDev(accuracyNodes)
	byCoord := map[int]float64{}
	for i, c := range p.Coords {
		byCoord[c] = sd[i]
	}
	var parts []string
	for _, v := range l.Values {
		parts = append(parts, fmt.Sprintf("Σ%s %.3g", v.Field, byCoord[v.Index]*math.Pow10(-v.Decimals)))
	}
	for _, c := range l.Categories {
		parts = append(parts, fmt.Sprintf("each %s count %.3g", c.Field, byCoord[c.Start]))
	}
	return fmt.Sprintf("ρ = %s: %s", rho, strings.Join(parts, ", "))
}

// accuracyMarkdown renders the report's tables, one per ρ.
func accuracyMarkdown(cells map[string]accuracyCell, sigmas []string) string {
	var b strings.Builder
	b.WriteString(`# Accuracy of the discrete Gaussian release

Generated by ` + "`make bench-report`" + ` (benchmarks/accuracy_test.go, TestAccuracyReport); do not edit.

The demo schema (fitness-2026) and the demo's statistics job — the count;
mean and variance of every numeric field; a histogram of region and of
smoker; the correlation matrix of the five moment fields — with the sum of
every numeric field and the linear regression of resting_hr on the other
four moment fields added (they read no other coordinate, so the noise is
the statistics job's). One epoch, 3 nodes each adding its own discrete
Gaussian noise at the full variance (one honest node assumed), equal
shares, ρ per job as stated (the default policy's caps raised to it).

Records are synthetic (math/rand/v2, PCG seed 2026; a cohort of n is the
first n of one stream), with dependent fields so that no correlation or
coefficient is near zero. The noise is drawn by the mechanism itself
(Privacy.Mechanism, the exact sampler of package dp) from dptest's seeded
stream, and the outputs are computed by Mechanism.Outputs (ReleaseNoisy),
{trials} releases per cell. The truth is the exact release of the same sums.

Each cell: the median relative error |released − true| / |true| over the
{trials} releases and every number of that kind (the six histogram bins, the ten
correlations above the diagonal, the four coefficients), and in brackets
the fraction of the 95% intervals that contain the true value. The count
is exact (cohort membership is public) and is not listed.

Standard deviation of the total noise on each sum, in the field's units
(it does not depend on n):

`)
	report := strings.ReplaceAll(b.String(), "{trials}", fmt.Sprint(accuracyTrials))
	b.Reset()
	b.WriteString(report)
	for _, s := range sigmas {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	for _, rho := range accuracyRhos {
		row := []string{"output"}
		for _, n := range accuracySizes {
			row = append(row, fmt.Sprintf("n = %d", n))
		}
		fmt.Fprintf(&b, "\n## ρ = %s\n\n| %s |\n|---|%s\n", rho, strings.Join(row, " | "), strings.Repeat("---|", len(accuracySizes)))
		for _, k := range accuracyKinds {
			row = []string{k}
			for _, n := range accuracySizes {
				c := cells[cellKey(k, n, rho)]
				row = append(row, fmt.Sprintf("%s (%.0f%%)", percent(c.median), 100*c.coverage))
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		}
	}
	b.WriteString(`
The noise does not grow with n, so the relative error of a sum, mean or
bin falls as 1/n, and its interval is exact. A variance, correlation or
coefficient is a ratio of noisy sums: where the noise is as large as the
spread it measures (small n, small ρ) the projection of §6.7 often
floors it (a variance released as 0 is a relative error of 100%) and its
first-order
interval covers the truth less often than stated — an indication, not a
guarantee (docs/design.md §6.7).

The plot (accuracy.svg) shows the medians against n, log-log, one panel
per ρ (a mean's relative error is its sum's, one line).
`)
	return b.String()
}

// percent renders a relative error as a percentage with 2 significant
// digits.
func percent(x float64) string {
	p := 100 * x
	switch {
	case math.IsNaN(p):
		return "–"
	case p >= 10:
		return fmt.Sprintf("%.0f%%", p)
	default:
		return strings.TrimSuffix(fmt.Sprintf("%.2g", p), ".") + "%"
	}
}

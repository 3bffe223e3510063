package audit

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// describeOutput names a requested output for messages: "mean of age",
// "linear regression of resting_hr on age, steps", with its label quoted
// after it when it has one.
func describeOutput(o *cohortv1.Output) string {
	var s string
	one := strings.Join(o.GetFields(), ", ")
	switch o.GetKind() {
	case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		s = "count"
	case cohortv1.OutputKind_OUTPUT_KIND_SUM:
		s = "sum of " + one
	case cohortv1.OutputKind_OUTPUT_KIND_MEAN:
		s = "mean of " + one
	case cohortv1.OutputKind_OUTPUT_KIND_VARIANCE:
		s = "variance of " + one
	case cohortv1.OutputKind_OUTPUT_KIND_STDDEV:
		s = "standard deviation of " + one
	case cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
		s = "histogram of " + one
	case cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE:
		s = "covariance of " + one
	case cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		s = "correlation of " + one
	case cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION:
		s = "linear regression of " + o.GetTarget() + " on " + strings.Join(o.GetFeatures(), ", ")
	case cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION:
		s = "logistic regression of " + o.GetTarget() + " on " + strings.Join(o.GetFeatures(), ", ")
	default:
		s = o.GetKind().String()
	}
	if o.GetLabel() != "" {
		s += " " + strconv.Quote(o.GetLabel())
	}
	return s
}

// diffOutput returns the first difference between a released output and
// the recomputed one, for people ("released 51.2, recomputed 51.3"), or ""
// when every field the kind uses is equal: strings exactly, floats bit for
// bit. The caller compares the encodings too, which catches anything else.
func diffOutput(got, want *cohortv1.OutputValue) string {
	if got.GetKind() != want.GetKind() {
		return fmt.Sprintf("released kind %s, requested %s", got.GetKind(), want.GetKind())
	}
	if got.GetLabel() != want.GetLabel() {
		return fmt.Sprintf("released label %q, requested %q", clip(got.GetLabel()), want.GetLabel())
	}
	switch w := want.GetValue().(type) {
	case *cohortv1.OutputValue_Scalar:
		if got.GetScalar() == nil {
			return "released no number"
		}
		return diffNumber("", got.GetScalar(), w.Scalar)
	case *cohortv1.OutputValue_Histogram:
		g := got.GetHistogram()
		switch {
		case g == nil:
			return "released no histogram"
		case g.GetField() != w.Histogram.GetField():
			return fmt.Sprintf("released a histogram of %q, recomputed one of %q", clip(g.GetField()), w.Histogram.GetField())
		case len(g.GetBins()) != len(w.Histogram.GetBins()):
			return fmt.Sprintf("released %d bins, recomputed %d", len(g.GetBins()), len(w.Histogram.GetBins()))
		}
		for i, wb := range w.Histogram.GetBins() {
			gb := g.GetBins()[i]
			if gb.GetValue() != wb.GetValue() || gb.GetCount() != wb.GetCount() {
				return fmt.Sprintf("bin %d: released %q: %d, recomputed %q: %d", i, clip(gb.GetValue()), gb.GetCount(), wb.GetValue(), wb.GetCount())
			}
		}
	case *cohortv1.OutputValue_Matrix:
		g := got.GetMatrix()
		switch {
		case g == nil:
			return "released no matrix"
		case !slices.Equal(g.GetFields(), w.Matrix.GetFields()):
			return fmt.Sprintf("released a matrix over %s, recomputed one over %s", quoteList(g.GetFields()), quoteList(w.Matrix.GetFields()))
		case len(g.GetEntries()) != len(w.Matrix.GetEntries()):
			return fmt.Sprintf("released %d entries, recomputed %d", len(g.GetEntries()), len(w.Matrix.GetEntries()))
		}
		n := max(len(w.Matrix.GetFields()), 1)
		for i, we := range w.Matrix.GetEntries() {
			if d := diffNumber(fmt.Sprintf("entry [%d][%d]: ", i/n, i%n), g.GetEntries()[i], we); d != "" {
				return d
			}
		}
	case *cohortv1.OutputValue_Regression:
		g, wr := got.GetRegression(), w.Regression
		switch {
		case g == nil:
			return "released no regression"
		case g.GetTarget() != wr.GetTarget() || !slices.Equal(g.GetFeatures(), wr.GetFeatures()):
			return fmt.Sprintf("released a regression of %q on %s, recomputed one of %q on %s",
				clip(g.GetTarget()), quoteList(g.GetFeatures()), wr.GetTarget(), quoteList(wr.GetFeatures()))
		case len(g.GetCoefficients()) != len(wr.GetCoefficients()):
			return fmt.Sprintf("released %d coefficients, recomputed %d", len(g.GetCoefficients()), len(wr.GetCoefficients()))
		}
		if d := diffFloat("intercept: ", g.GetIntercept(), wr.GetIntercept()); d != "" {
			return d
		}
		for i, c := range wr.GetCoefficients() {
			if d := diffFloat(fmt.Sprintf("coefficient of %s: ", wr.GetFeatures()[i]), g.GetCoefficients()[i], c); d != "" {
				return d
			}
		}
		if d := diffFloat("ridge λ: ", g.GetRidgeLambda(), wr.GetRidgeLambda()); d != "" {
			return d
		}
		return diffFloat("R²: ", g.GetR2(), wr.GetR2())
	}
	return ""
}

func diffNumber(where string, got, want *cohortv1.Number) string {
	if math.Float64bits(got.GetValue()) == math.Float64bits(want.GetValue()) && got.GetExact() == want.GetExact() {
		return ""
	}
	return where + "released " + formatNumber(got) + ", recomputed " + formatNumber(want)
}

func diffFloat(where string, got, want float64) string {
	if math.Float64bits(got) == math.Float64bits(want) {
		return ""
	}
	return where + "released " + formatFloat(got) + ", recomputed " + formatFloat(want)
}

func formatNumber(n *cohortv1.Number) string {
	s := formatFloat(n.GetValue())
	if n.GetExact() != "" {
		s += " (exact " + clip(n.GetExact()) + ")"
	}
	return s
}

// formatFloat prints the shortest decimal that reads back as f, so that
// two different floats never print alike.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func quoteList(names []string) string {
	q := make([]string, 0, min(len(names), 8))
	for i, n := range names {
		if i == 8 {
			q = append(q, "…")
			break
		}
		q = append(q, strconv.Quote(clip(n)))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

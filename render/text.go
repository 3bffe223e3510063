package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Result writes a result for people: scalars with their exact value where
// there is one, histograms as value/count rows, matrices as aligned grids
// and regressions as coefficient tables. A result released with noise
// also shows how (mechanism, ρ, noising nodes, confidence and each sum's
// noise) and, beside every value that has one, its standard error and
// interval "[low, high]" (a matrix's in a second grid); a result without
// them reads as it always has. spec, the job's spec, names the fields of
// scalar outputs (a result names only their kind); it may be nil.
func Result(w io.Writer, r *cohortv1.Result, spec *cohortv1.JobSpec) error {
	fmt.Fprintf(w, "job %s on dataset %s (%s): cohort of %d records, released %s\n",
		r.GetJobId(), r.GetDatasetId(), enumName(r.GetBackend().String(), "BACKEND_"), r.GetCohortSize(), unixTime(r.GetReleasedAt()))
	if r.GetTranscriptId() != "" {
		fmt.Fprintf(w, "transcript %s\n", r.GetTranscriptId())
	}
	if err := writeRelease(w, r.GetRelease()); err != nil {
		return err
	}
	ci := intervalTitle(r.GetRelease())
	var scalars [][]string
	noisy := false
	flush := func() error {
		if len(scalars) == 0 {
			return nil
		}
		fmt.Fprintln(w)
		header := []string{"output", "value", "exact"}
		if noisy {
			header = append(header, "standard error", ci)
		}
		err := writeTable(w, "", []bool{false, true, false, true, false}, append([][]string{header}, scalars...))
		scalars, noisy = nil, false
		return err
	}
	for i, o := range r.GetOutputs() {
		if n := o.GetScalar(); n != nil {
			var fields []string
			if i < len(spec.GetOutputs()) {
				fields = spec.GetOutputs()[i].GetFields()
			}
			exact := n.GetExact()
			if exact == Float(n.GetValue()) {
				exact = ""
			}
			row := []string{outputTitle(o, fields), Float(n.GetValue()), exact}
			if iv := n.GetInterval(); iv != nil {
				row = append(row, intervalCells(iv)...)
				noisy = true
			}
			scalars = append(scalars, row)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		var err error
		switch v := o.GetValue().(type) {
		case *cohortv1.OutputValue_Histogram:
			err = writeHistogram(w, o, v.Histogram, ci)
		case *cohortv1.OutputValue_Matrix:
			err = writeMatrix(w, o, v.Matrix, ci)
		case *cohortv1.OutputValue_Regression:
			err = writeRegression(w, o, v.Regression, ci)
		default:
			fmt.Fprintf(w, "%s: no value\n", outputTitle(o, nil))
		}
		if err != nil {
			return err
		}
	}
	return flush()
}

// Float prints a released number with ten significant digits, which shows
// integers as integers.
func Float(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// writeRelease writes how a result was released, when it says: the
// mechanism, the ρ charged, the nodes whose noise the sums carry, the
// confidence of the intervals, and the noise on each sum.
func writeRelease(w io.Writer, ri *cohortv1.ReleaseInfo) error {
	if ri == nil {
		return nil
	}
	line := "release " + enumName(ri.GetMechanism().String(), "RELEASE_MECHANISM_")
	if ri.GetMechanism() == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV {
		line += ": WARNING no noise (a development policy); two jobs whose cohorts differ by one record reveal it"
	}
	if ri.GetRho() != "" {
		line += ", ρ = " + ri.GetRho() + " charged per epoch"
	}
	if ri.GetNoisingNodes() > 0 {
		line += fmt.Sprintf(", noise from %d nodes", ri.GetNoisingNodes())
	}
	if ri.GetConfidence() > 0 {
		line += ", intervals at " + Float(100*ri.GetConfidence()) + "% confidence"
	}
	fmt.Fprintln(w, line)
	if len(ri.GetSums()) == 0 {
		return nil
	}
	rows := [][]string{{"coordinate", "sum", "noise stddev", "node σ²"}}
	for _, n := range ri.GetSums() {
		rows = append(rows, []string{strconv.FormatUint(uint64(n.GetCoordinate()), 10), n.GetName(), Float(n.GetStddev()), n.GetNodeVariance()})
	}
	return writeTable(w, "  ", []bool{true, false, true, true}, rows)
}

// intervalTitle heads a column of intervals: "95% interval" at the
// release's confidence.
func intervalTitle(ri *cohortv1.ReleaseInfo) string {
	if c := ri.GetConfidence(); c > 0 {
		return Float(100*c) + "% interval"
	}
	return "interval"
}

// intervalCells are an interval's standard error and "[low, high]".
func intervalCells(iv *cohortv1.Interval) []string {
	return []string{Float(iv.GetStandardError()), "[" + Float(iv.GetLow()) + ", " + Float(iv.GetHigh()) + "]"}
}

// enumName shortens a protobuf enum name for people: "JOB_STATE_DONE" → "DONE".
func enumName(s, prefix string) string { return strings.TrimPrefix(s, prefix) }

// unixTime prints Unix seconds as RFC 3339 in UTC.
func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// writeTable writes rows as columns two spaces apart, each line prefixed
// by indent; right[j] aligns column j to the right (numbers), else left.
func writeTable(w io.Writer, indent string, right []bool, rows [][]string) error {
	var width []int
	for _, row := range rows {
		for j, cell := range row {
			if j == len(width) {
				width = append(width, 0)
			}
			width[j] = max(width[j], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		line.WriteString(indent)
		for j, cell := range row {
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(cell))
			if j > 0 {
				line.WriteString("  ")
			}
			if j < len(right) && right[j] {
				line.WriteString(pad + cell)
			} else {
				line.WriteString(cell + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// outputTitle names an output: "mean age", "correlation", with its label.
func outputTitle(o *cohortv1.OutputValue, fields []string) string {
	t := client.OutputKindName(o.GetKind())
	if t == "" {
		t = o.GetKind().String()
	}
	if len(fields) > 0 {
		t += " " + strings.Join(fields, ", ")
	}
	if o.GetLabel() != "" {
		t += " (" + strconv.Quote(o.GetLabel()) + ")"
	}
	return t
}

func writeHistogram(w io.Writer, o *cohortv1.OutputValue, h *cohortv1.Histogram, ci string) error {
	fmt.Fprintf(w, "%s:\n", outputTitle(o, []string{h.GetField()}))
	header := []string{"value", "count"}
	var rows [][]string
	var total uint64
	for _, b := range h.GetBins() {
		row := []string{b.GetValue(), strconv.FormatUint(b.GetCount(), 10)}
		if iv := b.GetInterval(); iv != nil {
			row = append(row, intervalCells(iv)...)
			header = []string{"value", "count", "standard error", ci}
		}
		rows = append(rows, row)
		total += b.GetCount()
	}
	rows = append(rows, []string{"total", strconv.FormatUint(total, 10)})
	return writeTable(w, "  ", []bool{false, true, true, false}, append([][]string{header}, rows...))
}

func writeMatrix(w io.Writer, o *cohortv1.OutputValue, m *cohortv1.Matrix, ci string) error {
	f := m.GetFields()
	fmt.Fprintf(w, "%s:\n", outputTitle(o, nil))
	if len(m.GetEntries()) != len(f)*len(f) {
		fmt.Fprintf(w, "  malformed: %d entries for %d fields\n", len(m.GetEntries()), len(f))
		return nil
	}
	if err := writeGrid(w, f, func(e *cohortv1.Number) string { return Float(e.GetValue()) }, m.GetEntries()); err != nil {
		return err
	}
	for _, e := range m.GetEntries() {
		if e.GetInterval() != nil {
			fmt.Fprintf(w, "  %ss:\n", ci)
			return writeGrid(w, f, func(e *cohortv1.Number) string {
				if e.GetInterval() == nil {
					return ""
				}
				return intervalCells(e.GetInterval())[1]
			}, m.GetEntries())
		}
	}
	return nil
}

// writeGrid writes the n×n entries over fields f, each as cell shows it.
func writeGrid(w io.Writer, f []string, cell func(*cohortv1.Number) string, entries []*cohortv1.Number) error {
	rows := [][]string{append([]string{""}, f...)}
	right := []bool{false}
	for i, name := range f {
		row := []string{name}
		for j := range f {
			row = append(row, cell(entries[i*len(f)+j]))
		}
		rows = append(rows, row)
		right = append(right, true)
	}
	return writeTable(w, "  ", right, rows)
}

func writeRegression(w io.Writer, o *cohortv1.OutputValue, r *cohortv1.Regression, ci string) error {
	what := r.GetTarget() + " ~ " + strings.Join(r.GetFeatures(), " + ")
	if o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION {
		what = "log-odds of " + what
	}
	fmt.Fprintf(w, "%s: %s", outputTitle(o, nil), what)
	if r.GetRidgeLambda() != 0 {
		fmt.Fprintf(w, " (ridge λ = %s)", Float(r.GetRidgeLambda()))
	}
	fmt.Fprintf(w, ", R² = %s\n", Float(r.GetR2()))
	rows := [][]string{{"term", "coefficient"}, {"intercept", Float(r.GetIntercept())}}
	if iv := r.GetInterceptInterval(); iv != nil {
		rows[0] = append(rows[0], "standard error", ci)
		rows[1] = append(rows[1], intervalCells(iv)...)
	}
	for i, name := range r.GetFeatures() {
		row := []string{name, "?"}
		if i < len(r.GetCoefficients()) {
			row[1] = Float(r.GetCoefficients()[i])
		}
		if i < len(r.GetCoefficientIntervals()) {
			row = append(row, intervalCells(r.GetCoefficientIntervals()[i])...)
		}
		rows = append(rows, row)
	}
	return writeTable(w, "  ", []bool{false, true, true, false}, rows)
}

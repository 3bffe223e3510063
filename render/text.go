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
// and regressions as coefficient tables. spec, the job's spec, names the
// fields of scalar outputs (a result names only their kind); it may be
// nil.
func Result(w io.Writer, r *cohortv1.Result, spec *cohortv1.JobSpec) error {
	fmt.Fprintf(w, "job %s on dataset %s (%s): cohort of %d records, released %s\n",
		r.GetJobId(), r.GetDatasetId(), enumName(r.GetBackend().String(), "BACKEND_"), r.GetCohortSize(), unixTime(r.GetReleasedAt()))
	if r.GetTranscriptId() != "" {
		fmt.Fprintf(w, "transcript %s\n", r.GetTranscriptId())
	}
	var scalars [][]string
	flush := func() error {
		if len(scalars) == 0 {
			return nil
		}
		fmt.Fprintln(w)
		err := writeTable(w, "", []bool{false, true, false}, append([][]string{{"output", "value", "exact"}}, scalars...))
		scalars = nil
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
			scalars = append(scalars, []string{outputTitle(o, fields), Float(n.GetValue()), exact})
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		var err error
		switch v := o.GetValue().(type) {
		case *cohortv1.OutputValue_Histogram:
			err = writeHistogram(w, o, v.Histogram)
		case *cohortv1.OutputValue_Matrix:
			err = writeMatrix(w, o, v.Matrix)
		case *cohortv1.OutputValue_Regression:
			err = writeRegression(w, o, v.Regression)
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

func writeHistogram(w io.Writer, o *cohortv1.OutputValue, h *cohortv1.Histogram) error {
	fmt.Fprintf(w, "%s:\n", outputTitle(o, []string{h.GetField()}))
	rows := [][]string{{"value", "count"}}
	var total uint64
	for _, b := range h.GetBins() {
		rows = append(rows, []string{b.GetValue(), strconv.FormatUint(b.GetCount(), 10)})
		total += b.GetCount()
	}
	rows = append(rows, []string{"total", strconv.FormatUint(total, 10)})
	return writeTable(w, "  ", []bool{false, true}, rows)
}

func writeMatrix(w io.Writer, o *cohortv1.OutputValue, m *cohortv1.Matrix) error {
	f := m.GetFields()
	fmt.Fprintf(w, "%s:\n", outputTitle(o, nil))
	if len(m.GetEntries()) != len(f)*len(f) {
		fmt.Fprintf(w, "  malformed: %d entries for %d fields\n", len(m.GetEntries()), len(f))
		return nil
	}
	rows := [][]string{append([]string{""}, f...)}
	right := []bool{false}
	for i, name := range f {
		row := []string{name}
		for j := range f {
			row = append(row, Float(m.GetEntries()[i*len(f)+j].GetValue()))
		}
		rows = append(rows, row)
		right = append(right, true)
	}
	return writeTable(w, "  ", right, rows)
}

func writeRegression(w io.Writer, o *cohortv1.OutputValue, r *cohortv1.Regression) error {
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
	for i, name := range r.GetFeatures() {
		c := "?"
		if i < len(r.GetCoefficients()) {
			c = Float(r.GetCoefficients()[i])
		}
		rows = append(rows, []string{name, c})
	}
	return writeTable(w, "  ", []bool{false, true}, rows)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// buyerTokenEnv names the environment variable that may hold the buyer
// token in place of --token-file.
const buyerTokenEnv = "COHORT_BUYER_TOKEN"

// buyerFlags are the flags shared by every buyer command.
type buyerFlags struct {
	node      string
	ca        string
	insecure  bool
	tokenFile string
	tokenSet  bool // --token-file given explicitly
}

func newBuyerCmd() *cobra.Command {
	g := &buyerFlags{}
	cmd := &cobra.Command{
		Use:   "buyer",
		Short: "Submit jobs, follow them and fetch their results",
		Long: `buyer commands act for a buyer: list the datasets, submit a job described
in YAML ("cohort buyer submit --help" shows the format), watch it, and fetch
its result. A job lives on the node it was submitted to. Calls carry the
buyer's token, from --token-file or the ` + buyerTokenEnv + ` environment variable.`,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			g.tokenSet = cmd.Flags().Changed("token-file")
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&g.node, "node", "127.0.0.1:7400", "address host:port of the node")
	pf.StringVar(&g.ca, "ca", "", "the federation's CA certificate (ca.pem) to authenticate the node")
	pf.BoolVar(&g.insecure, "insecure-plaintext", false, "talk to the node unencrypted and unauthenticated (local tests only; exposes the token)")
	pf.StringVar(&g.tokenFile, "token-file", "buyer.token", "file holding the buyer token; without this flag $"+buyerTokenEnv+" is used when set")
	cmd.AddCommand(
		newBuyerDatasetsCmd(g),
		newBuyerSubmitCmd(g),
		newBuyerWatchCmd(g),
		newBuyerResultCmd(g),
		newBuyerJobsCmd(g),
		newBuyerCancelCmd(g),
	)
	return cmd
}

// token returns the buyer token: --token-file when given, else
// $COHORT_BUYER_TOKEN when set, else ./buyer.token.
func (g *buyerFlags) token() (string, error) {
	if !g.tokenSet {
		if t := strings.TrimSpace(os.Getenv(buyerTokenEnv)); t != "" {
			return t, nil
		}
	}
	b, err := readBounded(g.tokenFile, client.MaxBuyerTokenLen+2)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no buyer token: %s does not exist (give --token-file or set %s)", g.tokenFile, buyerTokenEnv)
	}
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--token-file %s is empty", g.tokenFile)
	}
	return t, nil
}

// dial connects to --node with the buyer token.
func (g *buyerFlags) dial(stderr io.Writer) (*client.Buyer, error) {
	tok, err := g.token()
	if err != nil {
		return nil, err
	}
	switch {
	case g.insecure && g.ca != "":
		return nil, errors.New("give either --ca or --insecure-plaintext, not both")
	case g.insecure:
		fmt.Fprintln(stderr, "WARNING: --insecure-plaintext: the connection and the buyer token are neither encrypted nor authenticated")
		return client.DialBuyer(g.node, tok, client.WithInsecure())
	case g.ca == "":
		return nil, errors.New("--ca is required: the federation's ca.pem (or --insecure-plaintext for a local test node)")
	}
	pem, err := os.ReadFile(g.ca)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	return client.DialBuyer(g.node, tok, client.WithCA(pem))
}

// run dials, runs f with a context cancelled on an interrupt, and closes.
func (g *buyerFlags) run(cmd *cobra.Command, f func(ctx context.Context, b *client.Buyer) error) error {
	b, err := g.dial(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, stop := commandContext(cmd)
	defer stop()
	return f(ctx, b)
}

func newBuyerDatasetsCmd(g *buyerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "datasets",
		Short: "List the federation's datasets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				ds, err := b.Datasets(ctx)
				if err != nil {
					return err
				}
				return printDatasets(cmd.OutOrStdout(), ds)
			})
		},
	}
}

func printDatasets(w io.Writer, ds []*cohortv1.DatasetDescriptor) error {
	if len(ds) == 0 {
		fmt.Fprintln(w, "no datasets")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "dataset\tstate\tbackend\tsetup\tepoch\tmin cohort\tpurposes\tfields")
	for _, d := range ds {
		s := d.GetSchema().GetSchema()
		var fields []string
		for _, f := range s.GetFields() {
			fields = append(fields, f.GetName()+":"+enumName(f.GetType().String(), "FIELD_TYPE_"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.GetId(),
			enumName(d.GetState().String(), "DATASET_STATE_"), enumName(d.GetBackend().String(), "BACKEND_"),
			enumName(d.GetSetupKind().String(), "SETUP_KIND_"), enumName(s.GetEpoch().String(), "EPOCH_PERIOD_"),
			s.GetMinCohort(), strings.Join(s.GetPurposes(), ","), strings.Join(fields, " "))
	}
	return tw.Flush()
}

// enumName shortens a protobuf enum name for people: "DATASET_STATE_READY" → "READY".
func enumName(s, prefix string) string { return strings.TrimPrefix(s, prefix) }

func newBuyerSubmitCmd(g *buyerFlags) *cobra.Command {
	var (
		wait      bool
		requestID string
	)
	cmd := &cobra.Command{
		Use:   "submit JOB.yaml",
		Short: "Submit a job described in YAML; with --wait, follow it and print its result",
		Long: `submit reads a job spec, submits it and prints the job id. With --wait it
then follows the job like "watch" and prints the result like "result".

  dataset: fitness-2026
  epoch: current                  # or epoch: 2950, or epochs: {from: 2950, to: 2952}
  purpose: public-health
  backend: mpc                    # optional: mpc or he (default: the dataset's)
  min_cohort: 20                  # optional: raises the dataset's minimum
  outputs:
    - count
    - {mean: age}                 # also sum, variance, stddev, histogram
    - {correlation: [age, steps]} # also covariance
    - {linear_regression: {target: resting_hr, features: [age, steps], ridge: 0.5}}
    - {logistic_regression: {target: smoker, features: [resting_hr, steps]}}
    - {mean: age, label: "average age"}

"current" is the epoch that contains now, by the dataset's epoch period.
Unknown keys are refused with their line; whether the fields exist and suit
the outputs is checked by the node.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], client.MaxJobSpecBytes)
			if err != nil {
				return err
			}
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				spec, err := client.ParseJobSpec(data, func(id string) (uint64, error) { return b.CurrentEpoch(ctx, id) })
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				j, err := b.SubmitJob(ctx, spec, requestID)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "job %s submitted to node %d (%s, epochs %d..%d, %d outputs)\n",
					j.GetJobId(), j.GetCoordinator(), spec.GetDatasetId(), spec.GetEpochFrom(), spec.GetEpochTo(), len(spec.GetOutputs()))
				if !wait {
					return nil
				}
				if err := watchJob(ctx, out, b, j.GetJobId()); err != nil {
					return err
				}
				r, err := b.Result(ctx, j.GetJobId())
				if err != nil {
					return err
				}
				fmt.Fprintln(out)
				return printResult(out, r, spec)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the job until it ends and print its result")
	cmd.Flags().StringVar(&requestID, "request-id", "", "idempotency key ([A-Za-z0-9-], at most 64): resubmitting with it returns the same job (default: a fresh one)")
	return cmd
}

func newBuyerWatchCmd(g *buyerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "watch JOB_ID",
		Short: "Follow a job until it ends: exit status 0 when DONE, 1 when rejected, failed or cancelled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				return watchJob(ctx, cmd.OutOrStdout(), b, args[0])
			})
		},
	}
}

// watchJob prints each change of the job until it ends; the error says why
// a job ended without a result.
func watchJob(ctx context.Context, w io.Writer, b *client.Buyer, id string) error {
	j, err := b.WatchJob(ctx, id, newJobPrinter(w))
	if err != nil {
		return err
	}
	if err := client.JobError(j); err != nil {
		return err
	}
	fmt.Fprintf(w, "job %s DONE: %d records; fetch the result with: cohort buyer result %s\n", j.GetJobId(), j.GetCohortSize(), j.GetJobId())
	return nil
}

// newJobPrinter returns a WatchJob callback that prints one line per change
// of state or progress, with the time since the first.
func newJobPrinter(w io.Writer) func(*cohortv1.Job) {
	start := time.Now()
	var lastState cohortv1.JobState
	lastProgress := ""
	return func(j *cohortv1.Job) {
		if j.GetState() == lastState && j.GetProgress() == lastProgress {
			return
		}
		lastState, lastProgress = j.GetState(), j.GetProgress()
		detail := j.GetProgress()
		switch j.GetState() {
		case cohortv1.JobState_JOB_STATE_DONE:
			detail = fmt.Sprintf("cohort of %d records", j.GetCohortSize())
			if x := enclave.ExclusionsOf(j.GetExcluded()).String(); x != "" {
				detail += "; excluded: " + x
			}
		case cohortv1.JobState_JOB_STATE_REJECTED, cohortv1.JobState_JOB_STATE_FAILED, cohortv1.JobState_JOB_STATE_CANCELLED:
			detail = j.GetReason()
		}
		fmt.Fprintf(w, "  [%6.1fs] %-12s %s\n", time.Since(start).Seconds(), enumName(j.GetState().String(), "JOB_STATE_"), detail)
	}
}

func newBuyerResultCmd(g *buyerFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "result JOB_ID",
		Short: "Print a finished job's result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				r, err := b.Result(ctx, args[0])
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					// protojson varies its whitespace on purpose; json.Indent
					// makes the output stable.
					raw, err := protojson.Marshal(r)
					if err != nil {
						return err
					}
					var buf bytes.Buffer
					if err := json.Indent(&buf, raw, "", "  "); err != nil {
						return err
					}
					buf.WriteByte('\n')
					_, err = out.Write(buf.Bytes())
					return err
				}
				j, err := b.Job(ctx, args[0])
				if err != nil {
					return err
				}
				return printResult(out, r, j.GetSpec())
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as protobuf JSON")
	return cmd
}

func newBuyerJobsCmd(g *buyerFlags) *cobra.Command {
	var (
		datasetID string
		limit     int
	)
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List your jobs on the node, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				jobs, err := b.Jobs(ctx, client.JobFilter{DatasetID: datasetID, Limit: limit})
				if err != nil {
					return err
				}
				return printJobs(cmd.OutOrStdout(), jobs)
			})
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "only jobs on this dataset")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many jobs")
	return cmd
}

func printJobs(w io.Writer, jobs []*cohortv1.Job) error {
	if len(jobs) == 0 {
		fmt.Fprintln(w, "no jobs")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "job\tstate\tdataset\tpurpose\tsubmitted\tcohort\toutputs\tnote")
	for _, j := range jobs {
		note := j.GetProgress()
		if j.GetReason() != "" {
			note = j.GetReason()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", j.GetJobId(), enumName(j.GetState().String(), "JOB_STATE_"),
			j.GetSpec().GetDatasetId(), j.GetSpec().GetPurpose(), unixTime(j.GetSubmittedAt()), j.GetCohortSize(),
			len(j.GetSpec().GetOutputs()), note)
	}
	return tw.Flush()
}

func newBuyerCancelCmd(g *buyerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB_ID",
		Short: "Cancel a job that has not reached RELEASING",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				j, err := b.Cancel(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %s %s\n", j.GetJobId(), enumName(j.GetState().String(), "JOB_STATE_"))
				return nil
			})
		},
	}
}

// printResult writes a result for people: scalars with their exact value
// where there is one, histograms as value/count rows, matrices as aligned
// grids and regressions as coefficient tables. spec, the job's spec, names
// the fields of scalar outputs (a result names only their kind); it may be
// nil.
func printResult(w io.Writer, r *cohortv1.Result, spec *cohortv1.JobSpec) error {
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
			if exact == formatFloat(n.GetValue()) {
				exact = ""
			}
			scalars = append(scalars, []string{outputTitle(o, fields), formatFloat(n.GetValue()), exact})
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		var err error
		switch v := o.GetValue().(type) {
		case *cohortv1.OutputValue_Histogram:
			err = printHistogram(w, o, v.Histogram)
		case *cohortv1.OutputValue_Matrix:
			err = printMatrix(w, o, v.Matrix)
		case *cohortv1.OutputValue_Regression:
			err = printRegression(w, o, v.Regression)
		default:
			fmt.Fprintf(w, "%s: no value\n", outputTitle(o, nil))
		}
		if err != nil {
			return err
		}
	}
	return flush()
}

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

func printHistogram(w io.Writer, o *cohortv1.OutputValue, h *cohortv1.Histogram) error {
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

func printMatrix(w io.Writer, o *cohortv1.OutputValue, m *cohortv1.Matrix) error {
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
			row = append(row, formatFloat(m.GetEntries()[i*len(f)+j].GetValue()))
		}
		rows = append(rows, row)
		right = append(right, true)
	}
	return writeTable(w, "  ", right, rows)
}

func printRegression(w io.Writer, o *cohortv1.OutputValue, r *cohortv1.Regression) error {
	what := r.GetTarget() + " ~ " + strings.Join(r.GetFeatures(), " + ")
	if o.GetKind() == cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION {
		what = "log-odds of " + what
	}
	fmt.Fprintf(w, "%s: %s", outputTitle(o, nil), what)
	if r.GetRidgeLambda() != 0 {
		fmt.Fprintf(w, " (ridge λ = %s)", formatFloat(r.GetRidgeLambda()))
	}
	fmt.Fprintf(w, ", R² = %s\n", formatFloat(r.GetR2()))
	rows := [][]string{{"term", "coefficient"}, {"intercept", formatFloat(r.GetIntercept())}}
	for i, name := range r.GetFeatures() {
		c := "?"
		if i < len(r.GetCoefficients()) {
			c = formatFloat(r.GetCoefficients()[i])
		}
		rows = append(rows, []string{name, c})
	}
	return writeTable(w, "  ", []bool{false, true}, rows)
}

// formatFloat prints a released number with ten significant digits, which
// shows integers as integers.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/render"
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
	keyFile   string
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
	pf.StringVar(&g.keyFile, "key-file", "", "file holding the buyer's signing key (cohort buyer keygen), with which every submitted job is signed (default: buyer.key beside --token-file)")
	cmd.AddCommand(
		newBuyerKeygenCmd(g),
		newBuyerDatasetsCmd(g),
		newBuyerSubmitCmd(g),
		newBuyerWatchCmd(g),
		newBuyerResultCmd(g),
		newBuyerJobsCmd(g),
		newBuyerCancelCmd(g),
		newBuyerBudgetCmd(g),
		newBuyerSignCmd(g),
		newBuyerBalanceCmd(g),
	)
	return cmd
}

func newBuyerBudgetCmd(g *buyerFlags) *cobra.Command {
	var (
		datasetID string
		from, to  int64
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "budget --dataset ID [--from EPOCH --to EPOCH]",
		Short: "Show your privacy budget on a dataset's epochs",
		Long: `budget shows what a job may still spend on a dataset: the dataset's release
policy, and for each epoch the ρ (zero-concentrated differential privacy)
spent by all buyers and by you against the totals, as the node's own ledger
holds them. "available" is the most ρ one job over the whole range could
spend now. Every node keeps its own ledger and refuses a job its ledger
cannot pay. Epochs default to the current one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if datasetID == "" {
				return errors.New("--dataset is required")
			}
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				lo, hi := from, to
				if lo < 0 || hi < 0 {
					cur, err := b.CurrentEpoch(ctx, datasetID)
					if err != nil {
						return err
					}
					if lo < 0 {
						lo = int64(cur)
					}
					if hi < 0 {
						hi = lo
					}
				}
				resp, err := b.Budget(ctx, datasetID, uint64(lo), uint64(hi))
				if err != nil {
					return err
				}
				if asJSON {
					return writeProtoJSON(cmd.OutOrStdout(), resp)
				}
				return printBudget(cmd.OutOrStdout(), datasetID, resp)
			})
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "dataset id")
	cmd.Flags().Int64Var(&from, "from", -1, "first epoch (default: the current one)")
	cmd.Flags().Int64Var(&to, "to", -1, "last epoch (default: --from)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the budget as protobuf JSON")
	return cmd
}

func printBudget(w io.Writer, datasetID string, b *cohortv1.GetBudgetResponse) error {
	p := b.GetPolicy()
	if p.GetMechanism() == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV {
		fmt.Fprintf(w, "dataset %s releases EXACT sums (development policy): no privacy budget applies, and two jobs can reveal a record\n", datasetID)
		return nil
	}
	fmt.Fprintf(w, "dataset %s: %s, ρ per epoch %s for all buyers, %s per buyer\n", datasetID,
		strings.ToLower(enumName(p.GetMechanism().String(), "RELEASE_MECHANISM_")), p.GetEpochRho(), p.GetBuyerRho())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "epoch\tspent (all)\tof\tspent (you)\tof")
	for _, e := range b.GetEpochs() {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.GetEpoch(), e.GetEpochSpentAfter(), e.GetEpochTotal(), e.GetBuyerSpentAfter(), e.GetBuyerTotal())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "available: ρ = %s for one job over these epochs\n", b.GetAvailableRho())
	return err
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

// keyPath is --key-file, or buyer.key beside the token file.
func (g *buyerFlags) keyPath() string {
	if g.keyFile != "" {
		return g.keyFile
	}
	return filepath.Join(filepath.Dir(g.tokenFile), "buyer.key")
}

// dial connects to --node with the buyer token.
func (g *buyerFlags) dial(stderr io.Writer) (*client.Buyer, error) {
	tok, err := g.token()
	if err != nil {
		return nil, err
	}
	if g.insecure && g.ca != "" {
		return nil, errors.New("give either --ca or --insecure-plaintext, not both")
	}
	var opts []client.DialOption
	switch key, err := client.ReadBuyerKey(g.keyPath()); {
	case err == nil:
		opts = append(opts, client.WithBuyerKey(key))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	switch {
	case g.insecure:
		fmt.Fprintln(stderr, "WARNING: --insecure-plaintext: the connection and the buyer token are neither encrypted nor authenticated")
		return client.DialBuyer(g.node, tok, append(opts, client.WithInsecure())...)
	case g.ca == "":
		return nil, errors.New("--ca is required: the federation's ca.pem (or --insecure-plaintext for a local test node)")
	}
	pem, err := os.ReadFile(g.ca)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	return client.DialBuyer(g.node, tok, append(opts, client.WithCA(pem))...)
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
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "datasets",
		Short: "List the federation's datasets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				ds, err := b.Datasets(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return writeProtoJSON(cmd.OutOrStdout(), &cohortv1.ListDatasetsResponse{Datasets: ds})
				}
				return printDatasets(cmd.OutOrStdout(), ds)
			})
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
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

func newBuyerBalanceCmd(g *buyerFlags) *cobra.Command {
	var (
		jobID  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "balance [--job JOB_ID]",
		Short: "Show your balance in micro-credits and what your jobs hold in escrow",
		Long: `balance shows your account in the node's payment ledger, in micro-credits:
credited by the federation's admins, charged for released jobs, held in
escrow for jobs that have not ended, and available for new jobs. A priced
job holds price per record × the dataset's largest cohort + the job fee
when it is submitted; when it is released you are charged price × the
records it counted + the fee and the rest comes back; a job rejected,
failed or cancelled gives everything back. With --job, that job's escrow
is shown too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				resp, err := b.Balance(ctx, jobID)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return writeProtoJSON(out, resp)
				}
				bal := resp.GetBalance()
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "buyer\t%s\n", bal.GetBuyerId())
				fmt.Fprintf(tw, "credited\t%d\n", bal.GetCredited())
				fmt.Fprintf(tw, "charged\t%d\n", bal.GetCharged())
				fmt.Fprintf(tw, "held in escrow\t%d\n", bal.GetHeld())
				fmt.Fprintf(tw, "available\t%d\n", bal.GetAvailable())
				if e := resp.GetEscrow(); e != nil {
					fmt.Fprintf(tw, "job %s\t%s: quote %d (%d × %d + %d)", e.GetJobId(), enumName(e.GetState().String(), "ESCROW_STATE_"),
						e.GetHeld(), e.GetPricePerRecord(), e.GetMaxCohort(), e.GetJobFee())
					if e.GetState() == cohortv1.EscrowState_ESCROW_STATE_SETTLED {
						fmt.Fprintf(tw, ", charged %d (%d × %d + %d)", e.GetCharged(), e.GetPricePerRecord(), e.GetCohort(), e.GetJobFee())
					}
					fmt.Fprintln(tw)
				} else if jobID != "" {
					fmt.Fprintf(tw, "job %s\tfree (no escrow)\n", jobID)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&jobID, "job", "", "also show this job's escrow")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the balance as protobuf JSON")
	return cmd
}

func newBuyerSubmitCmd(g *buyerFlags) *cobra.Command {
	var (
		wait, quiet, asJSON bool
		requestID           string
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
			return g.withSpec(cmd, args[0], func(ctx context.Context, b *client.Buyer, spec *cohortv1.JobSpec) error {
				j, err := b.SubmitJob(ctx, spec, requestID)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				switch {
				case quiet:
					fmt.Fprintln(out, j.GetJobId())
				case asJSON && !wait:
					return writeProtoJSON(out, j)
				case !asJSON:
					fmt.Fprintf(out, "job %s submitted to node %d (%s, epochs %d..%d, %d outputs)\n",
						j.GetJobId(), j.GetCoordinator(), spec.GetDatasetId(), spec.GetEpochFrom(), spec.GetEpochTo(), len(spec.GetOutputs()))
				}
				if !wait {
					return nil
				}
				// With -q or --json, stdout holds only the id or the result.
				progress := out
				if quiet || asJSON {
					progress = cmd.ErrOrStderr()
				}
				if err := watchJob(ctx, progress, b, j.GetJobId()); err != nil {
					return err
				}
				if quiet {
					return nil
				}
				r, err := b.Result(ctx, j.GetJobId())
				if err != nil {
					return err
				}
				if asJSON {
					return writeProtoJSON(out, r)
				}
				fmt.Fprintln(out)
				return render.Result(out, r, spec)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the job until it ends and print its result")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the job id (with --wait, progress goes to stderr and no result is printed)")
	addJSONFlag(cmd, &asJSON)
	cmd.MarkFlagsMutuallyExclusive("quiet", "json")
	cmd.Flags().StringVar(&requestID, "request-id", "", "idempotency key ([A-Za-z0-9-], at most 64): resubmitting with it returns the same job (default: a fresh one)")
	return cmd
}

func newBuyerWatchCmd(g *buyerFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "watch JOB_ID",
		Short: "Follow a job until it ends: exit status 0 when DONE, 1 when rejected, failed or cancelled",
		Long: `watch prints each change of the job until it ends. With --json it prints the
job as protobuf JSON, one object per line, at every change.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				if !asJSON {
					return watchJob(ctx, cmd.OutOrStdout(), b, args[0])
				}
				var werr error
				j, err := b.WatchJob(ctx, args[0], func(j *cohortv1.Job) {
					if werr == nil {
						werr = writeProtoJSONLine(cmd.OutOrStdout(), j)
					}
				})
				if err != nil {
					return err
				}
				if werr != nil {
					return werr
				}
				return client.JobError(j)
			})
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// watchJob prints each change of the job until it ends; the error says why
// a job ended without a result.
func watchJob(ctx context.Context, w io.Writer, b *client.Buyer, id string) error {
	j, err := b.WatchJob(ctx, id, render.JobProgress(w))
	if err != nil {
		return err
	}
	if err := client.JobError(j); err != nil {
		return err
	}
	fmt.Fprintf(w, "job %s DONE: %d records; fetch the result with: cohort buyer result %s\n", j.GetJobId(), j.GetCohortSize(), j.GetJobId())
	return nil
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
					return writeProtoJSON(out, r)
				}
				j, err := b.Job(ctx, args[0])
				if err != nil {
					return err
				}
				return render.Result(out, r, j.GetSpec())
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
		asJSON    bool
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
				if asJSON {
					return writeProtoJSON(cmd.OutOrStdout(), &cohortv1.ListJobsResponse{Jobs: jobs})
				}
				return printJobs(cmd.OutOrStdout(), jobs)
			})
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "only jobs on this dataset")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many jobs")
	addJSONFlag(cmd, &asJSON)
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
			j.GetSpec().GetDatasetId(), j.GetSpec().GetPurpose(), apiTime(j.GetSubmittedAt()), j.GetCohortSize(),
			len(j.GetSpec().GetOutputs()), note)
	}
	return tw.Flush()
}

func newBuyerCancelCmd(g *buyerFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel JOB_ID",
		Short: "Cancel a job that has not reached RELEASING",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
				j, err := b.Cancel(ctx, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeProtoJSON(cmd.OutOrStdout(), j)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %s %s\n", j.GetJobId(), enumName(j.GetState().String(), "JOB_STATE_"))
				return nil
			})
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// writeProtoJSON writes m as indented protobuf JSON: protojson varies its
// whitespace on purpose, and json.Indent makes the output stable.
func writeProtoJSON(w io.Writer, m proto.Message) error {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func newBuyerKeygenCmd(g *buyerFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keygen ID",
		Short: "Create the buyer's signing key and print its public key",
		Long: `keygen draws a new Ed25519 key pair for buyer ID and writes it to --key-file
(default: buyer.key beside --token-file; mode 0600, an existing file is
kept). It prints the
public key: give it to a node's admin, who creates the account with
"cohort admin buyers create ID --public-key KEY". Every job you submit is
signed with this key, and every node refuses a job it does not verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := client.GenerateBuyerKey(args[0])
			if err != nil {
				return err
			}
			if err := client.WriteBuyerKey(g.keyPath(), k); err != nil {
				return fmt.Errorf("--key-file: %w", err)
			}
			pub := base64.StdEncoding.EncodeToString(k.Public())
			if asJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					BuyerID   string `json:"buyer_id"`
					KeyFile   string `json:"key_file"`
					PublicKey string `json:"public_key"` // base64, for admin buyers create --public-key
				}{k.ID, g.keyPath(), pub})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "buyer key for %s written to %s (mode 0600)\npublic key: %s\n", k.ID, g.keyPath(), pub)
			return err
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func newBuyerSignCmd(g *buyerFlags) *cobra.Command {
	var requestID string
	cmd := &cobra.Command{
		Use:   "sign JOB.yaml",
		Short: "Print the signed SubmitJobRequest of a job spec as JSON, for the HTTP/JSON API",
		Long: `sign reads a job spec like "submit", signs it with the buyer's key as
"submit" would, and prints the request as protobuf JSON instead of sending
it: the body of POST /v1/jobs on a node's HTTP/JSON API (README "HTTP/JSON").
Every node refuses a job whose submission its buyer did not sign.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withSpec(cmd, args[0], func(ctx context.Context, b *client.Buyer, spec *cohortv1.JobSpec) error {
				req, err := b.SignedRequest(ctx, spec, requestID)
				if err != nil {
					return err
				}
				return writeProtoJSON(cmd.OutOrStdout(), req)
			})
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "idempotency key ([A-Za-z0-9-], at most 64; default: a fresh one)")
	return cmd
}

// withSpec reads and parses the job spec at path ("current" epochs asked of
// the node) and runs f with it on a connected buyer.
func (g *buyerFlags) withSpec(cmd *cobra.Command, path string, f func(context.Context, *client.Buyer, *cohortv1.JobSpec) error) error {
	data, err := readBounded(path, client.MaxJobSpecBytes)
	if err != nil {
		return err
	}
	return g.run(cmd, func(ctx context.Context, b *client.Buyer) error {
		spec, err := client.ParseJobSpec(data, func(id string) (uint64, error) { return b.CurrentEpoch(ctx, id) })
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return f(ctx, b, spec)
	})
}

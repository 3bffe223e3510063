package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// rewardJSON is one reward as `contributor rewards --json` prints it.
type rewardJSON struct {
	JobID      string   `json:"job_id"`
	DatasetID  string   `json:"dataset_id"`
	ReleasedAt string   `json:"released_at"`
	CohortSize uint64   `json:"cohort_size"`
	Reward     uint64   `json:"reward"` // micro-credits a claim is credited
	Epochs     []uint64 `json:"epochs"` // of your records the job counted
	// Status is claimable, claimed (by this machine, with the amount,
	// time and payout key), or claimed_elsewhere (the node refused a claim
	// as made already).
	Status    string `json:"status"`
	Amount    uint64 `json:"amount,omitempty"`
	ClaimedAt string `json:"claimed_at,omitempty"`
	PayoutKey string `json:"payout_key,omitempty"`
	KeyFile   string `json:"key_file,omitempty"`
	// ClaimedNow is set on the rewards this run claimed (--claim).
	ClaimedNow bool `json:"claimed_now,omitempty"`
}

func rewardSummary(r client.Reward) rewardJSON {
	out := rewardJSON{
		JobID: r.JobID, DatasetID: r.DatasetID, ReleasedAt: r.ReleasedAt.UTC().Format(time.RFC3339),
		CohortSize: r.CohortSize, Reward: r.PerRecord, Epochs: r.Epochs, Status: "claimable",
	}
	if c := r.Claimed; c != nil {
		out.Status, out.ClaimedAt = "claimed", c.ClaimedAt.UTC().Format(time.RFC3339)
		if c.Elsewhere {
			out.Status = "claimed_elsewhere"
		}
		out.Amount, out.PayoutKey, out.KeyFile = c.Amount, c.PayoutKey, c.KeyFile
	}
	return out
}

// newContributorRewardsCmd lists the identity's claimable rewards, claims
// them with --claim, and shows the payout balance.
func newContributorRewardsCmd(g *contributorFlags) *cobra.Command {
	var (
		datasetID string
		claim     bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "rewards [--dataset ID] [--claim]",
		Short: "List the rewards your counted records earned, claim them, and show your payout balance",
		Long: `rewards searches the published transcripts of the dataset (every dataset
without --dataset) on this machine for the released jobs that counted a
record of yours and pay a reward per counted record, and lists them: the
node learns only that someone read its transcripts.

With --claim each reward not claimed yet is claimed as "cohort contributor
claim" does: proved on this machine, paid to a fresh payout key in the
payouts directory. The node learns that some counted record of the job was
claimed, and when. Claims are remembered in a claim book beside the
identity file; a job the node says was claimed already is marked so.

Last comes the balance of every payout key in the payouts directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := g.loadIdentity()
			if err != nil {
				return err
			}
			book, err := g.claimBook()
			if err != nil {
				return err
			}
			dir, err := g.payoutsDir()
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			c, err := g.dial(stderr)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			datasets := []string{datasetID}
			if datasetID == "" {
				list, err := c.Datasets(ctx)
				if err != nil {
					return err
				}
				datasets = datasets[:0]
				for _, d := range list {
					datasets = append(datasets, d.GetId())
				}
			}
			var rewards []client.Reward
			for _, ds := range datasets {
				rs, err := c.Rewards(ctx, id, ds, book)
				if err != nil {
					return err
				}
				rewards = append(rewards, rs...)
			}
			rows := make([]rewardJSON, 0, len(rewards))
			warned := false
			for _, r := range rewards {
				row := rewardSummary(r)
				if claim && r.Claimed == nil {
					done, err := claimOne(ctx, c, book, id, r, dir, stderr, &warned)
					switch {
					case status.Code(err) == codes.AlreadyExists:
						fmt.Fprintf(stderr, "job %s: the node says this reward was claimed already (from another machine, or a claim this one did not record)\n", r.JobID)
						if rec, ok := book.Claimed(r.JobID); ok {
							r.Claimed = &rec
						}
						row = rewardSummary(r)
					case done == nil:
						return fmt.Errorf("job %s: %w", r.JobID, err)
					default:
						if err != nil {
							fmt.Fprintf(stderr, "WARNING: %v\n", err)
						}
						rec := client.ClaimRecord{JobID: r.JobID, Amount: done.Response.GetAmount(), KeyFile: done.keyFile,
							PayoutKey: done.payoutKey, ClaimedAt: done.Response.GetClaimedAt().AsTime()}
						r.Claimed = &rec
						row = rewardSummary(r)
						row.ClaimedNow = true
					}
				}
				rows = append(rows, row)
			}
			bal, err := g.readPayouts(ctx, c)
			if err != nil {
				return err
			}
			var claimable uint64
			n := 0
			for _, r := range rows {
				if r.Status == "claimable" {
					claimable += r.Reward
					n++
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, struct {
					Rewards   []rewardJSON   `json:"rewards"`
					Claimable uint64         `json:"claimable"` // micro-credits not claimed yet
					ClaimBook string         `json:"claim_book"`
					Balance   *payoutBalance `json:"balance"`
				}{rows, claimable, book.Path(), bal})
			}
			printRewards(out, rows)
			switch {
			case n > 0:
				fmt.Fprintf(out, "%d rewards of %d micro-credits in all can be claimed: cohort contributor rewards --claim\n", n, claimable)
			case len(rows) == 0:
				fmt.Fprintln(out, "no released job that counted your records pays a reward yet")
			default:
				fmt.Fprintln(out, "every reward is claimed")
			}
			fmt.Fprintf(out, "payout balance: %d micro-credits in %d payout keys (%s)\n", bal.Total, len(bal.Payouts), dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "dataset id (default: every dataset the node lists)")
	cmd.Flags().BoolVar(&claim, "claim", false, "claim every reward not claimed yet, each to a fresh payout key")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// claimed is one claim rewards --claim made.
type claimed struct {
	*client.Claim
	keyFile, payoutKey string
}

// claimOne claims r to a fresh payout key in dir, with progress on
// stderr; the error may come with the claim when only recording it failed.
func claimOne(ctx context.Context, c *client.Client, book *client.ClaimBook, id *client.Identity, r client.Reward, dir string, stderr io.Writer, warned *bool) (*claimed, error) {
	keyFile := filepath.Join(dir, fmt.Sprintf("%s-%d.pem", r.JobID, time.Now().UnixNano()))
	pub, err := client.NewPayoutKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("payout key: %w", err)
	}
	fmt.Fprintf(stderr, "claiming job %s (%d micro-credits)\n", r.JobID, r.PerRecord)
	p := newProgress(stderr)
	last := ""
	cl, err := c.ClaimInto(ctx, book, id, r.JobID, pub, keyFile, func(step string) {
		last = step
		p.update(step, 0, 1)
	})
	if cl != nil && last != "" {
		p.update(last, 1, 1)
	}
	p.finish()
	if cl == nil {
		return nil, err
	}
	if cl.SetupKind == cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV && !*warned {
		*warned = true
		fmt.Fprintln(stderr, "WARNING: the federation's claim keys come from an INSECURE DEVELOPMENT SETUP: whoever ran it can forge claims")
	}
	return &claimed{cl, keyFile, fmt.Sprintf("%x", []byte(pub))}, err
}

// printRewards writes the rewards as a table.
func printRewards(w io.Writer, rows []rewardJSON) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tDATASET\tRELEASED\tREWARD\tSTATUS")
	for _, r := range rows {
		st := "claimable"
		switch r.Status {
		case "claimed":
			st = fmt.Sprintf("claimed %d on %s", r.Amount, r.ClaimedAt)
			if r.ClaimedNow {
				st = fmt.Sprintf("claimed %d now, to %s", r.Amount, filepath.Base(r.KeyFile))
			}
		case "claimed_elsewhere":
			st = "claimed already (the node says so)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.JobID, r.DatasetID, strings.Replace(r.ReleasedAt, "T", " ", 1), r.Reward, st)
	}
	tw.Flush()
}

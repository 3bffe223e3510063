package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Payout keys (docs/design.md §6.8) are files of client.NewPayoutKey in
// the payouts directory, by default beside the identity file, a fresh one
// per claim named after the job and the time.

// payoutsDir is the directory of payout keys: --payouts, or
// client.PayoutsDir of the identity file.
func (g *contributorFlags) payoutsDir() (string, error) {
	if g.payouts != "" {
		return g.payouts, nil
	}
	path, err := g.identityPath()
	if err != nil {
		return "", err
	}
	return client.PayoutsDir(path), nil
}

// newContributorClaimCmd claims a released job's reward for the identity.
func newContributorClaimCmd(g *contributorFlags) *cobra.Command {
	var (
		jobID, keyFile string
		asJSON         bool
	)
	cmd := &cobra.Command{
		Use:   "claim --job ID [--payout-key FILE]",
		Short: "Claim a released job's reward for your counted record, proved locally, paid to a payout key",
		Long: `claim proves, on this machine, that a record of yours is among those the
job counted — without saying which — and claims the job's reward per
record for a payout key. The node learns that some counted record of the
job was claimed, and when. Each person claims a job once.

Without --payout-key a fresh payout key is made for this claim and kept in
the payouts directory; with --payout-key FILE that key is used, and made
there if FILE does not exist.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := g.loadIdentity()
			if err != nil {
				return err
			}
			if keyFile == "" {
				dir, err := g.payoutsDir()
				if err != nil {
					return err
				}
				keyFile = filepath.Join(dir, fmt.Sprintf("%s-%d.pem", jobID, time.Now().Unix()))
			}
			pub, err := client.LoadPayoutKey(keyFile)
			if errors.Is(err, fs.ErrNotExist) {
				pub, err = client.NewPayoutKey(keyFile)
			}
			if err != nil {
				return fmt.Errorf("payout key: %w", err)
			}
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			stderr := cmd.ErrOrStderr()
			book, err := g.claimBook()
			if err != nil {
				return err
			}
			claim, err := c.ClaimInto(ctx, book, id, jobID, pub, keyFile, func(step string) { fmt.Fprintf(stderr, "%s…\n", step) })
			if claim == nil && err != nil {
				return err
			}
			if err != nil {
				fmt.Fprintf(stderr, "WARNING: %v\n", err)
			}
			if claim.SetupKind == cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV {
				fmt.Fprintln(stderr, "WARNING: the federation's claim keys come from an INSECURE DEVELOPMENT SETUP: whoever ran it can forge claims")
			}
			r := claim.Response
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, struct {
					JobID     string `json:"job_id"`
					Amount    uint64 `json:"amount"`
					PayoutKey string `json:"payout_key"`
					KeyFile   string `json:"key_file"`
					Credited  uint64 `json:"credited"`
					Claims    uint64 `json:"claims"`
					ClaimedAt string `json:"claimed_at"`
				}{jobID, r.GetAmount(), hex.EncodeToString(pub), keyFile, r.GetPayout().GetCredited(), r.GetPayout().GetClaims(), apiTime(r.GetClaimedAt())})
			}
			fmt.Fprintf(out, "claimed job %s: %d micro-credits to payout key %s (%s)\n", jobID, r.GetAmount(), hex.EncodeToString(pub), keyFile)
			fmt.Fprintf(out, "the payout key holds %d micro-credits from %d claims\n", r.GetPayout().GetCredited(), r.GetPayout().GetClaims())
			return nil
		},
	}
	cmd.Flags().StringVar(&jobID, "job", "", "the released job's id")
	cmd.MarkFlagRequired("job")
	cmd.Flags().StringVar(&keyFile, "payout-key", "", "payout key file (PKCS #8 PEM, Ed25519), made if it does not exist (default: a fresh key in the payouts directory)")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// newContributorPayoutsCmd shows the node's balance of every payout key in
// the payouts directory.
func newContributorPayoutsCmd(g *contributorFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "payouts",
		Short: "Show the balance of each of your payout keys on the node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			bal, err := g.readPayouts(ctx, c)
			if err != nil {
				return err
			}
			rows, total := bal.Payouts, bal.Total
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, bal)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PAYOUT KEY\tBALANCE\tCREDITED\tTRANSFERRED\tCLAIMS\tFILE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s…\t%d\t%d\t%d\t%d\t%s\n", r.PayoutKey[:16], r.Balance, r.Credited, r.Transferred, r.Claims, r.KeyFile)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d micro-credits in %d payout keys\n", total, len(rows))
			return nil
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// payoutRow is one payout key's account on the node.
type payoutRow struct {
	KeyFile     string `json:"key_file"`
	PayoutKey   string `json:"payout_key"`
	Credited    uint64 `json:"credited"`
	Claims      uint64 `json:"claims"`
	Transferred uint64 `json:"transferred"`
	Balance     uint64 `json:"balance"`
}

// payoutBalance is what the payout keys in the payouts directory hold on
// the node: Total is the sum of their balances.
type payoutBalance struct {
	Payouts []payoutRow `json:"payouts"`
	Total   uint64      `json:"total"`
}

// readPayouts reads the node's account of every payout key in the
// payouts directory.
func (g *contributorFlags) readPayouts(ctx context.Context, c *client.Client) (*payoutBalance, error) {
	dir, err := g.payoutsDir()
	if err != nil {
		return nil, err
	}
	files, err := client.PayoutKeyFiles(dir)
	if err != nil {
		return nil, err
	}
	out := &payoutBalance{Payouts: []payoutRow{}}
	for _, f := range files {
		pub, err := client.LoadPayoutKey(f)
		if err != nil {
			return nil, err
		}
		p, err := c.Payout(ctx, pub)
		if err != nil {
			return nil, err
		}
		out.Payouts = append(out.Payouts, payoutRow{f, hex.EncodeToString(pub), p.GetCredited(), p.GetClaims(), p.GetTransferred(), p.GetBalance()})
		out.Total += p.GetBalance()
	}
	return out, nil
}

// claimBook opens the identity's claim book (client.ClaimBookPath).
func (g *contributorFlags) claimBook() (*client.ClaimBook, error) {
	path, err := g.identityPath()
	if err != nil {
		return nil, err
	}
	return client.OpenClaimBook(client.ClaimBookPath(path))
}

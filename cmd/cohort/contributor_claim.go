package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Payout keys (docs/design.md §6.8): an Ed25519 key pair per payout
// account, kept as a PKCS #8 PEM file of mode 0600 in the payouts
// directory (by default beside the identity file), a fresh one per claim
// named after the job and the time. A claim credits the public key; the
// private key is what would sign a transfer or a payout statement.

const payoutKeyPEM = "PRIVATE KEY"

// payoutsDir is the directory of payout keys: --payouts, or "payouts"
// beside the identity file.
func (g *contributorFlags) payoutsDir() (string, error) {
	if g.payouts != "" {
		return g.payouts, nil
	}
	path, err := g.identityPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(path), "payouts"), nil
}

// newPayoutKey writes a fresh payout key to path, which must not exist.
func newPayoutKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: payoutKeyPEM, Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return pub, f.Close()
}

// loadPayoutKey reads the public key of a payout key file.
func loadPayoutKey(path string) (ed25519.PublicKey, error) {
	b, err := readBounded(path, 4<<10)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != payoutKeyPEM {
		return nil, fmt.Errorf("%s: not a PEM %q block", path, payoutKeyPEM)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an Ed25519 key", path, k)
	}
	return priv.Public().(ed25519.PublicKey), nil
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
			pub, err := loadPayoutKey(keyFile)
			if errors.Is(err, fs.ErrNotExist) {
				pub, err = newPayoutKey(keyFile)
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
			claim, err := c.ClaimReward(ctx, id, jobID, pub, func(step string) { fmt.Fprintf(stderr, "%s…\n", step) })
			if err != nil {
				return err
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
				}{jobID, r.GetAmount(), hex.EncodeToString(pub), keyFile, r.GetPayout().GetCredited(), r.GetPayout().GetClaims(), unixTime(r.GetClaimedAt())})
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
			dir, err := g.payoutsDir()
			if err != nil {
				return err
			}
			entries, err := os.ReadDir(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			var files []string
			for _, e := range entries {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".pem") {
					files = append(files, filepath.Join(dir, e.Name()))
				}
			}
			slices.Sort(files)
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			type row struct {
				KeyFile   string `json:"key_file"`
				PayoutKey string `json:"payout_key"`
				Credited  uint64 `json:"credited"`
				Claims    uint64 `json:"claims"`
			}
			rows := []row{}
			var total uint64
			for _, f := range files {
				pub, err := loadPayoutKey(f)
				if err != nil {
					return err
				}
				p, err := c.Payout(ctx, pub)
				if err != nil {
					return err
				}
				rows = append(rows, row{f, hex.EncodeToString(pub), p.GetCredited(), p.GetClaims()})
				total += p.GetCredited()
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, struct {
					Payouts []row  `json:"payouts"`
					Total   uint64 `json:"total"`
				}{rows, total})
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PAYOUT KEY\tCREDITED\tCLAIMS\tFILE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s…\t%d\t%d\t%s\n", r.PayoutKey[:16], r.Credited, r.Claims, r.KeyFile)
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

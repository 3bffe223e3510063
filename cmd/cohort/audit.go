package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Fetch job transcripts and verify them offline",
		Long: `audit commands check a released result without trusting the nodes: fetch
a job's transcript bundle from the node that ran it, then verify it offline
(the ceremony, every proof, every record's consent terms, the cohort
policy, every node's signature, the release under the dataset's privacy
policy with every node's signed privacy debit, and every released number
recomputed from the released sufficient statistics). Given every
transcript of a dataset, ledger checks the nodes' privacy ledgers across
jobs: no debit overlaps another, none passes its budget; rewards checks a
dataset's reward claims against the claim keys' ceremony and the jobs'
transcripts.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newAuditFetchCmd(), newAuditVerifyCmd(), newAuditLedgerCmd(), newAuditRewardsCmd())
	return cmd
}

func newAuditFetchCmd() *cobra.Command {
	var (
		g      contributorFlags
		job    string
		out    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "fetch --job ID --node ADDR -o FILE",
		Short: "Download a job's transcript bundle",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if job == "" || out == "" {
				return usageError{errors.New("--job and -o are required")}
			}
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			// The ceremony transcript, the same for every job of the
			// dataset, is fetched once and kept in --cache. The bundle
			// goes to the file as it arrives (spooled beside it first).
			sha := sha256.New()
			var size int64
			err = writeNew(out, func(w io.Writer) error {
				var err error
				size, err = c.WriteTranscriptBundle(ctx, job, g.cache, filepath.Dir(out), io.MultiWriter(w, sha))
				return err
			})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					JobID  string `json:"job_id"`
					File   string `json:"file"`
					Bytes  int64  `json:"bytes"`
					SHA256 string `json:"sha256"` // hex, of the file as written
				}{job, out, size, hex.EncodeToString(sha.Sum(nil))})
			}
			pin := "--federation federation.yaml "
			if g.fed != "" {
				pin = "--federation " + g.fed + " "
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes); verify it with: cohort audit verify %s%s\n", out, size, pin, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&job, "job", "", "job (transcript) id")
	f.StringVarP(&out, "output", "o", "", "file to write the bundle to (must not exist)")
	f.StringVar(&g.node, "node", "127.0.0.1:7400", "address of the node that ran the job")
	f.StringVar(&g.ca, "ca", "", "the federation's CA certificate (ca.pem) (default: the CA in --federation)")
	f.StringVar(&g.fed, "federation", "", "the federation's public descriptor (federation.yaml): its CA authenticates the node")
	f.BoolVar(&g.insecure, "insecure-plaintext", false, "talk to the node unencrypted and unauthenticated (local tests only)")
	defCache := ""
	if home, err := os.UserHomeDir(); err == nil {
		defCache = filepath.Join(home, ".cohort", "cache")
	}
	f.StringVar(&g.cache, "cache", defCache, `directory that keeps each dataset's ceremony transcript between fetches ("" for none)`)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// writeNew writes a file that must not exist yet with write; a file
// write failed to complete is removed.
func writeNew(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func newAuditVerifyCmd() *cobra.Command {
	var (
		asJSON bool
		devOK  bool
		fed    string
		digest string
	)
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Verify transcript bundles offline; exit 0 only when every check of every bundle passes",
		Long: `verify checks each bundle offline and prints a report naming every check.
Bundles of one dataset share its ceremony, which is re-verified once.
With --json, one JSON report per line.

A bundle carries its own dataset descriptor, whose node keys check every
signature in it: pin what the bundle cannot vouch for. --federation takes
the federation's federation.yaml, obtained from the federation: the
dataset must name exactly its nodes' seal and signing keys.
--descriptor-digest takes the dataset descriptor's digest (hex), as a
report prints it, learnt from a source you trust. Without either the
report says NOT PINNED.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := []audit.Option{audit.WithCache(audit.NewCache())}
			if devOK {
				opts = append(opts, audit.AllowInsecureDevSetup())
			}
			if fed != "" {
				d, err := federation.LoadDescriptor(fed)
				if err != nil {
					return fmt.Errorf("--federation: %w", err)
				}
				opts = append(opts, audit.WithFederation(d))
			}
			if digest != "" {
				d, err := hex.DecodeString(digest)
				if err != nil || len(d) != 32 {
					return fmt.Errorf("--descriptor-digest: want 64 hex digits, got %q", digest)
				}
				opts = append(opts, audit.WithDescriptorDigest([32]byte(d)))
			}
			if fed == "" && digest == "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: neither --federation nor --descriptor-digest: the node keys that check every signature come from the bundle itself")
			}
			failed := 0
			for i, path := range args {
				rep, err := verifyFile(path, opts...)
				if err != nil {
					return err
				}
				if asJSON {
					j, err := json.Marshal(rep)
					if err != nil {
						return err
					}
					fmt.Fprintln(cmd.OutOrStdout(), string(j))
				} else {
					if i > 0 {
						fmt.Fprintln(cmd.OutOrStdout())
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", path)
					if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
						return err
					}
				}
				if !rep.OK() {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d bundles do not verify (see the reports)", failed, len(args))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&fed, "federation", "", "the federation's public descriptor (federation.yaml): the dataset must name its nodes' keys")
	cmd.Flags().StringVar(&digest, "descriptor-digest", "", "the dataset descriptor's digest (64 hex digits): the bundle's descriptor must have it")
	cmd.Flags().BoolVar(&devOK, "allow-insecure-dev-setup", false, "accept a dataset whose keys came from a single-party dev setup (its proofs can be forged), with a warning")
	return cmd
}

func newAuditLedgerCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ledger FILE...",
		Short: "Check the nodes' privacy ledgers across every transcript bundle of a dataset; exit 0 only when they agree",
		Long: `ledger reads every transcript bundle of one dataset and lays each node's
signed privacy debits side by side, epoch by epoch: each debit occupies
[spent before, spent after) of the epoch's budget and of its buyer's. It
fails when two debits of a node overlap (a rewritten ledger), a debit
passes its budget or a total is not the dataset's policy, a debit's
signature does not verify, or a bundle is of another dataset. It reports
per epoch and node the ρ the released jobs spent, per buyer too, and the
stretches between debits: ρ charged by jobs with no transcript among the
files (a node's charge stands once it released its partial, whether or not
the job was released). Pass every transcript of the dataset. Run
"cohort audit verify" on each bundle to check the rest.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bundles := make([]*audit.Bundle, len(args))
			for i, path := range args {
				b, err := readBounded(path, client.MaxBundleSize)
				if err != nil {
					return err
				}
				if bundles[i], err = audit.UnmarshalBundle(b, audit.DefaultLimits()); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
			rep := audit.Ledger(bundles)
			if asJSON {
				j, err := json.Marshal(rep)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(j))
			} else if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("the privacy ledgers of %d bundles show %d violations (see the report)", len(args), len(rep.Violations))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// verifyFile verifies the bundle in the file at path as a stream
// (audit.VerifyStream): a bundle of any size within audit.DefaultLimits
// is checked without holding its records.
func verifyFile(path string, opts ...audit.Option) (*audit.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return audit.VerifyStream(f, st.Size(), audit.DefaultLimits(), opts...), nil
}

func newAuditRewardsCmd() *cobra.Command {
	var (
		g       contributorFlags
		dataset string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "rewards --dataset ID --node ADDR",
		Short: "Check a dataset's reward claims; exit 0 only when they hold",
		Long: `rewards fetches from the node the claim keys' ceremony, every released
transcript of the dataset and every reward claim the node recorded for its
jobs, then checks offline (docs/design.md §9.5): the ceremony re-verifies,
every node contributed once to each phase and signed its record (and, with
--federation, those nodes are the pinned federation's); every claim proof
verifies against the claim verifying key and its job's nullifier root from
the transcript; no claim nullifier is used twice; no job has more claims
than counted records; every credit is the job's reward per record, so the
job's credits are its claims × its reward.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataset == "" {
				return usageError{errors.New("--dataset is required")}
			}
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			in, err := c.RewardsInput(ctx, dataset)
			if err != nil {
				return err
			}
			rep := audit.Rewards(in)
			if g.fed != "" {
				d, err := federation.LoadDescriptor(g.fed)
				if err != nil {
					return err
				}
				nodes := in.Ceremony.GetNodes()
				if err := d.CheckDataset(&cohortv1.DatasetDescriptor{Id: "claim-keys", NodeCount: uint32(len(nodes)), Nodes: nodes}); err != nil {
					rep.Violations = append(rep.Violations, fmt.Sprintf("the claim keys' ceremony is not the pinned federation's: %v", err))
				}
			}
			if asJSON {
				j, err := json.Marshal(rep)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(j))
			} else if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("the reward claims of dataset %s show %d violations (see the report)", dataset, len(rep.Violations))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "", "dataset id")
	f.StringVar(&g.node, "node", "127.0.0.1:7400", "address of a node of the federation")
	f.StringVar(&g.ca, "ca", "", "the federation's CA certificate (ca.pem) (default: the CA in --federation)")
	f.StringVar(&g.fed, "federation", "", "the federation's public descriptor (federation.yaml): its CA authenticates the node and its keys pin the claim ceremony's nodes")
	f.BoolVar(&g.insecure, "insecure-plaintext", false, "talk to the node unencrypted and unauthenticated (local tests only)")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

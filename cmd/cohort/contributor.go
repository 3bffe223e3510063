package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// contributorFlags are the flags shared by every contributor command.
type contributorFlags struct {
	identity string
	node     string
	ca       string
	fed      string
	insecure bool
	cache    string
	payouts  string
}

func newContributorCmd() *cobra.Command {
	g := &contributorFlags{}
	cmd := &cobra.Command{
		Use:   "contributor",
		Short: "Keep an identity, contribute records, check and revoke them",
		Long: `contributor commands act for one person: they keep an identity (a secret
that never leaves the identity file), register it with a federation using
an invite token, contribute records to a dataset with consent terms, and
check or revoke them. Nodes see only sealed shares of a record and a proof
that it is valid and consented.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var defIdentity, defCache string
	if home, err := os.UserHomeDir(); err == nil {
		defIdentity = filepath.Join(home, ".cohort", "identity.json")
		defCache = filepath.Join(home, ".cohort", "cache")
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&g.identity, "identity", defIdentity, "identity file (holds your secret; mode 0600)")
	pf.StringVar(&g.node, "node", "", "address host:port of a node of the federation")
	pf.StringVar(&g.ca, "ca", "", "the federation's CA certificate (ca.pem) to authenticate the node (default: the CA in --federation)")
	pf.StringVar(&g.fed, "federation", "", "the federation's public descriptor (federation.yaml), obtained from the federation, not from the node: every dataset must name its nodes' keys (required to contribute)")
	pf.BoolVar(&g.insecure, "insecure-plaintext", false, "talk to the node unencrypted and unauthenticated (local tests only)")
	pf.StringVar(&g.cache, "cache", defCache, `directory that keeps proving keys between runs ("" for none)`)
	pf.StringVar(&g.payouts, "payouts", "", `directory of your payout keys (default: "payouts" beside the identity file)`)
	cmd.AddCommand(
		newContributorInitCmd(g),
		newContributorRegisterCmd(g),
		newContributorContributeCmd(g),
		newContributorRevokeCmd(g),
		newContributorReceiptCmd(g),
		newContributorJobsCmd(g),
		newContributorClaimCmd(g),
		newContributorPayoutsCmd(g),
		newContributorRewardsCmd(g),
		newContributorTransferCmd(g),
		newContributorPayoutStatementCmd(g),
	)
	return cmd
}

func (g *contributorFlags) identityPath() (string, error) {
	if g.identity == "" {
		return "", errors.New("no identity file: pass --identity PATH")
	}
	return g.identity, nil
}

func (g *contributorFlags) loadIdentity() (*client.Identity, error) {
	path, err := g.identityPath()
	if err != nil {
		return nil, err
	}
	id, err := client.LoadIdentity(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no identity at %s: create one with cohort contributor init", path)
	}
	return id, err
}

// dial connects to --node, authenticated by --ca (or the CA of
// --federation) unless --insecure-plaintext, and pins --federation if given.
func (g *contributorFlags) dial(stderr io.Writer) (*client.Client, error) {
	if g.node == "" {
		return nil, errors.New("--node host:port is required")
	}
	return g.dialAt(stderr, g.node)
}

// dialAt connects to the node at addr as dial connects to --node.
func (g *contributorFlags) dialAt(stderr io.Writer, addr string) (*client.Client, error) {
	var opts []client.DialOption
	var fed *federation.Descriptor
	if g.fed != "" {
		var err error
		if fed, err = federation.LoadDescriptor(g.fed); err != nil {
			return nil, fmt.Errorf("--federation: %w", err)
		}
		opts = append(opts, client.WithFederation(fed))
	}
	switch {
	case g.insecure && g.ca != "":
		return nil, errors.New("give either --ca or --insecure-plaintext, not both")
	case g.insecure:
		fmt.Fprintln(stderr, "WARNING: --insecure-plaintext: the connection to the node is neither encrypted nor authenticated")
		return client.Dial(addr, append(opts, client.WithInsecure())...)
	case g.ca == "" && fed != nil:
		return client.Dial(addr, append(opts, client.WithCA([]byte(fed.CA)))...)
	case g.ca == "":
		return nil, errors.New("--ca is required: the federation's ca.pem, or --federation with its federation.yaml (or --insecure-plaintext for a local test node)")
	}
	pem, err := os.ReadFile(g.ca)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	return client.Dial(addr, append(opts, client.WithCA(pem))...)
}

// commandContext is the command's context, cancelled on an interrupt.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt)
}

func newContributorInitCmd(g *contributorFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new identity file",
		Long: `init draws a new identity secret and writes it to the identity file with
mode 0600. It never replaces an existing file: losing a secret loses the
power to revoke the records made with it. It prints the identity commitment,
which is public; the secret is never printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.identityPath()
			if err != nil {
				return err
			}
			id, err := client.NewIdentity(nil)
			if err != nil {
				return err
			}
			if err := id.Save(path); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("an identity already exists at %s; it is kept (its secret is the only way to revoke its records)", path)
				}
				return err
			}
			ic := id.Commitment()
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, struct {
					IdentityFile string `json:"identity_file"`
					Commitment   string `json:"commitment"` // hex; public
				}{path, hex.EncodeToString(ic[:])})
			}
			fmt.Fprintf(out, "identity written to %s (keep it private and backed up)\n", path)
			fmt.Fprintf(out, "identity commitment %s\n", hex.EncodeToString(ic[:]))
			return nil
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func newContributorRegisterCmd(g *contributorFlags) *cobra.Command {
	var invite string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "register --invite TOKEN",
		Short: "Admit the identity to the federation's registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := g.loadIdentity()
			if err != nil {
				return err
			}
			if m := id.Member; m != nil && m.Federation != g.node {
				return fmt.Errorf("this identity is registered with %s (member %d); use a separate identity file (--identity) for another federation, so that the two registries cannot link your records", m.Federation, m.Index)
			}
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			m, err := c.Register(ctx, id, invite)
			if err != nil {
				return err
			}
			id.Member = &m
			if err := id.Update(g.identity); err != nil {
				return fmt.Errorf("registered as member %d, but saving the membership failed: %w", m.Index, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, struct {
					Federation   string `json:"federation"`
					MemberIndex  uint64 `json:"member_index"`
					RegistryRoot string `json:"registry_root"` // hex
					Sequence     uint64 `json:"sequence"`
				}{m.Federation, uint64(m.Index), hex.EncodeToString(m.Root[:]), m.Sequence})
			}
			fmt.Fprintf(out, "registered with %s\n", m.Federation)
			fmt.Fprintf(out, "member index   %d\n", m.Index)
			fmt.Fprintf(out, "registry root  %s\n", hex.EncodeToString(m.Root[:]))
			fmt.Fprintf(out, "sequence       %d\n", m.Sequence)
			return nil
		},
	}
	cmd.Flags().StringVar(&invite, "invite", "", "invite token from the federation (single use)")
	addJSONFlag(cmd, &asJSON)
	cmd.MarkFlagRequired("invite")
	return cmd
}

type contributeFlags struct {
	dataset   string
	epoch     string
	record    string
	purposes  string
	expiry    string
	minCohort uint32
	json      bool
}

func newContributorContributeCmd(g *contributorFlags) *cobra.Command {
	var f contributeFlags
	cmd := &cobra.Command{
		Use:   "contribute --federation FILE --dataset ID --epoch N|current --record FILE --purposes a,b --expiry DATE",
		Short: "Prove and upload one record",
		Long: `contribute encodes a record (a JSON object with one member per schema
field) with the dataset's schema, splits it into one secret share per node,
proves that it is valid and that you consented to the given terms, seals
each share to its node and uploads the payload. It then checks that every
node signed an acknowledgment of exactly that payload and prints the
receipt. Nothing secret is written or printed.

--federation is required: the federation's federation.yaml, obtained from
the federation and not from the node. The dataset must name exactly its
nodes and their seal and signing keys, or nothing is sealed: a node that
served its own keys in place of the others' could open every share.

--expiry takes a date (the record may be used until the end of that day,
UTC) or an RFC 3339 time. --min-cohort defaults to the dataset's minimum.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runContribute(cmd, g, f, cmd.Flags().Changed("min-cohort"))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataset, "dataset", "", "dataset id")
	fl.StringVar(&f.epoch, "epoch", "current", `epoch number, or "current"`)
	fl.StringVar(&f.record, "record", "", "record file (JSON)")
	fl.StringVar(&f.purposes, "purposes", "", "comma-separated purposes the record may be used for")
	fl.StringVar(&f.expiry, "expiry", "", "last day (YYYY-MM-DD) or instant (RFC 3339) the record may be used")
	fl.Uint32Var(&f.minCohort, "min-cohort", 0, "smallest cohort you accept to be counted in (default: the dataset's)")
	addJSONFlag(cmd, &f.json)
	for _, name := range []string{"dataset", "record", "purposes", "expiry"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runContribute(cmd *cobra.Command, g *contributorFlags, f contributeFlags, minCohortSet bool) error {
	id, err := g.loadIdentity()
	if err != nil {
		return err
	}
	if id.Member == nil {
		return errors.New("this identity is not registered: run cohort contributor register --invite TOKEN first")
	}
	expiry, err := parseExpiry(f.expiry)
	if err != nil {
		return err
	}
	purposes := splitList(f.purposes)
	if len(purposes) == 0 {
		return errors.New("--purposes: name at least one purpose")
	}
	recordJSON, err := readBounded(f.record, schema.MaxRecordBytes)
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	if g.fed == "" {
		return errors.New("--federation FILE is required to contribute: the federation's federation.yaml, from the federation itself; every share is sealed to the node keys it names, never to keys only the node serving the dataset vouches for")
	}
	stderr, out := cmd.ErrOrStderr(), cmd.OutOrStdout()
	c, err := g.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := commandContext(cmd)
	defer stop()

	p := newProgress(stderr)
	defer p.finish()
	p.update(client.StageDataset, 0, 1)
	ds, err := c.Dataset(ctx, f.dataset)
	if err != nil {
		return err
	}
	p.update(client.StageDataset, 1, 1)
	warnSetup(stderr, ds)
	epoch, err := parseEpoch(f.epoch, ds.Schema, time.Now())
	if err != nil {
		return err
	}
	record, err := ds.Schema.ParseRecordJSON(recordJSON)
	if err != nil {
		return fmt.Errorf("--record %s: %w", f.record, err)
	}
	minCohort := f.minCohort
	if !minCohortSet {
		minCohort = ds.Schema.MinCohort
	}
	receipt, err := c.Contribute(ctx, id, client.ContributeOptions{
		Dataset:   ds,
		Epoch:     epoch,
		Record:    record,
		Purposes:  purposes,
		Expiry:    expiry,
		MinCohort: minCohort,
		CacheDir:  g.cache,
		Progress:  p.update,
	})
	p.finish() // the bars are drawn to the end before anything else is printed
	if err != nil {
		if existing, ok := client.ExistingReceipt(err); ok && client.VerifyReceipt(ds, existing, id.Nullifier(ds.Desc.GetId(), epoch)) == nil && !f.json {
			fmt.Fprintf(out, "a record of yours for dataset %s, epoch %d, was already accepted:\n", ds.Desc.GetId(), epoch)
			printReceipt(out, ds, existing)
		}
		return err
	}
	if f.json {
		return writeProtoJSON(out, receipt)
	}
	if p := client.Pending(receipt); len(p) > 0 {
		fmt.Fprintf(out, "record accepted by %d of %d nodes (purposes %s, until %s, minimum cohort %d); node %d was down and acknowledges it when it returns: see cohort contributor receipt\n",
			len(receipt.GetAcks())-len(p), len(receipt.GetAcks()), strings.Join(purposes, ","), expiry.UTC().Format(time.RFC3339), minCohort, p[0])
	} else {
		fmt.Fprintf(out, "record accepted by all %d nodes (purposes %s, until %s, minimum cohort %d)\n",
			len(receipt.GetAcks()), strings.Join(purposes, ","), expiry.UTC().Format(time.RFC3339), minCohort)
	}
	printReceipt(out, ds, receipt)
	return nil
}

func newContributorRevokeCmd(g *contributorFlags) *cobra.Command {
	var datasetID, epochFlag string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke --dataset ID --epoch N",
		Short: "Revoke a record",
		Long: `revoke reveals the record's revocation token (it says nothing about your
secret or your other records); no job admitted afterwards uses the record.
Jobs admitted before may still release results that counted it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := g.loadIdentity()
			if err != nil {
				return err
			}
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			epoch, err := epochFor(ctx, c, datasetID, epochFlag)
			if err != nil {
				return err
			}
			resp, err := c.Revoke(ctx, id, datasetID, epoch)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeProtoJSON(out, resp)
			}
			fmt.Fprintf(out, "record revoked; every node signed the revocation\n")
			fmt.Fprintf(out, "nullifier   %s\n", hex.EncodeToString(resp.GetNullifier()))
			fmt.Fprintf(out, "revoked at  %s\n", unixTime(resp.GetRevokedAt()))
			return nil
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "dataset id")
	cmd.Flags().StringVar(&epochFlag, "epoch", "", `epoch number, or "current"`)
	cmd.MarkFlagRequired("dataset")
	cmd.MarkFlagRequired("epoch")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func newContributorReceiptCmd(g *contributorFlags) *cobra.Command {
	var datasetID, epochFlag string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "receipt --dataset ID --epoch N",
		Short: "Show and check the receipt of a record",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := g.loadIdentity()
			if err != nil {
				return err
			}
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			ds, err := c.Dataset(ctx, datasetID)
			if err != nil {
				return err
			}
			epoch, err := parseEpoch(epochFlag, ds.Schema, time.Now())
			if err != nil {
				return err
			}
			resp, err := c.Receipt(ctx, datasetID, id.Nullifier(datasetID, epoch))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeProtoJSON(out, resp.GetReceipt())
			}
			printReceipt(out, ds, resp.GetReceipt())
			// Nodes do not index jobs by record: the jobs that counted it are
			// found in the published transcripts (cohort contributor jobs).
			fmt.Fprintf(out, "released jobs that counted it: cohort contributor jobs --dataset %s\n", datasetID)
			return nil
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "dataset id")
	cmd.Flags().StringVar(&epochFlag, "epoch", "", `epoch number, or "current"`)
	cmd.MarkFlagRequired("dataset")
	cmd.MarkFlagRequired("epoch")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// epochFor resolves --epoch, fetching the dataset's schema only for "current".
func epochFor(ctx context.Context, c *client.Client, datasetID, flag string) (uint64, error) {
	if flag != "current" {
		return parseEpoch(flag, nil, time.Time{})
	}
	ds, err := c.Dataset(ctx, datasetID)
	if err != nil {
		return 0, err
	}
	return parseEpoch(flag, ds.Schema, time.Now())
}

// parseEpoch reads --epoch: a number, or "current" for the schema's epoch
// containing now.
func parseEpoch(flag string, s *schema.Schema, now time.Time) (uint64, error) {
	if flag == "current" {
		if s == nil {
			return 0, errors.New(`--epoch current needs the dataset's schema`)
		}
		return s.Epoch.Index(now), nil
	}
	n, err := strconv.ParseUint(flag, 10, 32)
	if err != nil {
		return 0, fmt.Errorf(`--epoch %q: want a number below 2^32 or "current"`, flag)
	}
	return n, nil
}

// parseExpiry reads --expiry: a date means the end of that day, UTC.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--expiry %q: want a date (2027-01-31: until the end of that day, UTC) or an RFC 3339 time", s)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// warnSetup says loudly when a dataset's keys come from a single-party setup.
func warnSetup(w io.Writer, ds *dataset.Dataset) {
	if ds.Desc.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV {
		return
	}
	fmt.Fprintf(w, `
!!! WARNING: dataset %s uses an INSECURE DEVELOPMENT SETUP.
!!! Its proving keys came from one machine that knew the toxic waste: whoever
!!! holds it can forge proofs. Contribute test data only, never real records.

`, ds.Desc.GetId())
}

func printReceipt(w io.Writer, ds *dataset.Dataset, r *cohortv1.Receipt) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "dataset\t%s\n", r.GetDatasetId())
	fmt.Fprintf(tw, "epoch\t%d\n", r.GetEpoch())
	fmt.Fprintf(tw, "status\t%s\n", strings.TrimPrefix(r.GetStatus().String(), "RECEIPT_STATUS_"))
	fmt.Fprintf(tw, "nullifier\t%s\n", hex.EncodeToString(r.GetNullifier()))
	fmt.Fprintf(tw, "payload digest\t%s\n", hex.EncodeToString(r.GetPayloadDigest()))
	fmt.Fprintf(tw, "registry root\t%s\n", hex.EncodeToString(r.GetRegistryRoot()))
	fmt.Fprintf(tw, "accepted at\t%s\n", unixTime(r.GetAcceptedAt()))
	if r.GetRevokedAt() != 0 {
		fmt.Fprintf(tw, "revoked at\t%s\n", unixTime(r.GetRevokedAt()))
	}
	pending := map[uint32]bool{}
	for _, i := range client.Pending(r) {
		pending[i] = true
	}
	for i, a := range r.GetAcks() {
		name := ""
		if i < len(ds.Desc.GetNodes()) {
			name = ds.Desc.GetNodes()[i].GetName()
		}
		if pending[uint32(i)] {
			fmt.Fprintf(tw, "node %d\t%s: pending: was down when the record was stored; acknowledges it when it catches up (counted by no job until then)\n", i, name)
			continue
		}
		fmt.Fprintf(tw, "node %d\t%s: stored at %s, signature verified\n", i, name, unixTime(a.GetStoredAt()))
	}
	tw.Flush()
}

func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// apiTime formats a time of the node's API (a google.protobuf.Timestamp)
// as RFC 3339 in UTC; "" when it is unset.
func apiTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

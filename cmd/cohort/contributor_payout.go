package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
)

// Payout transfers and statements (docs/design.md §6.8).

// newContributorTransferCmd moves micro-credits from a payout account to a
// buyer's balance.
func newContributorTransferCmd(g *contributorFlags) *cobra.Command {
	var (
		keyFile, buyer, transferID string
		amount                     uint64
		asJSON                     bool
	)
	cmd := &cobra.Command{
		Use:   "transfer --payout-key FILE --buyer ID --amount N",
		Short: "Move micro-credits from a payout account to a buyer's balance, signed by the payout key",
		Long: `transfer moves --amount micro-credits from the payout account of
--payout-key to the balance of buyer --buyer, with an order signed by the
payout key. The federation's sequencer orders it once and every node
records it: the account is debited and the buyer credited on each.

The transfer is named by --transfer-id (a fresh random one by default):
sending the same order again is refused as done already and moves nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := client.LoadPayoutPrivateKey(keyFile)
			if err != nil {
				return fmt.Errorf("payout key: %w", err)
			}
			if transferID == "" {
				if transferID, err = client.NewTransferID(); err != nil {
					return err
				}
			}
			c, err := g.dial(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			r, err := c.TransferPayout(ctx, key, buyer, amount, transferID)
			if err != nil {
				return err
			}
			p := r.GetPayout()
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, struct {
					TransferID    string `json:"transfer_id"`
					PayoutKey     string `json:"payout_key"`
					BuyerID       string `json:"buyer_id"`
					Amount        uint64 `json:"amount"`
					Credited      uint64 `json:"credited"`
					Transferred   uint64 `json:"transferred"`
					Balance       uint64 `json:"balance"`
					TransferredAt string `json:"transferred_at"`
				}{transferID, hex.EncodeToString(p.GetPayoutKey()), buyer, amount, p.GetCredited(), p.GetTransferred(), p.GetBalance(), apiTime(r.GetTransferredAt())})
			}
			fmt.Fprintf(out, "transferred %d micro-credits to buyer %s (transfer %s)\n", amount, buyer, transferID)
			fmt.Fprintf(out, "the payout key holds %d micro-credits (%d credited, %d transferred)\n", p.GetBalance(), p.GetCredited(), p.GetTransferred())
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "payout-key", "", "payout key file (PKCS #8 PEM, Ed25519) of the account debited")
	cmd.Flags().StringVar(&buyer, "buyer", "", "the buyer credited")
	cmd.Flags().Uint64Var(&amount, "amount", 0, "micro-credits to move")
	cmd.Flags().StringVar(&transferID, "transfer-id", "", "names the transfer once in all, 1..64 of [A-Za-z0-9-] (default: fresh and random)")
	for _, f := range []string{"payout-key", "buyer", "amount"} {
		cmd.MarkFlagRequired(f)
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// statementRow is one node's verified statement of a payout account.
type statementRow struct {
	NodeIndex   uint32 `json:"node_index"`
	Node        string `json:"node"`
	Credited    uint64 `json:"credited"`
	Transferred uint64 `json:"transferred"`
	Balance     uint64 `json:"balance"`
	Claims      uint64 `json:"claims"`
	At          string `json:"at"`
	AtUnix      int64  `json:"at_unix"`
	Signature   string `json:"signature"`
}

// newContributorPayoutStatementCmd fetches every node's signed statement
// of a payout account and checks each against the pinned federation.
func newContributorPayoutStatementCmd(g *contributorFlags) *cobra.Command {
	var (
		keyFile string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "payout-statement --payout-key FILE --federation federation.yaml",
		Short: "Fetch every node's signed statement of a payout account and check the signatures",
		Long: `payout-statement asks every node of the federation named in --federation
for its statement of the payout account of --payout-key — what claims
credited, what was transferred out, the balance, the claims' count, when,
and which node — signed by that node's signing key, and checks each
signature against the node's key in federation.yaml. A statement from
every node is what someone settling the account outside the federation
checks (docs/design.md §6.8); the command fails if a node does not
answer, a signature does not verify, or the nodes' balances differ.
--node is not used: every node of the federation is asked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.fed == "" {
				return errors.New("--federation federation.yaml is required: the statements are checked against its nodes' signing keys")
			}
			fed, err := federation.LoadDescriptor(g.fed)
			if err != nil {
				return fmt.Errorf("--federation: %w", err)
			}
			pub, err := client.LoadPayoutKey(keyFile)
			if err != nil {
				return fmt.Errorf("payout key: %w", err)
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			var rows []statementRow
			for _, n := range fed.Nodes {
				c, err := g.dialAt(cmd.ErrOrStderr(), n.APIAddress)
				if err != nil {
					return fmt.Errorf("node %d (%s): %w", n.Index, n.Name, err)
				}
				st, err := c.PayoutStatement(ctx, pub)
				c.Close()
				if err != nil {
					return fmt.Errorf("node %d (%s): %w", n.Index, n.Name, err)
				}
				if st.GetNodeIndex() != n.Index {
					return fmt.Errorf("node %d (%s) sent node %d's statement", n.Index, n.Name, st.GetNodeIndex())
				}
				rows = append(rows, statementRow{n.Index, n.Name, st.GetCredited(), st.GetTransferred(), st.GetBalance(), st.GetClaims(),
					time.Unix(st.GetAt(), 0).UTC().Format(time.RFC3339), st.GetAt(), hex.EncodeToString(st.GetSignature())})
			}
			if len(rows) == 0 {
				return errors.New("--federation names no nodes")
			}
			for _, r := range rows[1:] {
				if r.Balance != rows[0].Balance || r.Credited != rows[0].Credited || r.Transferred != rows[0].Transferred {
					return fmt.Errorf("the nodes' statements differ: node %d holds %d micro-credits, node %d %d", rows[0].NodeIndex, rows[0].Balance, r.NodeIndex, r.Balance)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, struct {
					PayoutKey  string         `json:"payout_key"`
					Statements []statementRow `json:"statements"`
				}{hex.EncodeToString(pub), rows})
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tBALANCE\tCREDITED\tTRANSFERRED\tCLAIMS\tAT\tSIGNATURE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%d (%s)\t%d\t%d\t%d\t%d\t%s\tverified\n", r.NodeIndex, r.Node, r.Balance, r.Credited, r.Transferred, r.Claims, r.At)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "payout key %s: %d micro-credits, signed by all %d nodes\n", hex.EncodeToString(pub), rows[0].Balance, len(rows))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "payout-key", "", "payout key file (PKCS #8 PEM, Ed25519) of the account")
	cmd.MarkFlagRequired("payout-key")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

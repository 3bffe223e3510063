package main

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// newAdminClaimsCmd is "cohort admin claims": the claim keys' ceremony
// (docs/design.md §5.9).
func newAdminClaimsCmd(a *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "claims", Short: "Set up the federation's reward claims"}
	var (
		beaconSource string
		asJSON       bool
	)
	setupCmd := &cobra.Command{
		Use:   "setup",
		Short: "Run the claim keys' ceremony among every node of the federation",
		Long: `setup runs, once per federation, the Groth16 ceremony of the claim circuit's
keys, coordinated by this node: every node contributes once to each phase,
each contribution signed by the node that made it, every node re-verifies
the transcript, derives the keys and signs the ceremony's record, and only
then does every node store the keys. Until it has run, reward claims are
refused. It takes about as long as a dataset's ceremony of the same size
(the claim circuit has 5,847 constraints). --beacon-source names where the
ceremony's beacons come from (for example a drand round).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if beaconSource == "" {
				return usageError{errors.New("--beacon-source is required (where the ceremony's beacons come from, e.g. a drand round)")}
			}
			conn, ctx, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := cohortv1.NewAdminServiceClient(conn).SetupClaimKeys(ctx, &cohortv1.SetupClaimKeysRequest{BeaconSource: beaconSource})
			if err != nil {
				return rpcErr("set up the claim keys", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeProtoJSON(out, resp)
			}
			rec := resp.GetCeremony()
			vkd := sha256.Sum256(rec.GetVerifyingKey())
			fmt.Fprintf(out, "claim keys: ceremony %s among %d nodes, %d contributions, each attested by its node, the record signed by every node\n",
				rec.GetCeremony().GetCeremonyId(), len(rec.GetNodes()), len(rec.GetContributions()))
			fmt.Fprintf(out, "verifying key SHA-256 %x\nproving key SHA-256   %x\n", vkd, rec.GetProvingKeyDigest())
			return nil
		},
	}
	setupCmd.Flags().StringVar(&beaconSource, "beacon-source", "", "where the ceremony's beacons come from (required)")
	addJSONFlag(setupCmd, &asJSON)
	cmd.AddCommand(setupCmd)
	return cmd
}

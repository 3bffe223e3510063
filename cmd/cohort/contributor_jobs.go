package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/circuits"
)

// newContributorJobsCmd lists the released jobs that counted the
// identity's records. It downloads every published transcript of the
// dataset and looks for the identity's nullifiers locally, so the node
// learns only that someone fetched its transcripts, not whose records were
// looked for.
func newContributorJobsCmd(g *contributorFlags) *cobra.Command {
	var datasetID string
	cmd := &cobra.Command{
		Use:   "jobs --dataset ID",
		Short: "List the released jobs that used your records (found locally in the published transcripts)",
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
			list, err := c.Transcripts(ctx, datasetID)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tRELEASED\tCOHORT\tYOUR RECORD")
			found := 0
			for _, info := range list {
				b, err := c.Transcript(ctx, info.GetTranscriptId())
				if err != nil {
					return err
				}
				bundle, err := audit.UnmarshalBundle(b, audit.DefaultLimits())
				if err != nil {
					return fmt.Errorf("transcript %s: %w", info.GetTranscriptId(), err)
				}
				for _, r := range bundle.Transcript.Records {
					var pub circuits.PublicInputs
					if err := pub.UnmarshalBinary(r.Public); err != nil {
						return fmt.Errorf("transcript %s: %w", info.GetTranscriptId(), err)
					}
					if r.Nullifier == id.Nullifier(datasetID, pub.Epoch) {
						found++
						fmt.Fprintf(tw, "%s\t%s\t%d\tepoch %d\n", info.GetTranscriptId(),
							time.Unix(info.GetReleasedAt(), 0).UTC().Format(time.RFC3339), info.GetCohortSize(), pub.Epoch)
					}
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d of %d released jobs on this node counted your records (each can be checked with cohort audit verify)\n", found, len(list))
			return nil
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "dataset id")
	cmd.MarkFlagRequired("dataset")
	return cmd
}

package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// newContributorJobsCmd lists the released jobs that counted the
// identity's records (client.MyJobs: found locally in the published
// transcripts, so the node does not learn whose records were looked for).
func newContributorJobsCmd(g *contributorFlags) *cobra.Command {
	var datasetID string
	var asJSON bool
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
			mine, err := c.MyJobs(ctx, id, datasetID)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				type counted struct {
					JobID      string `json:"job_id"`
					ReleasedAt string `json:"released_at"`
					CohortSize uint64 `json:"cohort_size"`
					Epoch      uint64 `json:"epoch"`
				}
				res := struct {
					Searched int       `json:"searched"`
					Counted  []counted `json:"counted"`
				}{Searched: mine.Searched, Counted: []counted{}}
				for _, r := range mine.Counted {
					res.Counted = append(res.Counted, counted{r.TranscriptID, r.ReleasedAt.Format(time.RFC3339), r.CohortSize, uint64(r.Epoch)})
				}
				return printJSON(out, res)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tRELEASED\tCOHORT\tYOUR RECORD")
			for _, r := range mine.Counted {
				fmt.Fprintf(tw, "%s\t%s\t%d\tepoch %d\n", r.TranscriptID, r.ReleasedAt.Format(time.RFC3339), r.CohortSize, r.Epoch)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d of %d released jobs on this node counted your records (each can be checked with cohort audit verify)\n", len(mine.Counted), mine.Searched)
			return nil
		},
	}
	cmd.Flags().StringVar(&datasetID, "dataset", "", "dataset id")
	cmd.MarkFlagRequired("dataset")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

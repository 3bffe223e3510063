package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd writes a man page per command (cohort.1, cohort-buyer-submit.1,
// …) into a directory, from the same help text the commands print.
func newManCmd(root *cobra.Command) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write man pages for every command into DIR",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			hdr := &doc.GenManHeader{Title: "COHORT", Section: "1", Source: "cohort " + readBuildInfo().Version, Manual: "Cohort manual"}
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "man pages written to %s (man -l %s/cohort.1)\n", dir, dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory to write the pages into (created if missing)")
	_ = c.MarkFlagRequired("dir")
	return c
}

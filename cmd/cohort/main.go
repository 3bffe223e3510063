// Command cohort is Cohort's one binary: contributors, buyers, auditors and
// operators each have their subcommands. It is thin: flags become
// configuration, configuration becomes wiring, and the work is done by the
// library packages.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "cohort:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cohort",
		Short:         "Cohort: aggregate statistics over records nobody else sees",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDemoCmd(), newFederationCmd(), newNodeCmd(), newDatasetCmd(), newAdminCmd(), newContributorCmd(), newBuyerCmd(), newAuditCmd(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), version) },
	})
	return root
}

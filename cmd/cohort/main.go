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

// version and commit are stamped at build time with -ldflags
// "-X main.version=… -X main.commit=…" (make cohort does it).
var (
	version = "dev"
	commit  = ""
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "cohort:", err)
		os.Exit(exitCode(err))
	}
}

func newRootCmd() *cobra.Command {
	// Parents' PersistentPreRun hooks run before their children's, so that
	// root's (client configuration from the environment and the profile)
	// runs before a group's own.
	cobra.EnableTraverseRunHooks = true
	root := &cobra.Command{
		Use:           "cohort",
		Short:         "Cohort: aggregate statistics over records nobody else sees",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDemoCmd(), newFederationCmd(), newNodeCmd(), newDatasetCmd(), newAdminCmd(), newContributorCmd(), newBuyerCmd(), newAuditCmd(), newAppCmd(), newVersionCmd())
	root.AddCommand(newManCmd(root))
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return applyClientConfig(cmd) }
	root.Version = readBuildInfo().String()
	root.SetVersionTemplate("{{.Version}}\n")
	markUsage(root)
	return root
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/demo"
	"github.com/cohort-dev/cohort/federation"
)

func newDemoCmd() *cobra.Command {
	o := demo.Options{Version: version, RunNode: demoNodeRunner}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a three-node federation on this machine end to end: ceremony, contributors, jobs",
		Long: `demo runs a real federation of three nodes in this process, on loopback,
each with its own configuration, keys, SQLite store and TLS listeners:

  1. it creates the federation (CA, node keys, certificates) and starts the nodes;
  2. it creates the demo dataset (the embedded fitness schema) through the
     nodes' Groth16 ceremony and waits until it is READY; its release policy
     is differential privacy: every node adds its own discrete Gaussian
     noise, within a budget of rho = 8 per epoch for the demo buyer; it is
     priced at 5 micro-credits per counted record plus 100 per job; the
     nodes then run the ceremony of the federation's claim keys;
  3. contributors (synthetic, generated from a seed) each get an identity and
     an invite, register, and contribute their record: shared, proven and
     sealed to the nodes; a tenth consent only to commercial training, and
     two revoke their record afterwards;
  4. a buyer account is created (buyer.token, ca.pem in the data directory)
     and credited 20,000,000 micro-credits;
  5. the buyer runs a statistics job and a regression job for public health,
     each spending rho = 1, and every released value is printed beside the
     same statistic computed from the eligible plaintext records and its 95%
     interval; the count must be exact, and the demo fails if a mean or
     histogram bin lies more than 6 standard errors from the truth or too
     few lie inside their intervals; the budget left is printed, and each
     job's charge (price × cohort + fee) and the refund of the rest of its
     escrow;
  6. two contributors whose records were counted claim each job's reward
     anonymously, to fresh payout keys, and their payout accounts are
     printed; a second claim of a job is refused;
  7. records.csv and results.json (with each job's charge and claims) are
     written to the data directory.

--exact-insecure-dev releases exact sums instead (development only: two jobs
whose cohorts differ by one record reveal it). The nodes accept that policy
only with a single-party setup, so the dataset is set up by node 0 alone,
without a ceremony or the cache, and every value must equal the plaintext.

The dataset's and the claim keys are kept in the user's cache directory
after the first ceremonies, with the federation they belong to; later runs
start from that snapshot (--no-cache runs the ceremonies again). With --keep-running the nodes
keep serving until interrupted, for "cohort buyer" and other clients. Node
logs go to node-N.log in the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Out = cmd.OutOrStdout()
			if o.Backend == "he" && !cmd.Flags().Changed("contributors") {
				o.Contributors = demo.DefaultHEContributors
			}
			return demo.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Contributors, "contributors", demo.DefaultContributors, fmt.Sprintf("number of contributors (with --backend he, default %d, its cap)", demo.DefaultHEContributors))
	f.StringVar(&o.DataDir, "data-dir", "", "directory for the federation, logs and results; empty or absent (default: a new temporary directory)")
	f.StringVar(&o.Backend, "backend", "mpc", "backend: mpc or he")
	f.BoolVar(&o.KeepRunning, "keep-running", false, "keep the nodes serving after the jobs, until SIGINT or SIGTERM")
	f.IntVar(&o.BasePort, "base-port", federation.DefaultBasePort, "node N listens on 127.0.0.1:BASE+10N (API) and BASE+10N+1 (peers)")
	f.BoolVar(&o.NoCache, "no-cache", false, "run the ceremony even if an earlier demo's keys are cached, and cache nothing")
	f.IntVar(&o.RegistryDepth, "registry-depth", merkle.DefaultDepth, "registry Merkle tree depth")
	f.StringVar(&o.CacheDir, "cache-dir", "", "where dataset snapshots are kept (default: the user cache directory's cohort/demo)")
	f.IntVar(&o.MinCohort, "min-cohort", 0, "replace the schema's min_cohort (for small runs)")
	f.Uint64Var(&o.Seed, "seed", 2026, "seed of the synthetic records")
	f.BoolVar(&o.ExactInsecureDev, "exact-insecure-dev", false, "release exact sums, with an insecure single-party setup instead of the ceremony (development only)")
	for _, name := range []string{"registry-depth", "cache-dir", "min-cohort", "seed"} {
		_ = f.MarkHidden(name)
	}
	return cmd
}

// demoNodeRunner runs each demo node with the node command's wiring.
func demoNodeRunner(ctx context.Context, config string, log io.Writer, api, peer net.Listener) error {
	return runNode(ctx, config, log, &nodeListeners{api: api, peer: peer})
}

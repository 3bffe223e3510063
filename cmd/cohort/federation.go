package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/federation"
)

func newFederationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federation",
		Short: "Create and check a federation's configuration and keys",
	}
	cmd.AddCommand(newFederationInitCmd(), newFederationCheckCmd(),
		newFederationKeygenCmd(), newFederationCACmd(), newFederationAssembleCmd(), newFederationInstallCmd())
	return cmd
}

type federationInitFlags struct {
	dir       string
	nodes     int
	name      string
	host      string
	hosts     []string
	basePort  int
	admission string
	depth     int
	window    time.Duration
	noMetrics bool
	dev       bool
	force     bool
}

func newFederationInitCmd() *cobra.Command {
	f := federationInitFlags{}
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a whole federation on one machine, every node's secrets included (demos)",
		Long: `init creates, in DIR, the files of a new federation of --nodes nodes, every
node's secret keys included: whoever runs it, and this machine, hold the keys
that open every node's shares, so the federation protects records from no one
who had access to DIR. It is for demos and tests. A federation whose operators
do not trust one another is set up with 'keygen' on each node's machine, then
'assemble' and 'install' (docs/design.md §3.3).

init writes:

  federation.yaml   the public descriptor (give it to contributors, buyers, auditors)
  ca.pem            the federation CA certificate (public; clients pin it)
  ca-key.pem        the CA private key: move it offline, it is needed only to
                    issue node certificates
  node-N/           node N's node.yaml, signing.key, seal.key, tls.crt, tls.key,
                    admin.token (secret) and data/ directory

Node N listens for its API on HOST:BASE+10N, for peers on HOST:BASE+10N+1 and
serves metrics on 127.0.0.1:BASE+10N+2. Secrets are written with mode 0600.
Copy each node-N directory, with federation.yaml beside it, to the machine
that runs node N. init refuses a DIR that is not empty unless --force, and
never overwrites a node's data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFederationInit(cmd.OutOrStdout(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "directory to create the federation in (required)")
	fl.IntVar(&f.nodes, "nodes", federation.DefaultNodes, "number of nodes")
	fl.StringVar(&f.name, "name", federation.DefaultName, "federation name (lower-case DNS label)")
	fl.StringVar(&f.host, "host", federation.DefaultHost, "host (IP or DNS name) of every node's API and peer addresses")
	fl.StringSliceVar(&f.hosts, "hosts", nil, "comma-separated per-node hosts, in place of --host")
	fl.IntVar(&f.basePort, "base-port", federation.DefaultBasePort, "node N uses ports BASE+10N (API), +1 (peer), +2 (metrics)")
	fl.StringVar(&f.admission, "admission", string(federation.AdmissionInvite), "registry admission: invite, or open (development only)")
	fl.IntVar(&f.depth, "registry-depth", merkle.DefaultDepth, "registry Merkle tree depth")
	fl.DurationVar(&f.window, "root-window", federation.DefaultRootWindow, "how long a superseded registry root stays valid")
	fl.BoolVar(&f.noMetrics, "no-metrics", false, "configure the nodes without a metrics listener")
	fl.BoolVar(&f.dev, "allow-insecure-dev-setup", false, "allow development shortcuts that void Cohort's guarantees (open admission)")
	fl.BoolVar(&f.force, "force", false, "write into a directory that is not empty, replacing the federation's files")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runFederationInit(out io.Writer, f federationInitFlags) error {
	// The library reads a zero option as "the default"; on the command
	// line a zero can only be a mistake.
	switch {
	case f.dir == "":
		return errors.New("federation init: --dir is required")
	case f.nodes <= 0:
		return fmt.Errorf("federation init: %w: --nodes %d", federation.ErrInvalid, f.nodes)
	case f.name == "":
		return fmt.Errorf("federation init: %w: --name is empty", federation.ErrInvalid)
	case f.host == "":
		return fmt.Errorf("federation init: %w: --host is empty", federation.ErrInvalid)
	case f.basePort <= 0:
		return fmt.Errorf("federation init: %w: --base-port %d", federation.ErrInvalid, f.basePort)
	case f.depth <= 0:
		return fmt.Errorf("federation init: %w: --registry-depth %d", federation.ErrInvalid, f.depth)
	case f.window <= 0:
		return fmt.Errorf("federation init: %w: --root-window %v must be positive", federation.ErrInvalid, f.window)
	}
	res, err := federation.Init(f.dir, federation.InitOptions{
		Nodes:                 f.nodes,
		Name:                  f.name,
		Host:                  f.host,
		Hosts:                 f.hosts,
		BasePort:              f.basePort,
		DisableMetrics:        f.noMetrics,
		Admission:             federation.Admission(f.admission),
		RegistryDepth:         f.depth,
		RootWindow:            f.window,
		AllowInsecureDevSetup: f.dev,
		Force:                 f.force,
	})
	if err != nil {
		return err
	}
	d := res.Descriptor
	fmt.Fprintf(out, "Federation %q: %d nodes, admission %s, registry depth %d, root window %v.\n\n",
		d.Name, len(d.Nodes), d.Admission, d.RegistryDepth, d.RootWindow)
	fmt.Fprintf(out, "NOTE: %s holds every node's secret keys: whoever can read it can open every share.\n", f.dir)
	fmt.Fprintln(out, "This is a demo setup; for separate operators use 'cohort federation keygen' on each node, then 'assemble'.")
	fmt.Fprintln(out)
	if d.Admission == federation.AdmissionOpen {
		fmt.Fprintln(out, "WARNING: open admission lets anyone register: for development only.")
		fmt.Fprintln(out)
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Wrote:")
	fmt.Fprintf(tw, "  %s\tpublic descriptor: give it to contributors, buyers and auditors\n", res.DescriptorPath)
	fmt.Fprintf(tw, "  %s\tCA certificate (public): clients check the nodes with it\n", res.CAPath)
	fmt.Fprintf(tw, "  %s\tCA private key (secret): move it offline\n", res.CAKeyPath)
	for i, cfg := range res.NodeConfigs {
		fmt.Fprintf(tw, "  %s%c\tnode %d: node.yaml, keys and admin.token (secret), data/\n", filepath.Dir(cfg), filepath.Separator, i)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "Addresses:")
	for i, e := range d.Nodes {
		metrics := res.Addresses[i].Metrics
		if metrics == "" {
			metrics = "off"
		}
		fmt.Fprintf(tw, "  %s\tAPI %s\tpeer %s\tmetrics %s\n", e.Name, e.APIAddress, e.PeerAddress, metrics)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	fmt.Fprintln(out, "Start the nodes (each in its own terminal or service):")
	for _, cfg := range res.NodeConfigs {
		fmt.Fprintf(out, "  cohort node --config %s\n", cfg)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Then, for example:")
	fmt.Fprintf(out, "  grpcurl -cacert %s %s list\n", res.CAPath, d.Nodes[0].APIAddress)
	fmt.Fprintf(out, "  admin token of node 0: %s\n", res.AdminTokens[0])
	return nil
}

func newFederationCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check NODE_YAML...",
		Short: "Load node configurations and check their keys against the federation descriptor",
		Long: `check loads each node.yaml as 'cohort node' would: the configuration, the
federation descriptor it names and the node's keys, checking file modes, that
the keys are the descriptor's and that the certificate is the federation CA's
for this node. It prints one line per node and fails if any does not load.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runFederationCheck(cmd.OutOrStdout(), args) },
	}
}

func runFederationCheck(out io.Writer, paths []string) error {
	var failed []string
	for _, p := range paths {
		n, err := federation.LoadNode(p)
		if err != nil {
			fmt.Fprintf(out, "%s: %v\n", p, err)
			failed = append(failed, p)
			continue
		}
		e := n.Entry()
		fmt.Fprintf(out, "%s: ok: %s of federation %q, API %s, peer %s, certificate valid until %s\n",
			p, e.Name, n.Federation.Name, n.Config.Listen, n.Config.PeerListen, n.Cert.Leaf.NotAfter.Format(time.DateOnly))
	}
	if failed != nil {
		return fmt.Errorf("federation check: %d of %d configurations do not load: %s", len(failed), len(paths), strings.Join(failed, ", "))
	}
	return nil
}

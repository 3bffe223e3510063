package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/federation"
)

// The two-step federation setup (docs/design.md §3.3): keygen on every
// node's machine, assemble by the holder of the CA, install on every node.

type federationKeygenFlags struct {
	dir        string
	federation string
	index      uint32
	name       string
	api        string
	peer       string
	metrics    string
	dev        bool
	force      bool
}

func newFederationKeygenCmd() *cobra.Command {
	f := federationKeygenFlags{}
	cmd := &cobra.Command{
		Use:   "keygen --dir DIR --index N --api HOST:PORT --peer HOST:PORT",
		Short: "Generate this node's keys on its own machine and write its signed request to join",
		Long: `keygen is the first step of a federation whose nodes' secrets never leave
their machines. Each operator runs it on the machine of its node; it writes
into DIR:

  signing.key, seal.key, tls.key   the node's private keys (mode 0600)
  admin.token                      the node's admin token (0600)
  node.yaml                        the node's configuration (0600)
  data/                            the node's store (0700)
  node-request.yaml                PUBLIC: the node's public keys, addresses and TLS
                                   certificate request, signed with its signing key

Send node-request.yaml to the party holding the federation CA, who runs
'cohort federation assemble', and read it the printed fingerprint out of
band: the assembler refuses a request altered in transit, and the
fingerprint shows that the request it holds was signed by this node. Then
install what the assembler returns with 'cohort federation install'.
The operators agree beforehand on the federation name and each node's index
(0..n-1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFederationKeygen(cmd.OutOrStdout(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "the node's directory (required)")
	fl.StringVar(&f.federation, "federation", federation.DefaultName, "federation name (lower-case DNS label), the same for every node")
	fl.Uint32Var(&f.index, "index", 0, "the node's index, 0..n-1, agreed among the operators")
	fl.StringVar(&f.name, "name", "", "the node's display name (default node-INDEX)")
	fl.StringVar(&f.api, "api", "", "host:port where contributors and buyers reach the node (required)")
	fl.StringVar(&f.peer, "peer", "", "host:port where the other nodes reach it (required)")
	fl.StringVar(&f.metrics, "metrics", "", "loopback host:port for Prometheus metrics (default none)")
	fl.BoolVar(&f.dev, "allow-insecure-dev-setup", false, "allow development shortcuts that void Cohort's guarantees (open admission)")
	fl.BoolVar(&f.force, "force", false, "write into a directory that is not empty, replacing the node's key files")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("api")
	_ = cmd.MarkFlagRequired("peer")
	return cmd
}

func runFederationKeygen(out io.Writer, f federationKeygenFlags) error {
	res, err := federation.Keygen(f.dir, federation.KeygenOptions{
		Federation: f.federation, Index: f.index, Name: f.name,
		Addresses:             federation.NodeAddresses{API: f.api, Peer: f.peer, Metrics: f.metrics},
		AllowInsecureDevSetup: f.dev, Force: f.force,
	})
	if err != nil {
		return err
	}
	r := res.Request
	fmt.Fprintf(out, "Node %d (%s) of federation %q: keys generated in %s; they stay on this machine.\n\n", r.Index, r.Name, r.Federation, f.dir)
	fmt.Fprintf(out, "Send to the party holding the federation CA:\n  %s\n", res.RequestPath)
	fmt.Fprintf(out, "and confirm out of band (phone, in person) that its fingerprint is:\n  %s\n\n", r.Fingerprint())
	fmt.Fprintf(out, "Admin token (secret): %s\n", res.AdminToken)
	fmt.Fprintln(out, "When the assembler returns federation.yaml and this node's certificate:")
	fmt.Fprintf(out, "  cohort federation install --config %s --federation federation.yaml --cert node-%d.crt\n", res.NodeConfig, r.Index)
	return nil
}

func newFederationCACmd() *cobra.Command {
	var dir, name string
	cmd := &cobra.Command{
		Use:   "ca --dir DIR --federation NAME",
		Short: "Create a federation CA, to sign the nodes' certificates with 'assemble'",
		Long: `ca creates DIR/ca.pem (public) and DIR/ca-key.pem (secret, 0600). Whoever holds
ca-key.pem can issue certificates for any node of the federation, so keep it
offline; it holds no node's keys and cannot open any share.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cert, key, err := federation.NewCA(dir, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (public) and %s (secret: keep it offline).\n", cert, key)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to create the CA in (required)")
	cmd.Flags().StringVar(&name, "federation", federation.DefaultName, "federation name")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

type federationAssembleFlags struct {
	out       string
	caDir     string
	admission string
	depth     int
	window    time.Duration
	dev       bool
	force     bool
}

func newFederationAssembleCmd() *cobra.Command {
	f := federationAssembleFlags{}
	cmd := &cobra.Command{
		Use:   "assemble --ca CA_DIR --out DIR NODE_REQUEST...",
		Short: "Check the nodes' signed requests, sign their certificates and write federation.yaml",
		Long: `assemble is the second step of a federation set up with 'keygen'. It reads
each node's node-request.yaml, checks its signature under the node's own
signing key (a request altered in transit is refused) and its certificate
request, checks that the indices are 0..n-1 each once and that no two nodes
share a key, signs one TLS certificate per node with the CA in CA_DIR
(ca.pem, ca-key.pem) and writes into DIR, all public:

  federation.yaml   the descriptor: give it to every node, contributor, buyer, auditor
  ca.pem            the CA certificate
  node-N.crt        node N's certificate: give it to node N's operator

No node secret is read or written: the nodes' private keys never leave
their machines. Compare each printed fingerprint with the one its operator
read you.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFederationAssemble(cmd.OutOrStdout(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", "directory to write the public federation files to (required)")
	fl.StringVar(&f.caDir, "ca", "", "directory holding ca.pem and ca-key.pem (required)")
	fl.StringVar(&f.admission, "admission", string(federation.AdmissionInvite), "registry admission: invite, or open (development only)")
	fl.IntVar(&f.depth, "registry-depth", merkle.DefaultDepth, "registry Merkle tree depth")
	fl.DurationVar(&f.window, "root-window", federation.DefaultRootWindow, "how long a superseded registry root stays valid")
	fl.BoolVar(&f.dev, "allow-insecure-dev-setup", false, "allow open admission")
	fl.BoolVar(&f.force, "force", false, "write into a directory that is not empty")
	_ = cmd.MarkFlagRequired("out")
	_ = cmd.MarkFlagRequired("ca")
	return cmd
}

func runFederationAssemble(out io.Writer, f federationAssembleFlags, paths []string) error {
	switch {
	case f.depth <= 0:
		return fmt.Errorf("federation assemble: %w: --registry-depth %d", federation.ErrInvalid, f.depth)
	case f.window <= 0:
		return fmt.Errorf("federation assemble: %w: --root-window %v must be positive", federation.ErrInvalid, f.window)
	}
	reqs := make([]*federation.NodeRequest, len(paths))
	for i, p := range paths {
		r, err := federation.LoadNodeRequest(p)
		if err != nil {
			return err
		}
		reqs[i] = r
	}
	certPEM, keyPEM, err := federation.LoadCA(filepath.Join(f.caDir, federation.CAFile), filepath.Join(f.caDir, federation.CAKeyFile))
	if err != nil {
		return err
	}
	res, err := federation.Assemble(f.out, reqs, federation.AssembleOptions{
		CACertPEM: certPEM, CAKeyPEM: keyPEM, Admission: federation.Admission(f.admission),
		RegistryDepth: f.depth, RootWindow: f.window, AllowInsecureDevSetup: f.dev, Force: f.force,
	})
	if err != nil {
		return err
	}
	d := res.Descriptor
	fmt.Fprintf(out, "Federation %q: %d nodes, admission %s. Every request's signature verifies.\n\n", d.Name, len(d.Nodes), d.Admission)
	byIndex := make([]*federation.NodeRequest, len(reqs))
	for _, r := range reqs {
		byIndex[r.Index] = r
	}
	for i, e := range d.Nodes {
		fmt.Fprintf(out, "  node %d (%s)  API %s  peer %s  fingerprint %s\n", e.Index, e.Name, e.APIAddress, e.PeerAddress, byIndex[i].Fingerprint())
	}
	fmt.Fprintf(out, "\nWrote (all public): %s, %s", res.DescriptorPath, res.CAPath)
	for _, c := range res.Certificates {
		fmt.Fprintf(out, ", %s", c)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Give federation.yaml and node-N.crt to node N's operator, who runs 'cohort federation install'.")
	return nil
}

func newFederationInstallCmd() *cobra.Command {
	var cfg, desc, cert string
	cmd := &cobra.Command{
		Use:   "install --config NODE_YAML --federation federation.yaml --cert node-N.crt",
		Short: "Install the assembled federation.yaml and this node's certificate, and check them",
		Long: `install copies federation.yaml and the node's certificate beside node.yaml (as
federation.yaml and tls.crt) and loads the node as 'cohort node' would:
the descriptor must name this node's own public keys, and the certificate
must be the federation CA's, for this node, over this node's TLS key.
Nothing is left behind if a check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg == "" || desc == "" || cert == "" {
				return errors.New("federation install: --config, --federation and --cert are required")
			}
			d, err := readBounded(desc, federation.MaxDescriptorBytes)
			if err != nil {
				return fmt.Errorf("federation install: %w", err)
			}
			c, err := readBounded(cert, 64<<10)
			if err != nil {
				return fmt.Errorf("federation install: %w", err)
			}
			res, err := federation.Install(cfg, d, c)
			if err != nil {
				return err
			}
			e := res.Node.Entry()
			fmt.Fprintf(cmd.OutOrStdout(), "%s of federation %q installed: wrote %s and %s; certificate valid until %s.\nStart it: cohort node --config %s\n",
				e.Name, res.Node.Federation.Name, res.DescriptorPath, res.CertPath, res.Node.Cert.Leaf.NotAfter.Format(time.DateOnly), cfg)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfg, "config", "", "the node's node.yaml, as keygen wrote it (required)")
	cmd.Flags().StringVar(&desc, "federation", "", "the assembled federation.yaml (required)")
	cmd.Flags().StringVar(&cert, "cert", "", "this node's certificate, node-N.crt (required)")
	return cmd
}

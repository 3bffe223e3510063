package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// adminFlags locate a node's API and its admin token. --dir fills the
// others from a directory made by "cohort federation init" (node --index).
type adminFlags struct {
	dir       string
	index     uint32
	node      string
	ca        string
	tokenFile string
	plaintext bool

	desc *federation.Descriptor // loaded from --dir by resolve
}

func (a *adminFlags) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&a.dir, "dir", "", "federation directory from \"cohort federation init\": fills --node, --ca and --admin-token-file for node --index")
	f.Uint32Var(&a.index, "index", 0, "with --dir: which node to call")
	f.StringVar(&a.node, "node", "", "node API address host:port")
	f.StringVar(&a.ca, "ca", "", "federation CA certificate (ca.pem)")
	f.StringVar(&a.tokenFile, "admin-token-file", "", "file holding the node's admin token")
	f.BoolVar(&a.plaintext, "insecure-plaintext", false, "talk to the node without TLS (tests on loopback only)")
}

// resolve fills the flags from --dir.
func (a *adminFlags) resolve() error {
	if a.dir == "" {
		return nil
	}
	d, err := federation.LoadDescriptor(filepath.Join(a.dir, "federation.yaml"))
	if err != nil {
		return err
	}
	a.desc = d
	e, ok := d.Node(a.index)
	if !ok {
		return fmt.Errorf("no node %d in %s", a.index, a.dir)
	}
	if a.node == "" {
		a.node = e.APIAddress
	}
	if a.ca == "" {
		a.ca = filepath.Join(a.dir, "ca.pem")
	}
	if a.tokenFile == "" {
		a.tokenFile = filepath.Join(a.dir, fmt.Sprintf("node-%d", a.index), "admin.token")
	}
	return nil
}

// dial connects to the node's API.
func (a *adminFlags) dial() (*grpc.ClientConn, error) {
	if err := a.resolve(); err != nil {
		return nil, err
	}
	if a.node == "" {
		return nil, errors.New("give --node (or --dir)")
	}
	creds := insecure.NewCredentials()
	if !a.plaintext {
		if a.ca == "" {
			return nil, errors.New("give --ca (the federation's ca.pem), or --dir")
		}
		pem, err := os.ReadFile(a.ca)
		if err != nil {
			return nil, err
		}
		tc, err := federation.ClientTLS(pem)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	return grpc.NewClient(a.node, grpc.WithTransportCredentials(creds))
}

// ctx attaches the admin token.
func (a *adminFlags) ctx(parent context.Context) (context.Context, error) {
	if a.tokenFile == "" {
		return nil, errors.New("give --admin-token-file (or --dir)")
	}
	b, err := os.ReadFile(a.tokenFile)
	if err != nil {
		return nil, err
	}
	tok := strings.TrimSpace(string(b))
	return metadata.AppendToOutgoingContext(parent, "authorization", "Bearer "+tok), nil
}

// connect dials the node and returns a context carrying the admin token.
func (a *adminFlags) connect(parent context.Context) (*grpc.ClientConn, context.Context, error) {
	conn, err := a.dial()
	if err != nil {
		return nil, nil, err
	}
	ctx, err := a.ctx(parent)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, ctx, nil
}

func rpcErr(what string, err error) error {
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s: %s: %s", what, s.Code(), s.Message())
	}
	return fmt.Errorf("%s: %w", what, err)
}

func newAdminCmd() *cobra.Command {
	a := &adminFlags{}
	cmd := &cobra.Command{Use: "admin", Short: "Operate a node: invites, status, buyers"}
	a.register(cmd)

	var count uint32
	var valid time.Duration
	var invitesJSON, statusJSON bool
	invites := &cobra.Command{
		Use:   "invites",
		Short: "Issue single-use registry invite tokens (printed one per line)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, ctx, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			expires := time.Now().Add(valid)
			resp, err := cohortv1.NewAdminServiceClient(conn).IssueInvites(ctx, &cohortv1.IssueInvitesRequest{Count: count, ExpiresAt: timestamppb.New(expires)})
			if err != nil {
				return rpcErr("issue invites", err)
			}
			if invitesJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					Tokens    []string `json:"tokens"`
					ExpiresAt string   `json:"expires_at"`
				}{resp.GetTokens(), apiTime(resp.GetExpiresAt())})
			}
			for _, t := range resp.GetTokens() {
				fmt.Fprintln(cmd.OutOrStdout(), t)
			}
			return nil
		},
	}
	invites.Flags().Uint32Var(&count, "count", 1, "number of tokens")
	invites.Flags().DurationVar(&valid, "valid-for", 7*24*time.Hour, "how long the tokens stay valid")
	addJSONFlag(invites, &invitesJSON)

	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Show the node's view of itself and its peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, ctx, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			st, err := cohortv1.NewAdminServiceClient(conn).NodeStatus(ctx, &cohortv1.NodeStatusRequest{})
			if err != nil {
				return rpcErr("node status", err)
			}
			out := cmd.OutOrStdout()
			if statusJSON {
				return writeProtoJSON(out, st)
			}
			fmt.Fprintf(out, "node %d (version %s), up since %s\n", st.GetNodeIndex(), st.GetVersion(), apiTime(st.GetStartedAt()))
			fmt.Fprintf(out, "registry: %d members, sequence %d, root %x\n", st.GetRegistryMembers(), st.GetRegistrySequence(), st.GetRegistryRoot())
			fmt.Fprintf(out, "datasets: %d\n", st.GetDatasets())
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "replica\tversion\tstarted\tlast seen\t")
			for _, r := range st.GetReplicas() {
				self := ""
				if r.GetReplicaId() == st.GetReplicaId() {
					self = "(answered)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.GetReplicaId(), r.GetVersion(),
					apiTime(r.GetStartedAt()), apiTime(r.GetLastSeenAt()), self)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "peer\taddress\treachable\tlast seen\tregistry sequence")
			for _, p := range st.GetPeers() {
				seen := "never"
				if p.GetLastSeenAt() != nil {
					seen = apiTime(p.GetLastSeenAt())
				}
				fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%d\n", p.GetNodeIndex(), p.GetAddress(), p.GetReachable(), seen, p.GetRegistrySequence())
			}
			return tw.Flush()
		},
	}
	addJSONFlag(statusCmd, &statusJSON)
	var balancesJSON bool
	balances := &cobra.Command{
		Use:   "balances",
		Short: "Compare every buyer's balance across the nodes' ledgers",
		Long: `balances reads every buyer's balance (credited, charged, held in escrow) on
this node and on every peer and lists the buyers whose balances differ.
Once every job has ended on every node they agree; a difference means a
node missed a credit or an abort. It exits non-zero on a difference or an
unreachable node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, ctx, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := cohortv1.NewAdminServiceClient(conn).CheckBalances(ctx, &cohortv1.CheckBalancesRequest{})
			if err != nil {
				return rpcErr("check balances", err)
			}
			out := cmd.OutOrStdout()
			differ := len(resp.GetUnreachable()) > 0 || len(resp.GetDisagreeingBuyers()) > 0
			if balancesJSON {
				if err := writeProtoJSON(out, resp); err != nil {
					return err
				}
				if differ {
					return fmt.Errorf("ledgers differ for buyers %v; unreachable nodes %v", resp.GetDisagreeingBuyers(), resp.GetUnreachable())
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "node\tbuyer\tcredited\tcharged\theld\tavailable")
			for _, nb := range resp.GetNodes() {
				for _, b := range nb.GetBalances() {
					fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\n", nb.GetNodeIndex(), b.GetBuyerId(), b.GetCredited(), b.GetCharged(), b.GetHeld(), b.GetAvailable())
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if differ {
				return fmt.Errorf("ledgers differ for buyers %v; unreachable nodes %v", resp.GetDisagreeingBuyers(), resp.GetUnreachable())
			}
			fmt.Fprintf(out, "the %d nodes' ledgers agree\n", len(resp.GetNodes()))
			return nil
		},
	}
	addJSONFlag(balances, &balancesJSON)
	cmd.AddCommand(invites, statusCmd, newAdminBuyersCmd(a), balances, newAdminClaimsCmd(a))
	return cmd
}

func newAdminBuyersCmd(a *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "buyers", Short: "Manage buyer accounts"}
	var tokenFile, publicKey string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create ID --public-key KEY",
		Short: "Create a buyer account on every node and print its token, once",
		Long: `create makes the buyer account ID (1..64 of [A-Za-z0-9._-]) on every node of
the federation and prints its bearer token. The token is shown only this
once (the nodes keep its SHA-256): hand it to the buyer over a private
channel. With --token-file it is written to that file, mode 0600, instead
of printed; an existing file is not replaced. --public-key is the buyer's
Ed25519 public key ("cohort buyer keygen" prints it): every node accepts
only jobs signed with the matching private key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tokenFile != "" {
				if _, err := os.Lstat(tokenFile); err == nil {
					return fmt.Errorf("--token-file %s exists; it is kept", tokenFile)
				}
			}
			pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(publicKey))
			if err != nil || len(pub) != ed25519.PublicKeySize {
				return fmt.Errorf("--public-key: want the buyer's %d-byte Ed25519 public key in base64 (cohort buyer keygen prints it)", ed25519.PublicKeySize)
			}
			conn, ctx, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := cohortv1.NewAdminServiceClient(conn).CreateBuyer(ctx, &cohortv1.CreateBuyerRequest{BuyerId: args[0], PublicKey: pub})
			if err != nil {
				return rpcErr("create buyer", err)
			}
			out := cmd.OutOrStdout()
			created := struct {
				BuyerID   string `json:"buyer_id"`
				Token     string `json:"token,omitempty"`      // without --token-file only
				TokenFile string `json:"token_file,omitempty"` // with --token-file
			}{BuyerID: resp.GetBuyerId()}
			if tokenFile == "" {
				if asJSON {
					created.Token = resp.GetToken()
					return printJSON(out, created)
				}
				fmt.Fprintln(out, resp.GetToken())
				return nil
			}
			if err := federation.WriteSecretFile(tokenFile, []byte(resp.GetToken()+"\n")); err != nil {
				return fmt.Errorf("buyer %s was created, but its token could not be written (create another buyer): %w", resp.GetBuyerId(), err)
			}
			if asJSON {
				created.TokenFile = tokenFile
				return printJSON(out, created)
			}
			fmt.Fprintf(out, "buyer %s created; token written to %s (mode 0600)\n", resp.GetBuyerId(), tokenFile)
			return nil
		},
	}
	create.Flags().StringVar(&tokenFile, "token-file", "", "write the token to this new file (mode 0600) instead of printing it")
	addJSONFlag(create, &asJSON)
	create.Flags().StringVar(&publicKey, "public-key", "", "the buyer's Ed25519 public key, base64 (required; from cohort buyer keygen)")

	var creditID string
	var creditJSON bool
	credit := &cobra.Command{
		Use:   "credit ID AMOUNT",
		Short: "Add AMOUNT micro-credits to buyer ID's balance on every node",
		Long: `credit adds AMOUNT micro-credits (an integer) to the balance of buyer ID on
this node and on every peer. Each credit is applied once per --credit-id
on every node: if a peer was unreachable, run the command again with the
same --credit-id (printed on every run) and only the nodes that missed it
are credited.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil || amount == 0 {
				return usageError{fmt.Errorf("AMOUNT %q: want a positive integer of micro-credits", args[1])}
			}
			if creditID == "" {
				var b [12]byte
				if _, err := rand.Read(b[:]); err != nil {
					return err
				}
				creditID = "credit-" + hex.EncodeToString(b[:])
			}
			conn, ctx, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			out := cmd.OutOrStdout()
			// The id goes out first, so that a retry can name it even if this run fails.
			idOut := out
			if creditJSON {
				idOut = cmd.ErrOrStderr()
			}
			fmt.Fprintf(idOut, "credit id %s\n", creditID)
			resp, err := cohortv1.NewAdminServiceClient(conn).CreditBuyer(ctx, &cohortv1.CreditBuyerRequest{CreditId: creditID, BuyerId: args[0], Amount: amount})
			if err != nil {
				return rpcErr("credit buyer", err)
			}
			if creditJSON {
				return writeProtoJSON(out, resp)
			}
			b := resp.GetBalance()
			fmt.Fprintf(out, "buyer %s: %d micro-credits available (%d credited, %d charged, %d held)\n",
				b.GetBuyerId(), b.GetAvailable(), b.GetCredited(), b.GetCharged(), b.GetHeld())
			return nil
		},
	}
	credit.Flags().StringVar(&creditID, "credit-id", "", "name of the credit, 1..64 of [A-Za-z0-9-], to retry one; default: a fresh random id")
	addJSONFlag(credit, &creditJSON)
	cmd.AddCommand(create, credit)
	return cmd
}

func newDatasetCmd() *cobra.Command {
	a := &adminFlags{}
	cmd := &cobra.Command{Use: "dataset", Short: "Create datasets and show them"}
	a.register(cmd)

	var (
		schemaPath, beaconSource string
		insecureSetup, noWait    bool
		depth                    uint32
		timeout                  time.Duration
		backendName, heParamSet  string
		heThreshold, heSmudging  uint32
		epochRho, buyerRho       string
		exactRelease             bool
		createJSON, showJSON     bool
		price, jobFee            uint64
	)
	create := &cobra.Command{
		Use:   "create --schema schema.yaml",
		Short: "Create a dataset: validate its schema and run the Groth16 ceremony across the federation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			yaml, err := os.ReadFile(schemaPath)
			if err != nil {
				return err
			}
			var backend cohortv1.Backend
			switch backendName {
			case "mpc":
				backend = cohortv1.Backend_BACKEND_MPC
			case "he":
				backend = cohortv1.Backend_BACKEND_HE
				if heSmudging == 0 {
					return errors.New("dataset create: --he-smudging-bits is required for --backend he (statistical security of decryption shares, e.g. 40)")
				}
			default:
				return fmt.Errorf("dataset create: --backend %q: want mpc or he", backendName)
			}
			policy := enclave.DefaultPolicy()
			policy.EpochRho, policy.BuyerRho = epochRho, buyerRho
			if exactRelease {
				policy = &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
			}
			if _, err := enclave.PolicyOf(policy); err != nil {
				return fmt.Errorf("dataset create: %w", err)
			}
			conn, ctx, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			nodes, err := federationSize(ctx, a, conn)
			if err != nil {
				return err
			}
			resp, err := cohortv1.NewAdminServiceClient(conn).CreateDataset(ctx, &cohortv1.CreateDatasetRequest{
				SchemaSource:     &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: string(yaml)},
				Backend:          backend,
				NodeCount:        nodes,
				RegistryDepth:    depth,
				InsecureDevSetup: insecureSetup,
				BeaconSource:     beaconSource,
				HeThreshold:      heThreshold,
				HeSmudgingBits:   heSmudging,
				HeParamSet:       heParamSet,
				Privacy:          policy,
				PricePerRecord:   price,
				JobFee:           jobFee,
			})
			if err != nil {
				return rpcErr("create dataset", err)
			}
			out := cmd.OutOrStdout()
			if createJSON {
				// stdout holds only the descriptor; what a person reads goes to stderr.
				out = cmd.ErrOrStderr()
			}
			d := resp.GetDataset()
			fmt.Fprintf(out, "dataset %s: %s, circuit %x…, setup %s\n", d.GetId(), d.GetState(), d.GetCircuitDigest()[:8], d.GetSetupKind())
			if insecureSetup {
				fmt.Fprintln(out, "WARNING: insecure dev setup — one machine knew the toxic waste and can forge proofs; never use this dataset for real data")
			}
			if exactRelease {
				fmt.Fprintln(out, "WARNING: exact release — two jobs whose cohorts differ by one record reveal it; never use this dataset for real data")
			} else {
				fmt.Fprintf(out, "release: discrete Gaussian noise, ρ = %s per epoch for all buyers, %s per buyer\n", policy.GetEpochRho(), policy.GetBuyerRho())
			}
			if price > 0 || jobFee > 0 {
				fmt.Fprintf(out, "price: %d micro-credits per counted record + %d per job\n", d.GetPricePerRecord(), d.GetJobFee())
			}
			if noWait {
				if createJSON {
					return writeProtoJSON(cmd.OutOrStdout(), d)
				}
				return nil
			}
			ready, err := waitDataset(cmd.Context(), out, conn, d.GetId(), timeout)
			if err == nil && createJSON {
				return writeProtoJSON(cmd.OutOrStdout(), ready)
			}
			return err
		},
	}
	create.Flags().StringVar(&schemaPath, "schema", "", "schema YAML file (required)")
	create.Flags().StringVar(&beaconSource, "beacon-source", "", "where the ceremony beacons come from, announced before it starts (required unless --insecure-dev-setup)")
	create.Flags().BoolVar(&insecureSetup, "insecure-dev-setup", false, "single-party setup instead of a ceremony: INSECURE, development only (the node must allow it)")
	create.Flags().Uint32Var(&depth, "registry-depth", 0, "registry depth; 0: the federation's")
	create.Flags().BoolVar(&noWait, "no-wait", false, "return at once instead of waiting for READY")
	create.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "how long to wait for the ceremony")
	create.Flags().StringVar(&backendName, "backend", "mpc", "compute backend: mpc (secret shares) or he (threshold BGV)")
	create.Flags().Uint32Var(&heThreshold, "he-threshold", 0, "HE: nodes needed to decrypt an aggregate; 0: a majority")
	create.Flags().StringVar(&epochRho, "epoch-rho", enclave.DefaultPolicy().GetEpochRho(), "privacy budget: ρ (zCDP) all buyers together may spend on one epoch, an exact decimal or fraction")
	create.Flags().StringVar(&buyerRho, "buyer-rho", enclave.DefaultPolicy().GetBuyerRho(), "privacy budget: ρ one buyer may spend on one epoch, at most --epoch-rho")
	create.Flags().BoolVar(&exactRelease, "exact-release-insecure-dev", false, "release exact sums with no noise and no budget: INSECURE, development only (needs --insecure-dev-setup)")
	create.Flags().Uint32Var(&heSmudging, "he-smudging-bits", 0, "HE: statistical security of decryption shares in bits, 20..80 (required with --backend he)")
	create.Flags().StringVar(&heParamSet, "he-param-set", "", "HE: BGV parameter set (bgv-n12-q109, bgv-n13-q132, bgv-n13-q218); empty: the smallest that carries the schema and has an HE circuit for it")
	create.Flags().Uint64Var(&price, "price", 0, "micro-credits a buyer pays per record a released job counted; 0: free")
	create.Flags().Uint64Var(&jobFee, "job-fee", 0, "micro-credits a buyer pays per released job, on top of --price")
	_ = create.MarkFlagRequired("schema")
	addJSONFlag(create, &createJSON)

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a dataset's descriptor",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := a.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := cohortv1.NewContributorServiceClient(conn).GetDataset(cmd.Context(), &cohortv1.GetDatasetRequest{DatasetId: args[0]})
			if err != nil {
				return rpcErr("get dataset", err)
			}
			if showJSON {
				return writeProtoJSON(cmd.OutOrStdout(), resp.GetDataset())
			}
			printDataset(cmd.OutOrStdout(), resp.GetDataset())
			return nil
		},
	}
	addJSONFlag(show, &showJSON)
	cmd.AddCommand(create, show)
	return cmd
}

// federationSize reads the node count from --dir, or asks the node.
func federationSize(ctx context.Context, a *adminFlags, conn *grpc.ClientConn) (uint32, error) {
	if a.desc != nil {
		return uint32(len(a.desc.Nodes)), nil
	}
	st, err := cohortv1.NewAdminServiceClient(conn).NodeStatus(ctx, &cohortv1.NodeStatusRequest{})
	if err != nil {
		return 0, rpcErr("node status", err)
	}
	return uint32(len(st.GetPeers()) + 1), nil
}

// waitDataset waits for dataset id to be READY, printing progress to out,
// and returns its descriptor.
func waitDataset(ctx context.Context, out io.Writer, conn *grpc.ClientConn, id string, timeout time.Duration) (*cohortv1.DatasetDescriptor, error) {
	c := cohortv1.NewContributorServiceClient(conn)
	start := time.Now()
	last := time.Time{}
	for {
		resp, err := c.GetDataset(ctx, &cohortv1.GetDatasetRequest{DatasetId: id})
		if err != nil {
			return nil, rpcErr("get dataset", err)
		}
		switch resp.GetDataset().GetState() {
		case cohortv1.DatasetState_DATASET_STATE_READY:
			fmt.Fprintf(out, "dataset %s READY after %s\n", id, time.Since(start).Round(time.Second))
			printDataset(out, resp.GetDataset())
			return resp.GetDataset(), nil
		case cohortv1.DatasetState_DATASET_STATE_FAILED:
			return nil, fmt.Errorf("dataset %s: setup FAILED after %s (see the nodes' logs)", id, time.Since(start).Round(time.Second))
		}
		if time.Since(start) > timeout {
			return nil, fmt.Errorf("dataset %s: still in SETUP after %s", id, timeout)
		}
		if time.Since(last) >= 10*time.Second {
			fmt.Fprintf(out, "  ceremony running… %s\n", time.Since(start).Round(time.Second))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func printDataset(out io.Writer, d *cohortv1.DatasetDescriptor) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", d.GetId())
	fmt.Fprintf(tw, "state\t%s\n", d.GetState())
	fmt.Fprintf(tw, "backend\t%s\n", d.GetBackend())
	fmt.Fprintf(tw, "setup\t%s\n", d.GetSetupKind())
	fmt.Fprintf(tw, "nodes\t%d\n", d.GetNodeCount())
	fmt.Fprintf(tw, "registry depth\t%d\n", d.GetRegistryDepth())
	fmt.Fprintf(tw, "parameter sets\t%s\n", strings.Join(d.GetParameterSetIds(), ", "))
	fmt.Fprintf(tw, "circuit digest\t%x\n", d.GetCircuitDigest())
	fmt.Fprintf(tw, "transcript digest\t%x\n", d.GetCeremonyTranscriptDigest())
	fmt.Fprintf(tw, "verifying key\t%d bytes\n", len(d.GetVerifyingKey()))
	fmt.Fprintf(tw, "price\t%d micro-credits per counted record + %d per job\n", d.GetPricePerRecord(), d.GetJobFee())
	if h := d.GetHe(); h != nil {
		pk := sha256.Sum256(h.GetPublicKey())
		fmt.Fprintf(tw, "HE parameter set\t%s\n", h.GetParamSet())
		fmt.Fprintf(tw, "HE threshold\t%d of %d\n", h.GetThreshold(), d.GetNodeCount())
		fmt.Fprintf(tw, "HE smudging\t%d bits\n", h.GetSmudgingBits())
		fmt.Fprintf(tw, "HE public key\t%d bytes, SHA-256 %x…, signed by %d nodes\n", len(h.GetPublicKey()), pk[:8], len(h.GetSignatures()))
	}
	tw.Flush()
}

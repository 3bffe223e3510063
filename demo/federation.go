package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// How long the demo waits for its nodes.
const (
	nodeStartTimeout = 60 * time.Second
	nodeStopTimeout  = 60 * time.Second
	readyTimeout     = 60 * time.Second // for every node to report a READY dataset
	ceremonyTimeout  = 60 * time.Minute
)

// localFederation runs the nodes of a federation directory in this process,
// each with the node command's own wiring (a NodeRunner): its configuration,
// keys, SQLite store, TLS and mutual-TLS listeners. Their logs go to
// logDir/node-N.log.
type localFederation struct {
	dir     string // the federation directory
	logDir  string
	runNode NodeRunner
	desc    *federation.Descriptor
	caPEM   []byte
	running []*nodeProc
	clients []*client.Client // one per node, for contributor calls
}

// nodeProc is one running node.
type nodeProc struct {
	cancel context.CancelFunc
	done   chan error
	log    *os.File
}

// loadFederation reads the federation directory's descriptor.
func loadFederation(dir, logDir string, runNode NodeRunner) (*localFederation, error) {
	d, err := federation.LoadDescriptor(filepath.Join(dir, federation.DescriptorFile))
	if err != nil {
		return nil, err
	}
	return &localFederation{dir: dir, logDir: logDir, runNode: runNode, desc: d, caPEM: []byte(d.CA)}, nil
}

func (f *localFederation) nodeConfig(i int) string {
	return filepath.Join(f.dir, "node-"+strconv.Itoa(i), federation.NodeConfigFile)
}

func (f *localFederation) logPath(i int) string {
	return filepath.Join(f.logDir, "node-"+strconv.Itoa(i)+".log")
}

// start binds every node's API and peer addresses, starts the nodes and
// waits until each answers health checks over TLS.
func (f *localFederation) start(ctx context.Context) error {
	if len(f.running) > 0 {
		return errors.New("demo: nodes already running")
	}
	for i, e := range f.desc.Nodes {
		lis, err := listenNode(i, e)
		if err != nil {
			f.stop()
			return err
		}
		logf, err := os.OpenFile(f.logPath(i), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			lis.api.Close()
			lis.peer.Close()
			f.stop()
			return fmt.Errorf("demo: node %d log: %w", i, err)
		}
		nctx, cancel := context.WithCancel(ctx)
		p := &nodeProc{cancel: cancel, done: make(chan error, 1), log: logf}
		f.running = append(f.running, p)
		cfg := f.nodeConfig(i)
		go func() { p.done <- f.runNode(nctx, cfg, logf, lis.api, lis.peer) }()
	}
	tc, err := federation.ClientTLS(f.caPEM)
	if err != nil {
		f.stop()
		return err
	}
	deadline := time.Now().Add(nodeStartTimeout)
	for i, e := range f.desc.Nodes {
		if err := f.waitHealthy(ctx, i, e.APIAddress, credentials.NewTLS(tc), deadline); err != nil {
			f.stop()
			return err
		}
	}
	for _, e := range f.desc.Nodes {
		c, err := client.Dial(e.APIAddress, client.WithCA(f.caPEM), client.WithFederation(f.desc))
		if err != nil {
			f.stop()
			return err
		}
		f.clients = append(f.clients, c)
	}
	return nil
}

// listenNode binds a node's addresses, saying which port is taken.
func listenNode(i int, e federation.NodeEntry) (*listeners, error) {
	api, err := net.Listen("tcp", e.APIAddress)
	if err != nil {
		return nil, fmt.Errorf("demo: node %d cannot listen on %s (another demo still running? choose other ports with --base-port): %w", i, e.APIAddress, err)
	}
	peer, err := net.Listen("tcp", e.PeerAddress)
	if err != nil {
		api.Close()
		return nil, fmt.Errorf("demo: node %d cannot listen on %s (another demo still running? choose other ports with --base-port): %w", i, e.PeerAddress, err)
	}
	return &listeners{api: api, peer: peer}, nil
}

// listeners are a node's bound API and peer addresses.
type listeners struct{ api, peer net.Listener }

// waitHealthy polls node i's health service until it serves, the node
// stops, or the deadline passes.
func (f *localFederation) waitHealthy(ctx context.Context, i int, addr string, creds credentials.TransportCredentials, deadline time.Time) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case err := <-f.running[i].done:
			f.running[i].done <- err // for stop
			return fmt.Errorf("demo: node %d stopped at start (see %s): %v", i, f.logPath(i), err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: node %d does not answer on %s after %s (see %s)", i, addr, nodeStartTimeout, f.logPath(i))
		}
	}
}

// stop stops the running nodes gracefully and waits for them.
func (f *localFederation) stop() error {
	for _, c := range f.clients {
		c.Close()
	}
	f.clients = nil
	for _, p := range f.running {
		p.cancel()
	}
	var errs []error
	for i, p := range f.running {
		select {
		case err := <-p.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("node %d: %w", i, err))
			}
		case <-time.After(nodeStopTimeout):
			errs = append(errs, fmt.Errorf("node %d did not stop within %s", i, nodeStopTimeout))
		}
		p.log.Close()
	}
	f.running = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("demo: stopping the nodes: %w", err)
	}
	return nil
}

// admin dials node i's API with its admin token (node-i/admin.token in
// the federation directory).
func (f *localFederation) admin(ctx context.Context, i int) (cohortv1.AdminServiceClient, context.Context, func(), error) {
	e, ok := f.desc.Node(uint32(i))
	if !ok {
		return nil, nil, nil, fmt.Errorf("demo: no node %d", i)
	}
	tok, err := os.ReadFile(filepath.Join(f.dir, "node-"+strconv.Itoa(i), "admin.token"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo: node %d: %w", i, err)
	}
	tc, err := federation.ClientTLS(f.caPEM)
	if err != nil {
		return nil, nil, nil, err
	}
	conn, err := grpc.NewClient(e.APIAddress, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		return nil, nil, nil, err
	}
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(tok)))
	return cohortv1.NewAdminServiceClient(conn), actx, func() { conn.Close() }, nil
}

// createDataset runs AdminService.CreateDataset on node 0 with the release
// policy given, which coordinates the Groth16 ceremony among the nodes (for
// an exact policy: node 0's insecure single-party setup), and waits until
// every node holds the dataset READY.
func (f *localFederation) createDataset(ctx context.Context, out io.Writer, schemaYAML []byte, depth int, backend string, policy *cohortv1.PrivacyPolicy) (*dataset.Dataset, error) {
	api, actx, done, err := f.admin(ctx, 0)
	if err != nil {
		return nil, err
	}
	defer done()
	source := fmt.Sprintf("cohort demo, %s: no external beacon; each phase's beacon is derived from its last contribution", time.Now().UTC().Format(time.RFC3339))
	req := &cohortv1.CreateDatasetRequest{
		SchemaSource:  &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: string(schemaYAML)},
		Backend:       cohortv1.Backend_BACKEND_MPC,
		NodeCount:     uint32(len(f.desc.Nodes)),
		RegistryDepth: uint32(depth),
		BeaconSource:  source,
		Privacy:       policy,
		// Priced (docs/design.md §6.8): the buyer pays per counted record,
		// which is each counted record's reward, and a fee per job.
		PricePerRecord: PricePerRecord,
		JobFee:         JobFee,
	}
	if policy.GetMechanism() == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV {
		// The nodes accept an exact policy only with the single-party setup.
		req.InsecureDevSetup, req.BeaconSource = true, ""
	}
	if backend == "he" {
		req.Backend, req.HeThreshold, req.HeSmudgingBits = cohortv1.Backend_BACKEND_HE, 2, heSmudgingBits
	}
	resp, err := api.CreateDataset(actx, req)
	if err != nil {
		return nil, rpcErr("create dataset", err)
	}
	id := resp.GetDataset().GetId()
	start, last := time.Now(), time.Now()
	for {
		ds, err := f.clients[0].Dataset(ctx, id)
		if err != nil {
			return nil, err
		}
		switch ds.Desc.GetState() {
		case cohortv1.DatasetState_DATASET_STATE_READY:
			return f.readyEverywhere(ctx, id)
		case cohortv1.DatasetState_DATASET_STATE_FAILED:
			return nil, fmt.Errorf("demo: the ceremony for dataset %s FAILED after %s (see %s)", id, since(start), f.logPath(0))
		}
		if time.Since(start) > ceremonyTimeout {
			return nil, fmt.Errorf("demo: dataset %s still in SETUP after %s", id, ceremonyTimeout)
		}
		if time.Since(last) >= 20*time.Second {
			fmt.Fprintf(out, "           ceremony running… %s\n", time.Since(start).Round(time.Second))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// readyEverywhere waits until every node serves the dataset READY with the
// same descriptor, and returns node 0's, its circuit compiled and checked
// against the descriptor's digest.
func (f *localFederation) readyEverywhere(ctx context.Context, id string) (*dataset.Dataset, error) {
	deadline := time.Now().Add(readyTimeout)
	var first *dataset.Dataset
	for i, c := range f.clients {
		for {
			ds, err := c.Dataset(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("demo: node %d: %w", i, err)
			}
			if ds.Ready() {
				if first == nil {
					first = ds
				} else if string(ds.Desc.GetVerifyingKey()) != string(first.Desc.GetVerifyingKey()) {
					return nil, fmt.Errorf("demo: node %d serves another verifying key for %s than node 0", i, id)
				}
				break
			}
			if ds.Desc.GetState() == cohortv1.DatasetState_DATASET_STATE_FAILED || time.Now().After(deadline) {
				return nil, fmt.Errorf("demo: node %d holds dataset %s %s (see %s)", i, id, ds.Desc.GetState(), f.logPath(i))
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if _, err := first.CCS(); err != nil {
		return nil, fmt.Errorf("demo: dataset %s: %w", id, err)
	}
	return first, nil
}

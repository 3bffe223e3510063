package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// How long the demo waits for its nodes.
const (
	demoNodeStartTimeout = 60 * time.Second
	demoNodeStopTimeout  = 60 * time.Second
	demoReadyTimeout     = 60 * time.Second // for every node to report a READY dataset
	demoCeremonyTimeout  = 60 * time.Minute
)

// demoFederation runs the nodes of a federation directory in this process,
// each with the node command's own wiring (runNode): its configuration,
// keys, SQLite store, TLS and mutual-TLS listeners. Their logs go to
// logDir/node-N.log.
type demoFederation struct {
	dir     string // the federation directory
	logDir  string
	desc    *federation.Descriptor
	caPEM   []byte
	running []*demoNodeProc
	clients []*client.Client // one per node, for contributor calls
}

// demoNodeProc is one running node.
type demoNodeProc struct {
	cancel context.CancelFunc
	done   chan error
	log    *os.File
}

// loadDemoFederation reads the federation directory's descriptor.
func loadDemoFederation(dir, logDir string) (*demoFederation, error) {
	d, err := federation.LoadDescriptor(filepath.Join(dir, federation.DescriptorFile))
	if err != nil {
		return nil, err
	}
	return &demoFederation{dir: dir, logDir: logDir, desc: d, caPEM: []byte(d.CA)}, nil
}

func (f *demoFederation) nodeConfig(i int) string {
	return filepath.Join(f.dir, "node-"+strconv.Itoa(i), federation.NodeConfigFile)
}

func (f *demoFederation) logPath(i int) string {
	return filepath.Join(f.logDir, "node-"+strconv.Itoa(i)+".log")
}

// start binds every node's API and peer addresses, starts the nodes and
// waits until each answers health checks over TLS.
func (f *demoFederation) start(ctx context.Context) error {
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
		p := &demoNodeProc{cancel: cancel, done: make(chan error, 1), log: logf}
		f.running = append(f.running, p)
		cfg := f.nodeConfig(i)
		go func() { p.done <- runNode(nctx, cfg, logf, lis) }()
	}
	tc, err := federation.ClientTLS(f.caPEM)
	if err != nil {
		f.stop()
		return err
	}
	deadline := time.Now().Add(demoNodeStartTimeout)
	for i, e := range f.desc.Nodes {
		if err := f.waitHealthy(ctx, i, e.APIAddress, credentials.NewTLS(tc), deadline); err != nil {
			f.stop()
			return err
		}
	}
	for _, e := range f.desc.Nodes {
		c, err := client.Dial(e.APIAddress, client.WithCA(f.caPEM))
		if err != nil {
			f.stop()
			return err
		}
		f.clients = append(f.clients, c)
	}
	return nil
}

// listenNode binds a node's addresses, saying which port is taken.
func listenNode(i int, e federation.NodeEntry) (*nodeListeners, error) {
	api, err := net.Listen("tcp", e.APIAddress)
	if err != nil {
		return nil, fmt.Errorf("demo: node %d cannot listen on %s (another demo still running? choose other ports with --base-port): %w", i, e.APIAddress, err)
	}
	peer, err := net.Listen("tcp", e.PeerAddress)
	if err != nil {
		api.Close()
		return nil, fmt.Errorf("demo: node %d cannot listen on %s (another demo still running? choose other ports with --base-port): %w", i, e.PeerAddress, err)
	}
	return &nodeListeners{api: api, peer: peer}, nil
}

// waitHealthy polls node i's health service until it serves, the node
// stops, or the deadline passes.
func (f *demoFederation) waitHealthy(ctx context.Context, i int, addr string, creds credentials.TransportCredentials, deadline time.Time) error {
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
			return fmt.Errorf("demo: node %d does not answer on %s after %s (see %s)", i, addr, demoNodeStartTimeout, f.logPath(i))
		}
	}
}

// stop stops the running nodes gracefully and waits for them.
func (f *demoFederation) stop() error {
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
		case <-time.After(demoNodeStopTimeout):
			errs = append(errs, fmt.Errorf("node %d did not stop within %s", i, demoNodeStopTimeout))
		}
		p.log.Close()
	}
	f.running = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("demo: stopping the nodes: %w", err)
	}
	return nil
}

// admin dials node i's API with its admin token.
func (f *demoFederation) admin(ctx context.Context, i int) (cohortv1.AdminServiceClient, context.Context, func(), error) {
	a := &adminFlags{dir: f.dir, index: uint32(i)}
	conn, actx, err := a.connect(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return cohortv1.NewAdminServiceClient(conn), actx, func() { conn.Close() }, nil
}

// createDataset runs AdminService.CreateDataset on node 0, which
// coordinates the Groth16 ceremony among the nodes, and waits until every
// node holds the dataset READY.
func (f *demoFederation) createDataset(ctx context.Context, out io.Writer, schemaYAML []byte, depth int, backend string) (*dataset.Dataset, error) {
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
	}
	if backend == "he" {
		req.Backend, req.HeThreshold, req.HeSmudgingBits = cohortv1.Backend_BACKEND_HE, 2, demoHESmudgingBits
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
		if time.Since(start) > demoCeremonyTimeout {
			return nil, fmt.Errorf("demo: dataset %s still in SETUP after %s", id, demoCeremonyTimeout)
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
func (f *demoFederation) readyEverywhere(ctx context.Context, id string) (*dataset.Dataset, error) {
	deadline := time.Now().Add(demoReadyTimeout)
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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// demoNodes is the size of the demo federation.
const demoNodes = 3

// demoRevocations is how many contributors revoke their record.
const demoRevocations = 2

// demoMaxContributors is the most invites a node issues at once.
const demoMaxContributors = 10000

type demoOptions struct {
	contributors int
	dataDir      string // "" for a new temporary directory
	backend      string
	keepRunning  bool
	basePort     int
	noCache      bool
	depth        int
	cacheRoot    string // "" for the user's cache directory
	minCohort    int    // > 0: replaces the schema's min_cohort
	seed         uint64
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a three-node federation on this machine end to end: ceremony, contributors, jobs",
		Long: `demo runs a real federation of three nodes in this process, on loopback,
each with its own configuration, keys, SQLite store and TLS listeners:

  1. it creates the federation (CA, node keys, certificates) and starts the nodes;
  2. it creates the demo dataset (the embedded fitness schema) through the
     nodes' Groth16 ceremony and waits until it is READY;
  3. contributors (synthetic, generated from a seed) each get an identity and
     an invite, register, and contribute their record: shared, proven and
     sealed to the nodes; a tenth consent only to commercial training, and
     two revoke their record afterwards;
  4. a buyer account is created (buyer.token, ca.pem in the data directory);
  5. the buyer runs a statistics job and a regression job for public health,
     and every released value is checked against the same statistics computed
     from the eligible plaintext records (the demo fails on any difference);
  6. records.csv and results.json are written to the data directory.

The dataset's keys are kept in the user's cache directory after the first
ceremony, with the federation they belong to; later runs start from that
snapshot (--no-cache runs the ceremony again). With --keep-running the nodes
keep serving until interrupted, for "cohort buyer" and other clients. Node
logs go to node-N.log in the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.contributors, "contributors", 50, "number of contributors")
	f.StringVar(&o.dataDir, "data-dir", "", "directory for the federation, logs and results; empty or absent (default: a new temporary directory)")
	f.StringVar(&o.backend, "backend", "mpc", "backend: mpc or he")
	f.BoolVar(&o.keepRunning, "keep-running", false, "keep the nodes serving after the jobs, until SIGINT or SIGTERM")
	f.IntVar(&o.basePort, "base-port", federation.DefaultBasePort, "node N listens on 127.0.0.1:BASE+10N (API) and BASE+10N+1 (peers)")
	f.BoolVar(&o.noCache, "no-cache", false, "run the ceremony even if an earlier demo's keys are cached, and cache nothing")
	f.IntVar(&o.depth, "registry-depth", merkle.DefaultDepth, "registry Merkle tree depth")
	f.StringVar(&o.cacheRoot, "cache-dir", "", "where dataset snapshots are kept (default: the user cache directory's cohort/demo)")
	f.IntVar(&o.minCohort, "min-cohort", 0, "replace the schema's min_cohort (for small runs)")
	f.Uint64Var(&o.seed, "seed", 2026, "seed of the synthetic records")
	for _, name := range []string{"registry-depth", "cache-dir", "min-cohort", "seed"} {
		_ = f.MarkHidden(name)
	}
	return cmd
}

// demoRun is one run of the demo.
type demoRun struct {
	o       demoOptions
	out     io.Writer
	start   time.Time
	dataDir string
	fedDir  string
	schema  *schema.Schema
	yaml    []byte
	fed     *demoFederation
	ds      *dataset.Dataset
}

// step prints one line of the demo's progress: the time since the start,
// what was done and how long it took.
func (r *demoRun) step(began time.Time, format string, args ...any) {
	fmt.Fprintf(r.out, "[%6.1fs] %s (%s)\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...), since(began))
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) (err error) {
	r := &demoRun{o: o, out: out, start: time.Now()}
	if err := r.prepare(); err != nil {
		return err
	}
	fmt.Fprintf(out, "data directory: %s\n", r.dataDir)
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("demo: interrupted (%w): %v", ctx.Err(), err)
		}
		if r.fed != nil {
			if serr := r.fed.stop(); serr != nil && err == nil {
				err = serr
			}
		}
		fmt.Fprintf(out, "data directory: %s\n", r.dataDir)
	}()

	if err := r.federation(ctx); err != nil {
		return err
	}
	recs := demoRecords(o.contributors, o.seed)
	epoch := r.schema.Epoch.Index(time.Now())
	contributors, err := r.contribute(ctx, recs, epoch)
	if err != nil {
		return err
	}

	began := time.Now()
	tokenPath, caPath, err := r.buyer(ctx)
	if err != nil {
		return err
	}
	r.step(began, "buyer %q created on every node: token in %s, federation CA in %s", "demo-buyer", tokenPath, caPath)

	jobs, err := r.jobs(ctx, contributors.recs, epoch, tokenPath)
	if err != nil {
		return err
	}

	began = time.Now()
	csvPath, jsonPath := filepath.Join(r.dataDir, "records.csv"), filepath.Join(r.dataDir, "results.json")
	if err := writeRecordsCSV(csvPath, r.schema, contributors.recs, demoJobPurpose); err != nil {
		return fmt.Errorf("demo: %s: %w", csvPath, err)
	}
	if err := writeResultsJSON(jsonPath, r.schema.ID, jobs); err != nil {
		return fmt.Errorf("demo: %s: %w", jsonPath, err)
	}
	r.step(began, "wrote %s and %s", csvPath, jsonPath)
	fmt.Fprintf(out, "\nevery released value equals the plaintext computation over the %d eligible records.\n", countEligible(contributors.recs))

	if o.keepRunning {
		return r.serve(ctx, tokenPath, caPath)
	}
	return nil
}

// prepare checks the options, loads the schema and makes the data
// directory.
func (r *demoRun) prepare() error {
	o := r.o
	switch {
	case o.backend != "mpc" && o.backend != "he":
		return fmt.Errorf("demo: --backend %q: want mpc or he", o.backend)
	case o.contributors < 1 || o.contributors > demoMaxContributors:
		return fmt.Errorf("demo: --contributors %d: want 1..%d", o.contributors, demoMaxContributors)
	case o.depth < 1 || o.depth > merkle.MaxDepth:
		return fmt.Errorf("demo: --registry-depth %d: want 1..%d", o.depth, merkle.MaxDepth)
	case o.basePort < 1 || o.basePort+10*(demoNodes-1)+2 > 65535:
		return fmt.Errorf("demo: --base-port %d: the nodes need ports up to BASE+%d, below 65536", o.basePort, 10*(demoNodes-1)+2)
	case o.minCohort < 0:
		return fmt.Errorf("demo: --min-cohort %d is negative", o.minCohort)
	}
	if uint64(o.contributors) > uint64(1)<<o.depth {
		return fmt.Errorf("demo: a registry of depth %d holds %d members, fewer than %d contributors", o.depth, uint64(1)<<o.depth, o.contributors)
	}
	var err error
	if r.yaml, r.schema, err = demoSchema(o.minCohort, o.backend); err != nil {
		return err
	}
	if o.backend == "he" && o.contributors > demoHEMaxCohort {
		return fmt.Errorf("demo: --contributors %d: the HE demo's dataset sums at most %d records per job (what bgv-n12-q109 decrypts with %d bits of smudging)",
			o.contributors, demoHEMaxCohort, demoHESmudgingBits)
	}
	eligible := countEligible(demoRecords(o.contributors, o.seed)) - min(demoRevocations, o.contributors)
	if need := max(int(r.schema.MinCohort), 2); eligible < need {
		return fmt.Errorf("demo: %d contributors leave %d records eligible for the %s jobs (a tenth consent only to commercial training, %d revoke), below the minimum cohort of %d: use more contributors",
			o.contributors, max(eligible, 0), demoJobPurpose, demoRevocations, need)
	}

	if r.dataDir = o.dataDir; r.dataDir == "" {
		if r.dataDir, err = os.MkdirTemp("", "cohort-demo-"); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	} else {
		if entries, err := os.ReadDir(r.dataDir); err == nil && len(entries) > 0 {
			return fmt.Errorf("demo: --data-dir %s is not empty", r.dataDir)
		}
		if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	if r.dataDir, err = filepath.Abs(r.dataDir); err != nil {
		return err
	}
	r.fedDir = filepath.Join(r.dataDir, "federation")
	return nil
}

var minCohortLine = regexp.MustCompile(`(?m)^min_cohort:[ \t]*[0-9]+`)

// demoHEMaxCohort caps the records one HE aggregate sums in the demo: the
// largest sum (150 × 60 000² steps²) must stay below t/2 of bgv-n12-q109,
// and the aggregate's worst-case noise, flooded with 40 bits of smudging,
// below what its 109-bit modulus decrypts.
const demoHEMaxCohort = 150

// demoHESmudgingBits is the statistical security of the HE demo's
// decryption shares.
const demoHESmudgingBits = 40

// demoSchema is the embedded fitness schema, with min_cohort replaced
// when minCohort > 0 and, for the HE backend, max_cohort set to
// demoHEMaxCohort.
func demoSchema(minCohort int, backend string) ([]byte, *schema.Schema, error) {
	y := schema.DefaultYAML()
	if !minCohortLine.Match(y) {
		return nil, nil, errors.New("demo: the embedded schema has no min_cohort line")
	}
	if minCohort > 0 {
		y = minCohortLine.ReplaceAll(y, []byte("min_cohort: "+strconv.Itoa(minCohort)))
	}
	if backend == "he" {
		y = minCohortLine.ReplaceAllFunc(y, func(line []byte) []byte {
			return append(append([]byte(nil), line...), []byte("\nmax_cohort: "+strconv.Itoa(demoHEMaxCohort))...)
		})
	}
	s, err := schema.Parse(y)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: schema: %w", err)
	}
	return y, s, nil
}

// countEligible counts the records a job for the demo's purpose may count.
func countEligible(recs []demoRecord) int {
	n := 0
	for _, rec := range recs {
		if rec.eligible(demoJobPurpose) {
			n++
		}
	}
	return n
}

// federation brings up the three nodes with the dataset READY: from the
// cached snapshot when there is a usable one, else by a new federation and
// a ceremony (then cached).
func (r *demoRun) federation(ctx context.Context) error {
	o := r.o
	var snapDir, key string
	if !o.noCache {
		root, err := demoCacheRoot(o.cacheRoot)
		if err != nil {
			return err
		}
		key = demoCacheKey(r.schema.Digest(), o.depth, o.basePort, demoNodes)
		snapDir = filepath.Join(root, key)
		if ok, err := r.fromSnapshot(ctx, snapDir, key); err != nil {
			return err
		} else if ok {
			return nil
		}
	}

	began := time.Now()
	res, err := federation.Init(r.fedDir, federation.InitOptions{
		Nodes: demoNodes, Host: "127.0.0.1", BasePort: o.basePort, DisableMetrics: true, RegistryDepth: o.depth,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if r.fed, err = loadDemoFederation(r.fedDir, r.dataDir); err != nil {
		return err
	}
	if err := r.fed.start(ctx); err != nil {
		return err
	}
	r.step(began, "federation %q of %d nodes created in %s and started (API %s, %s, %s; logs in node-N.log)",
		res.Descriptor.Name, demoNodes, r.fedDir, r.fed.desc.Nodes[0].APIAddress, r.fed.desc.Nodes[1].APIAddress, r.fed.desc.Nodes[2].APIAddress)

	began = time.Now()
	if o.backend == "he" {
		fmt.Fprintf(r.out, "           dataset %s: collective 2-of-%d BGV key, then the Groth16 ceremony among the %d nodes (registry depth %d)…\n", r.schema.ID, demoNodes, demoNodes, o.depth)
	} else {
		fmt.Fprintf(r.out, "           dataset %s: Groth16 ceremony among the %d nodes (registry depth %d)…\n", r.schema.ID, demoNodes, o.depth)
	}
	if r.ds, err = r.fed.createDataset(ctx, r.out, r.yaml, o.depth, o.backend); err != nil {
		return err
	}
	r.step(began, "dataset %s READY on every node: %s setup, verifying key of %d bytes, circuit %x…",
		r.ds.Desc.GetId(), enumName(r.ds.Desc.GetSetupKind().String(), "SETUP_KIND_"), len(r.ds.Desc.GetVerifyingKey()), r.ds.Desc.GetCircuitDigest()[:6])

	if o.noCache {
		return nil
	}
	began = time.Now()
	if err := r.fed.stop(); err != nil {
		return err
	}
	meta := demoSnapshotMetadata{Key: key, Created: time.Now().UTC(), Dataset: r.ds.Desc.GetId(), CircuitDigest: fmt.Sprintf("%x", r.ds.Desc.GetCircuitDigest())}
	if err := saveDemoSnapshot(snapDir, r.fedDir, meta); err != nil {
		fmt.Fprintf(r.out, "           WARNING: the dataset's keys could not be cached (%v); the next demo runs the ceremony again\n", err)
	}
	if err := r.fed.start(ctx); err != nil {
		return err
	}
	if r.ds, err = r.fed.readyEverywhere(ctx, r.ds.Desc.GetId()); err != nil {
		return err
	}
	r.step(began, "federation and dataset keys cached in %s; nodes restarted", snapDir)
	return nil
}

// fromSnapshot starts the federation from the snapshot at snapDir. It
// reports false, after a warning, when the snapshot is missing or unusable,
// and leaves no federation directory behind then.
func (r *demoRun) fromSnapshot(ctx context.Context, snapDir, key string) (bool, error) {
	began := time.Now()
	meta, err := restoreDemoSnapshot(snapDir, key, r.fedDir)
	if errNoSnapshot(err) {
		return false, nil
	}
	discard := func(err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		fmt.Fprintf(r.out, "           WARNING: the cached snapshot %s is unusable (%v); running the ceremony again\n", snapDir, err)
		if r.fed != nil {
			r.fed.stop()
			r.fed = nil
		}
		if err := os.RemoveAll(r.fedDir); err != nil {
			return false, err
		}
		return false, nil
	}
	if err != nil {
		return discard(err)
	}
	if r.fed, err = loadDemoFederation(r.fedDir, r.dataDir); err != nil {
		return discard(err)
	}
	if err := r.fed.start(ctx); err != nil {
		return discard(err)
	}
	if r.ds, err = r.fed.readyEverywhere(ctx, meta.Dataset); err != nil {
		return discard(err)
	}
	if got := fmt.Sprintf("%x", r.ds.Desc.GetCircuitDigest()); got != meta.CircuitDigest || r.ds.Desc.GetRegistryDepth() != uint32(r.o.depth) ||
		r.ds.Desc.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY {
		return discard(fmt.Errorf("it holds circuit %s, depth %d, setup %s", got, r.ds.Desc.GetRegistryDepth(), r.ds.Desc.GetSetupKind()))
	}
	r.step(began, "federation of %d nodes started in %s (API %s, %s, %s; logs in node-N.log)",
		demoNodes, r.fedDir, r.fed.desc.Nodes[0].APIAddress, r.fed.desc.Nodes[1].APIAddress, r.fed.desc.Nodes[2].APIAddress)
	fmt.Fprintf(r.out, "           dataset keys from an earlier demo's ceremony among these same nodes: %s; --no-cache to run it again\n", snapDir)
	return true, nil
}

// contribute runs the contributors and the revocations.
func (r *demoRun) contribute(ctx context.Context, recs []demoRecord, epoch uint64) (*demoContributors, error) {
	pkCache := filepath.Join(r.dataDir, "proving-keys")
	began := time.Now()
	if _, err := r.fed.clients[0].ProvingKey(ctx, r.ds, pkCache); err != nil {
		return nil, err
	}
	r.step(began, "proving key fetched once from node 0 into %s, checked against the verifying key", pkCache)

	d := &demoContributors{
		fed: r.fed, ds: r.ds, recs: recs, epoch: epoch,
		expiry: time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second), pkCache: pkCache,
	}
	began = time.Now()
	fmt.Fprintf(r.out, "           %d contributors (seed %d), %d at a time, each registering and contributing through node i mod %d:\n",
		len(recs), r.o.seed, demoWorkers, demoNodes)
	if err := d.run(ctx, r.out); err != nil {
		return nil, err
	}
	commercial := len(recs) - countEligible(recs)
	r.step(began, "%d records contributed for epoch %d, each accepted and signed for by all %d nodes (%d consent only to commercial training)",
		len(recs), epoch, demoNodes, commercial)
	fmt.Fprintf(r.out, "           mean time per contribution: %s\n", d.timings)

	began = time.Now()
	revoked, err := d.revoke(ctx, demoJobPurpose, demoRevocations)
	if err != nil {
		return nil, err
	}
	r.step(began, "contributors %v revoked their records; every node signed the revocations", revoked)
	return d, nil
}

// buyer creates the demo's buyer account and writes its token and the
// federation CA to the data directory.
func (r *demoRun) buyer(ctx context.Context) (tokenPath, caPath string, err error) {
	api, actx, done, err := r.fed.admin(ctx, 0)
	if err != nil {
		return "", "", err
	}
	defer done()
	resp, err := api.CreateBuyer(actx, &cohortv1.CreateBuyerRequest{BuyerId: "demo-buyer"})
	if err != nil {
		return "", "", rpcErr("create buyer", err)
	}
	tokenPath, caPath = filepath.Join(r.dataDir, "buyer.token"), filepath.Join(r.dataDir, "ca.pem")
	if err := writeSecretFile(tokenPath, []byte(resp.GetToken()+"\n")); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(caPath, r.fed.caPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	return tokenPath, caPath, nil
}

// jobs runs the demo's jobs as the buyer, on node 0.
func (r *demoRun) jobs(ctx context.Context, recs []demoRecord, epoch uint64, tokenPath string) ([]*demoJob, error) {
	tok, err := os.ReadFile(tokenPath)
	if err != nil {
		return nil, err
	}
	b, err := client.DialBuyer(r.fed.desc.Nodes[0].APIAddress, string(trimNewline(tok)), client.WithCA(r.fed.caPEM))
	if err != nil {
		return nil, err
	}
	defer b.Close()
	truth, err := newDemoTruth(r.schema, recs, demoJobPurpose)
	if err != nil {
		return nil, err
	}
	want := &cohortv1.Exclusions{}
	for _, rec := range recs {
		switch {
		case !rec.consents(demoJobPurpose):
			want.Purpose++
		case rec.Revoked:
			want.Revoked++
		}
	}
	dir := filepath.Join(r.dataDir, "jobs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	auditor, err := client.Dial(r.fed.desc.Nodes[0].APIAddress, client.WithCA(r.fed.caPEM))
	if err != nil {
		return nil, err
	}
	defer auditor.Close()
	tdir := filepath.Join(r.dataDir, "transcripts")
	if err := os.MkdirAll(tdir, 0o700); err != nil {
		return nil, err
	}
	jobs := demoJobs(r.schema)
	for _, j := range jobs {
		began := time.Now()
		if err := runDemoJob(ctx, r.out, b, j, dir, epoch, truth, want); err != nil {
			return nil, err
		}
		r.step(began, "%s job %s DONE; every released value matches the plaintext", j.name, j.job.GetJobId())
		began = time.Now()
		bundle, err := auditor.Transcript(ctx, j.result.GetTranscriptId())
		if err != nil {
			return nil, err
		}
		path := filepath.Join(tdir, j.result.GetTranscriptId()+".bundle")
		if err := os.WriteFile(path, bundle, 0o644); err != nil {
			return nil, err
		}
		r.step(began, "transcript signed by every node: %s (%d KiB); check it offline with `cohort audit verify %s`", path, len(bundle)>>10, path)
	}
	return jobs, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// serve keeps the nodes running until ctx ends.
func (r *demoRun) serve(ctx context.Context, tokenPath, caPath string) error {
	fmt.Fprintln(r.out)
	for i, e := range r.fed.desc.Nodes {
		fmt.Fprintf(r.out, "node %d serving on %s\n", i, e.APIAddress)
	}
	fmt.Fprintf(r.out, "buyer token: %s\nfederation CA: %s\n", tokenPath, caPath)
	fmt.Fprintf(r.out, "try: cohort buyer datasets --node %s --ca %s --token-file %s\n", r.fed.desc.Nodes[0].APIAddress, caPath, tokenPath)
	fmt.Fprintf(r.out, "     cohort buyer submit %s --wait --node %s --ca %s --token-file %s\n",
		filepath.Join(r.dataDir, "jobs", "regression.yaml"), r.fed.desc.Nodes[0].APIAddress, caPath, tokenPath)
	fmt.Fprintln(r.out, "serving until interrupted (Ctrl-C)")
	<-ctx.Done()
	fmt.Fprintln(r.out, "stopping the nodes")
	return nil
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Nodes is the size of the demo federation.
const Nodes = 3

// revocations is how many contributors revoke their record.
const revocations = 2

// maxContributors is the most invites a node issues at once.
const maxContributors = 10000

// The demo's privacy budget and what each of its jobs spends, exact
// fractions of ρ (zCDP, docs/design.md §6.6). The dataset's policy lets
// all buyers together, and the one demo buyer, spend ρ = 8 per epoch, so
// that the demo's two jobs of ρ = 1 each leave ρ = 6 for jobs tried by
// hand with --keep-running. ρ = 1 per job (about ε = 8.4 at δ = 10⁻⁶)
// keeps the demo's outputs useful at a size it proves in a few minutes;
// the package doc gives the numbers.
const (
	demoEpochRho = "8"
	demoBuyerRho = "8"
	jobRho       = "1"
)

// DefaultContributors is the demo's default number of contributors
// (--contributors): 268 of them eligible, enough that at ρ = 1 per job
// the means and histograms come out within a few percent (package doc).
const DefaultContributors = 300

// DefaultHEContributors is the default for the HE backend, whose demo
// dataset caps a job's cohort (heMaxCohort).
const DefaultHEContributors = heMaxCohort

// NodeRunner runs one node of a federation directory until ctx ends: the
// node command's wiring of the configuration at config (its keys, store,
// TLS listeners), serving on the listeners given, logging to log.
type NodeRunner func(ctx context.Context, config string, log io.Writer, api, peer net.Listener) error

// Options configure a run of the demo. The errors name the `cohort demo`
// flag of an option that is out of range.
type Options struct {
	// Out receives the demo's progress; nil discards it.
	Out io.Writer
	// Contributors is the number of contributors, 1..10000 (--contributors).
	Contributors int
	// DataDir is the directory for the federation, logs and results; it
	// must be empty or absent. "" makes a new temporary directory.
	DataDir string
	// Backend is "mpc" or "he".
	Backend string
	// KeepRunning keeps the nodes serving after the jobs, until ctx ends.
	KeepRunning bool
	// BasePort places node N's API on 127.0.0.1:BasePort+10N and its peer
	// API on the port after.
	BasePort int
	// NoCache runs the ceremony even if a snapshot of an earlier demo's
	// keys is cached, and caches nothing.
	NoCache bool
	// RegistryDepth is the depth of the registry's Merkle tree.
	RegistryDepth int
	// CacheDir is where snapshots are kept; "" for the user cache
	// directory's cohort/demo.
	CacheDir string
	// MinCohort, when > 0, replaces the schema's min_cohort.
	MinCohort int
	// Seed draws the synthetic records.
	Seed uint64
	// Version is the software's version, part of the snapshot's cache key.
	Version string
	// ExactInsecureDev releases exact sums (--exact-insecure-dev): the
	// dataset's policy is RELEASE_MECHANISM_EXACT_INSECURE_DEV, which a
	// node accepts only with a single-party (insecure) setup, so the nodes
	// allow it and the dataset is set up by node 0 alone, without a
	// ceremony and without the snapshot cache; every released value must
	// then equal the plaintext computation. For development only.
	ExactInsecureDev bool
	// RunNode runs each node (required).
	RunNode NodeRunner
}

// run is one run of the demo.
type run struct {
	o       Options
	out     io.Writer
	start   time.Time
	dataDir string
	fedDir  string
	schema  *schema.Schema
	yaml    []byte
	fed     *localFederation
	ds      *dataset.Dataset
}

// policy is the demo dataset's release policy.
func (r *run) policy() *cohortv1.PrivacyPolicy {
	if r.o.ExactInsecureDev {
		return &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
	}
	return &cohortv1.PrivacyPolicy{
		Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN,
		EpochRho:  demoEpochRho, BuyerRho: demoBuyerRho, HonestNodes: 1,
		Allocation: cohortv1.NoiseAllocation_NOISE_ALLOCATION_EQUAL_SHARES,
	}
}

// rho is what each job spends: "" under the exact policy.
func (r *run) rho() string {
	if r.o.ExactInsecureDev {
		return ""
	}
	return jobRho
}

// step prints one line of the demo's progress: the time since the start,
// what was done and how long it took.
func (r *run) step(began time.Time, format string, args ...any) {
	fmt.Fprintf(r.out, "[%6.1fs] %s (%s)\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...), since(began))
}

// Run runs the demo: a federation of Nodes nodes in this process, on
// loopback, with a dataset READY after a real ceremony (or restored from the
// snapshot of an earlier one), synthetic contributors who register,
// contribute and in part revoke, and a buyer's jobs whose every released
// value is checked against the same statistics computed from the eligible
// plaintext records (package reference). The dataset's policy is the
// discrete Gaussian with the demo's budget (ρ = 8 per epoch) and each job
// spends ρ = 1; the run fails on a fault (tally.fault): a count that
// differs, a mean, sum or histogram bin more than 6 standard errors from
// the truth, or too few of them inside their 95% intervals. With
// o.ExactInsecureDev every value must equal the truth. It writes to the data directory records.csv, results.json
// (render.ResultsJSON), buyer.token, ca.pem, transcripts/*.bundle,
// jobs/*.yaml, federation/ and node-N.log. With o.KeepRunning it then
// serves until ctx ends. The nodes are stopped before Run returns.
func Run(ctx context.Context, o Options) (err error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	r := &run{o: o, out: out, start: time.Now()}
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
	recs := people(o.Contributors, o.Seed)
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
	r.step(began, "buyer %q created on every node and credited %d micro-credits: token in %s, federation CA in %s", "demo-buyer", BuyerCredit, tokenPath, caPath)

	jobs, found, err := r.jobs(ctx, contributors.recs, epoch, tokenPath)
	if err != nil {
		return err
	}
	if err := r.claims(ctx, contributors, jobs); err != nil {
		return err
	}

	began = time.Now()
	csvPath, jsonPath := filepath.Join(r.dataDir, "records.csv"), filepath.Join(r.dataDir, "results.json")
	if err := writeRecordsCSV(csvPath, r.schema, contributors.recs, jobPurpose); err != nil {
		return fmt.Errorf("demo: %s: %w", csvPath, err)
	}
	if err := writeResultsJSON(jsonPath, r.schema.ID, jobs); err != nil {
		return fmt.Errorf("demo: %s: %w", jsonPath, err)
	}
	r.step(began, "wrote %s and %s", csvPath, jsonPath)
	fmt.Fprintln(out)
	fmt.Fprintln(out, r.summary(found, countEligible(contributors.recs), jobs))

	if o.KeepRunning {
		return r.serve(ctx, tokenPath, caPath)
	}
	return nil
}

// summary is the demo's last line: what held of the released values.
func (r *run) summary(t tally, eligible int, jobs []*jobRun) string {
	if r.o.ExactInsecureDev {
		return fmt.Sprintf("every released value equals the plaintext computation over the %d eligible records (exact release: development only).", eligible)
	}
	left := ""
	if len(jobs) > 0 {
		left = jobs[len(jobs)-1].budgetLeft
	}
	return fmt.Sprintf("the count is exact; %d of %d noised values lie within their 95%% intervals of the plaintext computation over the %d eligible records, "+
		"every mean and histogram bin (%d of %d inside) within %d standard errors; %d jobs spent ρ = %s each, ρ = %s of the buyer's %s is left.",
		t.inside, t.noised, eligible, t.linIn, t.linear, farOut, len(jobs), jobRho, left, demoBuyerRho)
}

// prepare checks the options, loads the schema and makes the data
// directory.
func (r *run) prepare() error {
	o := r.o
	switch {
	case o.RunNode == nil:
		return errors.New("demo: no node runner")
	case o.Backend != "mpc" && o.Backend != "he":
		return fmt.Errorf("demo: --backend %q: want mpc or he", o.Backend)
	case o.Contributors < 1 || o.Contributors > maxContributors:
		return fmt.Errorf("demo: --contributors %d: want 1..%d", o.Contributors, maxContributors)
	case o.RegistryDepth < 1 || o.RegistryDepth > merkle.MaxDepth:
		return fmt.Errorf("demo: --registry-depth %d: want 1..%d", o.RegistryDepth, merkle.MaxDepth)
	case o.BasePort < 1 || o.BasePort+10*(Nodes-1)+2 > 65535:
		return fmt.Errorf("demo: --base-port %d: the nodes need ports up to BASE+%d, below 65536", o.BasePort, 10*(Nodes-1)+2)
	case o.MinCohort < 0:
		return fmt.Errorf("demo: --min-cohort %d is negative", o.MinCohort)
	}
	if uint64(o.Contributors) > uint64(1)<<o.RegistryDepth {
		return fmt.Errorf("demo: a registry of depth %d holds %d members, fewer than %d contributors", o.RegistryDepth, uint64(1)<<o.RegistryDepth, o.Contributors)
	}
	var err error
	if r.yaml, r.schema, err = datasetSchema(o.MinCohort, o.Backend); err != nil {
		return err
	}
	if o.Backend == "he" && o.Contributors > heMaxCohort {
		return fmt.Errorf("demo: --contributors %d: the HE demo's dataset sums at most %d records per job (what bgv-n12-q109 decrypts with %d bits of smudging)",
			o.Contributors, heMaxCohort, heSmudgingBits)
	}
	eligible := countEligible(people(o.Contributors, o.Seed)) - min(revocations, o.Contributors)
	if need := max(int(r.schema.MinCohort), 2); eligible < need {
		return fmt.Errorf("demo: %d contributors leave %d records eligible for the %s jobs (a tenth consent only to commercial training, %d revoke), below the minimum cohort of %d: use more contributors",
			o.Contributors, max(eligible, 0), jobPurpose, revocations, need)
	}

	if r.dataDir = o.DataDir; r.dataDir == "" {
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

// heMaxCohort caps the records one HE aggregate sums in the demo: the
// largest sum (150 × 60 000² steps²) must stay below t/2 of bgv-n12-q109,
// and the aggregate's worst-case noise, flooded with 40 bits of smudging,
// below what its 109-bit modulus decrypts.
const heMaxCohort = 150

// heSmudgingBits is the statistical security of the HE demo's
// decryption shares.
const heSmudgingBits = 40

// datasetSchema is the embedded fitness schema, with min_cohort replaced
// when minCohort > 0 and, for the HE backend, max_cohort set to
// heMaxCohort.
func datasetSchema(minCohort int, backend string) ([]byte, *schema.Schema, error) {
	y := schema.DefaultYAML()
	if !minCohortLine.Match(y) {
		return nil, nil, errors.New("demo: the embedded schema has no min_cohort line")
	}
	if minCohort > 0 {
		y = minCohortLine.ReplaceAll(y, []byte("min_cohort: "+strconv.Itoa(minCohort)))
	}
	if backend == "he" {
		y = minCohortLine.ReplaceAllFunc(y, func(line []byte) []byte {
			return append(append([]byte(nil), line...), []byte("\nmax_cohort: "+strconv.Itoa(heMaxCohort))...)
		})
	}
	s, err := schema.Parse(y)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: schema: %w", err)
	}
	return y, s, nil
}

// countEligible counts the records a job for the demo's purpose may count.
func countEligible(recs []person) int {
	n := 0
	for _, rec := range recs {
		if rec.eligible(jobPurpose) {
			n++
		}
	}
	return n
}

// federation brings up the three nodes with the dataset READY: from the
// cached snapshot when there is a usable one, else by a new federation and
// a ceremony (then cached).
func (r *run) federation(ctx context.Context) error {
	o := r.o
	var snapDir, key string
	if !o.NoCache && !o.ExactInsecureDev {
		root, err := cacheRoot(o.CacheDir)
		if err != nil {
			return err
		}
		key = cacheKey(o.Version, r.schema.Digest(), r.policy(), o.RegistryDepth, o.BasePort, Nodes, PricePerRecord, JobFee)
		snapDir = filepath.Join(root, key)
		if ok, err := r.fromSnapshot(ctx, snapDir, key); err != nil {
			return err
		} else if ok {
			return nil
		}
	}

	began := time.Now()
	res, err := federation.Init(r.fedDir, federation.InitOptions{
		Nodes: Nodes, Host: "127.0.0.1", BasePort: o.BasePort, DisableMetrics: true, RegistryDepth: o.RegistryDepth,
		AllowInsecureDevSetup: o.ExactInsecureDev,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if r.fed, err = loadFederation(r.fedDir, r.dataDir, o.RunNode); err != nil {
		return err
	}
	if err := r.fed.start(ctx); err != nil {
		return err
	}
	r.step(began, "federation %q of %d nodes created in %s and started (API %s, %s, %s; logs in node-N.log)",
		res.Descriptor.Name, Nodes, r.fedDir, r.fed.desc.Nodes[0].APIAddress, r.fed.desc.Nodes[1].APIAddress, r.fed.desc.Nodes[2].APIAddress)

	began = time.Now()
	setup := fmt.Sprintf("the Groth16 ceremony among the %d nodes", Nodes)
	if o.ExactInsecureDev {
		setup = "an INSECURE single-party Groth16 setup by node 0 (exact release: development only)"
	}
	if o.Backend == "he" {
		fmt.Fprintf(r.out, "           dataset %s: collective 2-of-%d BGV key, then %s (registry depth %d)…\n", r.schema.ID, Nodes, setup, o.RegistryDepth)
	} else {
		fmt.Fprintf(r.out, "           dataset %s: %s (registry depth %d)…\n", r.schema.ID, setup, o.RegistryDepth)
	}
	if r.ds, err = r.fed.createDataset(ctx, r.out, r.yaml, o.RegistryDepth, o.Backend, r.policy()); err != nil {
		return err
	}
	r.step(began, "dataset %s READY on every node: %s setup, verifying key of %d bytes, circuit %x…",
		r.ds.Desc.GetId(), strings.TrimPrefix(r.ds.Desc.GetSetupKind().String(), "SETUP_KIND_"), len(r.ds.Desc.GetVerifyingKey()), r.ds.Desc.GetCircuitDigest()[:6])
	r.describePolicy()
	if !o.ExactInsecureDev { // the exact development demo claims no rewards
		if err := r.claimKeys(ctx); err != nil {
			return err
		}
	}

	if o.NoCache || o.ExactInsecureDev {
		return nil
	}
	began = time.Now()
	if err := r.fed.stop(); err != nil {
		return err
	}
	meta := snapshotMetadata{Key: key, Created: time.Now().UTC(), Dataset: r.ds.Desc.GetId(), CircuitDigest: fmt.Sprintf("%x", r.ds.Desc.GetCircuitDigest())}
	if err := saveSnapshot(snapDir, r.fedDir, meta); err != nil {
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
func (r *run) fromSnapshot(ctx context.Context, snapDir, key string) (bool, error) {
	began := time.Now()
	meta, err := restoreSnapshot(snapDir, key, r.fedDir)
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
	if r.fed, err = loadFederation(r.fedDir, r.dataDir, r.o.RunNode); err != nil {
		return discard(err)
	}
	if err := r.fed.start(ctx); err != nil {
		return discard(err)
	}
	if r.ds, err = r.fed.readyEverywhere(ctx, meta.Dataset); err != nil {
		return discard(err)
	}
	if got := fmt.Sprintf("%x", r.ds.Desc.GetCircuitDigest()); got != meta.CircuitDigest || r.ds.Desc.GetRegistryDepth() != uint32(r.o.RegistryDepth) ||
		r.ds.Desc.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY || !proto.Equal(r.ds.Desc.GetPrivacy(), r.policy()) {
		return discard(fmt.Errorf("it holds circuit %s, depth %d, setup %s, privacy policy %v", got, r.ds.Desc.GetRegistryDepth(), r.ds.Desc.GetSetupKind(), r.ds.Desc.GetPrivacy()))
	}
	r.step(began, "federation of %d nodes started in %s (API %s, %s, %s; logs in node-N.log)",
		Nodes, r.fedDir, r.fed.desc.Nodes[0].APIAddress, r.fed.desc.Nodes[1].APIAddress, r.fed.desc.Nodes[2].APIAddress)
	fmt.Fprintf(r.out, "           dataset keys from an earlier demo's ceremony among these same nodes: %s; --no-cache to run it again\n", snapDir)
	r.describePolicy()
	return true, nil
}

// describePolicy prints the dataset's release policy.
func (r *run) describePolicy() {
	p := r.ds.Desc.GetPrivacy()
	if p.GetMechanism() == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV {
		fmt.Fprintln(r.out, "           release policy: EXACT sums (development only: two jobs whose cohorts differ by one record reveal it)")
		return
	}
	fmt.Fprintf(r.out, "           release policy: discrete Gaussian noise from every node; budget ρ = %s per epoch, ρ = %s per buyer and epoch; each demo job spends ρ = %s\n",
		p.GetEpochRho(), p.GetBuyerRho(), jobRho)
}

// contribute runs the contributors and the revocations.
func (r *run) contribute(ctx context.Context, recs []person, epoch uint64) (*contributorSet, error) {
	pkCache := filepath.Join(r.dataDir, "proving-keys")
	began := time.Now()
	if _, err := r.fed.clients[0].ProvingKey(ctx, r.ds, pkCache); err != nil {
		return nil, err
	}
	r.step(began, "proving key fetched once from node 0 into %s, checked against the verifying key", pkCache)

	d := &contributorSet{
		fed: r.fed, ds: r.ds, recs: recs, epoch: epoch,
		expiry: time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second), pkCache: pkCache,
	}
	began = time.Now()
	fmt.Fprintf(r.out, "           %d contributors (seed %d), %d at a time, each registering and contributing through node i mod %d:\n",
		len(recs), r.o.Seed, workers, Nodes)
	if err := d.run(ctx, r.out); err != nil {
		return nil, err
	}
	commercial := len(recs) - countEligible(recs)
	r.step(began, "%d records contributed for epoch %d, each accepted and signed for by all %d nodes (%d consent only to commercial training)",
		len(recs), epoch, Nodes, commercial)
	fmt.Fprintf(r.out, "           mean time per contribution: %s\n", d.timings)

	began = time.Now()
	revoked, err := d.revoke(ctx, jobPurpose, revocations)
	if err != nil {
		return nil, err
	}
	r.step(began, "contributors %v revoked their records; every node signed the revocations", revoked)
	return d, nil
}

// buyer creates the demo's buyer key pair and account and writes its key
// (buyer.key), token and the federation CA to the data directory.
func (r *run) buyer(ctx context.Context) (tokenPath, caPath string, err error) {
	api, actx, done, err := r.fed.admin(ctx, 0)
	if err != nil {
		return "", "", err
	}
	defer done()
	key, err := client.GenerateBuyerKey("demo-buyer")
	if err != nil {
		return "", "", err
	}
	if err := client.WriteBuyerKey(filepath.Join(r.dataDir, "buyer.key"), key); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	resp, err := api.CreateBuyer(actx, &cohortv1.CreateBuyerRequest{BuyerId: key.ID, PublicKey: key.Public()})
	if err != nil {
		return "", "", rpcErr("create buyer", err)
	}
	if err := r.credit(ctx, key.ID); err != nil {
		return "", "", err
	}
	tokenPath, caPath = filepath.Join(r.dataDir, "buyer.token"), filepath.Join(r.dataDir, "ca.pem")
	if err := federation.WriteSecretFile(tokenPath, []byte(resp.GetToken()+"\n")); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(caPath, r.fed.caPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	return tokenPath, caPath, nil
}

// jobs runs the demo's jobs as the buyer, on node 0, and returns them
// with what the comparisons found over all of them.
func (r *run) jobs(ctx context.Context, recs []person, epoch uint64, tokenPath string) ([]*jobRun, tally, error) {
	tok, err := os.ReadFile(tokenPath)
	if err != nil {
		return nil, tally{}, err
	}
	key, err := client.ReadBuyerKey(filepath.Join(filepath.Dir(tokenPath), "buyer.key"))
	if err != nil {
		return nil, tally{}, err
	}
	b, err := client.DialBuyer(r.fed.desc.Nodes[0].APIAddress, string(trimNewline(tok)), client.WithCA(r.fed.caPEM), client.WithBuyerKey(key))
	if err != nil {
		return nil, tally{}, err
	}
	defer b.Close()
	truth, err := eligibleCohort(r.schema, recs, jobPurpose)
	if err != nil {
		return nil, tally{}, err
	}
	want := &cohortv1.Exclusions{}
	for _, rec := range recs {
		switch {
		case !rec.consents(jobPurpose):
			want.Purpose++
		case rec.Revoked:
			want.Revoked++
		}
	}
	dir := filepath.Join(r.dataDir, "jobs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, tally{}, err
	}
	auditor, err := client.Dial(r.fed.desc.Nodes[0].APIAddress, client.WithCA(r.fed.caPEM), client.WithFederation(r.fed.desc))
	if err != nil {
		return nil, tally{}, err
	}
	defer auditor.Close()
	tdir := filepath.Join(r.dataDir, "transcripts")
	if err := os.MkdirAll(tdir, 0o700); err != nil {
		return nil, tally{}, err
	}
	jobs := jobsFor(r.schema, r.rho())
	var found tally
	for _, j := range jobs {
		began := time.Now()
		t, err := runJob(ctx, r.out, b, j, dir, epoch, truth, want, r.rho())
		if err != nil {
			return nil, tally{}, err
		}
		found.add(t)
		if r.o.ExactInsecureDev {
			r.step(began, "%s job %s DONE; every released value matches the plaintext", j.name, j.job.GetJobId())
		} else {
			exact := ""
			if t.exact > 0 {
				exact = "the count is exact, "
			}
			r.step(began, "%s job %s DONE; %s%d of %d noised values within their intervals of the plaintext", j.name, j.job.GetJobId(), exact, t.inside, t.noised)
		}
		if err := r.charge(ctx, b, j); err != nil {
			return nil, tally{}, err
		}
		began = time.Now()
		bundle, err := auditor.Transcript(ctx, j.result.GetTranscriptId())
		if err != nil {
			return nil, tally{}, err
		}
		tb, err := audit.UnmarshalBundle(bundle, audit.DefaultLimits())
		if err != nil {
			return nil, tally{}, fmt.Errorf("demo: transcript %s: %w", j.result.GetTranscriptId(), err)
		}
		j.reward = tb.Transcript.RewardPerRecord
		path := filepath.Join(tdir, j.result.GetTranscriptId()+".bundle")
		if err := os.WriteFile(path, bundle, 0o644); err != nil {
			return nil, tally{}, err
		}
		r.step(began, "transcript signed by every node: %s (%d KiB); check it offline with `cohort audit verify --federation %s %s`",
			path, len(bundle)>>10, filepath.Join(r.fedDir, "federation.yaml"), path)
	}
	if err := r.balance(ctx, b); err != nil {
		return nil, tally{}, err
	}
	return jobs, found, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// serve keeps the nodes running until ctx ends.
func (r *run) serve(ctx context.Context, tokenPath, caPath string) error {
	fmt.Fprintln(r.out)
	for i, e := range r.fed.desc.Nodes {
		fmt.Fprintf(r.out, "node %d serving on %s\n", i, e.APIAddress)
	}
	fmt.Fprintf(r.out, "buyer token: %s\nfederation CA: %s\n", tokenPath, caPath)
	fmt.Fprintf(r.out, "try: cohort buyer datasets --node %s --ca %s --token-file %s\n", r.fed.desc.Nodes[0].APIAddress, caPath, tokenPath)
	fmt.Fprintf(r.out, "     cohort buyer submit %s --wait --node %s --ca %s --token-file %s\n",
		filepath.Join(r.dataDir, "jobs", "regression.yaml"), r.fed.desc.Nodes[0].APIAddress, caPath, tokenPath)
	if !r.o.ExactInsecureDev {
		fmt.Fprintf(r.out, "     cohort buyer budget --dataset %s --node %s --ca %s --token-file %s\n", r.schema.ID, r.fed.desc.Nodes[0].APIAddress, caPath, tokenPath)
	}
	fmt.Fprintln(r.out, "serving until interrupted (Ctrl-C)")
	<-ctx.Done()
	fmt.Fprintln(r.out, "stopping the nodes")
	return nil
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// rpcErr says what failed and the gRPC status it failed with.
func rpcErr(what string, err error) error {
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s: %s: %s", what, s.Code(), s.Message())
	}
	return fmt.Errorf("%s: %w", what, err)
}

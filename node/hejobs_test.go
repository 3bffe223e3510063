package node

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/heproof"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// heSchemaYAML is the demo schema with a minimum cohort of 3 and at most
// 100 records per aggregate: what the fast insecure test parameter set
// (t < 2^40) can sum.
func heSchemaYAML(t testing.TB) string {
	t.Helper()
	y := defaultSchemaYAML(t)
	if !strings.Contains(y, "min_cohort: 20") {
		t.Fatal("the demo schema has no min_cohort: 20 line")
	}
	return strings.Replace(y, "min_cohort: 20", "min_cohort: 3\nmax_cohort: 100", 1)
}

// heFixture is an HE dataset made through CreateDataset: the collective
// key generated over PeerService, then an insecure dev setup.
type heFixture struct {
	f    *testFederation
	ds   *dataset.Dataset
	pk   groth16.ProvingKey
	sys  *circuits.HESystem
	cur  uint64
	recs []schema.Record
}

func newHEFixture(t *testing.T) *heFixture {
	t.Helper()
	return newHEFixtureWith(t, exactPolicy())
}

// newHEFixtureWith is newHEFixture under the privacy policy p.
func newHEFixtureWith(t *testing.T, p *cohortv1.PrivacyPolicy) *heFixture {
	t.Helper()
	return newHEFixtureOn(t, testHEDataset(t, p), heOptions)
}

// heOptions are the options of an HE fixture's nodes: messages large
// enough for its keys and ciphertexts.
func heOptions(o *Options) { o.Limits.MaxMessageBytes = 16 << 20 }

// heDataset is what newHEFixtureOn asks CreateDataset for.
type heDataset struct {
	schemaYAML   string
	params       he.ParamSetID
	smudgingBits uint32
	policy       *cohortv1.PrivacyPolicy
	setup        time.Duration // how long key generation and setup may take; 5 minutes if 0
}

// testHEDataset is the tests' HE dataset (the test parameter set) under
// the privacy policy p.
func testHEDataset(t testing.TB, p *cohortv1.PrivacyPolicy) heDataset {
	return heDataset{schemaYAML: heSchemaYAML(t), params: he.BGVTestN8, smudgingBits: 40, policy: p}
}

// newHEFixtureOn is an HE fixture of dataset d on three nodes with opts.
func newHEFixtureOn(t testing.TB, d heDataset, opts ...fedOption) *heFixture {
	t.Helper()
	return heFixtureOn(t, newTestFederation(t, 3, opts...), d)
}

// heFixtureOn creates the HE dataset d of a fixture on f, through node 0.
func heFixtureOn(t testing.TB, f *testFederation, d heDataset) *heFixture {
	t.Helper()
	resp, err := f.admin(0).CreateDataset(adminCtx(), &cohortv1.CreateDatasetRequest{
		SchemaSource:     &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: d.schemaYAML},
		Backend:          cohortv1.Backend_BACKEND_HE,
		NodeCount:        3,
		RegistryDepth:    testDepth,
		InsecureDevSetup: true,
		HeThreshold:      2,
		HeSmudgingBits:   d.smudgingBits,
		HeParamSet:       string(d.params),
		Privacy:          d.policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	within := d.setup
	if within == 0 {
		within = 5 * time.Minute
	}
	descs := f.waitReady(t, resp.GetDataset().GetId(), within)
	for i, d := range descs {
		if d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
			t.Fatalf("node %d: the dataset's setup ended %s, not READY", i, d.GetState())
		}
		if d.GetBackend() != cohortv1.Backend_BACKEND_HE || !bytes.Equal(d.GetHe().GetPublicKey(), descs[0].GetHe().GetPublicKey()) {
			t.Fatalf("node %d: backend %s or another collective key", i, d.GetBackend())
		}
	}
	ds, err := dataset.From(descs[0])
	if err != nil {
		t.Fatal(err)
	}
	keys, err := f.nodes[0].store.GetDatasetKeys(context.Background(), ds.Desc.GetId())
	if err != nil {
		t.Fatal(err)
	}
	pk, err := setup.UnmarshalProvingKey(keys.ProvingKey)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := ds.CompileHE()
	if err != nil {
		t.Fatal(err)
	}
	return &heFixture{f: f, ds: ds, pk: pk, sys: sys, cur: ds.Schema.Epoch.Index(time.Now())}
}

// payload registers a contributor through node via and proves rec.
func (h *heFixture) payload(t testing.TB, via int, rec schema.Record) *heproof.Payload {
	t.Helper()
	c := h.f.register(t, via)
	mp, err := h.f.contributor(via).GetMembershipPath(context.Background(), &cohortv1.GetMembershipPathRequest{MemberIndex: c.index})
	if err != nil {
		t.Fatal(err)
	}
	path := merkle.Path{Index: c.index}
	for _, b := range mp.GetSiblings() {
		var e fr.Element
		if err := e.SetBytesCanonical(b); err != nil {
			t.Fatal(err)
		}
		path.Siblings = append(path.Siblings, e)
	}
	var root fr.Element
	if err := root.SetBytesCanonical(mp.GetRoot()); err != nil {
		t.Fatal(err)
	}
	v, err := h.ds.Schema.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	prover, err := heproof.NewProver(h.sys, h.pk, h.ds.HE.Params, h.ds.HE.Key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := prover.Build(heproof.Contribution{
		Secret: c.secret, Root: root, Path: path, Record: v,
		Terms: circuits.Terms{Dataset: circuits.DatasetField(h.ds.Desc.GetId()), Epoch: h.cur, Expiry: uint64(time.Now().Add(24 * time.Hour).Unix()), Purposes: 0b011, MinCohort: 2},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *heFixture) contribute(t testing.TB, via int, rec schema.Record) {
	t.Helper()
	b, err := h.payload(t, via, rec).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.f.contributor(via).Contribute(context.Background(), &cohortv1.ContributeRequest{DatasetId: h.ds.Desc.GetId(), Payload: b}); err != nil {
		t.Fatal(err)
	}
	h.recs = append(h.recs, rec)
}

// TestHEBackend runs the HE backend end to end on three nodes over real
// gRPC: collective 2-of-3 key generation at dataset creation, verified
// ingest of ciphertexts (a changed coefficient is refused), a job whose
// released values equal the plaintext, the once-per-aggregate rule for
// decryption shares, and a job released with one node down.
func TestHEBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a collective key, sets up the HE circuit and proves records")
	}
	h := newHEFixture(t)
	f, id := h.f, h.ds.Desc.GetId()
	ctx := context.Background()

	// Every node holds its key share sealed, never the bare share.
	for i, tn := range f.nodes {
		row, err := tn.store.GetHEKey(ctx, id)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		tk, err := tn.n.thresholdKey(ctx, h.ds)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		plain, err := tk.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(row.Sealed, plain[len(plain)-64:]) {
			t.Fatalf("node %d stores its key share in the clear", i)
		}
	}

	t.Run("ingest refuses a changed ciphertext", func(t *testing.T) {
		p := h.payload(t, 0, fitness(30, 5000, 60, 700, false, "north"))
		enc, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		// The ciphertext is the last chunk; its last 8 bytes are the top
		// coefficient of the last limb of c1, little-endian.
		tampered := bytes.Clone(enc)
		tampered[len(tampered)-8]++
		_, err = f.contributor(1).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: tampered})
		wantCode(t, "one coefficient changed", err, codes.InvalidArgument)
		if !strings.Contains(err.Error(), "proof does not verify") {
			t.Errorf("refusal %q does not say the proof failed", err)
		}
		// A coefficient at or above its modulus is refused before decoding.
		over := bytes.Clone(enc)
		copy(over[len(over)-8:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		_, err = f.contributor(1).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: over})
		wantCode(t, "coefficient above the modulus", err, codes.InvalidArgument)
		for i, n := range f.stored(t) {
			if n != 0 {
				t.Fatalf("node %d stored %d records after refusals", i, n)
			}
		}
	})

	for i, r := range []schema.Record{
		fitness(25, 12000, 58, 720, false, "north"),
		fitness(37, 8000, 64, 655, true, "south"),
		fitness(52, 4000, 71, 810, false, "east"),
		fitness(61, 3000, 77, 590, true, "south"),
	} {
		h.contribute(t, i%3, r)
	}
	for i, n := range f.stored(t) {
		if n != 4 {
			t.Fatalf("node %d stores %d records, want 4 (every node keeps every ciphertext)", i, n)
		}
	}

	alice := f.buyer(t, 0, "alice")
	spec := &cohortv1.JobSpec{
		DatasetId: id, EpochFrom: h.cur, EpochTo: h.cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Fields: []string{"sleep_h"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"smoker"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Fields: []string{"age", "steps"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age"}},
		},
	}
	run := func(t *testing.T, request string) (*cohortv1.Job, *cohortv1.Result) {
		t.Helper()
		sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: request})
		if err != nil {
			t.Fatal(err)
		}
		job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
			return job, nil
		}
		res, err := f.buyerClient(0).GetResult(alice, &cohortv1.GetResultRequest{JobId: job.GetJobId()})
		if err != nil {
			t.Fatal(err)
		}
		return job, res.GetResult()
	}

	var first *cohortv1.Job
	t.Run("result equals the plaintext", func(t *testing.T) {
		job, res := run(t, "he-1")
		if res == nil {
			t.Fatalf("job ended %s: %s", job.GetState(), job.GetReason())
		}
		first = job
		if res.GetBackend() != cohortv1.Backend_BACKEND_HE || res.GetCohortSize() != 4 {
			t.Fatalf("backend %s, cohort %d", res.GetBackend(), res.GetCohortSize())
		}
		checkAgainstPlaintext(t, h.ds.Schema, res, h.recs)
		checkBundleVerifies(t, f, res)
	})
	if first == nil {
		t.FailNow()
	}

	t.Run("a second decryption share for the aggregate is refused", func(t *testing.T) {
		// Node 0 coordinated the job and gave its share of this cohort's
		// aggregate for nodes {0, 1}. Asked by another node, it refuses;
		// asked by the job's coordinator for the set {0, 2} it refuses, and
		// it answers the same share again for {0, 1}.
		req := &cohortv1.ComputePartialRequest{JobId: first.GetJobId(), Spec: spec, JobTime: time.Now().Unix()}
		own, err := f.nodes[0].n.selectCohort(ctx, h.ds, first.GetJobId(), spec, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req.SetDigest = own.digest[:]
		req.DecryptionSet = []uint32{0, 1}
		_, err = call(ctx, f.nodes[2].n, 0, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
			return c.ComputePartial(ctx, req)
		})
		wantCode(t, "a share asked by another node than the job's coordinator", err, codes.FailedPrecondition)
		if !strings.Contains(status.Convert(err).Message(), "prepared by node 0, not node 2") {
			t.Errorf("refusal %q does not name the coordinator", status.Convert(err).Message())
		}
		req.DecryptionSet = []uint32{0, 2}
		_, err = f.nodes[0].n.computePartial(ctx, 0, req, nil)
		wantCode(t, "share for another decryption set", err, codes.FailedPrecondition)
		// The coordinator asks for a set it is not in: refused before any
		// share is made or looked up.
		req.DecryptionSet = []uint32{1, 2}
		_, err = call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
			return c.ComputePartial(ctx, req)
		})
		wantCode(t, "a share for a set the caller is not in", err, codes.FailedPrecondition)
		wantMessage(t, "a share for a set the caller is not in", err, "node 0 asks for shares for the decryption set [1 2] without being in it")
		req.DecryptionSet = []uint32{0, 1}
		again, err := f.nodes[0].n.computePartial(ctx, 0, req, nil)
		if err != nil {
			t.Fatalf("same set again: %v", err)
		}
		var stored [][]byte
		if err := f.nodes[0].n.eachCohortRecord(ctx, own, store.WithShare, func(c *store.Contribution) error {
			stored = append(stored, bytes.Clone(c.Share))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		agg, _, err := backend.SumCiphertexts(h.ds.HE.Params, stored, 64)
		if err != nil {
			t.Fatal(err)
		}
		row, err := f.nodes[0].store.GetDecryptionShare(ctx, id, agg.Digest())
		if err != nil || !store.SameSet(row.Set, []uint32{0, 1}) {
			t.Fatalf("stored share: %+v, %v", row, err)
		}
		p, err := he.UnmarshalPartialDecryption(h.ds.HE.Params, again.GetPartial())
		if err != nil || p.Party() != 0 {
			t.Fatalf("share answered again: %v", err)
		}
		// A job over the same cohort is served from the stored shares.
		job, res := run(t, "he-2")
		if res == nil {
			t.Fatalf("second job over the same cohort ended %s: %s", job.GetState(), job.GetReason())
		}
		checkAgainstPlaintext(t, h.ds.Schema, res, h.recs)
	})

	t.Run("one node down still releases", func(t *testing.T) {
		h.contribute(t, 2, fitness(44, 9500, 60, 700, false, "west"))
		f.nodes[1].stop()
		job, res := run(t, "he-3")
		if res == nil {
			t.Fatalf("job with node 1 down ended %s: %s", job.GetState(), job.GetReason())
		}
		if res.GetCohortSize() != 5 {
			t.Fatalf("cohort %d, want 5", res.GetCohortSize())
		}
		checkAgainstPlaintext(t, h.ds.Schema, res, h.recs)
		checkBundleVerifies(t, f, res)
		// The fresh aggregate was decrypted by nodes 0 and 2.
		own, err := f.nodes[0].n.selectCohort(ctx, h.ds, job.GetJobId(), spec, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var stored [][]byte
		if err := f.nodes[0].n.eachCohortRecord(ctx, own, store.WithShare, func(c *store.Contribution) error {
			stored = append(stored, bytes.Clone(c.Share))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		agg, _, err := backend.SumCiphertexts(h.ds.HE.Params, stored, 64)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 2} {
			row, err := f.nodes[i].store.GetDecryptionShare(ctx, id, agg.Digest())
			if err != nil || !store.SameSet(row.Set, []uint32{0, 2}) {
				t.Fatalf("node %d's stored share: %+v, %v", i, row, err)
			}
		}
		// With two nodes down nothing is released.
		f.nodes[2].stop()
		job, res = run(t, "he-4")
		if res != nil || job.GetState() != cohortv1.JobState_JOB_STATE_FAILED {
			t.Fatalf("job with two nodes down ended %s", job.GetState())
		}
		t.Logf("two nodes down: %s", job.GetReason())
	})
}

// TestHECreateDatasetRefusals: an HE dataset is refused before any key is
// generated when the schema's worst-case sums or noise do not fit the
// parameter set, the smudging is missing, the threshold is impossible or an
// insecure set is asked for without the dev flag; nothing is stored.
func TestHECreateDatasetRefusals(t *testing.T) {
	f := newTestFederation(t, 3)
	base := func() *cohortv1.CreateDatasetRequest {
		return &cohortv1.CreateDatasetRequest{
			SchemaSource:   &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: heSchemaYAML(t)},
			Backend:        cohortv1.Backend_BACKEND_HE,
			NodeCount:      3,
			RegistryDepth:  testDepth,
			BeaconSource:   "test",
			HeSmudgingBits: 40,
		}
	}
	cases := []struct {
		name string
		edit func(*cohortv1.CreateDatasetRequest)
		want string
	}{
		{"worst-case sum above t/2", func(r *cohortv1.CreateDatasetRequest) {
			r.SchemaSource = &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: defaultSchemaYAML(t)} // max_cohort 1,000,000
			r.HeParamSet = string(he.BGVN12Q109)
		}, "does not fit"},
		{"smudging missing", func(r *cohortv1.CreateDatasetRequest) { r.HeSmudgingBits = 0 }, "he_smudging_bits: required"},
		{"smudging out of range", func(r *cohortv1.CreateDatasetRequest) { r.HeSmudgingBits = 200 }, "he_smudging_bits"},
		{"threshold above the node count", func(r *cohortv1.CreateDatasetRequest) { r.HeThreshold = 4 }, "he_threshold"},
		{"insecure set without the dev flag", func(r *cohortv1.CreateDatasetRequest) { r.HeParamSet = string(he.BGVTestN8) }, "not secure"},
		{"unknown set", func(r *cohortv1.CreateDatasetRequest) { r.HeParamSet = "bgv-n99" }, "he_param_set"},
		// bgv-n13-q218 carries the demo schema's sums over 10,000 records
		// but has no HE circuit for its largest coordinate.
		{"no HE circuit on the set named", func(r *cohortv1.CreateDatasetRequest) {
			y := strings.Replace(defaultSchemaYAML(t), "min_cohort: 20", "min_cohort: 20\nmax_cohort: 10000", 1)
			r.SchemaSource = &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: y}
			r.HeParamSet = string(he.BGVN13Q218)
		}, "no HE circuit for the schema on bgv-n13-q218"},
		// Over 1,000,000 records only bgv-n13-q218 carries the sums, and it
		// has no circuit: refused before any key is made.
		{"no set with an HE circuit carries the schema", func(r *cohortv1.CreateDatasetRequest) {
			r.SchemaSource = &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: defaultSchemaYAML(t)}
		}, "no HE circuit for the schema on bgv-n13-q218"},
	}
	for _, tc := range cases {
		req := base()
		tc.edit(req)
		_, err := f.admin(0).CreateDataset(adminCtx(), req)
		wantCode(t, tc.name, err, codes.InvalidArgument)
		if err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v does not say %q", tc.name, err, tc.want)
		}
	}
	for i, tn := range f.nodes {
		if _, err := tn.store.GetDataset(context.Background(), "fitness-2026"); err == nil {
			t.Errorf("node %d stored the refused dataset", i)
		}
		if _, err := tn.store.GetHEKey(context.Background(), "fitness-2026"); err == nil {
			t.Errorf("node %d generated a key share for a refused dataset", i)
		}
	}
}

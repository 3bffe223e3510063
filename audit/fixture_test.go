package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// The fixtures: a real dataset (schema.Default with a minimum cohort of 3,
// three nodes, registry depth 4), real Groth16 keys, real contributions
// proven and shared with mpc.Prover, shares opened with the nodes' keys,
// partial sums, reconstruction and release as the nodes compute them, and
// every statement signed with the nodes' Ed25519 keys. The dev fixture's
// keys come from a single-party setup (fast, for -short); the ceremony
// fixture's from a local ceremony with one contribution per phase.

const (
	testDepth = 4
	testNodes = 3
	testJobID = "job-audit-test"
	// testMembers are registered, one registry version each.
	testMembers = 8
)

var testJobTime = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

type fixtureKind int

const (
	devSetup fixtureKind = iota
	ceremonySetup
)

// fixture is one dataset with proven records and the nodes' keys.
type fixture struct {
	kind     fixtureKind
	schema   *schema.Schema
	sys      *circuits.MPCSystem
	desc     *cohortv1.DatasetDescriptor
	ceremony []byte
	seal     []*seal.PrivateKey
	sign     []ed25519.PrivateKey
	roots    []Root
	epoch    uint64
	honest   []proved          // five valid records for the test spec
	bad      map[string]proved // records the test spec must not count
	cache    *Cache
	opts     []Option // what an honest bundle of this fixture verifies with
	bundle   *Bundle  // the honest bundle
	encoded  []byte   // its encoding
	prover   *mpc.Prover
	members  []member
}

// proved is one contribution as the transcript lists it, with the shares
// the nodes opened.
type proved struct {
	rec    Record
	shares [][]fr.Element // by node
}

type member struct {
	secret fr.Element
	root   fr.Element
	path   merkle.Path
}

var fixtures [2]struct {
	once sync.Once
	f    *fixture
	err  error
}

// getFixture builds a fixture once per test binary.
func getFixture(t testing.TB, kind fixtureKind) *fixture {
	t.Helper()
	if kind == ceremonySetup && testing.Short() {
		t.Skip("runs a Groth16 ceremony and replays it")
	}
	fx := &fixtures[kind]
	fx.once.Do(func() { fx.f, fx.err = newFixture(kind) })
	if fx.err != nil {
		t.Fatal(fx.err)
	}
	return fx.f
}

func newFixture(kind fixtureKind) (*fixture, error) { return newFixtureOf(kind, 6) }

// newFixtureOf builds a fixture whose dataset counts at most maxCohort
// records.
func newFixtureOf(kind fixtureKind, maxCohort uint64) (*fixture, error) {
	s := schema.Default()
	s.MinCohort, s.MaxCohort = 3, maxCohort
	f := &fixture{kind: kind, schema: s, bad: map[string]proved{}, cache: NewCache(), epoch: s.Epoch.Index(testJobTime)}
	nodes := make([]dataset.Node, testNodes)
	for i := range nodes {
		sk, err := seal.GenerateKey()
		if err != nil {
			return nil, err
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		f.seal, f.sign = append(f.seal, sk), append(f.sign, priv)
		nodes[i] = dataset.Node{Name: fmt.Sprintf("node-%d", i), Address: fmt.Sprintf("node-%d.test:7000", i), Seal: sk.Public(), Signing: pub}
	}
	ds, err := dataset.New(s, nodes, testDepth, testJobTime.Add(-60*24*time.Hour))
	if err != nil {
		return nil, err
	}
	if f.sys, err = ds.Compile(); err != nil {
		return nil, err
	}
	desc := ds.Desc
	var pk groth16.ProvingKey
	switch kind {
	case devSetup:
		keys, err := setup.InsecureDevSetup(f.sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
		if err != nil {
			return nil, err
		}
		pk = keys.PK
		if desc.VerifyingKey, err = setup.MarshalVerifyingKey(keys.VK); err != nil {
			return nil, err
		}
		desc.SetupKind = cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV
		f.opts = []Option{AllowInsecureDevSetup()}
	case ceremonySetup:
		b1, b2 := make([]byte, 32), make([]byte, 32)
		b1[0], b2[0] = 1, 2
		// One contribution per node in each phase, as the nodes run it.
		keys, tr, err := setup.RunLocalCeremony(f.sys.CCS, testNodes, b1, b2)
		if err != nil {
			return nil, err
		}
		pk = keys.PK
		if desc.VerifyingKey, err = setup.MarshalVerifyingKey(keys.VK); err != nil {
			return nil, err
		}
		if f.ceremony, err = tr.MarshalBinary(); err != nil {
			return nil, err
		}
		td, err := tr.Digest()
		if err != nil {
			return nil, err
		}
		desc.SetupKind, desc.CeremonyTranscriptDigest = cohortv1.SetupKind_SETUP_KIND_CEREMONY, td[:]
		desc.CeremonyId, desc.CeremonyBeaconSource = "ceremony-audit-test", "fixed test beacons"
	}
	desc.State = cohortv1.DatasetState_DATASET_STATE_READY
	desc.Privacy = exactPolicy()
	var tr *setup.Transcript
	if kind == ceremonySetup {
		if tr, err = decodeCeremony(f.ceremony); err != nil {
			return nil, err
		}
	}
	if err := signReady(desc, f.sign, tr); err != nil {
		return nil, err
	}
	if _, err := dataset.From(desc); err != nil {
		return nil, err
	}
	f.desc = desc
	f.opts = append(f.opts, WithCache(f.cache))

	var members []member
	if members, f.roots, err = newRegistry(); err != nil {
		return nil, err
	}

	seals := make([]*seal.PublicKey, testNodes)
	for i, k := range f.seal {
		seals[i] = k.Public()
	}
	prover, err := mpc.NewProver(f.sys, pk, seals)
	if err != nil {
		return nil, err
	}
	f.prover, f.members = prover, members
	good := goodTerms(s.ID, f.epoch)
	prove := func(m member, terms circuits.Terms, r schema.Record) (proved, error) {
		v, err := s.Encode(r)
		if err != nil {
			return proved{}, err
		}
		p, err := prover.Build(mpc.Contribution{Secret: m.secret, Root: m.root, Path: m.path, Terms: terms, Record: v}, nil)
		if err != nil {
			return proved{}, err
		}
		return provedOf(p, f.seal, s.Layout().Len)
	}
	for i := range testValues {
		p, err := prove(members[i], good, testRecord(i))
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		f.honest = append(f.honest, p)
	}
	if kind == devSetup {
		bad := map[string]struct {
			m     int
			terms func(circuits.Terms) circuits.Terms
		}{
			"unconsented":   {5, func(t circuits.Terms) circuits.Terms { t.Purposes = 0b110; return t }},
			"expired":       {6, func(t circuits.Terms) circuits.Terms { t.Expiry = uint64(testJobTime.Add(-time.Hour).Unix()); return t }},
			"high-minimum":  {7, func(t circuits.Terms) circuits.Terms { t.MinCohort = 50; return t }},
			"old-epoch":     {0, func(t circuits.Terms) circuits.Terms { t.Epoch = f.epoch - 3; return t }},
			"other-dataset": {1, func(t circuits.Terms) circuits.Terms { t.Dataset = circuits.DatasetField("other-dataset"); return t }},
		}
		for name, b := range bad {
			p, err := prove(members[b.m], b.terms(good), testRecord(b.m))
			if err != nil {
				return nil, fmt.Errorf("record %s: %w", name, err)
			}
			f.bad[name] = p
		}
	}
	if f.bundle, err = f.assemble(testSpec(s.ID, f.epoch), f.honest, f.roots); err != nil {
		return nil, err
	}
	if f.encoded, err = f.bundle.MarshalBinary(); err != nil {
		return nil, err
	}
	return f, nil
}

// testValues are the fixtures' records, in schema.Default's fields.
var testValues = []struct {
	age, steps, hr, sleep int64
	smoker                bool
	region                string
}{
	{25, 4000, 72, 650, false, "north"},
	{40, 8000, 60, 750, true, "south"},
	{55, 12000, 55, 800, false, "east"},
	{33, 6500, 66, 700, true, "north"},
	{61, 3000, 78, 820, false, "west"},
}

// testRecord is the i-th test record (cycling through testValues).
func testRecord(i int) schema.Record {
	v := testValues[i%len(testValues)]
	return schema.Record{
		"age": schema.IntValue(v.age), "steps": schema.IntValue(v.steps), "resting_hr": schema.IntValue(v.hr),
		"sleep_h": schema.ScaledValue(v.sleep, 2), "smoker": schema.BoolValue(v.smoker), "region": schema.CategoryValue(v.region),
	}
}

// goodTerms are consent terms the test spec accepts.
func goodTerms(datasetID string, epoch uint64) circuits.Terms {
	return circuits.Terms{
		Dataset: circuits.DatasetField(datasetID), Epoch: epoch, Purposes: 0b011,
		Expiry: uint64(testJobTime.Add(30 * 24 * time.Hour).Unix()), MinCohort: 2,
	}
}

// newRegistry registers testMembers members one after the other, each
// proving against the root right after its own registration, and returns
// them with the registry's root history.
func newRegistry() ([]member, []Root, error) {
	tree, err := merkle.New(testDepth)
	if err != nil {
		return nil, nil, err
	}
	members := make([]member, testMembers)
	var roots []Root
	base := testJobTime.Add(-24 * time.Hour).Unix()
	for i := range members {
		m := &members[i]
		if _, err := m.secret.SetRandom(); err != nil {
			return nil, nil, err
		}
		idx, err := tree.Append(circuits.IdentityCommitment(m.secret))
		if err != nil {
			return nil, nil, err
		}
		if m.path, err = tree.Path(idx); err != nil {
			return nil, nil, err
		}
		m.root = tree.Root()
		roots = append(roots, Root{Root: m.root.Bytes(), Version: idx + 1, SeenAt: base + int64(i)*60})
		if i > 0 {
			roots[i-1].SupersededAt = roots[i].SeenAt
		}
	}
	return members, roots, nil
}

// provedOf lists a payload as a transcript record and opens every node's
// share of it.
func provedOf(p *mpc.Payload, keys []*seal.PrivateKey, m int) (proved, error) {
	raw, err := p.MarshalBinary()
	if err != nil {
		return proved{}, err
	}
	pub, err := p.Public.MarshalBinary()
	if err != nil {
		return proved{}, err
	}
	proof, err := p.Proof.MarshalBinary()
	if err != nil {
		return proved{}, err
	}
	out := proved{rec: Record{Nullifier: p.Public.Nullifier.Bytes(), PayloadDigest: sha256.Sum256(raw), Public: pub, Proof: proof}}
	for j, k := range keys {
		sh, err := mpc.OpenPayload(k, j, m, p)
		if err != nil {
			return proved{}, err
		}
		out.shares = append(out.shares, sh.Values)
	}
	return out, nil
}

// testSpec asks for every kind of output over the fixture's schema.
func testSpec(datasetID string, epoch uint64) *cohortv1.JobSpec {
	o := func(k cohortv1.OutputKind, fields ...string) *cohortv1.Output {
		return &cohortv1.Output{Kind: k, Fields: fields}
	}
	return &cohortv1.JobSpec{
		DatasetId: datasetID, EpochFrom: epoch - 1, EpochTo: epoch, Purpose: "public-health",
		Outputs: []*cohortv1.Output{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Label: "records"},
			o(cohortv1.OutputKind_OUTPUT_KIND_MEAN, "age"),
			o(cohortv1.OutputKind_OUTPUT_KIND_SUM, "sleep_h"),
			o(cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, "steps"),
			o(cohortv1.OutputKind_OUTPUT_KIND_STDDEV, "resting_hr"),
			o(cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, "region"),
			o(cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, "smoker"),
			o(cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, "age", "resting_hr"),
			o(cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, "age", "steps", "sleep_h"),
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age", "steps"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "sleep_h", Features: []string{"age"}, RidgeLambda: 0.5},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION, Target: "smoker", Features: []string{"age"}},
		},
	}
}

// exactPolicy is the development policy of the fixtures' datasets: exact
// sums, no noise, no ledger.
func exactPolicy() *cohortv1.PrivacyPolicy {
	return &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
}

// assemble runs a job over recs as honest nodes would: each node sums its
// shares of the requested coordinates and signs its selection and its
// partial, the coordinator reconstructs the sums and releases the
// outputs, Build makes the transcript and every node signs it.
func (f *fixture) assemble(spec *cohortv1.JobSpec, recs []proved, roots []Root) (*Bundle, error) {
	return f.assembleJob(mpcJob{desc: f.desc, id: testJobID, spec: spec, recs: recs, roots: roots})
}

// mpcJob is one job of an MPC fixture's dataset.
type mpcJob struct {
	desc  *cohortv1.DatasetDescriptor // the dataset, with its privacy policy
	id    string
	spec  *cohortv1.JobSpec
	recs  []proved
	roots []Root
	// buyer is the buyer charged; ledger gives, for a noised release, the
	// ρ each node's ledger had spent of each epoch before the job, for
	// all buyers and for this one (zero where it gives none).
	buyer  string
	ledger func(node int, epoch uint64) (spent, buyerSpent dp.Rho)
}

// assembleJob runs job as honest nodes would. Under the discrete Gaussian
// each node adds its own noise (enclave.Mechanism.Noise) to its partial
// and signs its debit of its ledger; node 0's noise is shifted so that the
// sum at the job's first noised coordinate comes out negative. The
// outputs are whatever the mechanism computes from the released sums
// (enclave.Mechanism.Outputs).
func (f *fixture) assembleJob(job mpcJob) (*Bundle, error) {
	spec, recs := job.spec, job.recs
	l := f.schema.Layout()
	coords, err := enclave.Coordinates(l, spec.GetOutputs())
	if err != nil {
		return nil, err
	}
	priv, err := enclave.JobPrivacy(job.desc.GetPrivacy(), spec, l, coords)
	if err != nil {
		return nil, err
	}
	mech, err := priv.Mechanism(rand.Reader)
	if err != nil {
		return nil, err
	}
	cs := make([]uint32, len(coords))
	for i, c := range coords {
		cs[i] = uint32(c)
	}
	erecs := make([]enclave.Member, len(recs))
	records := make([]Record, len(recs))
	for i, r := range recs {
		erecs[i] = enclave.Member{Nullifier: r.rec.Nullifier, PayloadDigest: r.rec.PayloadDigest}
		records[i] = r.rec
	}
	n := uint64(len(recs))
	digest := enclave.SetDigest(job.id, job.desc.GetId(), erecs)
	specDigest, err := SpecDigest(spec)
	if err != nil {
		return nil, err
	}
	ev := &cohortv1.JobEvidence{JobTime: testJobTime.Unix(), SpecDigest: specDigest[:], Coordinates: cs}
	partials := make([][]byte, testNodes)
	parts := make([]*mpc.Partial, testNodes)
	for j := range testNodes {
		p, err := mpc.NewPartial(len(coords))
		if err != nil {
			return nil, err
		}
		picked := make([]fr.Element, len(coords))
		for _, r := range recs {
			for i, c := range coords {
				picked[i] = r.shares[j][c]
			}
			if err := p.Add(picked); err != nil {
				return nil, err
			}
		}
		parts[j] = p
	}
	if !priv.Exact() {
		if err := addNoise(mech, coords, parts); err != nil {
			return nil, err
		}
	}
	sums := make([][]fr.Element, testNodes)
	for j, p := range parts {
		if partials[j], err = p.MarshalBinary(); err != nil {
			return nil, err
		}
		sums[j] = p.Sum()
		set := attest.JobEligibleSet{JobID: job.id, DatasetID: job.desc.GetId(), SpecDigest: specDigest, JobTime: testJobTime.Unix(),
			Cohort: n, SetDigest: digest, Node: uint32(j)}
		part := attest.JobPartial{JobID: job.id, SetDigest: digest, Coordinates: cs, PartialDigest: sha256.Sum256(partials[j]), Node: uint32(j)}
		e := &cohortv1.NodeJobEvidence{
			NodeIndex: uint32(j),
			Set: &cohortv1.EligibleSet{Eligible: n + 1, Cohort: n, Digest: digest[:],
				Excluded: &cohortv1.Exclusions{Purpose: 2, Expired: 1, ContributorMinimum: 1}},
			SetSignature:     f.signature(j, set),
			PartialDigest:    part.PartialDigest[:],
			PartialSignature: f.signature(j, part),
		}
		if !priv.Exact() {
			e.Debit = signDebit(f.sign[j], j, job.id, job.desc.GetId(), job.buyer, priv, job.ledger)
		}
		ev.Nodes = append(ev.Nodes, e)
	}
	total, err := mpc.Reconstruct(sums...)
	if err != nil {
		return nil, err
	}
	values, err := mpc.ToSigned(total, new(big.Int).Lsh(big.NewInt(1), 192))
	if err != nil {
		return nil, err
	}
	for _, v := range values {
		ev.ReleasedSums = append(ev.ReleasedSums, v.String())
	}
	outs, err := mech.Outputs(f.schema, coords, values, spec.GetOutputs(), testNodes)
	if err != nil {
		return nil, err
	}
	res := &cohortv1.Result{JobId: job.id, CohortSize: n, Outputs: outs, TranscriptId: "transcript-elsewhere",
		ReleasedAt: testJobTime.Unix() + 30, DatasetId: job.desc.GetId(), Backend: cohortv1.Backend_BACKEND_MPC,
		Release: priv.ReleaseInfo(l, testNodes)}
	sub, key := signedSubmission(job.buyer, spec, job.desc)
	in := BuildInput{JobID: job.id, Coordinator: 1, Spec: spec, Descriptor: job.desc, Records: records,
		Evidence: ev, Partials: partials, Result: res, Roots: job.roots, Buyer: job.buyer, Submission: sub, BuyerKey: key}
	t, err := Build(in)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Transcript: t}
	if err := f.signTranscript(b); err != nil {
		return nil, err
	}
	return NewBundle(t, b.Signatures, job.desc, f.ceremony)
}

// addNoise adds each node's noise to its partial, node 0's shifted so
// that the first noised coordinate's sum is negative.
func addNoise(mech enclave.Mechanism, coords []int, parts []*mpc.Partial) error {
	noise := make([][]*big.Int, len(parts))
	for j := range parts {
		var err error
		if noise[j], err = mech.Noise(coords); err != nil {
			return err
		}
	}
	var sums [][]fr.Element
	for _, p := range parts {
		sums = append(sums, p.Sum())
	}
	total, err := mpc.Reconstruct(sums...)
	if err != nil {
		return err
	}
	for i, c := range coords {
		if c == enclave.CountCoordinate {
			continue
		}
		// Shift node 0's noise so that the true sum plus all noise is −7.
		s := total[i].BigInt(new(big.Int))
		for j := range parts {
			s.Add(s, noise[j][i])
		}
		noise[0][i].Sub(noise[0][i], s.Add(s, big.NewInt(7)))
		break
	}
	for j, p := range parts {
		if err := p.AddNoise(noise[j]); err != nil {
			return err
		}
	}
	return nil
}

// signDebit is node's debit of its ledger for a job of p charged to
// buyer, signed with key; ledger gives what the node had spent of each
// epoch before the job (nil: nothing).
func signDebit(key ed25519.PrivateKey, node int, jobID, datasetID, buyerID string, p enclave.Privacy,
	ledger func(node int, epoch uint64) (spent, buyerSpent dp.Rho)) *cohortv1.PrivacyDebit {
	d := &cohortv1.PrivacyDebit{NodeIndex: uint32(node), BuyerId: buyerID, Rho: p.Rho.String()}
	for e := p.EpochFrom; e <= p.EpochTo; e++ {
		var epoch, buyer dp.Rho
		if ledger != nil {
			epoch, buyer = ledger(node, e)
		}
		d.Entries = append(d.Entries, &cohortv1.LedgerEntry{Epoch: e,
			EpochTotal: p.EpochTotal.String(), EpochSpentBefore: epoch.String(), EpochSpentAfter: epoch.Add(p.Rho).String(),
			BuyerTotal: p.BuyerTotal.String(), BuyerSpentBefore: buyer.String(), BuyerSpentAfter: buyer.Add(p.Rho).String()})
	}
	d.Signature = &cohortv1.NodeSignature{NodeIndex: uint32(node), Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519,
		Signature: attest.Sign(key, enclave.DebitStatement(jobID, datasetID, d))}
	return d
}

func (f *fixture) signature(node int, s attest.Statement) *cohortv1.NodeSignature {
	return &cohortv1.NodeSignature{NodeIndex: uint32(node), Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: attest.Sign(f.sign[node], s)}
}

// signTranscript has every node sign b's transcript, as colluding nodes
// would sign a transcript they altered.
func (f *fixture) signTranscript(b *Bundle) error {
	resignSubmission(b.Transcript)
	d, err := b.Transcript.Digest()
	if err != nil {
		return err
	}
	b.Signatures = make([][]byte, testNodes)
	for j := range testNodes {
		b.Signatures[j] = attest.Sign(f.sign[j], TranscriptStatement{JobID: b.Transcript.JobID, Digest: d, Node: uint32(j)})
	}
	return nil
}

// clone returns a deep copy of the honest bundle.
func (f *fixture) clone(t testing.TB) *Bundle {
	t.Helper()
	b, err := UnmarshalBundle(f.encoded, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeCeremony decodes a ceremony transcript.
func decodeCeremony(b []byte) (*setup.Transcript, error) {
	tr := new(setup.Transcript)
	if err := tr.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return tr, nil
}

// signReady has the nodes attest their ceremony contributions (node i at
// position i of each phase of tr, when there is a ceremony) and sign desc
// as READY, as the nodes do when a dataset becomes READY.
func signReady(desc *cohortv1.DatasetDescriptor, keys []ed25519.PrivateKey, tr *setup.Transcript) error {
	desc.CeremonyContributions = nil
	if tr != nil {
		for p, list := range [][][]byte{tr.Phase1, tr.Phase2} {
			for i, c := range list {
				desc.CeremonyContributions = append(desc.CeremonyContributions,
					dataset.AttestContribution(desc.GetCeremonyId(), uint32(p+1), uint32(i), uint32(i), c, keys[i]))
			}
		}
	}
	return resignReady(desc, keys)
}

// resignReady replaces desc's READY signatures by those of keys.
func resignReady(desc *cohortv1.DatasetDescriptor, keys []ed25519.PrivateKey) error {
	desc.ReadySignatures = nil
	for i, k := range keys {
		sig, err := dataset.SignReady(desc, uint32(i), k)
		if err != nil {
			return err
		}
		desc.ReadySignatures = append(desc.ReadySignatures, sig)
	}
	return nil
}

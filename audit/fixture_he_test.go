package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/heproof"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// The HE fixture: a real HE dataset on the toy parameter set
// he.BGVTestN8 (N = 256; insecure, for tests), a 2-of-3 collective key
// made with package he's key-generation steps, the HE contribution
// circuit with its public key as constants, development Groth16 keys,
// five records encrypted and proven with heproof.Prover, and jobs run as
// the nodes run them: every live node selects the cohort and signs it,
// the decryption set (the two lowest live nodes) each sums the
// ciphertexts and signs its decryption share, the coordinator combines
// them and releases, the live nodes sign the transcript.

const (
	heThreshold     = 2
	heSmudgingBits  = 40
	heTestMaxCohort = 64 // the schema's maximum cohort: sums fit t/2 of the toy set
	heCoordinator   = 0
)

// heFixture is one HE dataset with proven records and the nodes' keys.
type heFixture struct {
	schema  *schema.Schema
	params  *he.Params
	desc    *cohortv1.DatasetDescriptor
	sign    []ed25519.PrivateKey
	keys    []*he.ThresholdKey // by node
	budget  *he.Budget
	roots   []Root
	epoch   uint64
	records []Record // five valid records for the test spec, with their ciphertexts
	cache   *Cache
	opts    []Option

	bundle  *Bundle // every node live: decryption set {0, 1}
	encoded []byte  // its encoding

	once    sync.Once
	without *Bundle // node 1 down: live {0, 2}, decryption set {0, 2}
	err     error
}

var heFixtureOnce struct {
	once sync.Once
	f    *heFixture
	err  error
}

// getHEFixture builds the HE fixture once per test binary.
func getHEFixture(t testing.TB) *heFixture {
	t.Helper()
	heFixtureOnce.once.Do(func() { heFixtureOnce.f, heFixtureOnce.err = newHEFixture() })
	if heFixtureOnce.err != nil {
		t.Fatal(heFixtureOnce.err)
	}
	return heFixtureOnce.f
}

func newHEFixture() (*heFixture, error) {
	s := schema.Default()
	s.MinCohort, s.MaxCohort = 3, heTestMaxCohort
	params, err := he.Lookup(he.BGVTestN8)
	if err != nil {
		return nil, err
	}
	f := &heFixture{schema: s, params: params, cache: NewCache(), epoch: s.Epoch.Index(testJobTime)}
	f.opts = []Option{AllowInsecureDevSetup(), WithCache(f.cache)}
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
		f.sign = append(f.sign, priv)
		nodes[i] = dataset.Node{Name: fmt.Sprintf("node-%d", i), Address: fmt.Sprintf("node-%d.test:7000", i), Seal: sk.Public(), Signing: pub}
	}

	// The collective key, 2-of-3, with package he's steps as the nodes run
	// them, every node signing the result.
	committee := he.Committee{Nodes: testNodes, Threshold: heThreshold}
	capacity := he.Capacity{Nodes: testNodes, Threshold: heThreshold, MaxCohort: s.MaxCohort, MaxCoord: s.Bounds().MaxCoord,
		Smudging: he.Smudging{StatisticalBits: heSmudgingBits}}
	if f.budget, err = params.Check(capacity); err != nil {
		return nil, err
	}
	crs := sha256.Sum256([]byte("audit test crs"))
	parties := make([]*he.KeygenParty, testNodes)
	pkShares := make([][]byte, testNodes)
	shamir := make([][][]byte, testNodes)
	for i := range parties {
		if parties[i], err = he.NewKeygenParty(params, committee, crs, i, rand.Reader); err != nil {
			return nil, err
		}
		if pkShares[i], shamir[i], err = parties[i].Round1(); err != nil {
			return nil, err
		}
	}
	key, err := he.AggregatePublicKey(params, committee, crs, pkShares)
	if err != nil {
		return nil, err
	}
	for i, p := range parties {
		received := make([][]byte, testNodes)
		for j := range received {
			received[j] = shamir[j][i]
		}
		tk, err := p.Finish(received)
		if err != nil {
			return nil, err
		}
		f.keys = append(f.keys, tk)
	}
	pkEnc, err := key.MarshalBinary()
	if err != nil {
		return nil, err
	}
	info := &cohortv1.HEKeyInfo{ParamSet: string(params.ID()), Threshold: heThreshold, SmudgingBits: heSmudgingBits, CrsSeed: crs[:], PublicKey: pkEnc,
		PublicKeyShares: pkShares}
	st := dataset.KeygenStatement(s.ID, testNodes, info)
	for i := range testNodes {
		info.Signatures = append(info.Signatures, f.signature(i, st))
		cm := dataset.KeygenCommitment(s.ID, crs[:], uint32(i), pkShares[i])
		info.CommitmentSignatures = append(info.CommitmentSignatures, f.signature(i, dataset.KeygenCommitStatement(s.ID, crs[:], uint32(i), cm)))
	}

	ds, err := dataset.NewHE(s, nodes, testDepth, info, testJobTime.Add(-60*24*time.Hour))
	if err != nil {
		return nil, err
	}
	sys, err := ds.CompileHE()
	if err != nil {
		return nil, err
	}
	keys, err := setup.InsecureDevSetup(sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		return nil, err
	}
	desc := ds.Desc
	if desc.VerifyingKey, err = setup.MarshalVerifyingKey(keys.VK); err != nil {
		return nil, err
	}
	desc.SetupKind, desc.State = cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV, cohortv1.DatasetState_DATASET_STATE_READY
	desc.Privacy = exactPolicy()
	if err := signReady(desc, f.sign, nil); err != nil {
		return nil, err
	}
	if _, err := dataset.From(desc); err != nil {
		return nil, err
	}
	f.desc = desc

	members, roots, err := newRegistry()
	if err != nil {
		return nil, err
	}
	f.roots = roots
	prover, err := heproof.NewProver(sys, keys.PK, params, key)
	if err != nil {
		return nil, err
	}
	for i := range testValues {
		v, err := s.Encode(testRecord(i))
		if err != nil {
			return nil, err
		}
		m := members[i]
		p, err := prover.Build(heproof.Contribution{Secret: m.secret, Root: m.root, Path: m.path, Terms: goodTerms(s.ID, f.epoch), Record: v}, nil)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		rec, err := heRecordOf(p)
		if err != nil {
			return nil, err
		}
		f.records = append(f.records, rec)
	}
	if f.bundle, err = f.assemble(testSpec(s.ID, f.epoch), []uint32{0, 1, 2}); err != nil {
		return nil, err
	}
	if f.encoded, err = f.bundle.MarshalBinary(); err != nil {
		return nil, err
	}
	return f, nil
}

// heRecordOf lists an HE payload as a transcript record.
func heRecordOf(p *heproof.Payload) (Record, error) {
	raw, err := p.MarshalBinary()
	if err != nil {
		return Record{}, err
	}
	pub, err := p.Public.MarshalBinary()
	if err != nil {
		return Record{}, err
	}
	proof, err := p.Proof.MarshalBinary()
	if err != nil {
		return Record{}, err
	}
	ct, err := p.Ciphertext.MarshalBinary()
	if err != nil {
		return Record{}, err
	}
	return Record{Nullifier: p.Public.Nullifier.Bytes(), PayloadDigest: sha256.Sum256(raw), Public: pub, Proof: proof, Ciphertext: ct}, nil
}

// withoutNode1 returns the bundle of the same job run while node 1 was
// down: live nodes {0, 2}, decryption set {0, 2}. (Two decryption shares
// of one aggregate for two sets is what nodes must never produce; the
// test's key holders do it to have both bundles.)
func (f *heFixture) withoutNode1(t testing.TB) *Bundle {
	t.Helper()
	f.once.Do(func() { f.without, f.err = f.assemble(testSpec(f.schema.ID, f.epoch), []uint32{0, 2}) })
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.without
}

// assemble runs a job over the fixture's records with the given live
// nodes (ascending, the coordinator among them) as honest nodes would, and
// returns its bundle.
func (f *heFixture) assemble(spec *cohortv1.JobSpec, live []uint32) (*Bundle, error) {
	return f.assembleUnder(f.desc, spec, live, "")
}

// assembleUnder is assemble on the fixture's dataset described by desc,
// whose privacy policy may differ from the fixture's: under the discrete
// Gaussian each node of the decryption set adds its noise to its share
// and signs its debit (from an empty ledger) to buyer.
func (f *heFixture) assembleUnder(desc *cohortv1.DatasetDescriptor, spec *cohortv1.JobSpec, live []uint32, buyer string) (*Bundle, error) {
	l := f.schema.Layout()
	coords, err := enclave.Coordinates(l, spec.GetOutputs())
	if err != nil {
		return nil, err
	}
	priv, err := enclave.JobPrivacy(desc.GetPrivacy(), spec, l, coords)
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
	erecs := make([]enclave.Member, len(f.records))
	cts := make([]*he.Ciphertext, len(f.records))
	for i, r := range f.records {
		erecs[i] = enclave.Member{Nullifier: r.Nullifier, PayloadDigest: r.PayloadDigest}
		if cts[i], err = he.UnmarshalCiphertext(f.params, r.Ciphertext); err != nil {
			return nil, err
		}
	}
	agg, err := he.Sum(f.params, cts)
	if err != nil {
		return nil, err
	}
	aggEnc, err := agg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	n := uint64(len(f.records))
	digest := enclave.SetDigest(testJobID, f.desc.GetId(), erecs)
	specDigest, err := SpecDigest(spec)
	if err != nil {
		return nil, err
	}
	set := live[:heThreshold]
	active := make([]int, len(set))
	for i, x := range set {
		active[i] = int(x)
	}
	ev := &cohortv1.JobEvidence{JobTime: testJobTime.Unix(), SpecDigest: specDigest[:], Coordinates: cs}
	partials := make([][]byte, testNodes)
	var parts []*he.PartialDecryption
	for _, j := range live {
		sel := attest.JobEligibleSet{JobID: testJobID, DatasetID: f.desc.GetId(), SpecDigest: specDigest, JobTime: testJobTime.Unix(),
			Cohort: n, SetDigest: digest, Node: j}
		e := &cohortv1.NodeJobEvidence{
			NodeIndex: j,
			Set: &cohortv1.EligibleSet{Eligible: n, Cohort: n, Digest: digest[:],
				Excluded: &cohortv1.Exclusions{Purpose: 1, Revoked: 1}},
			SetSignature: f.signature(int(j), sel),
		}
		if slices.Contains(set, j) {
			share, err := f.keys[j].DecryptionShare(f.params, agg, active, f.budget, rand.Reader)
			if err != nil {
				return nil, err
			}
			part, err := share.Reveal(coords)
			if err != nil {
				return nil, err
			}
			if !priv.Exact() {
				noise, err := mech.Noise(coords)
				if err != nil {
					return nil, err
				}
				if err := part.AddNoise(noise); err != nil {
					return nil, err
				}
				e.Debit = signDebit(f.sign[j], int(j), testJobID, desc.GetId(), buyer, priv, nil)
			}
			if partials[j], err = part.MarshalBinary(); err != nil {
				return nil, err
			}
			parts = append(parts, part)
			pst := attest.JobPartial{JobID: testJobID, SetDigest: digest, Coordinates: cs, PartialDigest: sha256.Sum256(partials[j]), Node: j}
			e.PartialDigest, e.PartialSignature = pst.PartialDigest[:], f.signature(int(j), pst)
		}
		ev.Nodes = append(ev.Nodes, e)
	}
	vals, err := he.Combine(f.params, agg, parts, coords)
	if err != nil {
		return nil, err
	}
	values := make([]*big.Int, len(vals))
	for i, v := range vals {
		// Centred mod t, as the HE combiner reads them.
		values[i] = new(big.Int).SetUint64(v)
		if v >= f.params.T()/2 {
			values[i].Sub(values[i], new(big.Int).SetUint64(f.params.T()))
		}
		ev.ReleasedSums = append(ev.ReleasedSums, values[i].String())
	}
	outs, err := mech.Outputs(f.schema, coords, values, spec.GetOutputs(), len(set))
	if err != nil {
		return nil, err
	}
	res := &cohortv1.Result{JobId: testJobID, CohortSize: n, Outputs: outs, TranscriptId: "transcript-elsewhere",
		ReleasedAt: testJobTime.Unix() + 30, DatasetId: f.desc.GetId(), Backend: cohortv1.Backend_BACKEND_HE,
		Release: priv.ReleaseInfo(l, len(set))}
	sub, key := signedSubmission(buyer, spec, desc)
	tr, err := Build(BuildInput{JobID: testJobID, Buyer: buyer, Submission: sub, BuyerKey: key, Coordinator: heCoordinator, Spec: spec, Descriptor: desc, Records: f.records,
		Evidence: ev, Partials: partials, DecryptionSet: set, Aggregate: aggEnc, Result: res, Roots: f.roots, Sums: values})
	if err != nil {
		return nil, err
	}
	b := &Bundle{Transcript: tr}
	if err := f.signTranscript(b); err != nil {
		return nil, err
	}
	return NewBundle(tr, b.Signatures, desc, nil)
}

func (f *heFixture) signature(node int, s attest.Statement) *cohortv1.NodeSignature {
	return &cohortv1.NodeSignature{NodeIndex: uint32(node), Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: attest.Sign(f.sign[node], s)}
}

// signTranscript has every node the transcript lists sign it, as colluding
// nodes would sign a transcript they altered.
func (f *heFixture) signTranscript(b *Bundle) error {
	resignSubmission(b.Transcript)
	d, err := b.Transcript.Digest()
	if err != nil {
		return err
	}
	b.Signatures = make([][]byte, len(b.Transcript.Nodes))
	for j, n := range b.Transcript.Nodes {
		b.Signatures[j] = attest.Sign(f.sign[n.Index], TranscriptStatement{JobID: b.Transcript.JobID, Digest: d, Node: n.Index})
	}
	return nil
}

// clone returns a deep copy of b through its encoding.
func (f *heFixture) clone(t testing.TB, b *Bundle) *Bundle {
	t.Helper()
	enc, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalBundle(enc, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

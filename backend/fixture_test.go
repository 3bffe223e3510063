package backend

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/heproof"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// The fixtures build datasets by hand, field by field, with fresh keys:
// enough for the backends' ingest and audit steps, none of which needs a
// proof that verifies (that is the audit's and the node's tests' part).

const (
	testNodes     = 3
	testDepth     = 4
	testThreshold = 2
	testJobID     = "job-1"
)

// recorder is a Reporter that keeps what a check said.
type recorder struct {
	failures []string
	skipped  string
	detail   string
	summary  string
}

func (r *recorder) Fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Skip(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Pass(detail string)              { r.detail = detail }
func (r *recorder) Summary(detail string)           { r.summary = detail }
func (r *recorder) Failed() int                     { return len(r.failures) }

// run runs one check on a fresh recorder.
func run(fn func(Reporter)) *recorder {
	r := new(recorder)
	fn(r)
	return r
}

// passes fails t unless the check passed.
func (r *recorder) passes(t *testing.T, name string) {
	t.Helper()
	if len(r.failures) != 0 || r.skipped != "" || r.detail == "" {
		t.Fatalf("%s: want a pass, got failures %q, skipped %q, detail %q", name, r.failures, r.skipped, r.detail)
	}
}

// failsWith fails t unless the check failed with exactly the messages want.
func (r *recorder) failsWith(t *testing.T, name string, want ...string) {
	t.Helper()
	if fmt.Sprint(r.failures) != fmt.Sprint(want) {
		t.Fatalf("%s: failures\n  %q\nwant\n  %q", name, r.failures, want)
	}
}

// nodeKeys are the nodes' sealing and signing keys.
type nodeKeys struct {
	seal []*seal.PrivateKey
	sign []ed25519.PrivateKey
}

func newNodeKeys(t testing.TB) *nodeKeys {
	t.Helper()
	k := &nodeKeys{}
	for range testNodes {
		sk, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k.seal, k.sign = append(k.seal, sk), append(k.sign, priv)
	}
	return k
}

// dataset is a dataset of backend kind on schema s with these keys.
func (k *nodeKeys) dataset(s *schema.Schema, kind cohortv1.Backend) *dataset.Dataset {
	ds := &dataset.Dataset{
		Desc: &cohortv1.DatasetDescriptor{Id: s.ID, Backend: kind, NodeCount: testNodes, RegistryDepth: testDepth,
			Schema: &cohortv1.CanonicalSchema{Digest: digestOf(s)}, CircuitDigest: make([]byte, 32)},
		Schema: s,
	}
	for i := range testNodes {
		ds.Seal = append(ds.Seal, k.seal[i].Public())
		ds.Signing = append(ds.Signing, k.sign[i].Public().(ed25519.PublicKey))
	}
	return ds
}

func digestOf(s *schema.Schema) []byte {
	d := s.Digest()
	return d[:]
}

// signPartial is node's signature over its partial of the job.
func (k *nodeKeys) signPartial(node uint32, setDigest [32]byte, coords []uint32, partial []byte) []byte {
	st := attest.JobPartial{JobID: testJobID, SetDigest: setDigest, Coordinates: coords, PartialDigest: sha256.Sum256(partial), Node: node}
	return attest.Sign(k.sign[node], st)
}

// testSchema is the demo schema with a cohort small enough for the toy
// HE parameter set.
func testSchema() *schema.Schema {
	s := schema.Default()
	s.MinCohort, s.MaxCohort = 3, 64
	return s
}

// testVector is record i's encoded vector: small values, the count first.
func testVector(s *schema.Schema, i int) []uint64 {
	v := make([]uint64, s.Layout().Len)
	v[0] = 1
	for j := 1; j < len(v); j++ {
		v[j] = uint64((i + j) % 3)
	}
	return v
}

// sums are the released sums of vectors at coords.
func sums(vs [][]uint64, coords []uint32) []AuditSum {
	out := make([]AuditSum, len(coords))
	for i, c := range coords {
		total := new(big.Int)
		for _, v := range vs {
			total.Add(total, new(big.Int).SetUint64(v[c]))
		}
		out[i] = AuditSum{Coordinate: c, Value: total}
	}
	return out
}

// heFixture is an HE dataset on the toy parameter set he.BGVTestN8 with a
// 2-of-3 collective key, five encrypted records, and a job over them whose
// decryption set {0, 1} decrypted the aggregate: every check passes on it.
type heFixture struct {
	keys    *nodeKeys
	ds      *dataset.Dataset
	b       *heBackend
	tkeys   []*he.ThresholdKey
	vectors [][]uint64
	cts     []*he.Ciphertext
	job     *AuditJob
	records []AuditRecord // job's records, in order
	// noisy is job released with noise: node 0 added heNoise to its
	// decryption share, so the sums carry it, one of them negative.
	noisy *AuditJob
}

// heNoise is the noise node 0 adds to its share in heFixture.noisy: it
// makes the sum at the released coordinate 1 negative.
var heNoise = []*big.Int{big.NewInt(0), big.NewInt(-1_000_000), big.NewInt(5)}

var heOnce struct {
	once sync.Once
	f    *heFixture
	err  error
}

func getHEFixture(t testing.TB) *heFixture {
	t.Helper()
	heOnce.once.Do(func() { heOnce.f, heOnce.err = newHEFixture(t) })
	if heOnce.err != nil {
		t.Fatal(heOnce.err)
	}
	return heOnce.f
}

func newHEFixture(t testing.TB) (*heFixture, error) {
	s := testSchema()
	params, err := he.Lookup(he.BGVTestN8)
	if err != nil {
		return nil, err
	}
	f := &heFixture{keys: newNodeKeys(t)}
	committee := he.Committee{Nodes: testNodes, Threshold: testThreshold}
	sm := he.Smudging{StatisticalBits: 40}
	budget, err := params.Check(he.Capacity{Nodes: testNodes, Threshold: testThreshold, MaxCohort: s.MaxCohort, MaxCoord: s.Bounds().MaxCoord, Smudging: sm})
	if err != nil {
		return nil, err
	}
	crs := sha256.Sum256([]byte("backend test crs"))
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
		f.tkeys = append(f.tkeys, tk)
	}
	pkEnc, err := key.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f.ds = f.keys.dataset(s, cohortv1.Backend_BACKEND_HE)
	f.ds.HE = &dataset.HE{Params: params, Key: key, KeyDigest: sha256.Sum256(pkEnc), Committee: committee, Smudging: sm, Budget: budget}
	be, err := For(f.ds)
	if err != nil {
		return nil, err
	}
	f.b = be.(*heBackend)

	// Five records, each with consent inputs, a proof (not one that
	// verifies: no check here verifies proofs) and its ciphertext.
	job := &AuditJob{JobID: testJobID}
	for i := range 5 {
		v := testVector(s, i)
		ct, _, err := key.Encrypt(params, v, nil)
		if err != nil {
			return nil, err
		}
		pub := &circuits.PublicInputs{Epoch: 7, Purposes: 1, Expiry: 1 << 31}
		pub.Nullifier.SetUint64(uint64(i + 1))
		p := heproof.Payload{Public: *pub, Proof: new(circuits.Proof), Ciphertext: ct}
		enc, err := p.MarshalBinary()
		if err != nil {
			return nil, err
		}
		ctb, err := ct.MarshalBinary()
		if err != nil {
			return nil, err
		}
		f.vectors, f.cts = append(f.vectors, v), append(f.cts, ct)
		f.records = append(f.records, AuditRecord{Name: fmt.Sprintf("record %d", i), PayloadDigest: sha256.Sum256(enc),
			Ciphertext: ctb, Public: pub, Proof: p.Proof})
	}
	job.Cohort = len(f.records)
	agg, err := he.Sum(params, f.cts)
	if err != nil {
		return nil, err
	}
	if job.Aggregate, err = agg.MarshalBinary(); err != nil {
		return nil, err
	}
	coords := []uint32{0, 1, 2}
	job.Sums = sums(f.vectors, coords)
	job.DecryptionSet = []uint32{0, 1}
	noisy := cloneJob(job)
	for i := range noisy.Sums {
		noisy.Sums[i].Value = new(big.Int).Add(noisy.Sums[i].Value, heNoise[i])
	}
	setDigest := sha256.Sum256([]byte("the cohort"))
	for i := range uint32(testNodes) {
		n := AuditNode{Index: i, SetDigest: setDigest}
		nn := n
		if i < testThreshold {
			share, err := f.tkeys[i].DecryptionShare(params, agg, []int{0, 1}, budget, nil)
			if err != nil {
				return nil, err
			}
			pd, err := share.Reveal([]int{0, 1, 2})
			if err != nil {
				return nil, err
			}
			if n.Partial, err = pd.MarshalBinary(); err != nil {
				return nil, err
			}
			n.PartialSignature = f.keys.signPartial(i, setDigest, coords, n.Partial)
			nn = n
			if i == 0 {
				if err := pd.AddNoise(heNoise); err != nil {
					return nil, err
				}
				if nn.Partial, err = pd.MarshalBinary(); err != nil {
					return nil, err
				}
				nn.PartialSignature = f.keys.signPartial(i, setDigest, coords, nn.Partial)
			}
		}
		job.Nodes = append(job.Nodes, n)
		noisy.Nodes = append(noisy.Nodes, nn)
	}
	f.job, f.noisy = job, noisy
	return f, nil
}

// cloneJob is a copy of job whose slices may be changed.
func cloneJob(job *AuditJob) *AuditJob {
	c := *job
	c.Nodes = append([]AuditNode(nil), job.Nodes...)
	c.Sums = append([]AuditSum(nil), job.Sums...)
	c.DecryptionSet = append([]uint32(nil), job.DecryptionSet...)
	return &c
}

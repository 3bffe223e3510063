package backend

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/mpc"
)

// compileFor is a Compiler that builds and digests the circuit, counting
// its calls, with no cache.
func compileFor(calls *int) Compiler {
	return func(k CircuitKey, build func() (constraint.ConstraintSystem, error)) (constraint.ConstraintSystem, [32]byte, error) {
		*calls++
		ccs, err := build()
		if err != nil {
			return nil, [32]byte{}, err
		}
		d, err := setup.CircuitDigest(ccs)
		return ccs, d, err
	}
}

// failingCompiler is a Compiler that fails or yields digest d without
// compiling.
func failingCompiler(err error, d [32]byte) Compiler {
	return func(CircuitKey, func() (constraint.ConstraintSystem, error)) (constraint.ConstraintSystem, [32]byte, error) {
		return nil, d, err
	}
}

func TestAuditCircuit(t *testing.T) {
	k := newNodeKeys(t)
	ds := k.dataset(testSchema(), cohortv1.Backend_BACKEND_MPC)
	be, err := For(ds)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := ds.Shape()
	if err != nil {
		t.Fatal(err)
	}
	f := getHEFixture(t)
	hsh, err := f.ds.HEShape()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		be        Backend
		numPublic int
		fails     string
	}{
		{be, sh.NumPublic(), "the dataset's circuit does not compile: no compiler"},
		{f.b, hsh.NumPublic(), "the dataset's HE circuit does not compile: no compiler"},
	} {
		r := new(recorder)
		ccs, n := c.be.AuditCircuit(failingCompiler(errors.New("no compiler"), [32]byte{}), r)
		if ccs != nil || n != c.numPublic {
			t.Errorf("%s: a circuit, or %d public inputs, want %d", c.be.Kind(), n, c.numPublic)
		}
		r.failsWith(t, c.be.Kind().String(), c.fails)

		r = new(recorder)
		if ccs, _ := c.be.AuditCircuit(failingCompiler(nil, [32]byte{1, 2, 3, 4}), r); ccs != nil {
			t.Errorf("%s: a circuit of another digest checked", c.be.Kind())
		}
		if len(r.failures) != 1 || !strings.Contains(r.failures[0], "has digest 01020304…, the descriptor names 00000000…") {
			t.Errorf("%s: digest mismatch: %q", c.be.Kind(), r.failures)
		}
	}

	// The MPC circuit compiles to the descriptor's digest, keyed by the
	// schema, node count and depth.
	var calls int
	var key CircuitKey
	ccs, d, err := compileFor(&calls)(key, func() (constraint.ConstraintSystem, error) {
		sys, err := circuits.CompileMPC(sh)
		if err != nil {
			return nil, err
		}
		return sys.CCS, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ds.Desc.CircuitDigest = d[:]
	r := new(recorder)
	got, n := be.AuditCircuit(func(k CircuitKey, build func() (constraint.ConstraintSystem, error)) (constraint.ConstraintSystem, [32]byte, error) {
		key = k
		return ccs, d, nil
	}, r)
	r.passes(t, "mpc circuit")
	if got != ccs || n != sh.NumPublic() {
		t.Fatalf("circuit %v with %d public inputs", got, n)
	}
	if want := (CircuitKey{Schema: ds.Schema.Digest(), Nodes: testNodes, Depth: testDepth}); key != want {
		t.Fatalf("circuit key %+v, want %+v", key, want)
	}
}

// mpcJob is a job over five records of an MPC dataset: each node's
// signed partial over the released coordinates, node 1's with noise added
// (nil for none), and the sums they reconstruct to; every check passes on
// it.
func mpcJob(t *testing.T, k *nodeKeys, be Backend, noise []*big.Int) *AuditJob {
	t.Helper()
	ds := be.(*mpcBackend).ds
	coords := []uint32{0, 1, 3}
	parts := make([]*mpc.Partial, testNodes)
	for j := range parts {
		var err error
		if parts[j], err = mpc.NewPartial(len(coords)); err != nil {
			t.Fatal(err)
		}
	}
	var vectors [][]uint64
	for i := range 5 {
		v := testVector(ds.Schema, i)
		vectors = append(vectors, v)
		shares, err := mpc.Split(v, testNodes, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, s := range shares {
			at := make([]fr.Element, len(coords))
			for x, c := range coords {
				at[x] = s.Values[c]
			}
			if err := parts[j].Add(at); err != nil {
				t.Fatal(err)
			}
		}
	}
	job := &AuditJob{JobID: testJobID, Sums: sums(vectors, coords)}
	if noise != nil {
		if err := parts[1].AddNoise(noise); err != nil {
			t.Fatal(err)
		}
		for i := range job.Sums {
			job.Sums[i].Value.Add(job.Sums[i].Value, noise[i])
		}
	}
	job.Cohort = len(vectors)
	var setDigest [32]byte
	for j, p := range parts {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		job.Nodes = append(job.Nodes, AuditNode{Index: uint32(j), SetDigest: setDigest, Partial: b,
			PartialSignature: k.signPartial(uint32(j), setDigest, coords, b)})
	}
	return job
}

func TestMPCPartials(t *testing.T) {
	k := newNodeKeys(t)
	be, err := For(k.dataset(testSchema(), cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		t.Fatal(err)
	}
	good := mpcJob(t, k, be, nil)
	check := func(job *AuditJob) *recorder {
		checks, pass := be.AuditChecks(job)
		if pass != nil {
			t.Fatal("the MPC checks read the records")
		}
		return run(checks[CheckPartials])
	}
	r := check(good)
	r.passes(t, "partial sums")
	if want := "the 3 nodes' signed partials over 5 records sum to every released sum, read as centred integers (3 coordinates)"; r.detail != want {
		t.Fatalf("detail %q, want %q", r.detail, want)
	}
	l := be.(*mpcBackend).ds.Schema.Layout()

	// Noise makes a sum negative: the partials still sum to it, read as a
	// centred integer.
	noisy := mpcJob(t, k, be, []*big.Int{big.NewInt(0), big.NewInt(-1 << 40), big.NewInt(3)})
	if noisy.Sums[1].Value.Sign() >= 0 {
		t.Fatal("the noise did not make the sum negative")
	}
	check(noisy).passes(t, "partial sums with noise")
	job := cloneJob(noisy)
	job.Sums[1].Value = new(big.Int).Neg(noisy.Sums[1].Value)
	check(job).failsWith(t, "a noised sum released without its sign",
		fmt.Sprintf("coordinate 1 (%s): released %s, the nodes' partials sum to %s", l.SumName(1), job.Sums[1].Value, noisy.Sums[1].Value))
	job = cloneJob(noisy)
	job.Sums[1].Value = new(big.Int).Add(noisy.Sums[1].Value, fr.Modulus())
	check(job).failsWith(t, "a sum off by the field modulus",
		fmt.Sprintf("coordinate 1 (%s): released %s, the nodes' partials sum to %s", l.SumName(1), job.Sums[1].Value, noisy.Sums[1].Value))

	job = cloneJob(good)
	job.Sums[1].Value = new(big.Int).Add(job.Sums[1].Value, big.NewInt(1))
	check(job).failsWith(t, "a released sum off by one",
		fmt.Sprintf("coordinate 1 (%s): released %s, the nodes' partials sum to %s", l.SumName(1), job.Sums[1].Value, good.Sums[1].Value))

	job = cloneJob(good)
	job.Sums[2].Value = new(big.Int).Neg(big.NewInt(1))
	check(job).failsWith(t, "a negative sum",
		fmt.Sprintf("coordinate 3 (%s): released -1, the nodes' partials sum to %s", l.SumName(3), good.Sums[2].Value))

	job = cloneJob(good)
	job.Nodes[1].PartialSignature = bytes.Clone(job.Nodes[1].PartialSignature)
	job.Nodes[1].PartialSignature[0] ^= 1
	check(job).failsWith(t, "a bad signature", "node 1: partial-sum signature does not verify")

	job = cloneJob(good)
	job.Nodes = job.Nodes[:2]
	check(job).failsWith(t, "a node missing", "partials from 2 nodes, the dataset has 3")

	job = cloneJob(good)
	job.Cohort = 4
	check(job).failsWith(t, "a record dropped",
		"node 0: partial over 5 records, the cohort has 4", "node 1: partial over 5 records, the cohort has 4", "node 2: partial over 5 records, the cohort has 4")

	job = cloneJob(good)
	job.Nodes[2].Partial = []byte{1, 2, 3}
	r = check(job)
	if len(r.failures) != 2 || r.failures[0] != "node 2: partial-sum signature does not verify" || !strings.HasPrefix(r.failures[1], "node 2: partial sum does not decode: ") {
		t.Fatalf("an undecodable partial: %q", r.failures)
	}

	job = cloneJob(good)
	job.Sums = nil
	check(job).failsWith(t, "no sums", "0 released sums")
}

// heChecks gives recs to the HE checks' record pass in order, then runs
// the checks in slot order on job and returns each one's recorder, which
// for a Records-slot check holds what the pass reported to it.
func heChecks(f *heFixture, job *AuditJob, recs []AuditRecord) map[string]*recorder {
	checks, pass := f.b.AuditChecks(job)
	out := map[string]*recorder{}
	slots := AuditSlotsOf(cohortv1.Backend_BACKEND_HE)
	for _, name := range slots.Records {
		out[name] = new(recorder)
	}
	for i := range recs {
		pass.Record(&recs[i], func(name string) Reporter { return out[name] })
	}
	for _, name := range append(slices.Clone(slots.Records), slots.Combination...) {
		if out[name] == nil {
			out[name] = new(recorder)
		}
		checks[name](out[name])
	}
	return out
}

// cloneRecords is a copy of recs whose records may be changed.
func cloneRecords(recs []AuditRecord) []AuditRecord { return append([]AuditRecord(nil), recs...) }

func TestHEAuditChecks(t *testing.T) {
	f := getHEFixture(t)
	good := f.job
	params := f.ds.HE.Params
	l := f.ds.Schema.Layout()
	for name, r := range heChecks(f, good, f.records) {
		r.passes(t, name)
	}

	t.Run("ciphertexts", func(t *testing.T) {
		recs := cloneRecords(f.records)
		recs[2].PayloadDigest[0] ^= 1
		r := heChecks(f, good, recs)[CheckCiphertexts]
		if len(r.failures) != 1 || !strings.HasPrefix(r.failures[0], "record 2: payload digest ") ||
			!strings.HasSuffix(r.failures[0], "they are not what the nodes acknowledged") {
			t.Fatalf("altered digest: %q", r.failures)
		}
		if r.summary != "1 of 5 records: ciphertext or payload digest does not check" {
			t.Fatalf("summary %q", r.summary)
		}
		recs = cloneRecords(f.records)
		recs[0].Ciphertext = recs[0].Ciphertext[:10]
		recs[1].Public = nil
		r = heChecks(f, good, recs)[CheckCiphertexts]
		if len(r.failures) != 2 || !strings.HasPrefix(r.failures[0], "record 0: ciphertext does not decode under parameter set "+string(params.ID())) ||
			r.failures[1] != "record 1: its public inputs or proof do not decode, so its payload cannot be rebuilt" {
			t.Fatalf("undecodable parts: %q", r.failures)
		}
	})

	t.Run("aggregate", func(t *testing.T) {
		job := cloneJob(good)
		job.Aggregate = f.records[0].Ciphertext
		r := heChecks(f, job, f.records)
		if a := r[CheckAggregate]; len(a.failures) != 1 || !strings.HasPrefix(a.failures[0], "the aggregate ciphertext is not the homomorphic sum of the 5 records' ciphertexts: they differ from byte ") {
			t.Fatalf("another aggregate: %q", a.failures)
		}
		// The shares are of the true aggregate: not of this one.
		if d := r[CheckDecryptionSet]; len(d.failures) != 2 || d.failures[0] != "node 0: decryption share of another ciphertext than the aggregate" {
			t.Fatalf("shares of another aggregate: %q", d.failures)
		}
		if d := r[CheckDecryption]; d.skipped != "the decryption set's shares did not check" {
			t.Fatalf("decryption: skipped %q, failures %q", d.skipped, d.failures)
		}

		job = cloneJob(good)
		job.Aggregate = []byte{1}
		r = heChecks(f, job, f.records)
		if a := r[CheckAggregate]; len(a.failures) != 2 || !strings.HasPrefix(a.failures[0], "the aggregate ciphertext does not decode under parameter set ") ||
			a.failures[1] != "the aggregate ciphertext is not the homomorphic sum of the 5 records' ciphertexts: they differ from byte 1 on" {
			t.Fatalf("undecodable aggregate: %q", a.failures)
		}
		if d := r[CheckDecryption]; d.skipped != "the aggregate ciphertext does not decode" {
			t.Fatalf("decryption: skipped %q", d.skipped)
		}

		recs := cloneRecords(f.records)
		recs[3].Ciphertext = nil
		recs[4].Ciphertext = nil
		if a := heChecks(f, good, recs)[CheckAggregate]; a.skipped != "record 3's ciphertext does not decode, so the aggregate cannot be recomputed" || len(a.failures) != 0 {
			t.Fatalf("undecodable record: skipped %q, failures %q", a.skipped, a.failures)
		}

		job = cloneJob(good)
		job.Cohort = 0
		heChecks(f, job, nil)[CheckAggregate].failsWith(t, "no records", "the transcript lists no records, so there is no aggregate to decrypt")

		// A pass that did not read every record recomputes no aggregate.
		heChecks(f, good, f.records[:4])[CheckAggregate].failsWith(t, "a record not read", "the records' ciphertexts were not all read: 4 of 5")
	})

	// The running sum adds heSumBatch ciphertexts at a time: over more
	// records than that it is still he.Sum of them all.
	t.Run("running sum", func(t *testing.T) {
		var recs []AuditRecord
		var cts []*he.Ciphertext
		for k := range 4*heSumBatch + 3 {
			r := f.records[k%len(f.records)]
			r.Name = fmt.Sprintf("record %d", k)
			recs = append(recs, r)
			cts = append(cts, f.cts[k%len(f.cts)])
		}
		sum, err := he.Sum(params, cts)
		if err != nil {
			t.Fatal(err)
		}
		job := cloneJob(good)
		job.Cohort = len(recs)
		if job.Aggregate, err = sum.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		r := heChecks(f, job, recs)
		r[CheckAggregate].passes(t, "aggregate of many records")
		r[CheckCiphertexts].passes(t, "ciphertexts of many records")
		if want := fmt.Sprintf("all %d ciphertexts decode", len(recs)); !strings.HasPrefix(r[CheckCiphertexts].detail, want) {
			t.Fatalf("detail %q", r[CheckCiphertexts].detail)
		}
	})

	t.Run("decryption-set", func(t *testing.T) {
		job := cloneJob(good)
		job.Nodes[1].PartialSignature = bytes.Clone(job.Nodes[1].PartialSignature)
		job.Nodes[1].PartialSignature[3] ^= 1
		heChecks(f, job, f.records)[CheckDecryptionSet].failsWith(t, "a bad signature", "node 1: decryption-share signature does not verify")

		job = cloneJob(good)
		job.DecryptionSet = []uint32{0, 2}
		r := heChecks(f, job, f.records)[CheckDecryptionSet]
		r.failsWith(t, "not the lowest live nodes",
			"decryption set [0 2] is not the 2 lowest live nodes [0 1]",
			"node 0: decryption share for the set [0 1], not the decryption set [0 2]",
			"node 2: in the decryption set, but no signed decryption share",
			"node 1: a decryption share, but not in the decryption set")

		job = cloneJob(good)
		job.Nodes = job.Nodes[1:]
		heChecks(f, job, f.records)[CheckDecryptionSet].failsWith(t, "node 0 down",
			"decryption set [0 1] is not the 2 lowest live nodes [1 2]",
			"node 0: in the decryption set, but not a live node (it has no evidence)")

		job = cloneJob(good)
		job.DecryptionSet = []uint32{0}
		r = heChecks(f, job, f.records)[CheckDecryptionSet]
		if len(r.failures) < 1 || r.failures[0] != "a decryption set of 1 node [0], the dataset's threshold is 2" {
			t.Fatalf("a set below the threshold: %q", r.failures)
		}
	})

	t.Run("decryption", func(t *testing.T) {
		job := cloneJob(good)
		job.Sums[1].Value = new(big.Int).Add(job.Sums[1].Value, big.NewInt(1))
		heChecks(f, job, f.records)[CheckDecryption].failsWith(t, "a released sum off by one",
			fmt.Sprintf("coordinate 1 (%s): released %s, the decryption shares give %s", l.SumName(1), job.Sums[1].Value, good.Sums[1].Value))

		// Node 0 noised its share: the shares decrypt to the noisy sums,
		// one negative, read as centred integers mod t.
		noisy := f.noisy
		if noisy.Sums[1].Value.Sign() >= 0 {
			t.Fatal("the noise did not make the sum negative")
		}
		for name, r := range heChecks(f, noisy, f.records) {
			r.passes(t, name+" with noise")
		}
		job = cloneJob(noisy)
		job.Sums[1].Value = new(big.Int).Neg(noisy.Sums[1].Value)
		heChecks(f, job, f.records)[CheckDecryption].failsWith(t, "a noised sum released without its sign",
			fmt.Sprintf("coordinate 1 (%s): released %s, the decryption shares give %s", l.SumName(1), job.Sums[1].Value, noisy.Sums[1].Value))
		job = cloneJob(noisy)
		job.Sums[1].Value = new(big.Int).Add(noisy.Sums[1].Value, new(big.Int).SetUint64(params.T()))
		heChecks(f, job, f.records)[CheckDecryption].failsWith(t, "a sum off by t",
			fmt.Sprintf("coordinate 1 (%s): released %s, the decryption shares give %s", l.SumName(1), job.Sums[1].Value, noisy.Sums[1].Value))
	})
}

func TestHEAuditParts(t *testing.T) {
	f := getHEFixture(t)
	rec := f.records[0]
	st, err := f.b.AuditStatement(&rec)
	if err != nil || len(st.Public) != 8+2*f.ds.HE.Params.N() {
		t.Fatalf("statement: %v", err)
	}
	rec.Ciphertext = rec.Ciphertext[1:]
	if _, err := f.b.AuditStatement(&rec); err == nil || err.Error() != "its ciphertext does not decode, so its proof has no public vector" {
		t.Fatalf("statement of an undecodable ciphertext: %v", err)
	}
	if msg := f.b.AuditRecordTerms(&circuits.PublicInputs{}); msg != "" {
		t.Fatalf("terms: %q", msg)
	}
	if msg := f.b.AuditRecordTerms(&circuits.PublicInputs{ShareCommitments: make([]fr.Element, 3)}); msg != "carries 3 share commitments, an HE record none" {
		t.Fatalf("terms: %q", msg)
	}
	if n, all := f.b.AuditQuorum(); n != testThreshold || all {
		t.Fatalf("quorum %d, %v", n, all)
	}
	if f.b.AuditProofBatch() != heBatch {
		t.Fatal("proof batch")
	}
	detail, insecure := f.b.AuditDescriptor()
	if !strings.Contains(detail, "HE on "+string(f.ds.HE.Params.ID())) || insecure != insecureParamsWarning(f.ds.HE.Params.ID()) {
		t.Fatalf("descriptor: %q, %q", detail, insecure)
	}
}

func TestMPCAuditParts(t *testing.T) {
	k := newNodeKeys(t)
	be, err := For(k.dataset(testSchema(), cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		t.Fatal(err)
	}
	pub := &circuits.PublicInputs{ShareCommitments: make([]fr.Element, testNodes)}
	st, err := be.AuditStatement(&AuditRecord{Public: pub, Proof: new(circuits.Proof)})
	if err != nil || len(st.Public) != len(pub.Vector()) {
		t.Fatalf("statement: %v", err)
	}
	if msg := be.AuditRecordTerms(pub); msg != "" {
		t.Fatalf("terms: %q", msg)
	}
	if msg := be.AuditRecordTerms(&circuits.PublicInputs{}); msg != "shared among 0 nodes, the dataset has 3" {
		t.Fatalf("terms: %q", msg)
	}
	if n, all := be.AuditQuorum(); n != testNodes || !all {
		t.Fatalf("quorum %d, %v", n, all)
	}
	if be.AuditProofBatch() != 0 {
		t.Fatal("proof batch")
	}
	if _, insecure := be.AuditDescriptor(); insecure != "" {
		t.Fatalf("insecure %q", insecure)
	}
}

// TestSumCiphertextsBatches: summing a batch at a time gives he.Sum of all.
func TestSumCiphertextsBatches(t *testing.T) {
	f := getHEFixture(t)
	params := f.ds.HE.Params
	var cts [][]byte
	for range 2 { // 10 ciphertexts
		for _, r := range f.records {
			cts = append(cts, r.Ciphertext)
		}
	}
	all := make([]*he.Ciphertext, len(cts))
	for i, b := range cts {
		ct, err := he.UnmarshalCiphertext(params, b)
		if err != nil {
			t.Fatal(err)
		}
		all[i] = ct
	}
	for n := 1; n <= len(cts); n++ {
		want, err := he.Sum(params, all[:n])
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{1, 2, 3, 128} {
			got, bad, err := SumCiphertexts(params, cts[:n], batch)
			if err != nil || bad != -1 || got.Digest() != want.Digest() {
				t.Fatalf("%d ciphertexts in batches of %d: %v (bad %d)", n, batch, err, bad)
			}
		}
	}
	cts[7] = cts[7][:10]
	if _, bad, err := SumCiphertexts(params, cts, 3); bad != 7 || err == nil {
		t.Fatalf("undecodable ciphertext: bad %d, %v", bad, err)
	}
	if _, _, err := SumCiphertexts(params, nil, 3); err == nil {
		t.Fatal("sum of nothing")
	}
}

// TestAuditForm: a job of the backend's form says which nodes carry a
// partial; any other form is refused, naming what is wrong.
func TestAuditForm(t *testing.T) {
	k := newNodeKeys(t)
	mb, err := For(k.dataset(testSchema(), cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		t.Fatal(err)
	}
	f := getHEFixture(t)
	var nf [32]byte
	nf[0], nf[1], nf[2], nf[3] = 0xab, 0x12, 0xcd, 0x34
	ct := f.records[0].Ciphertext
	heForm := func() JobForm {
		return JobForm{Records: []FormRecord{{Nullifier: nf, Ciphertext: ct}}, Live: []uint32{2, 0, 1}, Coordinator: 2,
			DecryptionSet: []uint32{0, 1}, Aggregate: f.job.Aggregate}
	}
	has, err := mb.AuditForm(JobForm{Records: []FormRecord{{Nullifier: nf}}, Live: []uint32{0, 1, 2}})
	if err != nil || !has(0) || !has(1) || !has(2) {
		t.Fatalf("MPC: %v", err)
	}
	if has, err = f.b.AuditForm(heForm()); err != nil || !has(0) || !has(1) || has(2) {
		t.Fatalf("HE: %v", err)
	}
	size := he.EncodedSize(f.ds.HE.Params)
	for _, c := range []struct {
		name string
		be   Backend
		form func(*JobForm)
		want string
	}{
		{"mpc: a decryption set", mb, func(j *JobForm) { j.DecryptionSet = []uint32{0} }, "a decryption set or an aggregate ciphertext for an MPC dataset"},
		{"mpc: a ciphertext", mb, func(j *JobForm) { j.Records[0].Ciphertext = []byte{1} }, "record ab12cd34…: a ciphertext for an MPC dataset"},
		{"mpc: a node missing", mb, func(j *JobForm) { j.Live = j.Live[:2] }, "evidence from 2 nodes, the dataset has 3"},
		{"he: aggregate size", f.b, func(j *JobForm) { j.Aggregate = j.Aggregate[1:] },
			fmt.Sprintf("aggregate ciphertext of %d bytes, parameter set %s has %d", size-1, f.ds.HE.Params.ID(), size)},
		{"he: ciphertext size", f.b, func(j *JobForm) { j.Records[0].Ciphertext = nil },
			fmt.Sprintf("record ab12cd34…: ciphertext of 0 bytes, parameter set %s has %d", f.ds.HE.Params.ID(), size)},
		{"he: repeated node", f.b, func(j *JobForm) { j.Live = []uint32{0, 1, 1} }, "evidence for node 1 is out of range or repeated"},
		{"he: out of range", f.b, func(j *JobForm) { j.Live = []uint32{0, 1, 3} }, "evidence for node 3 is out of range or repeated"},
		{"he: below threshold", f.b, func(j *JobForm) { j.Live, j.Coordinator = []uint32{0}, 0 }, "evidence from 1 live nodes, decrypting needs the threshold of 2"},
		{"he: no coordinator", f.b, func(j *JobForm) { j.Live = []uint32{0, 1} }, "no evidence from the coordinator, node 2"},
		{"he: decryption set", f.b, func(j *JobForm) { j.DecryptionSet = []uint32{0, 2} }, "decryption set [0 2] is not the 2 lowest live nodes [0 1]"},
	} {
		form := heForm()
		if c.be == mb {
			form = JobForm{Records: []FormRecord{{Nullifier: nf}}, Live: []uint32{0, 1, 2}}
		}
		c.form(&form)
		if _, err := c.be.AuditForm(form); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

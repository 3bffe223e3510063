package backend

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/heproof"
)

// The audit of an HE job (docs/design.md §5.4): the records' ciphertexts
// are the ones the nodes acknowledged and their proofs bind, they sum to
// the aggregate, the decryption set is the lowest live nodes with a signed
// share each, and the shares decrypt the aggregate to the released sums.

// heBatch is how many HE records the audit decodes and checks at a time:
// an HE statement's public vector has 8 + 2N field elements (256 KiB at
// N = 4096).
const heBatch = 128

// insecureParamsWarning is what the audit says of a test parameter set.
func insecureParamsWarning(id he.ParamSetID) string {
	return fmt.Sprintf("INSECURE PARAMETER SET: the dataset's collective key is on %s, a parameter set for tests that is not 128-bit secure: "+
		"the ciphertexts do not hide the records — never trust this dataset with real data", id)
}

func (b *heBackend) AuditDescriptor() (detail, insecure string) {
	d, h := b.ds.Desc, b.ds.HE
	if h.Params.Insecure() {
		insecure = insecureParamsWarning(h.Params.ID())
	}
	return fmt.Sprintf("dataset %s: HE on %s, %d-of-%d threshold key %x… signed by every node, smudging %d bits, registry depth %d, schema %x…; its digest is the transcript's",
		d.GetId(), h.Params.ID(), h.Committee.Threshold, h.Committee.Nodes, h.KeyDigest[:4], h.Smudging.StatisticalBits,
		d.GetRegistryDepth(), d.GetSchema().GetDigest()[:4]), insecure
}

func (b *heBackend) AuditCircuit(compile Compiler, r Reporter) (constraint.ConstraintSystem, int) {
	sh, err := b.ds.HEShape()
	if err != nil {
		r.Fail("the dataset has no HE circuit: %v", err)
		return nil, 0
	}
	k := CircuitKey{Schema: b.ds.Schema.Digest(), Depth: sh.Depth, ParamSet: sh.Key.ParamSet, Key: b.ds.HE.KeyDigest}
	ccs, digest, err := compile(k, func() (constraint.ConstraintSystem, error) {
		sys, err := circuits.CompileHE(sh)
		if err != nil {
			return nil, err
		}
		return sys.CCS, nil
	})
	if err != nil {
		r.Fail("the dataset's HE circuit does not compile: %v", err)
		return nil, sh.NumPublic()
	}
	if !bytes.Equal(digest[:], b.ds.Desc.GetCircuitDigest()) {
		r.Fail("the HE circuit compiled from the schema and the collective key has digest %x…, the descriptor names %x…", digest[:4], prefix(b.ds.Desc.GetCircuitDigest()))
		return nil, sh.NumPublic()
	}
	r.Pass(fmt.Sprintf("the HE contribution circuit for registry depth %d and the collective key on %s (N = %d, a circuit constant) compiles to the descriptor's digest %x… (%d constraints)",
		sh.Depth, sh.Key.ParamSet, sh.Key.N, digest[:4], ccs.GetNbConstraints()))
	return ccs, sh.NumPublic()
}

func (*heBackend) AuditProofBatch() int { return heBatch }

// AuditStatement is the consent inputs, then the ciphertext's integer
// coefficients.
func (b *heBackend) AuditStatement(rec *AuditRecord) (circuits.Statement, error) {
	params := b.ds.HE.Params
	ct, err := he.UnmarshalCiphertext(params, rec.Ciphertext)
	if err != nil {
		return circuits.Statement{}, errors.New("its ciphertext does not decode, so its proof has no public vector")
	}
	c0, c1 := ct.Coefficients()
	public, err := circuits.HEPublicVector(rec.Public, c0, c1, params.N())
	if err != nil {
		return circuits.Statement{}, fmt.Errorf("no public vector: %v", err)
	}
	return circuits.Statement{Proof: rec.Proof, Public: public}, nil
}

func (b *heBackend) AuditProofsDetail(n int) string {
	return fmt.Sprintf("all %d proofs verify against their consent inputs and their ciphertext's %d coefficients under the dataset's verifying key (batch-verified %d at a time, failing batches bisected to the record): each ciphertext encrypts a valid record under the collective key",
		n, 2*b.ds.HE.Params.N(), heBatch)
}

func (*heBackend) AuditRecordTerms(p *circuits.PublicInputs) string {
	if len(p.ShareCommitments) != 0 {
		return fmt.Sprintf("carries %d share commitments, an HE record none", len(p.ShareCommitments))
	}
	return ""
}

// AuditQuorum is the threshold of live nodes: only they have evidence.
func (b *heBackend) AuditQuorum() (int, bool) { return b.ds.HE.Committee.Threshold, false }

// AuditChecks: the pass checks each record's ciphertext and payload
// digest and adds the ciphertext to a running sum, which the aggregate
// check compares with the transcript's.
func (b *heBackend) AuditChecks(job *AuditJob) (map[string]func(Reporter), RecordPass) {
	a := &heAudit{b: b, t: job, sum: make([]*he.Ciphertext, 0, heSumBatch+1)}
	return map[string]func(Reporter){
		CheckCiphertexts:   a.checkCiphertexts,
		CheckAggregate:     a.checkAggregate,
		CheckDecryptionSet: a.checkDecryptionSet,
		CheckDecryption:    a.checkDecryption,
	}, a
}

func (b *heBackend) AuditForm(f JobForm) (func(int) bool, error) {
	k, th, params := int(b.ds.Desc.GetNodeCount()), b.ds.HE.Committee.Threshold, b.ds.HE.Params
	size := he.EncodedSize(params)
	if len(f.Aggregate) != size {
		return nil, fmt.Errorf("aggregate ciphertext of %d bytes, parameter set %s has %d", len(f.Aggregate), params.ID(), size)
	}
	for _, r := range f.Records {
		if len(r.Ciphertext) != size {
			return nil, fmt.Errorf("record %x…: ciphertext of %d bytes, parameter set %s has %d", r.Nullifier[:4], len(r.Ciphertext), params.ID(), size)
		}
	}
	live := slices.Clone(f.Live)
	slices.Sort(live)
	for i, x := range live {
		if int(x) >= k || (i > 0 && x == live[i-1]) {
			return nil, fmt.Errorf("evidence for node %d is out of range or repeated", x)
		}
	}
	if len(live) < th {
		return nil, fmt.Errorf("evidence from %d live nodes, decrypting needs the threshold of %d", len(live), th)
	}
	if !slices.Contains(live, f.Coordinator) {
		return nil, fmt.Errorf("no evidence from the coordinator, node %d", f.Coordinator)
	}
	if !slices.Equal(f.DecryptionSet, live[:th]) {
		return nil, fmt.Errorf("decryption set %v is not the %d lowest live nodes %v", f.DecryptionSet, th, live[:th])
	}
	set := slices.Clone(f.DecryptionSet)
	return func(i int) bool { return slices.Contains(set, uint32(i)) }, nil
}

// heAudit is the state of one audit's HE checks: what the record pass
// found, for the ciphertexts and aggregate checks, and what the aggregate
// and decryption-set checks decoded, for the decryption check. A nil
// field means its check failed. The pass holds the running sum of the
// ciphertexts and at most heSumBatch more, decoded; no record.
type heAudit struct {
	b     *heBackend
	t     *AuditJob
	agg   *he.Ciphertext          // the aggregate, decoded
	parts []*he.PartialDecryption // the decryption set's shares, decoded, in set order

	read   int              // records the pass read
	sum    []*he.Ciphertext // the running sum first (once there is one), then ciphertexts not yet added
	bad    string           // the first record whose ciphertext does not decode, "" if none
	sumErr error            // why the ciphertexts do not sum
}

// heSumBatch is how many decoded ciphertexts the audit's running sum
// holds before it adds them (he.Sum adds lazily, reducing once per batch).
const heSumBatch = 16

// Record checks that rec's ciphertext decodes and that its payload digest
// is the SHA-256 of the payload rebuilt from its public inputs, proof and
// ciphertext, and adds the ciphertext to the running sum.
func (a *heAudit) Record(rec *AuditRecord, report func(string) Reporter) {
	r := report(CheckCiphertexts)
	params := a.b.ds.HE.Params
	a.read++
	ct, err := he.UnmarshalCiphertext(params, rec.Ciphertext)
	if err != nil {
		r.Fail("%s: ciphertext does not decode under parameter set %s: %v", rec.Name, params.ID(), err)
		if a.bad == "" {
			a.bad = rec.Name
			clear(a.sum)
			a.sum = a.sum[:0]
		}
		return
	}
	a.add(ct)
	if rec.Public == nil || rec.Proof == nil {
		r.Fail("%s: its public inputs or proof do not decode, so its payload cannot be rebuilt", rec.Name)
		return
	}
	p := heproof.Payload{Public: *rec.Public, Proof: rec.Proof, Ciphertext: ct}
	enc, err := p.MarshalBinary()
	if err != nil {
		r.Fail("%s: payload does not encode: %v", rec.Name, err)
		return
	}
	if d := sha256.Sum256(enc); d != rec.PayloadDigest {
		r.Fail("%s: payload digest %x… is not the SHA-256 of its public inputs, proof and ciphertext (%x…): they are not what the nodes acknowledged",
			rec.Name, rec.PayloadDigest[:4], d[:4])
	}
}

// add adds ct to the running sum, unless a record's ciphertext did not
// decode (the aggregate is then not recomputed) or the sum failed.
func (a *heAudit) add(ct *he.Ciphertext) {
	if a.bad != "" || a.sumErr != nil {
		return
	}
	if a.sum = append(a.sum, ct); len(a.sum) == cap(a.sum) {
		a.fold()
	}
}

// fold adds the pending ciphertexts into the running sum.
func (a *heAudit) fold() {
	if len(a.sum) < 2 {
		return
	}
	s, err := he.Sum(a.b.ds.HE.Params, a.sum)
	clear(a.sum)
	a.sum = a.sum[:0]
	if err != nil {
		a.sumErr = err
		return
	}
	a.sum = append(a.sum, s)
}

func (a *heAudit) checkCiphertexts(r Reporter) {
	params := a.b.ds.HE.Params
	r.Summary(fmt.Sprintf("%d of %d records: ciphertext or payload digest does not check", r.Failed(), a.t.Cohort))
	r.Pass(fmt.Sprintf("all %d ciphertexts decode under %s (%d bytes each, every coefficient below its modulus), and each record's payload digest is the SHA-256 of the payload rebuilt from its public inputs, proof and ciphertext",
		a.t.Cohort, params.ID(), he.EncodedSize(params)))
}

func (a *heAudit) checkAggregate(r Reporter) {
	params, t := a.b.ds.HE.Params, a.t
	agg, err := he.UnmarshalCiphertext(params, t.Aggregate)
	if err != nil {
		r.Fail("the aggregate ciphertext does not decode under parameter set %s: %v", params.ID(), err)
	} else {
		a.agg = agg
	}
	if t.Cohort == 0 {
		r.Fail("the transcript lists no records, so there is no aggregate to decrypt")
		return
	}
	if a.bad != "" {
		r.Skip("%s's ciphertext does not decode, so the aggregate cannot be recomputed", a.bad)
		return
	}
	if a.read != t.Cohort {
		r.Fail("the records' ciphertexts were not all read: %d of %d", a.read, t.Cohort)
		return
	}
	a.fold()
	if a.sumErr != nil || len(a.sum) != 1 {
		r.Fail("the records' ciphertexts do not sum: %v", a.sumErr)
		return
	}
	sum := a.sum[0]
	enc, err := sum.MarshalBinary()
	if err != nil {
		r.Fail("the recomputed aggregate does not encode: %v", err)
		return
	}
	if !bytes.Equal(enc, t.Aggregate) {
		r.Fail("the aggregate ciphertext is not the homomorphic sum of the %d records' ciphertexts: they differ from byte %d on",
			t.Cohort, firstDifference(enc, t.Aggregate))
		return
	}
	d := sum.Digest()
	r.Pass(fmt.Sprintf("the aggregate ciphertext recomputed from the %d records' ciphertexts (he.Sum) equals the transcript's byte for byte (digest %x…)",
		t.Cohort, d[:4]))
}

// SumCiphertexts returns the homomorphic sum of encoded ciphertexts (at
// least one), decoding and adding batch of them at a time (the running
// sum first in each batch), so that only a batch is held decoded. bad is
// the index of a ciphertext that does not decode, −1 if none.
func SumCiphertexts(params *he.Params, cts [][]byte, batch int) (sum *he.Ciphertext, bad int, err error) {
	if len(cts) == 0 {
		return nil, -1, fmt.Errorf("no ciphertexts to sum")
	}
	acc := make([]*he.Ciphertext, 0, max(1, batch)+1)
	for i, b := range cts {
		ct, err := he.UnmarshalCiphertext(params, b)
		if err != nil {
			return nil, i, err
		}
		if acc = append(acc, ct); len(acc) < cap(acc) && i < len(cts)-1 {
			continue
		}
		s, err := he.Sum(params, acc)
		if err != nil {
			return nil, -1, err
		}
		acc = append(acc[:0], s)
	}
	return acc[0], -1, nil
}

func (a *heAudit) checkDecryptionSet(r Reporter) {
	t, params, ds := a.t, a.b.ds.HE.Params, a.b.ds
	th, k := ds.HE.Committee.Threshold, len(ds.Signing)
	live := make([]uint32, len(t.Nodes))
	for j, n := range t.Nodes {
		live[j] = n.Index
	}
	slices.Sort(live)
	if len(t.DecryptionSet) != th {
		r.Fail("a decryption set of %s %v, the dataset's threshold is %d", plural(len(t.DecryptionSet), "node"), t.DecryptionSet, th)
	}
	switch {
	case len(live) < th:
		r.Fail("only %s %v, fewer than the threshold of %d: no decryption set can decrypt", plural(len(live), "live node"), live, th)
	case !slices.Equal(t.DecryptionSet, live[:th]):
		r.Fail("decryption set %v is not the %d lowest live nodes %v", t.DecryptionSet, th, live[:th])
	}
	coords, ints := releasedCoordinates(t.Sums)
	parts := make([]*he.PartialDecryption, 0, len(t.DecryptionSet))
	for _, x := range t.DecryptionSet {
		j := slices.IndexFunc(t.Nodes, func(n AuditNode) bool { return n.Index == x })
		switch {
		case j < 0:
			r.Fail("node %d: in the decryption set, but not a live node (it has no evidence)", x)
			continue
		case int(x) >= k:
			r.Fail("node %d: not a node of the dataset", x)
			continue
		}
		n := t.Nodes[j]
		if len(n.Partial) == 0 || len(n.PartialSignature) == 0 {
			r.Fail("node %d: in the decryption set, but no signed decryption share", x)
			continue
		}
		st := attest.JobPartial{JobID: t.JobID, SetDigest: n.SetDigest, Coordinates: coords, PartialDigest: sha256.Sum256(n.Partial), Node: x}
		if err := attest.Verify(ds.Signing[x], st, n.PartialSignature); err != nil {
			r.Fail("node %d: decryption-share signature does not verify", x)
		}
		p, err := he.UnmarshalPartialDecryption(params, n.Partial)
		switch {
		case err != nil:
			r.Fail("node %d: decryption share does not decode: %v", x, err)
			continue
		case p.Party() != int(x):
			r.Fail("node %d: the decryption share is party %d's", x, p.Party())
			continue
		case !slices.Equal(p.Coords(), ints):
			r.Fail("node %d: decryption share at %d coordinates, not the %d released", x, len(p.Coords()), len(ints))
			continue
		case !slices.Equal(p.Active(), activeOf(t.DecryptionSet)):
			r.Fail("node %d: decryption share for the set %v, not the decryption set %v", x, p.Active(), t.DecryptionSet)
			continue
		case a.agg != nil && p.Ciphertext() != a.agg.Digest():
			r.Fail("node %d: decryption share of another ciphertext than the aggregate", x)
			continue
		}
		parts = append(parts, p)
	}
	for _, n := range t.Nodes {
		if !slices.Contains(t.DecryptionSet, n.Index) && (len(n.Partial) > 0 || len(n.PartialSignature) > 0) {
			r.Fail("node %d: a decryption share, but not in the decryption set", n.Index)
		}
	}
	if len(parts) == th && len(parts) == len(t.DecryptionSet) {
		a.parts = parts
	}
	r.Pass(fmt.Sprintf("decryption set %v: the %d lowest of the %d live nodes %v (threshold %d of %d), each signed its decryption share of the aggregate at the %d released coordinates",
		t.DecryptionSet, th, len(live), live, th, k, len(coords)))
}

func (a *heAudit) checkDecryption(r Reporter) {
	if a.agg == nil {
		r.Skip("the aggregate ciphertext does not decode")
		return
	}
	if a.parts == nil {
		r.Skip("the decryption set's shares did not check")
		return
	}
	t, params, l := a.t, a.b.ds.HE.Params, a.b.ds.Schema.Layout()
	_, ints := releasedCoordinates(t.Sums)
	vals, err := he.Combine(params, a.agg, a.parts, ints)
	if err != nil {
		r.Fail("the decryption shares do not combine: %v", err)
		return
	}
	if len(vals) != len(t.Sums) {
		r.Fail("the decryption shares combine to %d values for %d released sums", len(vals), len(t.Sums))
		return
	}
	for j, s := range t.Sums {
		name := l.SumName(int(s.Coordinate))
		if want := centred(vals[j], params.T()); s.Value == nil || s.Value.Cmp(want) != 0 {
			r.Fail("coordinate %d (%s): released %v, the decryption shares give %s", s.Coordinate, name, s.Value, want)
		}
	}
	r.Pass(fmt.Sprintf("the decryption set's %d shares decrypt the aggregate (he.Combine) to every released sum, read as centred integers mod t (%d coordinates)",
		len(a.parts), len(t.Sums)))
}

// centred reads v mod t as the combiner does (heCombiner.Combine): v
// below t/2, v − t from t/2 on. Which sums the release allows (a negative
// one only with noise) is the audit's release-mechanism check.
func centred(v, t uint64) *big.Int {
	out := new(big.Int).SetUint64(v)
	if v >= t/2 {
		out.Sub(out, new(big.Int).SetUint64(t))
	}
	return out
}

// activeOf returns a decryption set as package he lists parties.
func activeOf(set []uint32) []int {
	out := make([]int, len(set))
	for i, x := range set {
		out[i] = int(x)
	}
	return out
}

package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/heproof"
)

// The checks of an HE job (docs/design.md §4.3, §9.3): the records' ciphertexts are the
// ones the nodes acknowledged and their proofs bind, they sum to the
// aggregate, the decryption set is the lowest live nodes with a signed
// share each, and the shares decrypt the aggregate to the released sums.

// heBatch is how many HE records are decoded and checked at a time.
const heBatch = 128

// insecureParamsWarning is what the report says of a test parameter set.
func insecureParamsWarning(id he.ParamSetID) string {
	return fmt.Sprintf("INSECURE PARAMETER SET: the dataset's collective key is on %s, a parameter set for tests that is not 128-bit secure: "+
		"the ciphertexts do not hide the records — never trust this dataset with real data", id)
}

func (v *verification) checkHECircuit(c *check) {
	sh, err := v.ds.HEShape()
	if err != nil {
		c.fail("the dataset has no HE circuit: %v", err)
		return
	}
	v.numPublic = sh.NumPublic()
	got, err := v.o.cache.compileHE(v.ds.Schema.Digest(), v.ds.HE.KeyDigest, sh)
	if err != nil {
		c.fail("the dataset's HE circuit does not compile: %v", err)
		return
	}
	if !bytes.Equal(got.digest[:], v.ds.Desc.GetCircuitDigest()) {
		c.fail("the HE circuit compiled from the schema and the collective key has digest %x…, the descriptor names %x…", got.digest[:4], prefix(v.ds.Desc.GetCircuitDigest()))
		return
	}
	v.ccs = got.ccs
	c.detail = fmt.Sprintf("the HE contribution circuit for registry depth %d and the collective key on %s (N = %d, a circuit constant) compiles to the descriptor's digest %x… (%d constraints)",
		sh.Depth, sh.Key.ParamSet, sh.Key.N, got.digest[:4], got.ccs.GetNbConstraints())
}

func (v *verification) checkCiphertexts(c *check) {
	if !v.needDataset(c) {
		return
	}
	params := v.ds.HE.Params
	for i, r := range v.t.Records {
		name := recordName(i, r.Nullifier)
		ct, err := he.UnmarshalCiphertext(params, r.Ciphertext)
		if err != nil {
			c.fail("%s: ciphertext does not decode under parameter set %s: %v", name, params.ID(), err)
			continue
		}
		if v.pubs[i] == nil || v.proofs[i] == nil {
			c.fail("%s: its public inputs or proof do not decode, so its payload cannot be rebuilt", name)
			continue
		}
		p := heproof.Payload{Public: *v.pubs[i], Proof: v.proofs[i], Ciphertext: ct}
		enc, err := p.MarshalBinary()
		if err != nil {
			c.fail("%s: payload does not encode: %v", name, err)
			continue
		}
		if d := sha256.Sum256(enc); d != r.PayloadDigest {
			c.fail("%s: payload digest %x… is not the SHA-256 of its public inputs, proof and ciphertext (%x…): they are not what the nodes acknowledged",
				name, r.PayloadDigest[:4], d[:4])
		}
	}
	c.failDetail = fmt.Sprintf("%d of %d records: ciphertext or payload digest does not check", c.failed, len(v.t.Records))
	c.detail = fmt.Sprintf("all %d ciphertexts decode under %s (%d bytes each, every coefficient below its modulus), and each record's payload digest is the SHA-256 of the payload rebuilt from its public inputs, proof and ciphertext",
		len(v.t.Records), params.ID(), he.EncodedSize(params))
}

func (v *verification) checkAggregate(c *check) {
	if !v.needDataset(c) {
		return
	}
	params := v.ds.HE.Params
	agg, err := he.UnmarshalCiphertext(params, v.t.Aggregate)
	if err != nil {
		c.fail("the aggregate ciphertext does not decode under parameter set %s: %v", params.ID(), err)
	} else {
		v.agg = agg
	}
	if len(v.t.Records) == 0 {
		c.fail("the transcript lists no records, so there is no aggregate to decrypt")
		return
	}
	sum, bad, err := sumRecords(params, v.t.Records, heBatch)
	switch {
	case bad >= 0:
		c.skip("%s's ciphertext does not decode, so the aggregate cannot be recomputed", recordName(bad, v.t.Records[bad].Nullifier))
		return
	case err != nil:
		c.fail("the records' ciphertexts do not sum: %v", err)
		return
	}
	enc, err := sum.MarshalBinary()
	if err != nil {
		c.fail("the recomputed aggregate does not encode: %v", err)
		return
	}
	if !bytes.Equal(enc, v.t.Aggregate) {
		c.fail("the aggregate ciphertext is not the homomorphic sum of the %d records' ciphertexts: they differ from byte %d on",
			len(v.t.Records), firstDifference(enc, v.t.Aggregate))
		return
	}
	d := sum.Digest()
	c.detail = fmt.Sprintf("the aggregate ciphertext recomputed from the %d records' ciphertexts (he.Sum) equals the transcript's byte for byte (digest %x…)",
		len(v.t.Records), d[:4])
}

// sumRecords returns the homomorphic sum of the records' ciphertexts
// (at least one), decoding and adding batch of them at a time (the running
// sum first in each batch), so that only a batch is held decoded. bad is
// the index of a record whose ciphertext does not decode, −1 if none.
func sumRecords(params *he.Params, recs []Record, batch int) (sum *he.Ciphertext, bad int, err error) {
	if len(recs) == 0 {
		return nil, -1, fmt.Errorf("no ciphertexts to sum")
	}
	acc := make([]*he.Ciphertext, 0, max(1, batch)+1)
	for i, r := range recs {
		ct, err := he.UnmarshalCiphertext(params, r.Ciphertext)
		if err != nil {
			return nil, i, err
		}
		if acc = append(acc, ct); len(acc) < cap(acc) && i < len(recs)-1 {
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

func (v *verification) checkDecryptionSet(c *check) {
	if !v.needDataset(c) {
		return
	}
	t, params := v.t, v.ds.HE.Params
	th, k := v.ds.HE.Committee.Threshold, len(v.ds.Signing)
	live := make([]uint32, len(t.Nodes))
	for j, n := range t.Nodes {
		live[j] = n.Index
	}
	slices.Sort(live)
	if len(t.DecryptionSet) != th {
		c.fail("a decryption set of %s %v, the dataset's threshold is %d", plural(len(t.DecryptionSet), "node"), t.DecryptionSet, th)
	}
	switch {
	case len(live) < th:
		c.fail("only %s %v, fewer than the threshold of %d: no decryption set can decrypt", plural(len(live), "live node"), live, th)
	case !slices.Equal(t.DecryptionSet, live[:th]):
		c.fail("decryption set %v is not the %d lowest live nodes %v", t.DecryptionSet, th, live[:th])
	}
	coords, ints := v.releasedCoordinates()
	parts := make([]*he.PartialDecryption, 0, len(t.DecryptionSet))
	for _, x := range t.DecryptionSet {
		j := slices.IndexFunc(t.Nodes, func(n NodeEvidence) bool { return n.Index == x })
		switch {
		case j < 0:
			c.fail("node %d: in the decryption set, but not a live node (it has no evidence)", x)
			continue
		case int(x) >= k:
			c.fail("node %d: not a node of the dataset", x)
			continue
		}
		n := t.Nodes[j]
		if len(n.Partial) == 0 || len(n.PartialSignature) == 0 {
			c.fail("node %d: in the decryption set, but no signed decryption share", x)
			continue
		}
		st := attest.JobPartial{JobID: t.JobID, SetDigest: n.SetDigest, Coordinates: coords, PartialDigest: sha256.Sum256(n.Partial), Node: x}
		if err := attest.Verify(v.ds.Signing[x], st, n.PartialSignature); err != nil {
			c.fail("node %d: decryption-share signature does not verify", x)
		}
		p, err := he.UnmarshalPartialDecryption(params, n.Partial)
		switch {
		case err != nil:
			c.fail("node %d: decryption share does not decode: %v", x, err)
			continue
		case p.Party() != int(x):
			c.fail("node %d: the decryption share is party %d's", x, p.Party())
			continue
		case !slices.Equal(p.Coords(), ints):
			c.fail("node %d: decryption share at %d coordinates, not the %d released", x, len(p.Coords()), len(ints))
			continue
		case !slices.Equal(p.Active(), activeOf(t.DecryptionSet)):
			c.fail("node %d: decryption share for the set %v, not the decryption set %v", x, p.Active(), t.DecryptionSet)
			continue
		case v.agg != nil && p.Ciphertext() != v.agg.Digest():
			c.fail("node %d: decryption share of another ciphertext than the aggregate", x)
			continue
		}
		parts = append(parts, p)
	}
	for _, n := range t.Nodes {
		if !slices.Contains(t.DecryptionSet, n.Index) && (len(n.Partial) > 0 || len(n.PartialSignature) > 0) {
			c.fail("node %d: a decryption share, but not in the decryption set", n.Index)
		}
	}
	if len(parts) == th && len(parts) == len(t.DecryptionSet) {
		v.parts = parts
	}
	c.detail = fmt.Sprintf("decryption set %v: the %d lowest of the %d live nodes %v (threshold %d of %d), each signed its decryption share of the aggregate at the %d released coordinates",
		t.DecryptionSet, th, len(live), live, th, k, len(coords))
}

func (v *verification) checkDecryption(c *check) {
	if !v.needDataset(c) {
		return
	}
	if v.agg == nil {
		c.skip("the aggregate ciphertext does not decode")
		return
	}
	if v.parts == nil {
		c.skip("the decryption set's shares did not check")
		return
	}
	t, params, l := v.t, v.ds.HE.Params, v.ds.Schema.Layout()
	_, ints := v.releasedCoordinates()
	vals, err := he.Combine(params, v.agg, v.parts, ints)
	if err != nil {
		c.fail("the decryption shares do not combine: %v", err)
		return
	}
	if len(vals) != len(t.Sums) {
		c.fail("the decryption shares combine to %d values for %d released sums", len(vals), len(t.Sums))
		return
	}
	half := params.T() / 2
	for j, s := range t.Sums {
		name := coordinateName(l, int(s.Coordinate))
		switch {
		case vals[j] >= half:
			c.fail("coordinate %d (%s): the shares decrypt to %d, not below t/2 = %d where every honest sum lies: a wrong decryption share",
				s.Coordinate, name, vals[j], half)
		case s.Value == nil || !s.Value.IsUint64() || s.Value.Uint64() != vals[j]:
			c.fail("coordinate %d (%s): released %v, the decryption shares give %d", s.Coordinate, name, s.Value, vals[j])
		}
	}
	c.detail = fmt.Sprintf("the decryption set's %d shares decrypt the aggregate (he.Combine) to every released sum (%d coordinates, each below t/2)",
		len(v.parts), len(t.Sums))
}

// activeOf returns a decryption set as package he lists parties.
func activeOf(set []uint32) []int {
	out := make([]int, len(set))
	for i, x := range set {
		out[i] = int(x)
	}
	return out
}

// releasedCoordinates returns the released sums' coordinates, as the
// nodes sign them and as package he takes them.
func (v *verification) releasedCoordinates() ([]uint32, []int) {
	cs, is := make([]uint32, len(v.t.Sums)), make([]int, len(v.t.Sums))
	for i, s := range v.t.Sums {
		cs[i], is[i] = s.Coordinate, int(s.Coordinate)
	}
	return cs, is
}

// checkLiveSignatures is the transcript-signatures check of an HE job:
// every live node listed signed the transcript, and they are at least the
// threshold.
func (v *verification) checkLiveSignatures(c *check) {
	t := v.t
	th, k := v.ds.HE.Committee.Threshold, len(v.ds.Signing)
	if len(t.Nodes) < th {
		c.fail("only %s signed, fewer than the dataset's threshold of %d", plural(len(t.Nodes), "live node"), th)
	}
	if len(v.b.Signatures) != len(t.Nodes) {
		c.fail("%d transcript signatures for %d live nodes", len(v.b.Signatures), len(t.Nodes))
	}
	live := make([]uint32, len(t.Nodes))
	for j, n := range t.Nodes {
		live[j] = n.Index
		switch {
		case int(n.Index) >= k:
			c.fail("node %d: not a node of the dataset", n.Index)
			continue
		case j >= len(v.b.Signatures):
			c.fail("node %d: no transcript signature", n.Index)
			continue
		}
		st := TranscriptStatement{JobID: t.JobID, Digest: *v.digest, Node: n.Index}
		if err := attest.Verify(v.ds.Signing[n.Index], st, v.b.Signatures[j]); err != nil {
			c.fail("node %d: transcript signature does not verify", n.Index)
		}
	}
	c.detail = fmt.Sprintf("all %d live nodes %v signed transcript %x… (threshold %d of %d)", len(t.Nodes), live, v.digest[:4], th, k)
}

package audit

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// The checks of a transcript's records: the spec, the proofs and their
// terms, the registry roots, the nullifiers, the cohort and every node's
// eligible set.

func (v *verification) checkSpec(c *check) {
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(v.t.Spec, spec); err != nil {
		c.fail("the job spec does not decode: %v", err)
		return
	}
	if re, err := deterministic.Marshal(spec); err != nil || !bytes.Equal(re, v.t.Spec) {
		c.fail("the job spec is not in its deterministic encoding")
	}
	if spec.GetDatasetId() != v.t.DatasetID {
		c.fail("the spec is for dataset %q, the transcript for %q", clip(spec.GetDatasetId()), v.t.DatasetID)
	}
	v.checkSubmission(c)
	if !v.needDataset(c) {
		return
	}
	if err := enclave.ValidateSpec(spec, v.ds.Schema, v.ds.Desc.GetBackend()); err != nil {
		c.fail("the spec is not valid for the dataset: %v", err)
		return
	}
	if c.failed == 0 {
		v.spec = spec
	}
	c.detail = fmt.Sprintf("%d outputs for purpose %q over epochs %d..%d, job time %s, signed by buyer %q",
		len(spec.GetOutputs()), spec.GetPurpose(), spec.GetEpochFrom(), spec.GetEpochTo(), unixTime(v.t.JobTime), v.t.Submission.Buyer)
}

// checkSubmission checks that the job is the one its buyer signed
// (docs/design.md §8.2): the buyer's signature over the spec, the dataset
// and its descriptor verifies under the buyer's key. The key is the one
// every node checked
// the submission against before it took part; the nodes vouch for it by
// signing the transcript.
func (v *verification) checkSubmission(c *check) {
	s := v.t.Submission
	st := attest.JobSubmission{
		Buyer: s.Buyer, RequestID: s.RequestID, DatasetID: v.t.DatasetID, DescriptorDigest: v.t.DescriptorDigest,
		SpecDigest: taggedDigest(TagSpec, v.t.Spec), SubmittedAt: s.SubmittedAt,
	}
	if err := attest.Verify(s.PublicKey[:], st, s.Signature); err != nil {
		c.fail("buyer %q's signature over the job (spec, dataset, descriptor, request %q) does not verify: %v", s.Buyer, s.RequestID, err)
	}
}

// decodeRecords decodes every record's public inputs and proof once.
func (v *verification) decodeRecords() {
	if v.t == nil {
		return
	}
	n := len(v.t.Records)
	v.pubs, v.pubErrs = make([]*circuits.PublicInputs, n), make([]error, n)
	v.proofs, v.proofErrs = make([]*circuits.Proof, n), make([]error, n)
	for i, r := range v.t.Records {
		p := new(circuits.PublicInputs)
		if err := p.UnmarshalBinary(r.Public); err != nil {
			v.pubErrs[i] = err
		} else {
			v.pubs[i] = p
		}
		pr := new(circuits.Proof)
		if err := pr.UnmarshalBinary(r.Proof); err != nil {
			v.proofErrs[i] = err
		} else {
			v.proofs[i] = pr
		}
	}
}

func (v *verification) checkProofs(c *check) {
	if v.verifier == nil {
		c.skip("the verifying key did not check")
		return
	}
	recs := v.t.Records
	// As many statements at a time as the backend says: its statements
	// may be large.
	batch := v.be.AuditProofBatch()
	if batch <= 0 {
		batch = max(1, len(recs))
	}
	for start := 0; start < len(recs); start += batch {
		end := min(start+batch, len(recs))
		stmts := make([]circuits.Statement, 0, end-start)
		index := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			st, ok := v.statement(c, i)
			if ok {
				stmts = append(stmts, st)
				index = append(index, i)
			}
		}
		for j, err := range v.verifier.VerifyBatch(stmts) {
			if err != nil {
				i := index[j]
				c.fail("%s: proof does not verify", recordName(i, recs[i].Nullifier))
			}
		}
	}
	c.failDetail = fmt.Sprintf("%d of %d records lack a valid proof", c.failed, len(recs))
	c.detail = v.be.AuditProofsDetail(len(recs))
}

// statement is record i's proof with its public vector, or false after
// failing c for the record.
func (v *verification) statement(c *check, i int) (circuits.Statement, bool) {
	r := v.t.Records[i]
	if v.pubs[i] == nil {
		c.fail("%s: public inputs do not decode: %v", recordName(i, r.Nullifier), v.pubErrs[i])
		return circuits.Statement{}, false
	}
	if v.proofs[i] == nil {
		c.fail("%s: proof does not decode: %v", recordName(i, r.Nullifier), v.proofErrs[i])
		return circuits.Statement{}, false
	}
	st, err := v.be.AuditStatement(&v.job.Records[i])
	if err != nil {
		c.fail("%s: %v", recordName(i, r.Nullifier), err)
		return circuits.Statement{}, false
	}
	return st, true
}

func (v *verification) checkRecordTerms(c *check) {
	if !v.needSpec(c) {
		return
	}
	t, s, spec := v.t, v.ds.Schema, v.spec
	mask, err := s.PurposeMask([]string{spec.GetPurpose()})
	if err != nil {
		c.fail("the spec's purpose: %v", err)
		return
	}
	field := circuits.DatasetField(t.DatasetID)
	for i, r := range t.Records {
		name := recordName(i, r.Nullifier)
		p := v.pubs[i]
		if p == nil {
			c.fail("%s: public inputs do not decode: %v", name, v.pubErrs[i])
			continue
		}
		if nf := p.Nullifier.Bytes(); nf != r.Nullifier {
			c.fail("%s: its public inputs carry another nullifier, %x…", name, nf[:4])
		}
		if !p.Dataset.Equal(&field) {
			c.fail("%s: proven for another dataset than %s", name, t.DatasetID)
		}
		if p.Epoch < spec.GetEpochFrom() || p.Epoch > spec.GetEpochTo() {
			c.fail("%s: epoch %d is outside the job's epochs %d..%d", name, p.Epoch, spec.GetEpochFrom(), spec.GetEpochTo())
		}
		if p.Purposes&mask == 0 {
			c.fail("%s: purpose %q not consented (consented: %s)", name, spec.GetPurpose(), purposeList(s, p.Purposes))
		}
		if p.Expiry < uint64(t.JobTime) {
			c.fail("%s: consent expired at %s, before the job time %s", name, unixTime(int64(min(p.Expiry, 1<<62))), unixTime(t.JobTime))
		}
		if msg := v.be.AuditRecordTerms(p); msg != "" {
			c.fail("%s: %s", name, msg)
		}
	}
	c.failDetail = plural(c.failed, "problem") + " with the records' consent terms"
	c.detail = fmt.Sprintf("all %d records: proven for dataset %s, epoch in %d..%d, purpose %q consented, consent unexpired at the job time, public nullifier as listed",
		len(t.Records), t.DatasetID, spec.GetEpochFrom(), spec.GetEpochTo(), spec.GetPurpose())
}

func (v *verification) checkRegistryRoots(c *check) {
	t := v.t
	byRoot := make(map[[32]byte]Root, len(t.Roots))
	for _, r := range t.Roots {
		if prev, ok := byRoot[r.Root]; !ok || prev.SeenAt > r.SeenAt {
			byRoot[r.Root] = r // the earliest time it was the root
		}
	}
	used := map[[32]byte]bool{}
	for i, r := range t.Records {
		p := v.pubs[i]
		if p == nil {
			c.fail("%s: public inputs do not decode", recordName(i, r.Nullifier))
			continue
		}
		root := p.Root.Bytes()
		used[root] = true
		e, ok := byRoot[root]
		switch {
		case !ok:
			c.fail("%s: registry root %x… is not in the registry's history", recordName(i, r.Nullifier), root[:4])
		case e.SeenAt > t.JobTime:
			c.fail("%s: registry root %x… (version %d) only became the root at %s, after the job time",
				recordName(i, r.Nullifier), root[:4], e.Version, unixTime(e.SeenAt))
		}
	}
	c.detail = fmt.Sprintf("the records were proven against %d registry roots, all in the %d-entry history and roots already at the job time",
		len(used), len(t.Roots))
}

func (v *verification) checkNullifiers(c *check) {
	seen := make(map[[32]byte]int, len(v.t.Records))
	for i, r := range v.t.Records {
		if j, ok := seen[r.Nullifier]; ok {
			c.fail("%s: the same nullifier as record %d: one contributor counted twice", recordName(i, r.Nullifier), j)
			continue
		}
		seen[r.Nullifier] = i
		if i > 0 && bytes.Compare(v.t.Records[i-1].Nullifier[:], r.Nullifier[:]) > 0 {
			c.fail("%s: listed out of nullifier order", recordName(i, r.Nullifier))
		}
	}
	c.detail = fmt.Sprintf("%d distinct nullifiers: no contributor counted twice", len(v.t.Records))
}

func (v *verification) checkCohort(c *check) {
	if !v.needSpec(c) {
		return
	}
	t, s := v.t, v.ds.Schema
	n := uint64(len(t.Records))
	eff := enclave.EffectiveMinimum(v.spec, s)
	if t.EffectiveMinimum != eff {
		c.fail("the transcript records an effective minimum of %d, the spec and schema give %d", t.EffectiveMinimum, eff)
	}
	if n < eff {
		c.fail("a cohort of %d records is below the effective minimum of %d (the buyer's %d, the dataset's %d)",
			n, eff, v.spec.GetMinCohort(), s.MinCohort)
	}
	if n > s.MaxCohort {
		c.fail("a cohort of %d records is above the dataset's maximum of %d, the bound its sums were sized for (they may have wrapped)", n, s.MaxCohort)
	}
	var largest uint32
	for i, r := range t.Records {
		p := v.pubs[i]
		if p == nil {
			continue // reported by record-terms
		}
		largest = max(largest, p.MinCohort)
		if uint64(p.MinCohort) > n {
			c.fail("%s: its contributor allows only cohorts of at least %d, this one has %d", recordName(i, r.Nullifier), p.MinCohort, n)
		}
	}
	c.detail = fmt.Sprintf("%d records ≥ the effective minimum %d (the buyer's %d, the dataset's %d) and ≥ every contributor's own minimum (largest %d); %s",
		n, eff, v.spec.GetMinCohort(), s.MinCohort, largest, v.exclusions())
}

// exclusions says what the coordinator left out, in counts.
func (v *verification) exclusions() string {
	j := slices.IndexFunc(v.t.Nodes, func(n NodeEvidence) bool { return n.Index == v.t.Coordinator })
	if j < 0 {
		return "no coordinator evidence"
	}
	n := v.t.Nodes[j]
	x := n.Excluded.String()
	if x == "" {
		return fmt.Sprintf("the coordinator (node %d) excluded no record", n.Index)
	}
	return fmt.Sprintf("the coordinator (node %d) excluded %s", n.Index, x)
}

func (v *verification) checkEligibleSets(c *check) {
	if !v.needDataset(c) {
		return
	}
	t := v.t
	k := len(v.ds.Signing)
	recs := make([]enclave.Record, len(t.Records))
	for i, r := range t.Records {
		recs[i] = enclave.Record{Nullifier: r.Nullifier, PayloadDigest: r.PayloadDigest}
	}
	want := enclave.SetDigest(t.JobID, t.DatasetID, recs)
	specDigest := taggedDigest(TagSpec, t.Spec)
	seen := make([]bool, k)
	for _, n := range t.Nodes {
		i := int(n.Index)
		if i >= k || seen[i] {
			c.fail("node %d: not a node of the dataset, or listed twice", n.Index)
			continue
		}
		seen[i] = true
		st := attest.JobEligibleSet{JobID: t.JobID, DatasetID: t.DatasetID, SpecDigest: specDigest, JobTime: t.JobTime,
			Cohort: n.Cohort, SetDigest: n.SetDigest, Node: n.Index}
		if err := attest.Verify(v.ds.Signing[i], st, n.SetSignature); err != nil {
			c.fail("node %d: eligible-set signature does not verify", i)
		}
		if n.Cohort != uint64(len(t.Records)) {
			c.fail("node %d: signed a cohort of %d records, the transcript lists %d", i, n.Cohort, len(t.Records))
		}
		if n.SetDigest != want {
			c.fail("node %d: signed set digest %x… is not the digest of the listed records, %x…", i, n.SetDigest[:4], want[:4])
		}
		if n.Eligible != n.Cohort+n.Excluded.ContributorMinimum {
			c.fail("node %d: %d eligible records are not its %d counted plus %d dropped for contributors' minimums",
				i, n.Eligible, n.Cohort, n.Excluded.ContributorMinimum)
		}
	}
	if _, all := v.be.AuditQuorum(); !all {
		// Only the live nodes have evidence; whether they are enough is
		// the decryption set's and the transcript signatures' to say.
		c.detail = fmt.Sprintf("all %d live nodes (of %d) signed the same cohort of %d records for this spec and job time (set digest %x…)",
			len(t.Nodes), k, len(t.Records), want[:4])
		return
	}
	for i, ok := range seen {
		if !ok {
			c.fail("node %d: no evidence", i)
		}
	}
	c.detail = fmt.Sprintf("all %d nodes signed the same cohort of %d records for this spec and job time (set digest %x…)", k, len(t.Records), want[:4])
}

// purposeList names the purposes of a mask for messages.
func purposeList(s *schema.Schema, mask uint64) string {
	var names []string
	for m := mask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if i < len(s.Purposes) {
			names = append(names, s.Purposes[i])
		} else {
			names = append(names, fmt.Sprintf("bit %d", i))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

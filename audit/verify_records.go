package audit

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/backend"
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

// decodeRecords decodes every record's public inputs and proof once, for
// a transcript held in memory.
func (v *verification) decodeRecords() {
	if v.t == nil {
		return
	}
	v.pubs, v.pubErrs, v.proofs, v.proofErrs = decodeRecordsOf(v.t.Records)
}

// decodeRecordsOf decodes the public inputs and proof of each record, the
// records split across the CPUs (decoding a proof takes square roots and
// a subgroup check: about a quarter of the audit's work per record).
func decodeRecordsOf(recs []Record) (pubs []*circuits.PublicInputs, pubErrs []error, proofs []*circuits.Proof, proofErrs []error) {
	n := len(recs)
	pubs, pubErrs = make([]*circuits.PublicInputs, n), make([]error, n)
	proofs, proofErrs = make([]*circuits.Proof, n), make([]error, n)
	decode := func(i int) {
		// A decoder's panic, which no input should cause, makes the
		// record undecodable rather than end the process from this
		// goroutine.
		defer func() {
			if p := recover(); p != nil {
				err := fmt.Errorf("internal error while decoding: %v", p)
				pubs[i], pubErrs[i], proofs[i], proofErrs[i] = nil, err, nil, err
			}
		}()
		r := &recs[i]
		p := new(circuits.PublicInputs)
		if err := p.UnmarshalBinary(r.Public); err != nil {
			pubErrs[i] = err
		} else {
			pubs[i] = p
		}
		pr := new(circuits.Proof)
		if err := pr.UnmarshalBinary(r.Proof); err != nil {
			proofErrs[i] = err
		} else {
			proofs[i] = pr
		}
	}
	parts := max(1, min(runtime.GOMAXPROCS(0), n/decodePart))
	var wg sync.WaitGroup
	for k := range parts {
		wg.Go(func() {
			for i := k * n / parts; i < (k+1)*n/parts; i++ {
				decode(i)
			}
		})
	}
	wg.Wait()
	return pubs, pubErrs, proofs, proofErrs
}

// decodePart is the fewest records a goroutine of decodeRecordsOf takes.
const decodePart = 32

// recordPass is what the checks that read every record found, in one
// pass over the records in nullifier order (docs/design.md §9.3): each
// check's failures, and the digests and sums they compare at the end. It
// holds nothing of a record once its chunk has passed.
type recordPass struct {
	err                                        error // the records could not be read
	proofs, terms, roots, nullifiers, minimums check
	used                                       map[[32]byte]bool // the registry roots the records were proven against
	largest                                    uint32            // the largest contributor minimum
	setDigest                                  [32]byte          // enclave.SetDigest of the records
	setErr                                     error             // why there is no setDigest
	claimRoot                                  [32]byte          // ClaimRootOf the records
	claimErr                                   error             // why there is no claimRoot

	own map[string]*check // what the backend's record pass reported, by its check's name

	mask    uint64 // the spec's purpose
	maskErr error
	byRoot  map[[32]byte]Root
	sets    *enclave.SetHasher
	claim   ClaimRootHasher
	prev    *[32]byte
}

// recordChunk is the number of records a pass decodes and verifies at a
// time when the backend sets no proof batch: one batch of the verifier.
const recordChunk = 1024

// passRecords reads the records once, for every check that reads them; the
// first such check calls it, once the checks before it decoded what it
// needs (the dataset, the spec, the verifier).
func (v *verification) passRecords() *recordPass {
	if v.pass != nil {
		return v.pass
	}
	t := v.t
	p := &recordPass{used: map[[32]byte]bool{}, byRoot: make(map[[32]byte]Root, len(t.Roots)), sets: enclave.NewSetHasher(t.JobID, t.DatasetID, uint64(v.n)),
		own: map[string]*check{}}
	v.pass = p
	for _, r := range t.Roots {
		if prev, ok := p.byRoot[r.Root]; !ok || prev.SeenAt > r.SeenAt {
			p.byRoot[r.Root] = r // the earliest time it was the root
		}
	}
	if v.spec != nil {
		p.mask, p.maskErr = v.ds.Schema.PurposeMask([]string{v.spec.GetPurpose()})
	}
	size := recordChunk
	if v.be != nil && v.be.AuditProofBatch() > 0 {
		size = v.be.AuditProofBatch()
	}
	p.err = v.readAhead(size, v.passChunk)
	if p.err == nil {
		p.setDigest, p.setErr = p.sets.Sum()
		p.claimRoot = p.claim.Root()
	}
	return p
}

// memoryRecords gives the records of a transcript held in memory.
func (v *verification) memoryRecords(size int, fn func(base int, recs []Record) error) error {
	for base := 0; base < len(v.t.Records); base += size {
		if err := fn(base, v.t.Records[base:min(base+size, len(v.t.Records))]); err != nil {
			return err
		}
	}
	return nil
}

// decodedChunk is records base.. of the transcript with their public
// inputs and proofs decoded (nil where they do not decode, with the error).
type decodedChunk struct {
	base               int
	recs               []Record
	pubs               []*circuits.PublicInputs
	proofs             []*circuits.Proof
	pubErrs, proofErrs []error
}

// errStopped ends a read whose chunks are no longer wanted.
var errStopped = errors.New("audit: the record pass stopped")

// readAhead gives fn, in order, the chunks of at most size records that
// v.records gives, decoded; the next chunk is read and decoded while fn
// runs on one (docs/design.md §5.6), so at most three chunks are held at a
// time. It returns v.records' error once fn has had every chunk before it.
func (v *verification) readAhead(size int, fn func(c *decodedChunk)) error {
	var (
		chunks = make(chan *decodedChunk, 1)
		stop   = make(chan struct{})
		done   = make(chan struct{})
		err    error
	)
	go func() {
		defer close(done)
		defer close(chunks)
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error while reading the records: %v", p)
			}
		}()
		err = v.records(size, func(base int, recs []Record) error {
			c := &decodedChunk{base: base, recs: slices.Clone(recs)}
			if v.pubs != nil { // decoded already, in memory
				end := base + len(recs)
				c.pubs, c.pubErrs, c.proofs, c.proofErrs = v.pubs[base:end], v.pubErrs[base:end], v.proofs[base:end], v.proofErrs[base:end]
			} else {
				c.pubs, c.pubErrs, c.proofs, c.proofErrs = decodeRecordsOf(c.recs)
			}
			select {
			case chunks <- c:
				return nil
			case <-stop:
				return errStopped
			}
		})
	}()
	defer func() { // also when fn panics: the reader stops
		close(stop)
		<-done
	}()
	for c := range chunks {
		fn(c)
	}
	<-done
	return err
}

// passChunk runs the per-record part of every record check over the
// records of c and verifies their proofs as one batch.
func (v *verification) passChunk(c *decodedChunk) {
	p := v.pass
	base, recs, pubs, pubErrs, proofs, proofErrs := c.base, c.recs, c.pubs, c.pubErrs, c.proofs, c.proofErrs
	field := circuits.DatasetField(v.t.DatasetID)
	stmts := make([]circuits.Statement, 0, len(recs))
	index := make([]int, 0, len(recs))
	for j := range recs {
		i, r, pub := base+j, &recs[j], pubs[j]
		name := recordName(i, r.Nullifier)
		v.recordNullifier(p, i, r)
		if err := p.sets.Add(enclave.Member{Nullifier: r.Nullifier, PayloadDigest: r.PayloadDigest}); err != nil && p.setErr == nil {
			p.setErr = err
		}
		if err := p.claim.Add(r.Nullifier); err != nil && p.claimErr == nil {
			p.claimErr = fmt.Errorf("%s: %w", name, err)
		}
		if pub == nil {
			p.terms.fail("%s: public inputs do not decode: %v", name, pubErrs[j])
			p.roots.fail("%s: public inputs do not decode", name)
		} else {
			if v.spec != nil && p.maskErr == nil {
				v.recordTerms(&p.terms, name, r, pub, field, p.mask)
			}
			v.recordRoot(p, name, pub)
			p.largest = max(p.largest, pub.MinCohort)
			if uint64(pub.MinCohort) > uint64(v.n) {
				p.minimums.fail("%s: its contributor allows only cohorts of at least %d, this one has %d", name, pub.MinCohort, v.n)
			}
		}
		rec := backend.AuditRecord{Name: name, PayloadDigest: r.PayloadDigest, Ciphertext: r.Ciphertext, Public: pub, Proof: proofs[j]}
		if v.ownPass != nil {
			v.ownPass.Record(&rec, p.ownReporter)
		}
		if v.verifier == nil {
			continue
		}
		switch {
		case pub == nil:
			p.proofs.fail("%s: public inputs do not decode: %v", name, pubErrs[j])
		case proofs[j] == nil:
			p.proofs.fail("%s: proof does not decode: %v", name, proofErrs[j])
		default:
			st, err := v.be.AuditStatement(&rec)
			if err != nil {
				p.proofs.fail("%s: %v", name, err)
				continue
			}
			stmts = append(stmts, st)
			index = append(index, j)
		}
	}
	for k, err := range v.verifier.VerifyBatch(stmts) {
		if err != nil {
			j := index[k]
			p.proofs.fail("%s: proof does not verify", recordName(base+j, recs[j].Nullifier))
		}
	}
}

// ownReporter is the Reporter of the backend's check named name for its
// record pass: what it reports there, that check reports.
func (p *recordPass) ownReporter(name string) backend.Reporter {
	c, ok := p.own[name]
	if !ok {
		c = &check{}
		p.own[name] = c
	}
	return c
}

// recordNullifier checks that record i's nullifier follows the previous
// record's: strictly ascending, so no nullifier twice.
func (v *verification) recordNullifier(p *recordPass, i int, r *Record) {
	if p.prev != nil {
		switch c := bytes.Compare(p.prev[:], r.Nullifier[:]); {
		case c == 0:
			p.nullifiers.fail("%s: the same nullifier as record %d: one contributor counted twice", recordName(i, r.Nullifier), i-1)
		case c > 0:
			p.nullifiers.fail("%s: listed out of nullifier order", recordName(i, r.Nullifier))
		}
	}
	nf := r.Nullifier
	p.prev = &nf
}

// recordTerms checks one record's consent terms against the spec.
func (v *verification) recordTerms(c *check, name string, r *Record, p *circuits.PublicInputs, field fr.Element, mask uint64) {
	t, s, spec := v.t, v.ds.Schema, v.spec
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

// recordRoot checks that the root a record was proven against is in the
// history and was a root by the job time.
func (v *verification) recordRoot(p *recordPass, name string, pub *circuits.PublicInputs) {
	root := pub.Root.Bytes()
	p.used[root] = true
	e, ok := p.byRoot[root]
	switch {
	case !ok:
		p.roots.fail("%s: registry root %x… is not in the registry's history", name, root[:4])
	case e.SeenAt > v.t.JobTime:
		p.roots.fail("%s: registry root %x… (version %d) only became the root at %s, after the job time",
			name, root[:4], e.Version, unixTime(e.SeenAt))
	}
}

// takeRecords makes c the outcome of the pass's check from, or fails c if
// the records could not be read.
func (v *verification) takeRecords(c *check, from func(*recordPass) *check) bool {
	p := v.passRecords()
	if p.err != nil {
		c.fail("the records could not be read: %v", p.err)
		return false
	}
	*c = *from(p)
	return true
}

func (v *verification) checkProofs(c *check) {
	if v.verifier == nil {
		c.skip("the verifying key did not check")
		return
	}
	if !v.takeRecords(c, func(p *recordPass) *check { return &p.proofs }) {
		return
	}
	c.failDetail = fmt.Sprintf("%d of %d records lack a valid proof", c.failed, v.n)
	c.detail = v.be.AuditProofsDetail(v.n)
}

func (v *verification) checkRecordTerms(c *check) {
	if !v.needSpec(c) {
		return
	}
	spec := v.spec
	if _, err := v.ds.Schema.PurposeMask([]string{spec.GetPurpose()}); err != nil {
		c.fail("the spec's purpose: %v", err)
		return
	}
	if !v.takeRecords(c, func(p *recordPass) *check { return &p.terms }) {
		return
	}
	c.failDetail = plural(c.failed, "problem") + " with the records' consent terms"
	c.detail = fmt.Sprintf("all %d records: proven for dataset %s, epoch in %d..%d, purpose %q consented, consent unexpired at the job time, public nullifier as listed",
		v.n, v.t.DatasetID, spec.GetEpochFrom(), spec.GetEpochTo(), spec.GetPurpose())
}

func (v *verification) checkRegistryRoots(c *check) {
	if !v.takeRecords(c, func(p *recordPass) *check { return &p.roots }) {
		return
	}
	c.detail = fmt.Sprintf("the records were proven against %d registry roots, all in the %d-entry history and roots already at the job time",
		len(v.pass.used), len(v.t.Roots))
}

func (v *verification) checkNullifiers(c *check) {
	if !v.takeRecords(c, func(p *recordPass) *check { return &p.nullifiers }) {
		return
	}
	c.detail = fmt.Sprintf("%d distinct nullifiers: no contributor counted twice", v.n)
}

func (v *verification) checkCohort(c *check) {
	if !v.needSpec(c) {
		return
	}
	t, s := v.t, v.ds.Schema
	n := uint64(v.n)
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
	p := v.passRecords()
	if p.err != nil {
		c.fail("the records could not be read: %v", p.err)
		return
	}
	for _, f := range p.minimums.failures {
		c.fail("%s", f)
	}
	c.failed += p.minimums.failed - len(p.minimums.failures)
	c.detail = fmt.Sprintf("%d records ≥ the effective minimum %d (the buyer's %d, the dataset's %d) and ≥ every contributor's own minimum (largest %d); %s",
		n, eff, v.spec.GetMinCohort(), s.MinCohort, p.largest, v.exclusions())
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
	p := v.passRecords()
	switch {
	case p.err != nil:
		c.fail("the records could not be read: %v", p.err)
		return
	case p.setErr != nil:
		c.fail("the records have no set digest: %v", p.setErr)
		return
	}
	want := p.setDigest
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
		if n.Cohort != uint64(v.n) {
			c.fail("node %d: signed a cohort of %d records, the transcript lists %d", i, n.Cohort, v.n)
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
			len(t.Nodes), k, v.n, want[:4])
		return
	}
	for i, ok := range seen {
		if !ok {
			c.fail("node %d: no evidence", i)
		}
	}
	c.detail = fmt.Sprintf("all %d nodes signed the same cohort of %d records for this spec and job time (set digest %x…)", k, v.n, want[:4])
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

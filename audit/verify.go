package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/consensys/gnark/constraint"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Option changes how Verify checks a bundle.
type Option func(*options)

type options struct {
	allowDev bool
	cache    *Cache
}

// AllowInsecureDevSetup lets the setup check pass, with a warning, for a
// dataset whose keys come from a single-party development setup
// (SETUP_KIND_INSECURE_DEV), and the descriptor check pass, with a
// warning, for an HE dataset on a parameter set marked insecure (one for
// fast tests, not 128-bit secure). Without it such a bundle fails: whoever
// ran that setup can forge proofs, so the proofs vouch for nothing, and an
// insecure parameter set does not hide the records. For tests and
// demonstrations only.
func AllowInsecureDevSetup() Option { return func(o *options) { o.allowDev = true } }

// WithCache makes Verify remember compiled circuits and re-verified
// ceremony transcripts in c across calls (see Cache).
func WithCache(c *Cache) Option { return func(o *options) { o.cache = c } }

// VerifyEncoded decodes a bundle within lim and verifies it. A bundle that
// does not decode gives a report with one failed check naming the problem.
func VerifyEncoded(data []byte, lim Limits, opts ...Option) *Report {
	b, err := UnmarshalBundle(data, lim)
	if err != nil {
		return &Report{Checks: []Check{{Name: CheckTranscript, Status: Fail, Detail: "the bundle does not decode", Failures: []string{err.Error()}}}}
	}
	return Verify(b, opts...)
}

// Verify checks a bundle and reports every check by name (see the package
// documentation for what each checks). It runs every check it can, so that
// a report lists all problems, not the first; a check whose prerequisite
// failed is reported as skipped. It never panics, whatever the bundle
// holds, and never modifies it. It is safe for concurrent use.
func Verify(b *Bundle, opts ...Option) *Report {
	v := &verification{b: b, report: &Report{}}
	for _, o := range opts {
		o(&v.o)
	}
	if b != nil {
		v.t = b.Transcript
	}
	kind := cohortv1.Backend_BACKEND_MPC
	if v.t != nil {
		v.report.JobID, v.report.DatasetID, v.report.Cohort = v.t.JobID, v.t.DatasetID, len(v.t.Records)
		kind = v.t.Backend()
		v.report.Backend = backend.Name(kind)
	}
	checks := map[string]func(*check){
		CheckTranscript: v.checkTranscript, CheckDescriptor: v.checkDescriptor, CheckCircuit: v.checkCircuit,
		CheckVerifyingKey: v.checkVerifyingKey, CheckSetup: v.checkSetup, CheckSpec: v.checkSpec,
		CheckProofs: v.checkProofs, CheckRecordTerms: v.checkRecordTerms,
		CheckRegistryRoots: v.checkRegistryRoots, CheckNullifiers: v.checkNullifiers, CheckCohort: v.checkCohort,
		CheckEligibleSets: v.checkEligibleSets, CheckCoordinates: v.checkCoordinates,
		CheckOutputs: v.checkOutputs, CheckTranscriptSignatures: v.checkTranscriptSignatures,
	}
	v.decodeRecords()
	for _, name := range CheckNames(kind) {
		fn, ok := checks[name]
		if !ok {
			fn = v.backendCheck(name)
		}
		v.run(name, fn)
	}
	return v.report
}

// verification is the state of one Verify: what earlier checks decoded,
// for the later ones. A nil field means its check failed.
type verification struct {
	b      *Bundle
	t      *Transcript
	o      options
	report *Report

	digest    *[32]byte                         // transcript digest
	ds        *dataset.Dataset                  // decoded descriptor, of the transcript's backend
	be        backend.Backend                   // the dataset's backend, with ds
	job       *backend.AuditJob                 // the transcript as the backend's checks read it, with ds
	own       map[string]func(backend.Reporter) // the backend's own checks, with ds
	numPublic int                               // public inputs of the dataset's circuit; 0 if it has no shape
	ccs       constraint.ConstraintSystem       // compiled circuit, digest as the descriptor says
	verifier  *circuits.Verifier                // under the descriptor's verifying key
	spec      *cohortv1.JobSpec                 // decoded and valid for the dataset
	pubs      []*circuits.PublicInputs          // per record; nil where they do not decode
	pubErrs   []error                           // per record
	proofs    []*circuits.Proof                 // per record; nil where it does not decode
	proofErrs []error                           // per record
}

// check collects the outcome of one check.
type check struct {
	status     Status // Skip or Warn when set; otherwise decided by failures
	detail     string // what passed
	failDetail string // summary when something failed
	failures   []string
	failed     int
}

// fail records a failing item.
func (c *check) fail(format string, args ...any) {
	c.failed++
	if len(c.failures) < MaxListedFailures {
		c.failures = append(c.failures, fmt.Sprintf(format, args...))
	}
}

// skip marks the check as not run.
func (c *check) skip(format string, args ...any) {
	c.status, c.detail = Skip, "not checked: "+fmt.Sprintf(format, args...)
}

// A check is the backend.Reporter of the backend's checks.

func (c *check) Fail(format string, args ...any) { c.fail(format, args...) }

func (c *check) Skip(format string, args ...any) { c.skip(format, args...) }

func (c *check) Pass(detail string) { c.detail = detail }

func (c *check) Summary(detail string) { c.failDetail = detail }

func (c *check) Failed() int { return c.failed }

// backendCheck is one of the backend's own checks (backend.AuditSlotsOf):
// it runs once the descriptor checked and chose the backend.
func (v *verification) backendCheck(name string) func(*check) {
	return func(c *check) {
		if !v.needDataset(c) {
			return
		}
		fn, ok := v.own[name]
		if !ok {
			c.skip("the dataset's backend has no %s check", name)
			return
		}
		fn(c)
	}
}

// run runs one check, turning a panic (which no input should cause) into
// a failure of that check.
func (v *verification) run(name string, fn func(*check)) {
	c := &check{}
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.status = ""
				c.fail("internal error while checking: %v", p)
			}
		}()
		if v.t == nil && name != CheckTranscript {
			c.skip("there is no transcript")
			return
		}
		fn(c)
	}()
	out := Check{Name: name, Status: Pass, Detail: c.detail, Failures: c.failures}
	switch {
	case c.failed > 0:
		out.Status = Fail
		switch {
		case c.failDetail != "":
			out.Detail = c.failDetail
		case c.failed == 1:
			out.Detail = c.failures[0]
			out.Failures = nil
		default:
			out.Detail = plural(c.failed, "problem")
		}
		if c.failed > len(c.failures) {
			out.Failures = append(out.Failures, fmt.Sprintf("… and %d more", c.failed-len(c.failures)))
		}
	case c.status != "":
		out.Status = c.status
	}
	v.report.Checks = append(v.report.Checks, out)
}

// needDataset skips c when the descriptor did not decode.
func (v *verification) needDataset(c *check) bool {
	if v.ds == nil {
		c.skip("the dataset descriptor did not check")
		return false
	}
	return true
}

// needSpec skips c when the spec or the descriptor did not check.
func (v *verification) needSpec(c *check) bool {
	if !v.needDataset(c) {
		return false
	}
	if v.spec == nil {
		c.skip("the job spec did not check")
		return false
	}
	return true
}

func (v *verification) checkTranscript(c *check) {
	if v.b == nil {
		c.fail("no bundle")
		return
	}
	if v.t == nil {
		c.fail("the bundle holds no transcript")
		return
	}
	d, err := v.t.Digest()
	if err != nil {
		c.fail("the transcript is not well formed: %v", err)
		return
	}
	v.digest = &d
	v.report.TranscriptDigest = hex.EncodeToString(d[:])
	if err := v.b.validate(); err != nil {
		c.fail("the bundle is not well formed: %v", err)
		return
	}
	t := v.t
	if len(t.DecryptionSet) > 0 { // the form of an HE job's transcript
		c.detail = fmt.Sprintf("transcript v%d well formed (HE): %d records with their ciphertexts, %d live nodes, decryption set %v, %d released sums, %d registry roots",
			TranscriptVersion, len(t.Records), len(t.Nodes), t.DecryptionSet, len(t.Sums), len(t.Roots))
		return
	}
	c.detail = fmt.Sprintf("transcript v%d well formed: %d records, %d nodes, %d released sums, %d registry roots",
		TranscriptVersion, len(t.Records), len(t.Nodes), len(t.Sums), len(t.Roots))
}

func (v *verification) checkDescriptor(c *check) {
	if v.b == nil {
		c.skip("no bundle")
		return
	}
	desc := new(cohortv1.DatasetDescriptor)
	if err := proto.Unmarshal(v.b.Descriptor, desc); err != nil {
		c.fail("the dataset descriptor does not decode: %v", err)
		return
	}
	if re, err := deterministic.Marshal(desc); err != nil || !bytes.Equal(re, v.b.Descriptor) {
		c.fail("the dataset descriptor is not in its deterministic encoding")
	}
	ds, err := dataset.From(desc)
	if err != nil {
		c.fail("the dataset descriptor is inconsistent: %v", err)
		return
	}
	switch desc.GetSetupKind() {
	case cohortv1.SetupKind_SETUP_KIND_CEREMONY:
		v.report.Setup = "ceremony"
	case cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV:
		v.report.Setup = "insecure-dev"
	}
	if !ds.Ready() {
		c.fail("dataset %s is %s, not READY: it has no keys", desc.GetId(), desc.GetState())
		return
	}
	if got := v.t.Backend(); desc.GetBackend() != got {
		c.fail("the dataset uses backend %s, the transcript is of a %s job (a decryption set is HE's alone)", desc.GetBackend(), got)
		return
	}
	be, err := backend.For(ds)
	if err != nil {
		c.fail("the dataset descriptor is inconsistent: %v", err)
		return
	}
	v.ds, v.be = ds, be
	v.job = v.auditJob()
	v.own = be.AuditChecks(v.job)
	if desc.GetId() != v.t.DatasetID {
		c.fail("the descriptor is for dataset %q, the transcript for %q", desc.GetId(), v.t.DatasetID)
	}
	if d := taggedDigest(TagDescriptor, v.b.Descriptor); d != v.t.DescriptorDigest {
		c.fail("the descriptor's digest %x… differs from the one in the transcript, %x…", d[:4], v.t.DescriptorDigest[:4])
	}
	detail, insecure := be.AuditDescriptor()
	if insecure != "" {
		if !v.o.allowDev {
			c.fail("%s (refused; allow it explicitly for development)", insecure)
			return
		}
		c.status, detail = Warn, insecure+"; "+detail
	}
	c.detail = detail
}

// auditJob is the transcript as the backend's checks read it, with the
// records' public inputs and proofs as decodeRecords decoded them.
func (v *verification) auditJob() *backend.AuditJob {
	t := v.t
	job := &backend.AuditJob{JobID: t.JobID, DecryptionSet: t.DecryptionSet, Aggregate: t.Aggregate,
		Records: make([]backend.AuditRecord, len(t.Records)), Nodes: make([]backend.AuditNode, len(t.Nodes)), Sums: make([]backend.AuditSum, len(t.Sums))}
	for i, r := range t.Records {
		job.Records[i] = backend.AuditRecord{Name: recordName(i, r.Nullifier), PayloadDigest: r.PayloadDigest, Ciphertext: r.Ciphertext,
			Public: v.pubs[i], Proof: v.proofs[i]}
	}
	for i, n := range t.Nodes {
		job.Nodes[i] = backend.AuditNode{Index: n.Index, SetDigest: n.SetDigest, Partial: n.Partial, PartialSignature: n.PartialSignature}
	}
	for i, s := range t.Sums {
		job.Sums[i] = backend.AuditSum{Coordinate: s.Coordinate, Value: s.Value}
	}
	return job
}

func (v *verification) checkCircuit(c *check) {
	if !v.needDataset(c) {
		return
	}
	v.ccs, v.numPublic = v.be.AuditCircuit(v.o.cache.compiler(), c)
}

func (v *verification) checkVerifyingKey(c *check) {
	if !v.needDataset(c) {
		return
	}
	desc := v.ds.Desc.GetVerifyingKey()
	if !bytes.Equal(v.b.VerifyingKey, desc) {
		c.fail("the bundle's verifying key (%d bytes) differs from the descriptor's (%d bytes) at byte %d",
			len(v.b.VerifyingKey), len(desc), firstDifference(v.b.VerifyingKey, desc))
		return
	}
	if v.numPublic == 0 {
		c.skip("the dataset has no circuit shape")
		return
	}
	vf, err := circuits.NewVerifier(v.ds.VK, v.numPublic)
	if err != nil {
		c.fail("the verifying key does not fit the circuit: %v", err)
		return
	}
	v.verifier = vf
	c.detail = fmt.Sprintf("%d bytes, equal to the descriptor's, for %d public inputs", len(desc), v.numPublic)
}

// insecureDevWarning is what the report says of a single-party setup.
const insecureDevWarning = "INSECURE DEVELOPMENT SETUP: the dataset's keys come from a single-party setup whose toxic waste " +
	"was known to one machine; whoever held it can forge proofs for any record, so the proofs vouch for nothing — never trust this result with real data"

func (v *verification) checkSetup(c *check) {
	if !v.needDataset(c) {
		return
	}
	desc := v.ds.Desc
	switch desc.GetSetupKind() {
	case cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV:
		if len(v.b.Ceremony) > 0 {
			c.fail("the descriptor says INSECURE_DEV, yet a ceremony transcript is attached")
			return
		}
		if !v.o.allowDev {
			c.fail("%s (refused; allow it explicitly for development)", insecureDevWarning)
			return
		}
		c.status, c.detail = Warn, insecureDevWarning
		return
	case cohortv1.SetupKind_SETUP_KIND_CEREMONY:
	default:
		c.fail("unknown setup kind %s", desc.GetSetupKind())
		return
	}
	if len(v.b.Ceremony) == 0 {
		c.fail("the dataset's keys come from a ceremony, but the bundle holds no ceremony transcript")
		return
	}
	var tr setup.Transcript
	if err := tr.UnmarshalBinary(v.b.Ceremony); err != nil {
		c.fail("the ceremony transcript does not decode: %v", err)
		return
	}
	td, err := tr.Digest()
	if err != nil {
		c.fail("the ceremony transcript does not encode: %v", err)
		return
	}
	if !bytes.Equal(td[:], desc.GetCeremonyTranscriptDigest()) {
		c.fail("the ceremony transcript's digest %x… is not the descriptor's %x…; not replayed", td[:4], prefix(desc.GetCeremonyTranscriptDigest()))
		return
	}
	if !bytes.Equal(tr.VerifyingKey, desc.GetVerifyingKey()) {
		c.fail("the ceremony transcript records another verifying key than the descriptor's; not replayed")
		return
	}
	if v.ccs == nil {
		c.skip("the dataset's circuit did not check, so the ceremony cannot be replayed")
		return
	}
	key := ceremonyKey([32]byte(desc.GetCircuitDigest()), v.b.Ceremony)
	vk, ok := v.o.cache.ceremony(key)
	if !ok {
		k, err := tr.Verify(v.ccs)
		if err != nil {
			c.fail("the ceremony does not re-verify: %v", err)
			return
		}
		if vk, err = setup.MarshalVerifyingKey(k); err != nil {
			c.fail("the ceremony's verifying key does not encode: %v", err)
			return
		}
		v.o.cache.putCeremony(key, vk)
	}
	if !bytes.Equal(vk, desc.GetVerifyingKey()) {
		c.fail("the ceremony yields another verifying key than the descriptor's")
		return
	}
	beacon := desc.GetCeremonyBeaconSource()
	if beacon == "" {
		beacon = "an unstated source"
	}
	c.detail = fmt.Sprintf("ceremony %q re-verified: %d phase-1 and %d phase-2 contributions over a domain of %d, each checked against the one before, "+
		"sealed with beacons from %s (that they are that source's public values is not checked offline); it yields the descriptor's verifying key byte for byte",
		clip(desc.GetCeremonyId()), len(tr.Phase1), len(tr.Phase2), tr.DomainSize, clip(beacon))
}

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
	c.detail = fmt.Sprintf("%d outputs for purpose %q over epochs %d..%d, job time %s",
		len(spec.GetOutputs()), spec.GetPurpose(), spec.GetEpochFrom(), spec.GetEpochTo(), unixTime(v.t.JobTime))
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

// coordinateName names a coordinate of the encoded vector for messages.
func coordinateName(l schema.Layout, c int) string {
	switch n := l.Name(c); {
	case c == 0:
		return "count"
	case n == "":
		return "no such coordinate"
	default:
		return "sum of " + n
	}
}

func (v *verification) checkCoordinates(c *check) {
	if !v.needSpec(c) {
		return
	}
	t, l := v.t, v.ds.Schema.Layout()
	want, err := enclave.Coordinates(l, v.spec.GetOutputs())
	if err != nil {
		c.fail("the outputs need no computable coordinates: %v", err)
		return
	}
	got := make([]int, len(t.Sums))
	for i, s := range t.Sums {
		got[i] = int(s.Coordinate)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			c.fail("coordinate %d (%s): the outputs need it, but it was not released", w, coordinateName(l, w))
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			c.fail("coordinate %d (%s): released, but no output needs it", g, coordinateName(l, g))
		}
	}
	if len(t.Sums) > 0 && t.Sums[0].Coordinate == 0 {
		if cnt := t.Sums[0].Value; cnt == nil || !cnt.IsUint64() || cnt.Uint64() != uint64(len(t.Records)) {
			c.fail("the count coordinate sums to %v, but %d records are listed", cnt, len(t.Records))
		}
	}
	c.detail = fmt.Sprintf("%d of %d coordinates released, exactly those the %d outputs need; the count equals the cohort (%d)",
		len(got), l.Len, len(v.spec.GetOutputs()), len(t.Records))
}

func (v *verification) checkOutputs(c *check) {
	if !v.needSpec(c) {
		return
	}
	t := v.t
	res := new(cohortv1.Result)
	if err := proto.Unmarshal(t.Result, res); err != nil {
		c.fail("the released result does not decode: %v", err)
		return
	}
	n := uint64(len(t.Records))
	switch {
	case res.GetJobId() != t.JobID:
		c.fail("the result is for job %q, the transcript for %q", clip(res.GetJobId()), t.JobID)
	case res.GetDatasetId() != t.DatasetID:
		c.fail("the result is for dataset %q, the transcript for %q", clip(res.GetDatasetId()), t.DatasetID)
	case res.GetCohortSize() != n:
		c.fail("the result states a cohort of %d, the transcript lists %d records", res.GetCohortSize(), n)
	case res.GetBackend() != v.ds.Desc.GetBackend():
		c.fail("the result names backend %s, the dataset uses %s", res.GetBackend(), v.ds.Desc.GetBackend())
	case res.GetTranscriptId() != "":
		c.fail("the result inside the transcript names a transcript id")
	case res.GetReleasedAt() < t.JobTime:
		c.fail("the result was released at %s, before the job time %s", unixTime(res.GetReleasedAt()), unixTime(t.JobTime))
	}
	coords := make([]int, len(t.Sums))
	values := make([]*big.Int, len(t.Sums))
	for i, s := range t.Sums {
		coords[i], values[i] = int(s.Coordinate), s.Value
	}
	outs := v.spec.GetOutputs()
	want, err := enclave.Release(v.ds.Schema, coords, values, outs)
	if err != nil {
		c.fail("the outputs cannot be recomputed from the released sums: %v", err)
		return
	}
	got := res.GetOutputs()
	if len(got) != len(want) {
		c.fail("%d outputs released, %d requested", len(got), len(want))
		return
	}
	for i := range want {
		gb, err1 := deterministic.Marshal(got[i])
		wb, err2 := deterministic.Marshal(want[i])
		if err1 == nil && err2 == nil && bytes.Equal(gb, wb) {
			continue
		}
		d := diffOutput(got[i], want[i])
		if d == "" {
			d = "the released output carries fields the recomputation does not produce"
		}
		c.fail("output %d (%s): %s", i, describeOutput(outs[i]), d)
	}
	expect := &cohortv1.Result{JobId: t.JobID, CohortSize: n, Outputs: want, ReleasedAt: res.GetReleasedAt(),
		DatasetId: t.DatasetID, Backend: v.ds.Desc.GetBackend()}
	if eb, err := deterministic.Marshal(expect); c.failed == 0 && (err != nil || !bytes.Equal(eb, t.Result)) {
		c.fail("the released result is not in its deterministic encoding, or carries fields the recomputation does not produce")
	}
	c.failDetail = plural(c.failed, "problem") + " with the released outputs"
	c.detail = fmt.Sprintf("the %d outputs recomputed from the released sums equal the released ones bit for bit (released %s)",
		len(want), unixTime(res.GetReleasedAt()))
}

func (v *verification) checkTranscriptSignatures(c *check) {
	if !v.needDataset(c) {
		return
	}
	if v.digest == nil {
		c.skip("the transcript does not encode, so it has no digest")
		return
	}
	k := len(v.ds.Signing)
	if th, all := v.be.AuditQuorum(); !all {
		v.checkLiveSignatures(c, th)
		return
	}
	if len(v.b.Signatures) != k {
		c.fail("%d transcript signatures, the dataset has %d nodes", len(v.b.Signatures), k)
	}
	for i := range k {
		if i >= len(v.b.Signatures) {
			c.fail("node %d: no transcript signature", i)
			continue
		}
		st := TranscriptStatement{JobID: v.t.JobID, Digest: *v.digest, Node: uint32(i)}
		if err := attest.Verify(v.ds.Signing[i], st, v.b.Signatures[i]); err != nil {
			c.fail("node %d: transcript signature does not verify", i)
		}
	}
	c.detail = fmt.Sprintf("all %d nodes signed transcript %x…", k, v.digest[:4])
}

// checkLiveSignatures is the transcript-signatures check of a backend
// whose quorum is a threshold th of live nodes: every live node listed
// signed the transcript, and they are at least th.
func (v *verification) checkLiveSignatures(c *check, th int) {
	t := v.t
	k := len(v.ds.Signing)
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

// unixTime formats Unix seconds for messages.
func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// firstDifference returns the index of the first byte where a and b differ.
func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// prefix returns the first 4 bytes of b (fewer if it is shorter), to show
// a digest in messages.
func prefix(b []byte) []byte { return b[:min(len(b), 4)] }

// plural says "1 problem", "3 problems".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

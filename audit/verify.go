package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/constraint"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/mpc"
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
	backend := cohortv1.Backend_BACKEND_MPC
	if v.t != nil {
		v.report.JobID, v.report.DatasetID, v.report.Cohort = v.t.JobID, v.t.DatasetID, len(v.t.Records)
		backend, v.he = v.t.Backend(), v.t.isHE()
		v.report.Backend = backendName(backend)
	}
	checks := map[string]func(*check){
		CheckTranscript: v.checkTranscript, CheckDescriptor: v.checkDescriptor, CheckCircuit: v.checkCircuit,
		CheckVerifyingKey: v.checkVerifyingKey, CheckSetup: v.checkSetup, CheckSpec: v.checkSpec,
		CheckCiphertexts: v.checkCiphertexts, CheckProofs: v.checkProofs, CheckRecordTerms: v.checkRecordTerms,
		CheckRegistryRoots: v.checkRegistryRoots, CheckNullifiers: v.checkNullifiers, CheckCohort: v.checkCohort,
		CheckEligibleSets: v.checkEligibleSets, CheckPartials: v.checkPartials, CheckAggregate: v.checkAggregate,
		CheckDecryptionSet: v.checkDecryptionSet, CheckDecryption: v.checkDecryption, CheckCoordinates: v.checkCoordinates,
		CheckOutputs: v.checkOutputs, CheckTranscriptSignatures: v.checkTranscriptSignatures,
	}
	v.decodeRecords()
	for _, name := range CheckNames(backend) {
		v.run(name, checks[name])
	}
	return v.report
}

// backendName names a backend in reports.
func backendName(b cohortv1.Backend) string {
	if b == cohortv1.Backend_BACKEND_HE {
		return "he"
	}
	return "mpc"
}

// verification is the state of one Verify: what earlier checks decoded,
// for the later ones. A nil field means its check failed.
type verification struct {
	b      *Bundle
	t      *Transcript
	o      options
	report *Report

	he bool // the transcript is an HE job's (it has a decryption set)

	digest    *[32]byte                   // transcript digest
	ds        *dataset.Dataset            // decoded descriptor, of the transcript's backend
	numPublic int                         // public inputs of the dataset's circuit; 0 if it has no shape
	ccs       constraint.ConstraintSystem // compiled circuit, digest as the descriptor says
	verifier  *circuits.Verifier          // under the descriptor's verifying key
	spec      *cohortv1.JobSpec           // decoded and valid for the dataset
	pubs      []*circuits.PublicInputs    // per record; nil where they do not decode
	pubErrs   []error                     // per record
	proofs    []*circuits.Proof           // per record; nil where it does not decode
	proofErrs []error                     // per record

	// HE only. The records' ciphertexts are decoded where a check needs
	// them, a batch at a time, not kept.
	agg   *he.Ciphertext          // the transcript's aggregate, decoded
	parts []*he.PartialDecryption // the decryption set's shares, decoded, in set order
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
	if v.he {
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
	v.ds = ds
	if desc.GetId() != v.t.DatasetID {
		c.fail("the descriptor is for dataset %q, the transcript for %q", desc.GetId(), v.t.DatasetID)
	}
	if d := taggedDigest(TagDescriptor, v.b.Descriptor); d != v.t.DescriptorDigest {
		c.fail("the descriptor's digest %x… differs from the one in the transcript, %x…", d[:4], v.t.DescriptorDigest[:4])
	}
	if ds.HE != nil {
		if ds.HE.Params.Insecure() {
			if !v.o.allowDev {
				c.fail("%s (refused; allow it explicitly for development)", insecureParamsWarning(ds.HE.Params.ID()))
				return
			}
			c.status = Warn
			defer func() { c.detail = insecureParamsWarning(ds.HE.Params.ID()) + "; " + c.detail }()
		}
		c.detail = fmt.Sprintf("dataset %s: HE on %s, %d-of-%d threshold key %x… signed by every node, smudging %d bits, registry depth %d, schema %x…; its digest is the transcript's",
			desc.GetId(), ds.HE.Params.ID(), ds.HE.Committee.Threshold, ds.HE.Committee.Nodes, ds.HE.KeyDigest[:4], ds.HE.Smudging.StatisticalBits,
			desc.GetRegistryDepth(), desc.GetSchema().GetDigest()[:4])
		return
	}
	c.detail = fmt.Sprintf("dataset %s: %d nodes, registry depth %d, schema %x…; its digest is the transcript's",
		desc.GetId(), desc.GetNodeCount(), desc.GetRegistryDepth(), desc.GetSchema().GetDigest()[:4])
}

func (v *verification) checkCircuit(c *check) {
	if !v.needDataset(c) {
		return
	}
	if v.ds.HE != nil {
		v.checkHECircuit(c)
		return
	}
	sh, err := v.ds.Shape()
	if err != nil {
		c.fail("the dataset has no circuit: %v", err)
		return
	}
	v.numPublic = sh.NumPublic()
	got, err := v.o.cache.compile(v.ds.Schema.Digest(), sh)
	if err != nil {
		c.fail("the dataset's circuit does not compile: %v", err)
		return
	}
	if !bytes.Equal(got.digest[:], v.ds.Desc.GetCircuitDigest()) {
		c.fail("the circuit compiled from the schema has digest %x…, the descriptor names %x…", got.digest[:4], prefix(v.ds.Desc.GetCircuitDigest()))
		return
	}
	v.ccs = got.ccs
	c.detail = fmt.Sprintf("the contribution circuit for %d nodes and registry depth %d compiles to the descriptor's digest %x… (%d constraints)",
		sh.Nodes, sh.Depth, got.digest[:4], got.ccs.GetNbConstraints())
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
	// MPC statements are small: one batch. An HE statement's public vector
	// has 8 + 2N field elements (256 KiB at N = 4096), so HE records are
	// verified heBatch at a time.
	batch := max(1, len(recs))
	if v.he {
		batch = heBatch
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
	c.detail = fmt.Sprintf("all %d proofs verify against their public inputs under the dataset's verifying key (one batch)", len(recs))
	if v.he {
		c.detail = fmt.Sprintf("all %d proofs verify against their consent inputs and their ciphertext's %d coefficients under the dataset's verifying key (batches of %d): each ciphertext encrypts a valid record under the collective key",
			len(recs), 2*v.ds.HE.Params.N(), heBatch)
	}
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
	if !v.he {
		return circuits.Statement{Proof: v.proofs[i], Public: v.pubs[i].Vector()}, true
	}
	// HE: the consent inputs, then the ciphertext's integer coefficients.
	params := v.ds.HE.Params
	ct, err := he.UnmarshalCiphertext(params, r.Ciphertext)
	if err != nil {
		c.fail("%s: its ciphertext does not decode, so its proof has no public vector", recordName(i, r.Nullifier))
		return circuits.Statement{}, false
	}
	c0, c1 := ct.Coefficients()
	public, err := circuits.HEPublicVector(v.pubs[i], c0, c1, params.N())
	if err != nil {
		c.fail("%s: no public vector: %v", recordName(i, r.Nullifier), err)
		return circuits.Statement{}, false
	}
	return circuits.Statement{Proof: v.proofs[i], Public: public}, true
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
	k := int(v.ds.Desc.GetNodeCount())
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
		switch {
		case v.he && len(p.ShareCommitments) != 0:
			c.fail("%s: carries %d share commitments, an HE record none", name, len(p.ShareCommitments))
		case !v.he && len(p.ShareCommitments) != k:
			c.fail("%s: shared among %d nodes, the dataset has %d", name, len(p.ShareCommitments), k)
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
	if v.he {
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

func (v *verification) checkPartials(c *check) {
	if !v.needDataset(c) {
		return
	}
	t, l := v.t, v.ds.Schema.Layout()
	coords := make([]uint32, len(t.Sums))
	for i, s := range t.Sums {
		coords[i] = s.Coordinate
	}
	if len(coords) < 1 || len(coords) > mpc.MaxLen {
		c.fail("%d released sums", len(coords))
		return
	}
	total := make([]fr.Element, len(coords))
	complete := true
	k := len(v.ds.Signing)
	for _, n := range t.Nodes {
		i := int(n.Index)
		if i >= k {
			c.fail("node %d: not a node of the dataset", i)
			complete = false
			continue
		}
		st := attest.JobPartial{JobID: t.JobID, SetDigest: n.SetDigest, Coordinates: coords, PartialDigest: sha256.Sum256(n.Partial), Node: n.Index}
		if err := attest.Verify(v.ds.Signing[i], st, n.PartialSignature); err != nil {
			c.fail("node %d: partial-sum signature does not verify", i)
		}
		p, err := mpc.UnmarshalPartial(n.Partial, len(coords))
		if err != nil {
			c.fail("node %d: partial sum does not decode: %v", i, err)
			complete = false
			continue
		}
		if p.Len() != len(coords) {
			c.fail("node %d: partial over %d coordinates, %d were released", i, p.Len(), len(coords))
			complete = false
			continue
		}
		if p.Count() != uint64(len(t.Records)) {
			c.fail("node %d: partial over %d records, the cohort has %d", i, p.Count(), len(t.Records))
		}
		if err := mpc.Accumulate(total, p.Sum()); err != nil {
			c.fail("node %d: %v", i, err)
			complete = false
		}
	}
	if len(t.Nodes) != k {
		c.fail("partials from %d nodes, the dataset has %d", len(t.Nodes), k)
		complete = false
	}
	if !complete {
		return
	}
	for j, s := range t.Sums {
		name := coordinateName(l, int(s.Coordinate))
		if s.Value == nil || s.Value.Sign() < 0 || s.Value.Cmp(fr.Modulus()) >= 0 {
			c.fail("coordinate %d (%s): the released sum is not an integer below the field modulus", s.Coordinate, name)
			continue
		}
		var want fr.Element
		want.SetBigInt(s.Value)
		if !want.Equal(&total[j]) {
			c.fail("coordinate %d (%s): released %s, the nodes' partials sum to %s", s.Coordinate, name, s.Value, total[j].BigInt(new(big.Int)))
		}
	}
	c.detail = fmt.Sprintf("the %d nodes' signed partials over %d records sum to every released sum (%d coordinates)", k, len(t.Records), len(coords))
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
	if v.he {
		v.checkLiveSignatures(c)
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

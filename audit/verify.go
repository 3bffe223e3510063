package audit

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Option changes how Verify checks a bundle.
type Option func(*options)

type options struct {
	allowDev bool
	cache    *Cache
	fed      *federation.Descriptor // pinned federation, nil if none
	digest   *[32]byte              // pinned descriptor digest, nil if none
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

// WithFederation pins the federation the auditor holds (federation.yaml,
// obtained from the federation, not from the bundle): the descriptor check
// fails unless the bundle's dataset names exactly its nodes and their seal
// and signing keys (federation.Descriptor.CheckDataset). Without a pin the
// node keys that check every signature come from the bundle itself, so a
// bundle made up by whoever holds keys of their own would verify.
func WithFederation(d *federation.Descriptor) Option { return func(o *options) { o.fed = d } }

// WithDescriptorDigest pins the dataset descriptor by its digest
// (DescriptorDigest, as Report.DescriptorDigest shows it): the descriptor
// check fails for any other descriptor.
func WithDescriptorDigest(d [32]byte) Option { return func(o *options) { o.digest = &d } }

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
	if v.t != nil {
		v.n = len(v.t.Records)
	}
	v.records = v.memoryRecords
	v.decodeRecords()
	return v.verify()
}

// verify runs every check in order, once v holds the bundle and the way
// to its records.
func (v *verification) verify() *Report {
	kind := cohortv1.Backend_BACKEND_MPC
	if v.t != nil {
		v.report.JobID, v.report.DatasetID, v.report.Cohort = v.t.JobID, v.t.DatasetID, v.n
		kind = v.t.Backend()
		v.report.Backend = backend.Name(kind)
	}
	checks := map[string]func(*check){
		CheckTranscript: v.checkTranscript, CheckDescriptor: v.checkDescriptor, CheckCircuit: v.checkCircuit,
		CheckVerifyingKey: v.checkVerifyingKey, CheckSetup: v.checkSetup, CheckSpec: v.checkSpec,
		CheckProofs: v.checkProofs, CheckRecordTerms: v.checkRecordTerms,
		CheckRegistryRoots: v.checkRegistryRoots, CheckNullifiers: v.checkNullifiers, CheckCohort: v.checkCohort,
		CheckEligibleSets: v.checkEligibleSets, CheckCoordinates: v.checkCoordinates,
		CheckReleaseMechanism: v.checkReleaseMechanism, CheckOutputs: v.checkOutputs, CheckRewards: v.checkRewards, CheckTranscriptSignatures: v.checkTranscriptSignatures,
	}
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

	digest    *[32]byte                                                    // transcript digest
	n         int                                                          // records in the transcript
	records   func(size int, fn func(base int, recs []Record) error) error // gives the records in order, in chunks of at most size
	streamed  *[32]byte                                                    // the digest of a streamed transcript, whose records are not in t
	pass      *recordPass                                                  // what the record checks found, once they ran
	ds        *dataset.Dataset                                             // decoded descriptor, of the transcript's backend
	be        backend.Backend                                              // the dataset's backend, with ds
	job       *backend.AuditJob                                            // the transcript as the backend's checks read it, with ds
	own       map[string]func(backend.Reporter)                            // the backend's own checks, with ds
	ownPass   backend.RecordPass                                           // what reads the records for them; nil if nothing does
	numPublic int                                                          // public inputs of the dataset's circuit; 0 if it has no shape
	ccs       constraint.ConstraintSystem                                  // compiled circuit, digest as the descriptor says
	verifier  *circuits.Verifier                                           // under the descriptor's verifying key
	spec      *cohortv1.JobSpec                                            // decoded and valid for the dataset
	pubs      []*circuits.PublicInputs                                     // per record of a transcript in memory; nil where they do not decode
	pubErrs   []error                                                      // per record
	proofs    []*circuits.Proof                                            // per record; nil where it does not decode
	proofErrs []error                                                      // per record
	rel       *release                                                     // the job's release, with ds and spec (release)
	relErr    error                                                        // why there is no rel
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
		if v.ownPass != nil {
			// It reports what the record pass found.
			p := v.passRecords()
			if p.err != nil {
				c.fail("the records could not be read: %v", p.err)
				return
			}
			if found := p.own[name]; found != nil {
				*c = *found
			}
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
	var d [32]byte
	if v.streamed != nil {
		d = *v.streamed // checked as it was read
	} else {
		var err error
		if d, err = v.t.Digest(); err != nil {
			c.fail("the transcript is not well formed: %v", err)
			return
		}
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
			TranscriptVersion, v.n, len(t.Nodes), t.DecryptionSet, len(t.Sums), len(t.Roots))
		return
	}
	c.detail = fmt.Sprintf("transcript v%d well formed: %d records, %d nodes, %d released sums, %d registry roots",
		TranscriptVersion, v.n, len(t.Nodes), len(t.Sums), len(t.Roots))
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

package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/cohort-dev/cohort/backend"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Status is the outcome of one check.
type Status string

const (
	// Pass: the check ran and everything it checks holds.
	Pass Status = "pass"
	// Warn: the check ran and passed only because an option allowed what
	// it found (an insecure development setup); the result is not to be
	// trusted with real data.
	Warn Status = "warn"
	// Fail: the check ran and something it checks does not hold.
	Fail Status = "fail"
	// Skip: the check could not run because something it needs failed
	// another check; it vouches for nothing.
	Skip Status = "skip"
)

// Names of the checks. Verify runs those CheckNames lists for the
// transcript's backend, in that order.
const (
	CheckTranscript           = "transcript"
	CheckDescriptor           = "descriptor"
	CheckCircuit              = backend.CheckCircuit
	CheckVerifyingKey         = "verifying-key"
	CheckSetup                = "setup"
	CheckSpec                 = "job-spec"
	CheckProofs               = "proofs"
	CheckRecordTerms          = "record-terms"
	CheckRegistryRoots        = "registry-roots"
	CheckNullifiers           = "nullifiers"
	CheckCohort               = "cohort"
	CheckEligibleSets         = "eligible-sets"
	CheckCoordinates          = "coordinates"
	CheckReleaseMechanism     = "release-mechanism"
	CheckOutputs              = "outputs"
	CheckTranscriptSignatures = "transcript-signatures"
	CheckRewards              = "rewards"

	// The backend's own checks (backend.AuditSlotsOf).
	CheckCiphertexts   = backend.CheckCiphertexts   // HE
	CheckPartials      = backend.CheckPartials      // MPC
	CheckAggregate     = backend.CheckAggregate     // HE
	CheckDecryptionSet = backend.CheckDecryptionSet // HE
	CheckDecryption    = backend.CheckDecryption    // HE
)

// CheckNames returns the checks Verify runs on a transcript of backend b,
// in order: the audit's own, with the backend's (backend.AuditSlotsOf) at
// their places — 18 for MPC; 21 for HE, where ciphertexts, aggregate,
// decryption-set and decryption are added and partial-sums is left out.
// Any backend other than HE gets the MPC list (the descriptor check
// refuses a dataset of another backend).
func CheckNames(b cohortv1.Backend) []string {
	slots := backend.AuditSlotsOf(b)
	names := []string{CheckTranscript, CheckDescriptor, CheckCircuit, CheckVerifyingKey, CheckSetup, CheckSpec}
	names = append(names, slots.Records...)
	names = append(names, CheckProofs, CheckRecordTerms, CheckRegistryRoots, CheckNullifiers, CheckCohort, CheckEligibleSets)
	names = append(names, slots.Combination...)
	return append(names, CheckCoordinates, CheckReleaseMechanism, CheckOutputs, CheckRewards, CheckTranscriptSignatures)
}

// MaxListedFailures bounds the failing items a check lists; its Detail
// counts them all.
const MaxListedFailures = 20

// Check is the outcome of one named check.
type Check struct {
	// Name is one of the Check… constants.
	Name string `json:"name"`
	// Status is the outcome.
	Status Status `json:"status"`
	// Detail says what was checked and found, in one line.
	Detail string `json:"detail"`
	// Failures names each failing item ("record 7 (nullifier ab12cd34…):
	// proof does not verify"), at most MaxListedFailures of them.
	Failures []string `json:"failures,omitempty"`
}

// OK reports whether the check passed, possibly with a warning.
func (c Check) OK() bool { return c.Status == Pass || c.Status == Warn }

// Report is the outcome of Verify: one entry per check, in order. It is
// plain data, safe to read concurrently; it renders as text (String,
// WriteText) and as JSON (encoding/json, with an "ok" field added).
type Report struct {
	// JobID and DatasetID name the job, as the transcript states them
	// (empty when the bundle did not decode).
	JobID     string `json:"job_id"`
	DatasetID string `json:"dataset_id"`
	// TranscriptDigest is Transcript.Digest in hex (empty when the
	// transcript does not encode).
	TranscriptDigest string `json:"transcript_digest"`
	// Cohort is the number of records in the transcript.
	Cohort int `json:"cohort"`
	// DescriptorDigest is the digest of the bundle's dataset descriptor
	// (DescriptorDigest) in hex, whether or not it is the transcript's;
	// empty when the bundle did not decode.
	DescriptorDigest string `json:"descriptor_digest"`
	// Pinned says what the descriptor was checked against besides the
	// bundle: "federation", "digest", "federation and digest", or empty
	// when nothing was pinned (WithFederation, WithDescriptorDigest).
	Pinned string `json:"pinned"`
	// Setup is how the dataset's keys were made, as its descriptor says:
	// "ceremony", "insecure-dev", or empty when unknown.
	Setup string `json:"setup"`
	// Backend is the backend the job ran on, as the transcript's form
	// says: "mpc" or "he" (empty when there is no transcript).
	Backend string `json:"backend"`
	// Checks are the checks, in the order they ran.
	Checks []Check `json:"checks"`
	// Warnings are what a reader must know even when every check passed:
	// ExactReleaseWarning for a job released without noise under a
	// development policy.
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether every check passed (warnings allowed, as the options
// allowed them): the verdict `cohort audit verify` exits 0 on. A report
// with no checks is not OK.
func (r *Report) OK() bool {
	if r == nil || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK() {
			return false
		}
	}
	return true
}

// Check returns the check of the given name.
func (r *Report) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// MarshalJSON encodes the report with its verdict as "ok".
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		OK bool `json:"ok"`
		*plain
	}{r.OK(), (*plain)(r)})
}

var marks = map[Status]string{Pass: "✓", Warn: "⚠", Fail: "✗", Skip: "–"}

// WriteText writes the report for people: a header naming the job, one
// line per check (✓ pass, ⚠ warning, ✗ fail, – not checked) with its
// failing items indented below it, a "WARNING:" line per warning, then a
// summary line.
func (r *Report) WriteText(w io.Writer) error {
	_, err := io.WriteString(w, r.String())
	return err
}

// String renders the report as WriteText does.
func (r *Report) String() string {
	var b strings.Builder
	job, ds := r.JobID, r.DatasetID
	if job == "" {
		job = "?"
	}
	if ds == "" {
		ds = "?"
	}
	fmt.Fprintf(&b, "cohort audit: job %s on dataset %s", job, ds)
	if r.Backend != "" {
		fmt.Fprintf(&b, " (%s)", strings.ToUpper(r.Backend))
	}
	b.WriteString("\n")
	if r.TranscriptDigest != "" {
		fmt.Fprintf(&b, "transcript %s, %d records\n", r.TranscriptDigest, r.Cohort)
	}
	if r.DescriptorDigest != "" {
		pin := "pinned by " + r.Pinned
		if r.Pinned == "" {
			pin = "NOT PINNED: its node keys come from the bundle itself; pin the federation or this digest"
		}
		fmt.Fprintf(&b, "dataset descriptor %s (%s)\n", r.DescriptorDigest, pin)
	}
	counts := map[Status]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
		fmt.Fprintf(&b, "%s %s: %s\n", marks[c.Status], c.Name, c.Detail)
		for _, f := range c.Failures {
			fmt.Fprintf(&b, "    %s\n", f)
		}
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "WARNING: %s\n", w)
	}
	switch {
	case r.OK() && counts[Warn] > 0:
		fmt.Fprintf(&b, "VERIFIED WITH WARNINGS: %d of %d checks passed, %d only because an option allowed it — do not trust this result with real data\n",
			counts[Pass], len(r.Checks), counts[Warn])
	case r.OK() && len(r.Warnings) > 0:
		fmt.Fprintf(&b, "VERIFIED WITH WARNINGS: all %d checks passed, but read the %s above\n", len(r.Checks), plural(len(r.Warnings), "warning"))
	case r.OK():
		fmt.Fprintf(&b, "VERIFIED: all %d checks passed\n", len(r.Checks))
	default:
		fmt.Fprintf(&b, "FAILED: %d of %d checks failed, %d not checked\n", counts[Fail], len(r.Checks), counts[Skip])
	}
	return b.String()
}

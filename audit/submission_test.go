package audit

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/cohort-dev/cohort/attest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// testBuyerKey signs the fixtures' job submissions.
var testBuyerKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// signedSubmission is the buyer's signed submission of spec over desc
// (testBuyer when buyer is empty), and the key it verifies under.
func signedSubmission(buyer string, spec *cohortv1.JobSpec, desc *cohortv1.DatasetDescriptor) (*cohortv1.JobSubmission, []byte) {
	if buyer == "" {
		buyer = testBuyer
	}
	sd, err := SpecDigest(spec)
	if err != nil {
		panic(err)
	}
	dd, err := DescriptorDigest(desc)
	if err != nil {
		panic(err)
	}
	at := testJobTime.Unix() - 10
	st := attest.JobSubmission{Buyer: buyer, RequestID: "req-audit", DatasetID: spec.GetDatasetId(), DescriptorDigest: dd, SpecDigest: sd, SubmittedAt: at}
	return &cohortv1.JobSubmission{BuyerId: buyer, RequestId: "req-audit", DescriptorDigest: dd[:], SubmittedAt: at,
		Signature: attest.Sign(testBuyerKey, st)}, testBuyerKey.Public().(ed25519.PublicKey)
}

// resignSubmission signs tr's submission again, as its buyer, over tr's
// spec and descriptor digest: the fixtures' edits that the nodes sign
// again are ones the buyer signed too.
func resignSubmission(tr *Transcript) {
	s := &tr.Submission
	if s.PublicKey != [32]byte(testBuyerKey.Public().(ed25519.PublicKey)) {
		return
	}
	if tr.Buyer != "" {
		s.Buyer = tr.Buyer // an edit of the buyer charged: that buyer signs
	}
	st := attest.JobSubmission{Buyer: s.Buyer, RequestID: s.RequestID, DatasetID: tr.DatasetID, DescriptorDigest: tr.DescriptorDigest,
		SpecDigest: taggedDigest(TagSpec, tr.Spec), SubmittedAt: s.SubmittedAt}
	s.Signature = attest.Sign(testBuyerKey, st)
}

// submissionOf is the wire form of a transcript's submission, and its key.
func submissionOf(tr *Transcript) (*cohortv1.JobSubmission, []byte) {
	s := tr.Submission
	return &cohortv1.JobSubmission{BuyerId: s.Buyer, RequestId: s.RequestID, DescriptorDigest: tr.DescriptorDigest[:], SubmittedAt: s.SubmittedAt,
		Signature: s.Signature}, s.PublicKey[:]
}

// TestTamperedSubmissionFailsAudit: a spec or a buyer signature changed
// after the buyer signed fails the job-spec check, whatever the nodes
// signed.
func TestTamperedSubmissionFailsAudit(t *testing.T) {
	f := getFixture(t, devSetup)
	for _, tc := range []struct {
		name string
		edit func(*Bundle)
	}{
		{"signature", func(b *Bundle) { b.Transcript.Submission.Signature[0] ^= 1 }},
		{"buyer key", func(b *Bundle) { b.Transcript.Submission.PublicKey[0] ^= 1 }},
		{"request id", func(b *Bundle) { b.Transcript.Submission.RequestID = "req-other" }},
		{"spec", func(b *Bundle) {
			editSpec(t, b, func(s *cohortv1.JobSpec) { s.MinCohort++ })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.clone(t)
			tc.edit(b)
			r := Verify(b, AllowInsecureDevSetup())
			if c, ok := r.Check(CheckSpec); !ok || c.Status != Fail {
				t.Fatalf("job-spec check %+v, want a failure", c)
			}
		})
	}
}

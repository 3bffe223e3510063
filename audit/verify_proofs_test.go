package audit

import (
	"slices"
	"strings"
	"testing"
)

// TestProofsNamesEachBadRecord: the proofs are batch-verified; two records
// whose proofs belong to other records are each named, and no other record
// is.
func TestProofsNamesEachBadRecord(t *testing.T) {
	f := getFixture(t, devSetup)
	b := f.clone(t)
	recs := b.Transcript.Records
	recs[1].Proof = slices.Clone(recs[3].Proof)
	recs[4].Proof = slices.Clone(recs[0].Proof)
	if err := f.signTranscript(b); err != nil {
		t.Fatal(err)
	}
	r := Verify(b, f.opts...)
	c, ok := r.Check(CheckProofs)
	if !ok || c.OK() {
		t.Fatalf("proofs check: %+v", c)
	}
	want := []string{
		recordName(1, recs[1].Nullifier) + ": proof does not verify",
		recordName(4, recs[4].Nullifier) + ": proof does not verify",
	}
	if len(c.Failures) != len(want) {
		t.Fatalf("failures %q, want %q", c.Failures, want)
	}
	for i, w := range want {
		if !strings.Contains(c.Failures[i], w) {
			t.Errorf("failure %d: %q, want %q", i, c.Failures[i], w)
		}
	}
}

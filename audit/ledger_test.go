package audit

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/dp"
)

// ledgerJob assembles a noised job spending rho whose every node's
// ledger had spent epochBefore of each epoch and buyerBefore of the
// buyer's share before it.
func ledgerJob(t *testing.T, f *dpFixture, id, rho, epochBefore, buyerBefore string) *Bundle {
	t.Helper()
	e, b := mustRho(t, epochBefore), mustRho(t, buyerBefore)
	bundle, err := f.assembleJob(f.job(id, rho, func(int, uint64) (dp.Rho, dp.Rho) { return e, b }))
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

// expectViolations fails t unless r is not OK and each of want is part
// of some violation.
func expectViolations(t *testing.T, r *LedgerReport, want ...string) {
	t.Helper()
	if r.OK() {
		t.Fatalf("ledger report is OK:\n%s", r)
	}
	for _, w := range want {
		if !slices.ContainsFunc(r.Violations, func(v string) bool { return strings.Contains(v, w) }) {
			t.Errorf("no violation mentions %q:\n%s", w, r)
		}
	}
}

func TestLedgerConsistent(t *testing.T) {
	f := getDPFixture(t)
	// Job a from empty ledgers, b right after it, then a job with no
	// transcript charged [1/4, 3/8), then c; the same transcript of b twice.
	a := f.bundle
	b := ledgerJob(t, f, "job-b", "1/8", "1/8", "1/8")
	c := ledgerJob(t, f, "job-c", "1/16", "3/8", "3/8")
	r := Ledger([]*Bundle{c, a, b, b})
	if !r.OK() {
		t.Fatalf("consistent ledgers:\n%s", r)
	}
	if r.DatasetID != f.desc.GetId() || r.Transcripts != 3 || r.EpochTotal != "1" || r.BuyerTotal != "1/2" || len(r.ExactJobs) != 0 {
		t.Fatalf("report header: %+v", r)
	}
	if len(r.Epochs) != 2 || r.Epochs[0].Epoch != f.epoch-1 || r.Epochs[1].Epoch != f.epoch {
		t.Fatalf("epochs %+v", r.Epochs)
	}
	for _, e := range r.Epochs {
		if len(e.Nodes) != testNodes {
			t.Fatalf("epoch %d: %d nodes", e.Epoch, len(e.Nodes))
		}
		for _, n := range e.Nodes {
			gap := []LedgerGap{{From: "1/4", To: "3/8", Rho: "1/8"}}
			if n.Released != "5/16" || n.Charged != "7/16" || !slices.Equal(n.Gaps, gap) {
				t.Errorf("epoch %d, node %d: released %s, charged %s, gaps %v", e.Epoch, n.Node, n.Released, n.Charged, n.Gaps)
			}
			if jobs := []string{n.Debits[0].JobID, n.Debits[1].JobID, n.Debits[2].JobID}; !slices.Equal(jobs, []string{testJobID, "job-b", "job-c"}) {
				t.Errorf("epoch %d, node %d: debits in the order %v", e.Epoch, n.Node, jobs)
			}
			if len(n.Buyers) != 1 || n.Buyers[0].Buyer != testBuyer || n.Buyers[0].Released != "5/16" || n.Buyers[0].Charged != "7/16" ||
				!slices.Equal(n.Buyers[0].Gaps, gap) {
				t.Errorf("epoch %d, node %d: buyers %+v", e.Epoch, n.Node, n.Buyers)
			}
		}
	}
	text := r.String()
	for _, want := range []string{"cohort audit ledger: dataset fitness-2026, 3 transcripts, budget ρ = 1 per epoch, 1/2 per buyer",
		"  node 0: ρ = 5/16 debited by 3 released jobs, ledger at 7/16; charged by jobs without a transcript here: [1/4, 3/8)",
		"    job-b: ρ = 1/8 to lab-1, [1/8, 1/4) of the epoch, [1/8, 1/4) of the buyer's",
		"LEDGERS CONSISTENT"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	enc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		OK     bool          `json:"ok"`
		Epochs []LedgerEpoch `json:"epochs"`
	}
	if err := json.Unmarshal(enc, &back); err != nil || !back.OK || len(back.Epochs) != 2 || back.Epochs[1].Nodes[2].Charged != "7/16" {
		t.Fatalf("JSON %s: %v", enc, err)
	}
}

func TestLedgerViolations(t *testing.T) {
	f := getDPFixture(t)
	x := getFixture(t, devSetup)
	a := f.bundle
	for _, tc := range []struct {
		name string
		jobs func(t *testing.T) []*Bundle
		want []string
	}{
		{"overlapping debits (a rewritten ledger)", func(t *testing.T) []*Bundle {
			return []*Bundle{a, ledgerJob(t, f, "job-b", "1/8", "1/16", "1/8")}
		}, []string{`node 0, epoch 2929, the epoch's budget: job job-b's debit [1/16, 3/16) overlaps job job-audit-test's [0, 1/8): the node charged the same ρ twice`}},
		{"the same ρ charged twice", func(t *testing.T) []*Bundle {
			return []*Bundle{a, ledgerJob(t, f, "job-b", "1/8", "0", "0")}
		}, []string{`node 2, epoch 2930, buyer "lab-1"'s budget: job job-b's debit [0, 1/8) overlaps`, "node 1, epoch 2929, the epoch's budget: job job-b's debit [0, 1/8) overlaps"}},
		{"an overspent buyer", func(t *testing.T) []*Bundle {
			return []*Bundle{a, ledgerJob(t, f, "job-b", "1/8", "1/8", "7/16")}
		}, []string{"job job-b: enclave: invalid privacy debit: node 0, epoch 2929: the buyer budget is overspent: 9/16 of 1/2",
			`node 0, epoch 2929, buyer "lab-1"'s budget: job job-b's debit [7/16, 9/16) passes the total of 1/2`}},
		{"an overspent epoch", func(t *testing.T) []*Bundle {
			return []*Bundle{a, ledgerJob(t, f, "job-b", "1/8", "15/16", "1/8")}
		}, []string{"node 2, epoch 2930, the epoch's budget: job job-b's debit [15/16, 17/16) passes the total of 1"}},
		{"a transcript of another dataset", func(t *testing.T) []*Bundle {
			other := f.cloneDP(t)
			other.Transcript.DatasetID = "other-dataset"
			return []*Bundle{a, other}
		}, []string{`job job-audit-test: a transcript of dataset "other-dataset", not "fitness-2026": a ledger is one dataset's`}},
		{"a transcript under another policy", func(t *testing.T) []*Bundle { return []*Bundle{a, x.bundle} },
			[]string{"job job-audit-test: released under a policy of ρ = 0 per epoch and 0 per buyer (RELEASE_MECHANISM_EXACT_INSECURE_DEV)"}},
		{"two transcripts of one job", func(t *testing.T) []*Bundle {
			return []*Bundle{a, ledgerJob(t, f, testJobID, "1/8", "1/8", "1/8")}
		}, []string{"job job-audit-test: two different transcripts"}},
		{"a transcript its nodes did not sign", func(t *testing.T) []*Bundle {
			b := ledgerJob(t, f, "job-b", "1/8", "1/8", "1/8")
			b.Signatures[1][0] ^= 1
			return []*Bundle{a, b}
		}, []string{"job job-b: not every node it lists signed the transcript: not a released job"}},
		{"a debit's signature altered", func(t *testing.T) []*Bundle {
			b := ledgerJob(t, f, "job-b", "1/8", "1/8", "1/8")
			b.Transcript.Nodes[2].Debit.Signature.Signature[0] ^= 1
			if err := f.signTranscript(b); err != nil {
				t.Fatal(err)
			}
			return []*Bundle{a, b}
		}, []string{"job job-b: enclave: invalid privacy debit: node 2: attest: signature does not verify"}},
		{"a debit missing", func(t *testing.T) []*Bundle {
			b := ledgerJob(t, f, "job-b", "1/8", "1/8", "1/8")
			b.Transcript.Nodes[0].Debit = nil
			if err := f.signTranscript(b); err != nil {
				t.Fatal(err)
			}
			return []*Bundle{a, b}
		}, []string{"job job-b: enclave: invalid privacy debit: node 0 released a noised partial without debiting its ledger"}},
		{"no transcript", func(t *testing.T) []*Bundle { return []*Bundle{a, nil} }, []string{"bundle 1: no transcript"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Ledger(tc.jobs(t))
			expectViolations(t, r, tc.want...)
			if text := r.String(); !strings.Contains(text, "✗ "+r.Violations[0]) || !strings.Contains(text, "LEDGERS VIOLATED") {
				t.Errorf("text does not list the violations:\n%s", text)
			}
		})
	}
}

// TestLedgerExact: exact releases charge nothing; the report says so.
func TestLedgerExact(t *testing.T) {
	x := getFixture(t, devSetup)
	r := Ledger([]*Bundle{x.bundle})
	if !r.OK() || r.Transcripts != 1 || !slices.Equal(r.ExactJobs, []string{testJobID}) || len(r.Epochs) != 0 || r.EpochTotal != "" {
		t.Fatalf("exact release:\n%s%+v", r, r)
	}
	if !strings.Contains(r.String(), "WARNING: 1 job released EXACTLY under a development policy, charging no budget: "+testJobID) {
		t.Fatalf("text:\n%s", r)
	}
	if r := Ledger(nil); !r.OK() || r.Transcripts != 0 {
		t.Fatalf("no bundles: %+v", r)
	}
}

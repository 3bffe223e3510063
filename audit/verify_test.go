package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// expect checks that exactly the checks named in want fail (or are
// skipped), each mentioning want[name] in its detail or failures, and that
// every other check passes. With loose set, other checks may fail too.
func expect(t *testing.T, r *Report, want map[string]string, loose bool) {
	t.Helper()
	if r.OK() {
		t.Fatalf("tampered bundle verifies:\n%s", r)
	}
	for name, sub := range want {
		c, ok := r.Check(name)
		if !ok {
			t.Errorf("no check %q", name)
			continue
		}
		if c.OK() {
			t.Errorf("check %s passed: %s", name, c.Detail)
			continue
		}
		if text := c.Detail + "\n" + strings.Join(c.Failures, "\n"); !strings.Contains(text, sub) {
			t.Errorf("check %s does not mention %q:\n%s", name, sub, text)
		}
	}
	if loose {
		return
	}
	for _, c := range r.Checks {
		if _, listed := want[c.Name]; !listed && !c.OK() {
			t.Errorf("check %s: %s: %s %v", c.Name, c.Status, c.Detail, c.Failures)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", r)
	}
}

func TestVerifyHonest(t *testing.T) {
	f := getFixture(t, devSetup)
	r := Verify(f.bundle, f.opts...)
	if !r.OK() {
		t.Fatalf("honest bundle does not verify:\n%s", r)
	}
	for _, c := range r.Checks {
		want := Pass
		if c.Name == CheckSetup {
			want = Warn
		}
		if c.Status != want {
			t.Errorf("check %s: %s, want %s", c.Name, c.Status, want)
		}
	}
	if len(r.Checks) != 18 || r.Cohort != 5 || r.Setup != "insecure-dev" || r.JobID != testJobID {
		t.Fatalf("report header: %+v", r)
	}
	if !slices.Equal(r.Warnings, []string{ExactReleaseWarning}) {
		t.Fatalf("an exact release's report warns %q", r.Warnings)
	}
	if d, _ := f.bundle.Transcript.Digest(); r.TranscriptDigest != fmt.Sprintf("%x", d) {
		t.Fatal("report names another transcript digest")
	}
	// The same bundle through its encoding.
	if r := VerifyEncoded(f.encoded, DefaultLimits(), f.opts...); !r.OK() {
		t.Fatalf("encoded honest bundle does not verify:\n%s", r)
	}
}

func TestInsecureDevSetupRefusedByDefault(t *testing.T) {
	f := getFixture(t, devSetup)
	r := Verify(f.bundle, WithCache(f.cache))
	expect(t, r, map[string]string{CheckSetup: "INSECURE DEVELOPMENT SETUP"}, false)
	if c, _ := r.Check(CheckSetup); c.Status != Fail {
		t.Fatalf("setup check %s", c.Status)
	}
	// A dev dataset cannot smuggle in a ceremony transcript either.
	b := f.clone(t)
	b.Ceremony = []byte("a ceremony")
	expect(t, Verify(b, f.opts...), map[string]string{CheckSetup: "INSECURE_DEV, yet a ceremony transcript"}, false)
}

// recordWithRoot returns the index of the record proven against root.
func recordWithRoot(t *testing.T, tr *Transcript, root [32]byte) int {
	t.Helper()
	for i, r := range tr.Records {
		var p circuits.PublicInputs
		if err := p.UnmarshalBinary(r.Public); err != nil {
			t.Fatal(err)
		}
		if p.Root.Bytes() == root {
			return i
		}
	}
	t.Fatal("no record uses the root")
	return 0
}

func editResult(t *testing.T, b *Bundle, edit func(*cohortv1.Result)) {
	t.Helper()
	res := new(cohortv1.Result)
	if err := proto.Unmarshal(b.Transcript.Result, res); err != nil {
		t.Fatal(err)
	}
	edit(res)
	enc, err := deterministic.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	b.Transcript.Result = enc
}

func editSpec(t *testing.T, b *Bundle, edit func(*cohortv1.JobSpec)) {
	t.Helper()
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(b.Transcript.Spec, spec); err != nil {
		t.Fatal(err)
	}
	edit(spec)
	enc, err := deterministic.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	b.Transcript.Spec = enc
}

// sumIndex returns the index in Sums of coordinate c.
func sumIndex(t *testing.T, tr *Transcript, c uint32) int {
	t.Helper()
	for i, s := range tr.Sums {
		if s.Coordinate == c {
			return i
		}
	}
	t.Fatalf("coordinate %d not released", c)
	return 0
}

// TestTamperedItems alters one item of the honest bundle at a time. Every
// item but the transcript signatures is inside the signed transcript, so
// an alteration alone breaks the nodes' signatures; with resign, the
// nodes sign the altered transcript (as if they all colluded) and the
// check that owns the item must still catch it and name it.
func TestTamperedItems(t *testing.T) {
	f := getFixture(t, devSetup)
	tr := f.bundle.Transcript
	rec := func(i int) string { return recordName(i, tr.Records[i].Nullifier) }
	age := uint32(f.schema.Layout().Values[0].Index) // the value coordinate of "age"
	const unsigned = "does not verify"
	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, b *Bundle)
		resign bool
		want   map[string]string
		loose  bool
	}{
		{"proof byte", func(t *testing.T, b *Bundle) { b.Transcript.Records[2].Proof[40] ^= 0x01 }, false,
			map[string]string{CheckProofs: rec(2), CheckTranscriptSignatures: "node 0: transcript signature " + unsigned}, false},
		{"proof byte, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Records[2].Proof[40] ^= 0x01 }, true,
			map[string]string{CheckProofs: rec(2)}, false},
		{"proof of another record, re-signed", func(t *testing.T, b *Bundle) {
			b.Transcript.Records[2].Proof = slices.Clone(b.Transcript.Records[3].Proof)
		}, true, map[string]string{CheckProofs: rec(2) + ": proof does not verify"}, false},
		{"public input (expiry), re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Records[1].Public[121] ^= 0x01 }, true,
			map[string]string{CheckProofs: rec(1) + ": proof does not verify"}, false},
		{"public input (nullifier), re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Records[1].Public[80] ^= 0x01 }, true,
			map[string]string{CheckProofs: rec(1) + ": proof does not verify", CheckRecordTerms: rec(1) + ": its public inputs carry another nullifier"}, false},
		{"public input, version byte", func(t *testing.T, b *Bundle) { b.Transcript.Records[0].Public[0] ^= 0x01 }, true,
			map[string]string{CheckProofs: rec(0) + ": public inputs do not decode", CheckRecordTerms: rec(0),
				CheckRegistryRoots: rec(0)}, false},
		{"set signature", func(t *testing.T, b *Bundle) { b.Transcript.Nodes[1].SetSignature[5] ^= 0x01 }, false,
			map[string]string{CheckEligibleSets: "node 1: eligible-set signature " + unsigned, CheckTranscriptSignatures: unsigned}, false},
		{"set signature, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Nodes[1].SetSignature[5] ^= 0x01 }, true,
			map[string]string{CheckEligibleSets: "node 1: eligible-set signature " + unsigned}, false},
		{"partial signature, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Nodes[2].PartialSignature[63] ^= 0x80 }, true,
			map[string]string{CheckPartials: "node 2: partial-sum signature " + unsigned}, false},
		{"transcript signature", func(t *testing.T, b *Bundle) { b.Signatures[0][10] ^= 0x01 }, false,
			map[string]string{CheckTranscriptSignatures: "node 0: transcript signature " + unsigned}, false},
		{"missing transcript signature", func(t *testing.T, b *Bundle) { b.Signatures = b.Signatures[:2] }, false,
			map[string]string{CheckTranscript: "2 transcript signatures for 3 nodes", CheckTranscriptSignatures: "node 2: no transcript signature"}, false},
		{"released sum, re-signed", func(t *testing.T, b *Bundle) {
			s := b.Transcript.Sums[sumIndex(t, b.Transcript, age)].Value
			s.Add(s, big.NewInt(1))
		}, true, map[string]string{
			CheckPartials: fmt.Sprintf("coordinate %d (sum of age): released", age),
			CheckOutputs:  "output 1 (mean of age): released",
		}, false},
		{"released count, re-signed", func(t *testing.T, b *Bundle) {
			s := b.Transcript.Sums[0].Value
			s.Add(s, big.NewInt(1))
		}, true, map[string]string{
			CheckPartials: "coordinate 0 (count): released 6", CheckCoordinates: "the count coordinate sums to 6", CheckOutputs: "",
		}, false},
		{"released output value, re-signed", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) {
				n := r.Outputs[1].GetScalar()
				n.Value = math.Nextafter(n.Value, math.Inf(1))
			})
		}, true, map[string]string{CheckOutputs: "output 1 (mean of age): released 42.800000000000004 (exact 214/5), recomputed 42.8 (exact 214/5)"}, false},
		{"released exact value, re-signed", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Outputs[2].GetScalar().Exact = "3721/100" })
		}, true, map[string]string{CheckOutputs: "output 2 (sum of sleep_h): released"}, false},
		{"released histogram, re-signed", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Outputs[5].GetHistogram().Bins[0].Count++ })
		}, true, map[string]string{CheckOutputs: `output 5 (histogram of region): bin 0: released "north": 3, recomputed "north": 2`}, false},
		{"released regression, re-signed", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Outputs[9].GetRegression().Coefficients[1] *= 1.0000001 })
		}, true, map[string]string{CheckOutputs: "output 9 (linear regression of resting_hr on age, steps): coefficient of steps: released"}, false},
		{"result cohort size, re-signed", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.CohortSize = 50 })
		}, true, map[string]string{CheckOutputs: "the result states a cohort of 50"}, false},
		{"result with a transcript id, re-signed", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.TranscriptId = "x" })
		}, true, map[string]string{CheckOutputs: "names a transcript id"}, false},
		{"result byte", func(t *testing.T, b *Bundle) { b.Transcript.Result[len(b.Transcript.Result)-3] ^= 0x01 }, true,
			map[string]string{CheckOutputs: "", CheckReleaseMechanism: "the released result does not decode"}, false},
		{"verifying key", func(t *testing.T, b *Bundle) { b.VerifyingKey[100] ^= 0x01 }, false,
			map[string]string{CheckVerifyingKey: "differs from the descriptor's (848 bytes) at byte 100", CheckProofs: "the verifying key did not check"}, false},
		{"descriptor byte", func(t *testing.T, b *Bundle) {
			i := bytes.Index(b.Descriptor, []byte("node-1.test"))
			b.Descriptor[i] ^= 0x01
		}, false, map[string]string{CheckDescriptor: "the descriptor's digest"}, false},
		{"descriptor names another dataset, re-signed", func(t *testing.T, b *Bundle) {
			b.Transcript.DatasetID = "fitness-2027"
		}, true, map[string]string{
			CheckDescriptor: `the descriptor is for dataset "fitness-2026", the transcript for "fitness-2027"`,
			CheckSpec:       "the spec is for dataset", CheckEligibleSets: unsigned,
		}, true},
		{"spec purpose, re-signed", func(t *testing.T, b *Bundle) {
			editSpec(t, b, func(s *cohortv1.JobSpec) { s.Purpose = "academic-research" })
		}, true, map[string]string{CheckEligibleSets: "node 0: eligible-set signature " + unsigned}, false},
		{"job time, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.JobTime += 3600 }, true,
			map[string]string{CheckEligibleSets: "node 2: eligible-set signature " + unsigned,
				CheckOutputs: "the result was released at 2026-03-04T12:00:30Z, before the job time 2026-03-04T13:00:00Z"}, false},
		{"effective minimum, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.EffectiveMinimum = 2 }, true,
			map[string]string{CheckCohort: "records an effective minimum of 2, the spec and schema give 3"}, false},
		{"eligible count, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Nodes[0].Eligible++ }, true,
			map[string]string{CheckEligibleSets: "node 0: 7 eligible records are not its 5 counted plus 1 dropped"}, false},
		{"payload digest, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Records[3].PayloadDigest[0] ^= 0x01 }, true,
			map[string]string{CheckEligibleSets: "node 1: signed set digest"}, false},
		{"node's set digest, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.Nodes[2].SetDigest[0] ^= 0x01 }, true,
			map[string]string{CheckEligibleSets: "node 2: signed set digest", CheckPartials: "node 2: partial-sum signature"}, false},
		{"partial, re-signed", func(t *testing.T, b *Bundle) {
			b.Transcript.Nodes[0].Partial[len(b.Transcript.Nodes[0].Partial)-1] ^= 0x01
		}, true,
			map[string]string{CheckPartials: "node 0: partial-sum signature " + unsigned}, false},
		{"coordinate dropped, re-signed", func(t *testing.T, b *Bundle) {
			b.Transcript.Sums = b.Transcript.Sums[:len(b.Transcript.Sums)-1]
		}, true, map[string]string{CheckCoordinates: "the outputs need it, but it was not released", CheckPartials: "node 0",
			CheckOutputs: "cannot be recomputed"}, false},
		{"root missing from the history, re-signed", func(t *testing.T, b *Bundle) {
			b.Transcript.Roots = slices.Delete(b.Transcript.Roots, 2, 3)
		}, true, map[string]string{CheckRegistryRoots: rec(recordWithRoot(t, tr, f.roots[2].Root)) + ": registry root"}, false},
		{"roots only seen after the job, re-signed", func(t *testing.T, b *Bundle) {
			for i := range b.Transcript.Roots {
				b.Transcript.Roots[i].SeenAt += 2 * 86400
				if b.Transcript.Roots[i].SupersededAt != 0 {
					b.Transcript.Roots[i].SupersededAt += 2 * 86400
				}
			}
		}, true, map[string]string{CheckRegistryRoots: "after the job time"}, false},
		{"claim root, re-signed", func(t *testing.T, b *Bundle) { b.Transcript.ClaimRoot[5] ^= 0x01 }, true,
			map[string]string{CheckRewards: "is not the root"}, false},
		{"claim root of fewer records, re-signed", func(t *testing.T, b *Bundle) {
			root, err := ClaimRootOf(b.Transcript.Records[1:])
			if err != nil {
				t.Fatal(err)
			}
			b.Transcript.ClaimRoot = root
		}, true, map[string]string{CheckRewards: "is not the root"}, false},
		{"reward above the price, re-signed", func(t *testing.T, b *Bundle) {
			if b.Transcript.Buyer == "" {
				b.Transcript.Buyer = "lab-1"
			}
			b.Transcript.RewardPerRecord = 7
		}, true, map[string]string{CheckRewards: "reward of 7 micro-credits per record, the dataset's price for this job is 0"}, true},
		{"duplicated record", func(t *testing.T, b *Bundle) {
			r := b.Transcript.Records
			b.Transcript.Records = append(r[:3:3], append([]Record{r[2]}, r[3:]...)...)
		}, false, map[string]string{
			CheckTranscript: "nullifier repeats record 2's",
			CheckNullifiers: recordName(3, tr.Records[2].Nullifier) + ": the same nullifier as record 2",
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.clone(t)
			tc.edit(t, b)
			if tc.resign {
				if err := f.signTranscript(b); err != nil {
					t.Fatal(err)
				}
			}
			expect(t, Verify(b, f.opts...), tc.want, tc.loose)
		})
	}
}

// TestPolicyViolations: the nodes count a record the job must not count,
// and sign everything; the audit names the record and the rule.
func TestPolicyViolations(t *testing.T) {
	f := getFixture(t, devSetup)
	spec := testSpec(f.schema.ID, f.epoch)
	withBad := func(name string) []proved { return append(slices.Clone(f.honest), f.bad[name]) }
	for _, tc := range []struct {
		name  string
		spec  *cohortv1.JobSpec
		recs  []proved
		roots []Root
		check string
		item  string // a bad record whose name the failure must carry
		want  string
	}{
		{"purpose not consented", spec, withBad("unconsented"), f.roots, CheckRecordTerms, "unconsented",
			`purpose "public-health" not consented (consented: academic-research, commercial-training)`},
		{"consent expired", spec, withBad("expired"), f.roots, CheckRecordTerms, "expired",
			"consent expired at 2026-03-04T11:00:00Z, before the job time 2026-03-04T12:00:00Z"},
		{"epoch outside the range", spec, withBad("old-epoch"), f.roots, CheckRecordTerms, "old-epoch",
			fmt.Sprintf("epoch %d is outside the job's epochs %d..%d", f.epoch-3, f.epoch-1, f.epoch)},
		{"another dataset", spec, withBad("other-dataset"), f.roots, CheckRecordTerms, "other-dataset", "proven for another dataset"},
		{"contributor's minimum", spec, withBad("high-minimum"), f.roots, CheckCohort, "high-minimum",
			"its contributor allows only cohorts of at least 50, this one has 6"},
		{"root not in the history", spec, f.honest, slices.Delete(slices.Clone(f.roots), 4, 5), CheckRegistryRoots, "",
			"is not in the registry's history"},
		{"cohort below the minimum", func() *cohortv1.JobSpec {
			s := proto.Clone(spec).(*cohortv1.JobSpec)
			s.MinCohort = 6
			return s
		}(), f.honest, f.roots, CheckCohort, "", "a cohort of 5 records is below the effective minimum of 6 (the buyer's 6, the dataset's 3)"},
		{"cohort below the dataset's minimum", &cohortv1.JobSpec{DatasetId: f.schema.ID, EpochFrom: f.epoch, EpochTo: f.epoch, Purpose: "public-health",
			Outputs: spec.GetOutputs()[:2]}, f.honest[:2], f.roots, CheckCohort, "", "a cohort of 2 records is below the effective minimum of 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := f.assemble(tc.spec, tc.recs, tc.roots)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.item != "" {
				nf := f.bad[tc.item].rec.Nullifier
				i := slices.IndexFunc(b.Transcript.Records, func(r Record) bool { return r.Nullifier == nf })
				want = recordName(i, nf) + ": " + want
			}
			expect(t, Verify(b, f.opts...), map[string]string{tc.check: want}, false)
		})
	}
}

// TestCohortAboveMaximum: a transcript whose cohort exceeds the dataset's
// max_cohort, the bound its sums were sized for, fails the cohort check.
func TestCohortAboveMaximum(t *testing.T) {
	f := getFixture(t, devSetup)
	recs := append(slices.Clone(f.honest), f.bad["unconsented"], f.bad["expired"])
	b, err := f.assemble(testSpec(f.schema.ID, f.epoch), recs, f.roots)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, Verify(b, f.opts...), map[string]string{CheckCohort: "a cohort of 7 records is above the dataset's maximum of 6"}, true)
}

func TestVerifyNeverPanicsOnEmpty(t *testing.T) {
	f := getFixture(t, devSetup)
	for name, b := range map[string]*Bundle{
		"nil":            nil,
		"empty":          {},
		"no transcript":  {Descriptor: f.bundle.Descriptor, VerifyingKey: f.bundle.VerifyingKey},
		"empty parts":    {Transcript: &Transcript{}},
		"no descriptor":  {Transcript: f.bundle.Transcript, Signatures: f.bundle.Signatures},
		"junk proto":     {Transcript: f.bundle.Transcript, Signatures: f.bundle.Signatures, Descriptor: []byte{0xff, 0xff}, VerifyingKey: []byte{1}},
		"nil sum values": {Transcript: &Transcript{Sums: []Sum{{}}, Nodes: make([]NodeEvidence, 3), Records: make([]Record, 2)}},
	} {
		t.Run(name, func(t *testing.T) {
			r := Verify(b, f.opts...)
			if r.OK() {
				t.Fatal("verifies")
			}
			if len(r.Checks) != 18 {
				t.Fatalf("%d checks", len(r.Checks))
			}
		})
	}
	r := VerifyEncoded([]byte("CHJB"), DefaultLimits())
	if r.OK() || len(r.Checks) != 1 || !strings.Contains(r.String(), "does not decode") {
		t.Fatalf("garbage: %s", r)
	}
}

func TestReportRendering(t *testing.T) {
	f := getFixture(t, devSetup)
	ok := Verify(f.bundle, f.opts...)
	text := ok.String()
	for _, want := range []string{"cohort audit: job job-audit-test on dataset fitness-2026", "✓ proofs: all 5 proofs verify",
		"⚠ setup: INSECURE DEVELOPMENT SETUP", "VERIFIED WITH WARNINGS", "dataset descriptor " + ok.DescriptorDigest + " (NOT PINNED"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\n"); n != 3+18+2 {
		t.Errorf("%d lines, want a header of 3 (job, transcript, descriptor), 18 checks, a warning and a summary", n)
	}
	if !strings.Contains(text, "\nWARNING: "+ExactReleaseWarning+"\nVERIFIED WITH WARNINGS") {
		t.Errorf("text lacks the exact release's warning before the summary:\n%s", text)
	}

	b := f.clone(t)
	b.Transcript.Records[2].Proof[40] ^= 0x01
	bad := Verify(b, f.opts...)
	text = bad.String()
	for _, want := range []string{"✗ proofs: 1 of 5 records lack a valid proof", "    " + recordName(2, b.Transcript.Records[2].Nullifier), "FAILED: 2 of 18 checks failed, 0 not checked"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	for _, r := range []*Report{ok, bad} {
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			OK       bool     `json:"ok"`
			JobID    string   `json:"job_id"`
			Checks   []Check  `json:"checks"`
			Warnings []string `json:"warnings"`
		}
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatal(err)
		}
		if back.OK != r.OK() || back.JobID != testJobID || len(back.Checks) != 18 || !slices.Equal(back.Warnings, []string{ExactReleaseWarning}) {
			t.Fatalf("JSON %s", enc)
		}
		for i, c := range back.Checks {
			if c.Name != r.Checks[i].Name || c.Status != r.Checks[i].Status || c.Detail != r.Checks[i].Detail {
				t.Fatalf("check %d round-trips as %+v", i, c)
			}
		}
	}
}

func TestBuildRejects(t *testing.T) {
	f := getFixture(t, devSetup)
	tr := f.bundle.Transcript
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(tr.Spec, spec); err != nil {
		t.Fatal(err)
	}
	res := new(cohortv1.Result)
	if err := proto.Unmarshal(tr.Result, res); err != nil {
		t.Fatal(err)
	}
	ev := &cohortv1.JobEvidence{JobTime: tr.JobTime}
	sd, _ := SpecDigest(spec)
	ev.SpecDigest = sd[:]
	partials := make([][]byte, len(tr.Nodes))
	for i, n := range tr.Nodes {
		partials[i] = n.Partial
		d := sha256.Sum256(n.Partial)
		ev.Nodes = append(ev.Nodes, &cohortv1.NodeJobEvidence{
			NodeIndex: n.Index, Set: &cohortv1.EligibleSet{Eligible: n.Eligible, Cohort: n.Cohort, Digest: n.SetDigest[:], Excluded: &cohortv1.Exclusions{
				Purpose: n.Excluded.Purpose, Expired: n.Excluded.Expired, ContributorMinimum: n.Excluded.ContributorMinimum}},
			SetSignature:     &cohortv1.NodeSignature{NodeIndex: n.Index, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: n.SetSignature},
			PartialDigest:    d[:],
			PartialSignature: &cohortv1.NodeSignature{NodeIndex: n.Index, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: n.PartialSignature},
		})
	}
	for _, s := range tr.Sums {
		ev.Coordinates, ev.ReleasedSums = append(ev.Coordinates, s.Coordinate), append(ev.ReleasedSums, s.Value.String())
	}
	sub, key := submissionOf(tr)
	input := func() BuildInput {
		return BuildInput{JobID: tr.JobID, Coordinator: tr.Coordinator, Spec: proto.Clone(spec).(*cohortv1.JobSpec),
			Descriptor: proto.Clone(f.desc).(*cohortv1.DatasetDescriptor), Records: slices.Clone(tr.Records),
			Evidence: proto.Clone(ev).(*cohortv1.JobEvidence), Partials: slices.Clone(partials), Result: proto.Clone(res).(*cohortv1.Result),
			Roots: slices.Clone(tr.Roots), Submission: sub, BuyerKey: key}
	}
	// The evidence as the coordinator holds it rebuilds the same transcript,
	// whatever the order of the records, nodes and roots.
	in := input()
	slices.Reverse(in.Records)
	slices.Reverse(in.Evidence.Nodes)
	slices.Reverse(in.Roots)
	got, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustEncode(t, got), mustEncode(t, tr); !bytes.Equal(a, b) {
		t.Fatal("rebuilt transcript differs")
	}

	for _, tc := range []struct {
		name string
		edit func(*BuildInput)
		want string
	}{
		{"no spec", func(in *BuildInput) { in.Spec = nil }, "required"},
		{"descriptor not ready", func(in *BuildInput) { in.Descriptor.State = cohortv1.DatasetState_DATASET_STATE_SETUP }, "not READY"},
		{"spec of another dataset", func(in *BuildInput) { in.Spec.DatasetId = "other" }, "spec is for dataset"},
		{"evidence for another spec", func(in *BuildInput) { in.Spec.Purpose = "academic-research" }, "another spec"},
		{"missing node", func(in *BuildInput) { in.Evidence.Nodes = in.Evidence.Nodes[:2] }, "evidence from 2 nodes"},
		{"repeated node", func(in *BuildInput) { in.Evidence.Nodes[1] = in.Evidence.Nodes[0] }, "repeated"},
		{"missing partial", func(in *BuildInput) { in.Partials = in.Partials[:2] }, "2 partials"},
		{"another partial", func(in *BuildInput) { in.Partials[0], in.Partials[1] = in.Partials[1], in.Partials[0] }, "node 0: the partial"},
		{"signature of another node", func(in *BuildInput) { in.Evidence.Nodes[1].SetSignature.NodeIndex = 2 }, "made by node 2"},
		{"signature scheme", func(in *BuildInput) {
			in.Evidence.Nodes[2].PartialSignature.Scheme = cohortv1.SignatureScheme_SIGNATURE_SCHEME_UNSPECIFIED
		}, "not a 64-byte Ed25519 signature"},
		{"no set", func(in *BuildInput) { in.Evidence.Nodes[0].Set = nil }, "no selection"},
		{"sums and coordinates", func(in *BuildInput) { in.Evidence.ReleasedSums = in.Evidence.ReleasedSums[1:] }, "coordinates and"},
		{"duplicate record", func(in *BuildInput) { in.Records[1] = in.Records[0] }, "repeats"},
		{"bad job id", func(in *BuildInput) { in.JobID = "" }, "job id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input()
			tc.edit(&in)
			if _, err := Build(in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func mustEncode(t *testing.T, tr *Transcript) []byte {
	t.Helper()
	b, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyConcurrent: Verify and a shared Cache are safe for concurrent
// use (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	f := getFixture(t, devSetup)
	cache := NewCache()
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			if r := Verify(f.bundle, AllowInsecureDevSetup(), WithCache(cache)); !r.OK() {
				errs <- r.String()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

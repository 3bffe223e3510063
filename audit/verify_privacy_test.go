package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestVerifyDPHonest(t *testing.T) {
	f := getDPFixture(t)
	r := Verify(f.bundle, f.opts...)
	if !r.OK() {
		t.Fatalf("honest noised bundle does not verify:\n%s", r)
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
	if len(r.Warnings) != 0 {
		t.Errorf("a noised release warns %q", r.Warnings)
	}
	c, _ := r.Check(CheckReleaseMechanism)
	if want := `discrete Gaussian, ρ = 1/8 from each of epochs 2929..2930 charged to buyer "lab-1": the 3 nodes of the partial set each signed that debit`; !strings.HasPrefix(c.Detail, want) {
		t.Errorf("release-mechanism detail %q lacks %q", c.Detail, want)
	}
	if c, _ := r.Check(CheckOutputs); !strings.Contains(c.Detail, "(discrete-gaussian)") {
		t.Errorf("outputs detail %q does not name the mechanism", c.Detail)
	}
	tr := f.bundle.Transcript
	if tr.Buyer != testBuyer {
		t.Errorf("transcript buyer %q", tr.Buyer)
	}
	if !slices.ContainsFunc(tr.Sums, func(s Sum) bool { return s.Value.Sign() < 0 }) {
		t.Error("no released sum is negative: the signed encoding is not exercised")
	}
	for _, n := range tr.Nodes {
		if n.Debit == nil || n.Debit.GetRho() != testRho || len(n.Debit.GetEntries()) != 2 {
			t.Errorf("node %d: debit %v", n.Index, n.Debit)
		}
	}
	if r := VerifyEncoded(f.encoded, DefaultLimits(), f.opts...); !r.OK() {
		t.Fatalf("encoded honest noised bundle does not verify:\n%s", r)
	}
}

// TestDPOutputsRecomputed: the outputs of a noised job are whatever the
// mechanism computes from the released sums, and a released output the
// mechanism does not compute from them fails.
func TestDPOutputsRecomputed(t *testing.T) {
	f := getDPFixture(t)
	b := f.cloneDP(t)
	editResult(t, b, func(r *cohortv1.Result) {
		r.Outputs = append(r.Outputs, &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT})
	})
	if err := f.signTranscript(b); err != nil {
		t.Fatal(err)
	}
	expect(t, Verify(b, f.opts...), map[string]string{CheckOutputs: "outputs released"}, false)
}

// resignDebit has node re-sign its (altered) debit in b, as a node
// rewriting its own ledger would.
func (f *dpFixture) resignDebit(b *Bundle, node int) {
	d := b.Transcript.Nodes[node].Debit
	d.Signature = f.signature(node, enclave.DebitStatement(b.Transcript.JobID, b.Transcript.DatasetID, d))
}

func TestDPTampered(t *testing.T) {
	f := getDPFixture(t)
	l := f.schema.Layout()
	for _, tc := range []struct {
		name   string
		edit   func(*testing.T, *Bundle)
		checks map[string]string
	}{
		{"charge of another ρ, signed", func(t *testing.T, b *Bundle) {
			d := b.Transcript.Nodes[1].Debit
			d.Rho = "1/16"
			for _, e := range d.Entries {
				e.EpochSpentAfter, e.BuyerSpentAfter = "1/16", "1/16"
			}
			f.resignDebit(b, 1)
		}, map[string]string{CheckReleaseMechanism: `node 1 charged ρ = "1/16", the job spends 1/8`}},
		{"charge to another buyer, signed", func(t *testing.T, b *Bundle) {
			b.Transcript.Nodes[2].Debit.BuyerId = "lab-2"
			f.resignDebit(b, 2)
		}, map[string]string{CheckReleaseMechanism: `node 2 charged buyer "lab-2", not "lab-1"`}},
		{"transcript names another buyer", func(t *testing.T, b *Bundle) { b.Transcript.Buyer = "lab-2" },
			map[string]string{CheckReleaseMechanism: `charged buyer "lab-1", not "lab-2"`}},
		{"transcript names no buyer", func(t *testing.T, b *Bundle) { b.Transcript.Buyer = "" },
			map[string]string{CheckReleaseMechanism: "the release is noised, but the transcript names no buyer charged"}},
		{"debit signature altered", func(t *testing.T, b *Bundle) { b.Transcript.Nodes[0].Debit.Signature.Signature[5] ^= 1 },
			map[string]string{CheckReleaseMechanism: "invalid privacy debit: node 0: attest: signature does not verify"}},
		{"debit signed by another node", func(t *testing.T, b *Bundle) {
			d := b.Transcript.Nodes[0].Debit
			d.Signature.Signature = attestSign(f, 1, b, d)
		}, map[string]string{CheckReleaseMechanism: "invalid privacy debit: node 0: attest: signature does not verify"}},
		{"ledger entry altered, unsigned", func(t *testing.T, b *Bundle) {
			b.Transcript.Nodes[1].Debit.Entries[0].EpochSpentBefore = "1/2"
		}, map[string]string{CheckReleaseMechanism: "invalid privacy debit: node 1: attest: signature does not verify"}},
		{"ledger entry altered, signed", func(t *testing.T, b *Bundle) {
			b.Transcript.Nodes[1].Debit.Entries[1].EpochSpentBefore = "1/2"
			f.resignDebit(b, 1)
		}, map[string]string{CheckReleaseMechanism: "node 1, epoch 2930: the epoch budget went from 1/2 to 1/8, not by ρ = 1/8"}},
		{"ledger total not the policy's, signed", func(t *testing.T, b *Bundle) {
			b.Transcript.Nodes[2].Debit.Entries[0].EpochTotal = "2"
			f.resignDebit(b, 2)
		}, map[string]string{CheckReleaseMechanism: "node 2, epoch 2929: the epoch budget's total is 2, the policy's 1"}},
		{"ledger overspent, signed", func(t *testing.T, b *Bundle) {
			e := b.Transcript.Nodes[2].Debit.Entries[0]
			e.BuyerSpentBefore, e.BuyerSpentAfter = "7/16", "9/16"
			f.resignDebit(b, 2)
		}, map[string]string{CheckReleaseMechanism: "node 2, epoch 2929: the buyer budget is overspent: 9/16 of 1/2"}},
		{"an epoch of the job not debited, signed", func(t *testing.T, b *Bundle) {
			d := b.Transcript.Nodes[0].Debit
			d.Entries = d.Entries[:1]
			f.resignDebit(b, 0)
		}, map[string]string{CheckReleaseMechanism: "node 0 debited 1 epochs, the job spans 2"}},
		{"debit missing", func(t *testing.T, b *Bundle) { b.Transcript.Nodes[0].Debit = nil },
			map[string]string{CheckReleaseMechanism: "node 0 released a noised partial without debiting its ledger"}},
		{"no release info", func(t *testing.T, b *Bundle) { editResult(t, b, func(r *cohortv1.Result) { r.Release = nil }) },
			map[string]string{CheckReleaseMechanism: "the result does not state its release"}},
		{"release info of another mechanism", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) {
				r.Release.Mechanism = cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV
			})
		}, map[string]string{CheckReleaseMechanism: "the result states mechanism RELEASE_MECHANISM_EXACT_INSECURE_DEV, the dataset's policy RELEASE_MECHANISM_DISCRETE_GAUSSIAN"}},
		{"release info of another ρ", func(t *testing.T, b *Bundle) { editResult(t, b, func(r *cohortv1.Result) { r.Release.Rho = "1/4" }) },
			map[string]string{CheckReleaseMechanism: `the result states ρ = "1/4", the job spends ρ = 1/8`}},
		{"wrong noising nodes", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Release.NoisingNodes = 2 })
		}, map[string]string{CheckReleaseMechanism: "the result states 2 noising nodes, the partial set has 3"}},
		{"wrong variance", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Release.Sums[1].NodeVariance = "1" })
		}, map[string]string{CheckReleaseMechanism: fmt.Sprintf("coordinate 1 (%s): the result states a node variance of \"1\"", l.SumName(1))}},
		{"variance on the exact count", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Release.Sums[0].NodeVariance = "1" })
		}, map[string]string{CheckReleaseMechanism: fmt.Sprintf(`coordinate 0 (%s): the result states a node variance of "1", the job's is ""`, l.SumName(0))}},
		{"wrong standard deviation", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Release.Sums[2].Stddev *= 0.5 })
		}, map[string]string{CheckReleaseMechanism: fmt.Sprintf("coordinate 2 (%s): the result states a standard deviation of", l.SumName(2))}},
		{"noise of a sum left out", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Release.Sums = r.Release.Sums[1:] })
		}, map[string]string{CheckReleaseMechanism: "the result states the noise of 20 sums, the job released 21"}},
		{"wrong confidence", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) { r.Release.Confidence = 0.99 })
		}, map[string]string{CheckReleaseMechanism: "the result states confidence 0.99, intervals are at 0.95"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.cloneDP(t)
			tc.edit(t, b)
			if err := f.signTranscript(b); err != nil {
				t.Fatal(err)
			}
			expect(t, Verify(b, f.opts...), tc.checks, false)
		})
	}
}

// attestSign signs d as node's debit statement for b's job.
func attestSign(f *dpFixture, node int, b *Bundle, d *cohortv1.PrivacyDebit) []byte {
	return f.signature(node, enclave.DebitStatement(b.Transcript.JobID, b.Transcript.DatasetID, d)).GetSignature()
}

// TestDPJobOutsidePolicy: a transcript whose spec or descriptor does not
// allow the release fails the release-mechanism check.
func TestDPJobOutsidePolicy(t *testing.T) {
	f := getDPFixture(t)
	// The job asks for more than a buyer may spend in an epoch; all nodes
	// rewrite their debits and the transcript to match.
	b := f.cloneDP(t)
	editSpec(t, b, func(s *cohortv1.JobSpec) { s.Privacy = &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: "3/4"}} })
	if err := f.signTranscript(b); err != nil {
		t.Fatal(err)
	}
	r := Verify(b, f.opts...)
	expect(t, r, map[string]string{CheckReleaseMechanism: "ρ = 3/4 exceeds the dataset's budget per buyer and epoch, ρ = 1/2"}, true)

	// A noised job on a dataset without a privacy policy: such a
	// descriptor does not check, and nothing that rests on it is checked.
	b = f.cloneDP(t)
	desc := proto.Clone(f.desc).(*cohortv1.DatasetDescriptor)
	desc.Privacy = nil
	rebind(t, f, b, desc)
	expect(t, Verify(b, f.opts...), map[string]string{CheckDescriptor: "no privacy policy"}, true)
}

// rebind puts desc in b in place of its descriptor, with the transcript's
// digest of it, re-signed.
func rebind(t *testing.T, f *dpFixture, b *Bundle, desc *cohortv1.DatasetDescriptor) {
	t.Helper()
	enc, err := deterministic.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DescriptorDigest(desc)
	if err != nil {
		t.Fatal(err)
	}
	b.Descriptor, b.Transcript.DescriptorDigest = enc, d
	if err := f.signTranscript(b); err != nil {
		t.Fatal(err)
	}
}

// TestExactReleaseTampered: under the exact development policy no node
// may debit a ledger and the result may state no noise.
func TestExactReleaseTampered(t *testing.T) {
	x, f := getFixture(t, devSetup), getDPFixture(t)
	for _, tc := range []struct {
		name   string
		edit   func(*testing.T, *Bundle)
		checks map[string]string
	}{
		{"debit for an exact policy", func(t *testing.T, b *Bundle) {
			d := proto.Clone(f.bundle.Transcript.Nodes[1].Debit).(*cohortv1.PrivacyDebit)
			d.Signature.Signature = attestSign(f, 1, b, d)
			b.Transcript.Nodes[1].Debit, b.Transcript.Buyer = d, testBuyer
		}, map[string]string{CheckReleaseMechanism: "node 1 charged an exact release"}},
		{"noise stated for an exact policy", func(t *testing.T, b *Bundle) {
			editResult(t, b, func(r *cohortv1.Result) {
				r.Release = proto.Clone(mustResult(t, f.bundle).Release).(*cohortv1.ReleaseInfo)
			})
		}, map[string]string{CheckReleaseMechanism: "the result states a RELEASE_MECHANISM_DISCRETE_GAUSSIAN release of ρ = \"1/8\" by 3 noising nodes, but the dataset's policy is exact"}},
		{"a negative sum under the exact policy", func(t *testing.T, b *Bundle) {
			i := sumIndex(t, b.Transcript, 1)
			b.Transcript.Sums[i].Value = big.NewInt(-4)
		}, map[string]string{CheckReleaseMechanism: "the released sums are not ones the exact mechanism releases", CheckPartials: "released -4",
			CheckOutputs: "cannot be recomputed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := x.clone(t)
			tc.edit(t, b)
			if err := x.signTranscript(b); err != nil {
				t.Fatal(err)
			}
			r := Verify(b, x.opts...)
			expect(t, r, tc.checks, false)
			if !slices.Equal(r.Warnings, []string{ExactReleaseWarning}) {
				t.Errorf("warnings %q", r.Warnings)
			}
		})
	}
	// The exact release may state that it is exact.
	b := x.clone(t)
	editResult(t, b, func(r *cohortv1.Result) {
		r.Release = &cohortv1.ReleaseInfo{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
	})
	if err := x.signTranscript(b); err != nil {
		t.Fatal(err)
	}
	if r := Verify(b, x.opts...); !r.OK() {
		t.Fatalf("an exact release stating it is exact:\n%s", r)
	}
}

// TestExactReleaseTamperedHE: an HE node of the decryption set that
// debits its ledger for an exact release fails the release-mechanism
// check like an MPC node.
func TestExactReleaseTamperedHE(t *testing.T) {
	h, f := getHEFixture(t), getDPFixture(t)
	b := h.clone(t, h.bundle)
	d := proto.Clone(f.bundle.Transcript.Nodes[0].Debit).(*cohortv1.PrivacyDebit)
	d.Signature.Signature = h.signature(0, enclave.DebitStatement(b.Transcript.JobID, b.Transcript.DatasetID, d)).GetSignature()
	b.Transcript.Nodes[0].Debit = d
	if err := h.signTranscript(b); err != nil {
		t.Fatal(err)
	}
	expect(t, Verify(b, h.opts...), map[string]string{CheckReleaseMechanism: "node 0 charged an exact release"}, false)
}

func mustResult(t *testing.T, b *Bundle) *cohortv1.Result {
	t.Helper()
	res := new(cohortv1.Result)
	if err := proto.Unmarshal(b.Transcript.Result, res); err != nil {
		t.Fatal(err)
	}
	return res
}

// dpBuildInput is the input Build made the DP fixture's transcript from.
func dpBuildInput(t *testing.T, f *dpFixture) BuildInput {
	t.Helper()
	tr := f.bundle.Transcript
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(tr.Spec, spec); err != nil {
		t.Fatal(err)
	}
	sd, _ := SpecDigest(spec)
	ev := &cohortv1.JobEvidence{JobTime: tr.JobTime, SpecDigest: sd[:]}
	partials := make([][]byte, len(tr.Nodes))
	sig := func(i uint32, b []byte) *cohortv1.NodeSignature {
		return &cohortv1.NodeSignature{NodeIndex: i, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: bytes.Clone(b)}
	}
	for i, n := range tr.Nodes {
		partials[i] = n.Partial
		d := sha256.Sum256(n.Partial)
		ev.Nodes = append(ev.Nodes, &cohortv1.NodeJobEvidence{
			NodeIndex: n.Index, Set: &cohortv1.EligibleSet{Eligible: n.Eligible, Cohort: n.Cohort, Digest: n.SetDigest[:], Excluded: &cohortv1.Exclusions{
				Purpose: n.Excluded.Purpose, Expired: n.Excluded.Expired, ContributorMinimum: n.Excluded.ContributorMinimum}},
			SetSignature: sig(n.Index, n.SetSignature), PartialDigest: d[:], PartialSignature: sig(n.Index, n.PartialSignature),
			Debit: proto.Clone(n.Debit).(*cohortv1.PrivacyDebit),
		})
	}
	var sums []*big.Int
	for _, s := range tr.Sums {
		ev.Coordinates, sums = append(ev.Coordinates, s.Coordinate), append(sums, new(big.Int).Set(s.Value))
	}
	sub, key := submissionOf(tr)
	return BuildInput{JobID: tr.JobID, Buyer: tr.Buyer, Submission: sub, BuyerKey: key, Coordinator: tr.Coordinator, Spec: spec,
		Descriptor: proto.Clone(f.desc).(*cohortv1.DatasetDescriptor), Records: slices.Clone(tr.Records), Evidence: ev,
		Partials: partials, Result: mustResult(t, f.bundle), Roots: slices.Clone(tr.Roots), Sums: sums}
}

func TestDPBuild(t *testing.T) {
	f := getDPFixture(t)
	got, err := Build(dpBuildInput(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustEncode(t, got), mustEncode(t, f.bundle.Transcript)) {
		t.Fatal("rebuilt noised transcript differs")
	}
	for _, tc := range []struct {
		name string
		edit func(*BuildInput)
		want string
	}{
		{"debit of another node", func(in *BuildInput) { in.Evidence.Nodes[1].Debit.NodeIndex = 2 }, "node 1: privacy debit: the debit of node 2"},
		{"debit signed by another node", func(in *BuildInput) { in.Evidence.Nodes[1].Debit.Signature.NodeIndex = 0 }, "node 1: privacy debit: not node 1's 64-byte Ed25519 signature"},
		{"debit unsigned", func(in *BuildInput) { in.Evidence.Nodes[0].Debit.Signature = nil }, "node 0: privacy debit: not node 0's"},
		{"debit to no buyer", func(in *BuildInput) { in.Evidence.Nodes[0].Debit.BuyerId = "" }, "node 0: privacy debit: buyer \"\""},
		{"debit of no epoch", func(in *BuildInput) { in.Evidence.Nodes[2].Debit.Entries = nil }, "node 2: privacy debit: 0 entries"},
		{"debit of too many epochs", func(in *BuildInput) {
			d := in.Evidence.Nodes[2].Debit
			for len(d.Entries) <= enclave.MaxJobEpochs {
				d.Entries = append(d.Entries, d.Entries[0])
			}
		}, fmt.Sprintf("node 2: privacy debit: %d entries", enclave.MaxJobEpochs+1)},
		{"amount too long", func(in *BuildInput) { in.Evidence.Nodes[0].Debit.Rho = strings.Repeat("1", MaxAmountLen+1) }, "node 0: privacy debit: ρ of 62 bytes"},
		{"empty amount", func(in *BuildInput) { in.Evidence.Nodes[0].Debit.Entries[1].BuyerTotal = "" }, "entry 1 (epoch 2930): an amount of 0 bytes"},
		{"buyer charset", func(in *BuildInput) { in.Buyer = "lab 1" }, `buyer "lab 1"`},
		{"signed sums for other coordinates", func(in *BuildInput) { in.Sums = in.Sums[1:] }, "coordinates and"},
		{"nil sum", func(in *BuildInput) { in.Sums[3] = nil }, "no sum at coordinate 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := dpBuildInput(t, f)
			tc.edit(&in)
			if _, err := Build(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want ErrInvalid naming %q", err, tc.want)
			}
		})
	}
	// Build copies: editing the input's debits afterwards leaves the
	// transcript as it was.
	in := dpBuildInput(t, f)
	got, err = Build(in)
	if err != nil {
		t.Fatal(err)
	}
	in.Evidence.Nodes[0].Debit.Entries[0].EpochSpentBefore = "1/2"
	in.Sums[1].SetInt64(99)
	if !bytes.Equal(mustEncode(t, got), mustEncode(t, f.bundle.Transcript)) {
		t.Fatal("the transcript shares memory with Build's input")
	}
}

// TestDebitCodec: a transcript's debits round-trip, and a debit flag other
// than 0 or 1 is refused.
func TestDebitCodec(t *testing.T) {
	f := getDPFixture(t)
	tr := f.bundle.Transcript
	got := cloneTranscript(t, tr)
	for i, n := range got.Nodes {
		if !proto.Equal(n.Debit, tr.Nodes[i].Debit) {
			t.Fatalf("node %d: debit %v decodes as %v", i, tr.Nodes[i].Debit, n.Debit)
		}
	}
	// A debit beside no partial (a live HE node outside the decryption set)
	// has no encoding.
	h := getHEFixture(t)
	in := heBuildInput(t, h)
	in.Evidence.Nodes[2].Debit = proto.Clone(tr.Nodes[2].Debit).(*cohortv1.PrivacyDebit)
	if _, err := Build(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "node 2: a privacy debit, but the node released no partial") {
		t.Fatalf("Build with a debit outside the decryption set: %v", err)
	}
	he := cloneTranscript(t, h.bundle.Transcript)
	he.Nodes[2].Debit = proto.Clone(tr.Nodes[2].Debit).(*cohortv1.PrivacyDebit)
	if _, err := he.MarshalBinary(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "node 2: a privacy debit, but it released no partial") {
		t.Fatalf("MarshalBinary with a debit outside the decryption set: %v", err)
	}
	if _, err := UnmarshalTranscript(encodeUnchecked(t, he), DefaultLimits()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decoding a debit outside the decryption set: %v", err)
	}
	// Without its debit, the last node's debit flag is the zero byte
	// before the decryption set's count and the aggregate's length (both 0
	// for MPC) and the sums' count: 2 is refused.
	enc := mustEncode(t, tr)
	noDebit := cloneTranscript(t, tr)
	noDebit.Nodes[2].Debit = nil
	plain := encodeUnchecked(t, noDebit)
	tail := binary.BigEndian.AppendUint32(make([]byte, 9), uint32(len(tr.Sums)))
	at := bytes.Index(plain, tail)
	if at < 0 || bytes.Count(plain, tail) != 1 {
		t.Fatal("cannot locate the last node's debit flag")
	}
	bad := slices.Clone(plain)
	bad[at] = 2
	if _, err := UnmarshalTranscript(bad, DefaultLimits()); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "debit flag 2") {
		t.Fatalf("debit flag 2: %v", err)
	}
	if len(enc) <= len(plain) {
		t.Fatal("a debit takes no bytes")
	}
}

// TestVerifyDPHE: a noised HE job — the decryption set's two nodes each
// noised its share and debited its ledger, the third live node neither —
// verifies, with two noising nodes; stating three fails.
func TestVerifyDPHE(t *testing.T) {
	h := getHEFixture(t)
	desc := proto.Clone(h.desc).(*cohortv1.DatasetDescriptor)
	desc.Privacy = enclave.DefaultPolicy()
	if err := resignReady(desc, h.sign); err != nil {
		t.Fatal(err)
	}
	spec := &cohortv1.JobSpec{DatasetId: h.schema.ID, EpochFrom: h.epoch - 1, EpochTo: h.epoch, Purpose: "public-health",
		Outputs: []*cohortv1.Output{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"smoker"}},
		},
		Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: testRho}}}
	b, err := h.assembleUnder(desc, spec, []uint32{0, 1, 2}, testBuyer)
	if err != nil {
		t.Fatal(err)
	}
	r := Verify(b, h.opts...)
	if !r.OK() || len(r.Warnings) != 0 {
		t.Fatalf("honest noised HE bundle does not verify:\n%s", r)
	}
	if c, _ := r.Check(CheckReleaseMechanism); !strings.Contains(c.Detail, "the 2 nodes of the partial set each signed that debit") {
		t.Errorf("release-mechanism detail %q", c.Detail)
	}
	tr := b.Transcript
	if tr.Nodes[0].Debit == nil || tr.Nodes[1].Debit == nil || tr.Nodes[2].Debit != nil {
		t.Fatal("the debits are not exactly the decryption set's")
	}

	tampered := h.clone(t, b)
	editResult(t, tampered, func(r *cohortv1.Result) { r.Release.NoisingNodes = 3 })
	if err := h.signTranscript(tampered); err != nil {
		t.Fatal(err)
	}
	expect(t, Verify(tampered, h.opts...), map[string]string{CheckReleaseMechanism: "the result states 3 noising nodes, the partial set has 2"}, false)

	tampered = h.clone(t, b)
	tampered.Transcript.Nodes[1].Debit = nil
	if err := h.signTranscript(tampered); err != nil {
		t.Fatal(err)
	}
	expect(t, Verify(tampered, h.opts...), map[string]string{CheckReleaseMechanism: "node 1 released a noised partial without debiting its ledger"}, false)
}

// TestReportWarnings: a report whose checks all pass but which carries a
// warning says so in its verdict.
func TestReportWarnings(t *testing.T) {
	r := &Report{JobID: "job-1", DatasetID: "fitness", Checks: []Check{{Name: CheckTranscript, Status: Pass, Detail: "fine"}},
		Warnings: []string{ExactReleaseWarning}}
	want := "✓ transcript: fine\nWARNING: " + ExactReleaseWarning + "\nVERIFIED WITH WARNINGS: all 1 checks passed, but read the 1 warning above\n"
	if text := r.String(); !r.OK() || !strings.HasSuffix(text, want) {
		t.Fatalf("text:\n%s\nwant it to end\n%s", text, want)
	}
}

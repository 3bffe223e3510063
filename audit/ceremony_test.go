package audit

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// These tests use keys from a real (local) ceremony and replay
// it: they belong to the default tier.

func TestVerifyCeremonyBundle(t *testing.T) {
	f := getFixture(t, ceremonySetup)
	start := time.Now()
	r := Verify(f.bundle, WithCache(f.cache)) // no option: nothing insecure is allowed
	t.Logf("first verification, replaying the ceremony: %v", time.Since(start))
	if !r.OK() {
		t.Fatalf("ceremony bundle does not verify:\n%s", r)
	}
	for _, c := range r.Checks {
		if c.Status != Pass {
			t.Errorf("check %s: %s", c.Name, c.Status)
		}
	}
	c, _ := r.Check(CheckSetup)
	if !strings.Contains(c.Detail, `ceremony "ceremony-audit-test" re-verified: 3 phase-1 and 3 phase-2 contributions`) ||
		!strings.Contains(c.Detail, "one per node, each attested by the node that made it") {
		t.Errorf("setup detail: %s", c.Detail)
	}
	// The fixture's dataset releases exactly (a development policy): the
	// only warning.
	if r.Setup != "ceremony" || !strings.Contains(r.String(), "VERIFIED WITH WARNINGS: all 18 checks passed, but read the 1 warning above") {
		t.Errorf("report:\n%s", r)
	}
	start = time.Now()
	if r := Verify(f.bundle, WithCache(f.cache)); !r.OK() {
		t.Fatal("second verification fails")
	}
	t.Logf("second verification, ceremony cached: %v", time.Since(start))
}

// TestOneContributionCeremonyRefused is a dataset of three nodes whose
// keys come from a real ceremony with one participant: it replays, but
// the keys are sound only if that one participant was honest, so it fails
// however well it re-verifies. It is not replayed.
func TestOneContributionCeremonyRefused(t *testing.T) {
	f := getFixture(t, ceremonySetup)
	b1, b2 := make([]byte, 32), make([]byte, 32)
	b1[0], b2[0] = 3, 4
	keys, tr, err := setup.RunLocalCeremony(f.sys.CCS, 1, b1, b2)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := setup.MarshalVerifyingKey(keys.VK)
	if err != nil {
		t.Fatal(err)
	}
	b := f.withCeremony(t, tr, vk)
	cached := len(f.cache.ceremonies)
	expect(t, Verify(b, WithCache(f.cache)), map[string]string{
		CheckSetup:  "the ceremony has 1 phase-1 and 1 phase-2 contributions; a dataset of 3 nodes needs one from each node",
		CheckProofs: "5 of 5 records lack a valid proof", // proven with the three-party keys
	}, false)
	if len(f.cache.ceremonies) != cached {
		t.Fatal("the one-party ceremony was replayed")
	}
}

// withCeremony is a clone of the bundle whose ceremony transcript is tr
// and whose descriptor names it and the verifying key vk, signed again by
// the nodes.
func (f *fixture) withCeremony(t *testing.T, tr *setup.Transcript, vk []byte) *Bundle {
	t.Helper()
	enc, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	td, err := tr.Digest()
	if err != nil {
		t.Fatal(err)
	}
	b := f.clone(t)
	b.Ceremony = enc
	desc := proto.Clone(f.desc).(*cohortv1.DatasetDescriptor)
	desc.VerifyingKey, desc.CeremonyTranscriptDigest = vk, td[:]
	if err := signReady(desc, f.sign, tr); err != nil {
		t.Fatal(err)
	}
	f.withDescriptor(t, b, desc)
	return b
}

// withDescriptor replaces the bundle's descriptor (and verifying key) by
// desc, updates the transcript's descriptor digest and has the nodes sign
// both again: a federation that publishes other keys than those its
// ceremony made.
func (f *fixture) withDescriptor(t *testing.T, b *Bundle, desc *cohortv1.DatasetDescriptor) {
	t.Helper()
	if err := resignReady(desc, f.sign); err != nil {
		t.Fatal(err)
	}
	f.withSignedDescriptor(t, b, desc)
}

// withSignedDescriptor is withDescriptor with desc's READY signatures as
// they are.
func (f *fixture) withSignedDescriptor(t *testing.T, b *Bundle, desc *cohortv1.DatasetDescriptor) {
	t.Helper()
	enc, err := deterministic.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	b.Descriptor, b.VerifyingKey = enc, desc.GetVerifyingKey()
	if b.Transcript.DescriptorDigest, err = DescriptorDigest(desc); err != nil {
		t.Fatal(err)
	}
	if err := f.signTranscript(b); err != nil {
		t.Fatal(err)
	}
}

func TestCeremonyTampered(t *testing.T) {
	f := getFixture(t, ceremonySetup)
	if r := Verify(f.bundle, WithCache(f.cache)); !r.OK() { // fills the cache
		t.Fatalf("honest bundle:\n%s", r)
	}
	n := len(f.ceremony)
	for _, tc := range []struct {
		name string
		edit func(*Bundle)
		want map[string]string
	}{
		// A changed byte inside a contribution is refused by its node's
		// attestation or by the replay, whichever sees it first (where the
		// contributions start depends on the fixture's random ceremony).
		{"ceremony, first contribution", func(b *Bundle) { b.Ceremony[200] ^= 0x01 }, map[string]string{CheckSetup: "ceremony"}},
		{"ceremony, middle", func(b *Bundle) { b.Ceremony[n/2] ^= 0x10 }, map[string]string{CheckSetup: "ceremony"}},
		{"ceremony, recorded verifying key", func(b *Bundle) { b.Ceremony[n-3] ^= 0x01 }, map[string]string{CheckSetup: "ceremony transcript"}},
		{"ceremony truncated", func(b *Bundle) { b.Ceremony = b.Ceremony[:n-1] }, map[string]string{CheckSetup: "does not decode"}},
		{"ceremony missing", func(b *Bundle) { b.Ceremony = nil }, map[string]string{CheckSetup: "holds no ceremony transcript"}},
		{"verifying key", func(b *Bundle) { b.VerifyingKey[40] ^= 0x01 }, map[string]string{
			CheckVerifyingKey: "differs from the descriptor's", CheckProofs: "the verifying key did not check"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.clone(t)
			tc.edit(b)
			expect(t, Verify(b, WithCache(f.cache)), tc.want, false)
		})
	}

	// Keys of another setup of the same circuit: a federation that ran a
	// ceremony for show and uses keys whose toxic waste it holds.
	other, err := setup.InsecureDevSetup(f.sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		t.Fatal(err)
	}
	otherVK, err := setup.MarshalVerifyingKey(other.VK)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("descriptor names other keys", func(t *testing.T) {
		b := f.clone(t)
		desc := proto.Clone(f.desc).(*cohortv1.DatasetDescriptor)
		desc.VerifyingKey = otherVK
		f.withDescriptor(t, b, desc)
		expect(t, Verify(b, WithCache(f.cache)), map[string]string{
			CheckSetup:  "the ceremony transcript records another verifying key than the descriptor's",
			CheckProofs: "5 of 5 records lack a valid proof",
		}, false)
	})
	t.Run("forged ceremony transcript", func(t *testing.T) {
		// The transcript claims the other key and the descriptor names
		// this transcript: only replaying the ceremony shows the lie.
		var tr setup.Transcript
		if err := tr.UnmarshalBinary(f.ceremony); err != nil {
			t.Fatal(err)
		}
		tr.VerifyingKey = otherVK
		b := f.withCeremony(t, &tr, otherVK)
		cached := len(f.cache.ceremonies)
		expect(t, Verify(b, WithCache(f.cache)), map[string]string{
			CheckSetup:  "the ceremony does not re-verify",
			CheckProofs: "5 of 5 records lack a valid proof",
		}, false)
		if len(f.cache.ceremonies) != cached {
			t.Fatal("a ceremony that failed to re-verify was cached")
		}
	})
}

func TestEveryFlipRejectedCeremony(t *testing.T) {
	f := getFixture(t, ceremonySetup)
	if r := Verify(f.bundle, WithCache(f.cache)); !r.OK() { // fills the cache
		t.Fatalf("honest bundle:\n%s", r)
	}
	flipEverywhere(t, f.bundle, f.encoded, f.opts, 25, 40)
}

// TestCeremonyContributionReattributed is a ceremony whose contributions
// are not each made by a different node — node 0 contributing twice in
// node 1's place, a contribution re-attributed to a node that did not
// make it — with the transcript, the keys and every READY signature
// consistent: the audit fails it, since the keys are sound only if every
// node contributed.
func TestCeremonyContributionReattributed(t *testing.T) {
	f := getFixture(t, ceremonySetup)
	tr, err := decodeCeremony(f.ceremony)
	if err != nil {
		t.Fatal(err)
	}
	attest := func(d *cohortv1.DatasetDescriptor, phase, pos, node int, by ed25519.PrivateKey) *cohortv1.CeremonyAttestation {
		list := tr.Phase1
		if phase == 2 {
			list = tr.Phase2
		}
		return dataset.AttestContribution(d.GetCeremonyId(), uint32(phase), uint32(pos), uint32(node), list[pos], by)
	}
	cases := map[string]struct {
		edit func(d *cohortv1.DatasetDescriptor)
		want string
	}{
		"node 0 contributed twice to phase 1": {func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[1] = attest(d, 1, 1, 0, f.sign[0])
		}, "node 0 made more than one contribution to phase 1"},
		"node 2's phase-2 contribution attributed to node 1": {func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[5] = attest(d, 2, 2, 1, f.sign[1])
		}, "node 1 made more than one contribution to phase 2"},
		"node 1's attestation signed by node 2": {func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[1] = attest(d, 1, 1, 1, f.sign[2])
		}, "phase 1 position 1: node 1's signature does not verify"},
		"an attestation of another contribution": {func(d *cohortv1.DatasetDescriptor) {
			a := attest(d, 1, 1, 0, f.sign[0])
			a.Position, a.Signature = 0, d.CeremonyContributions[0].GetSignature()
			d.CeremonyContributions[0] = a
		}, "phase 1 position 0: the attested digest is not the contribution's"},
		"no attestations": {func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions = nil
		}, "0 attestations for 6 contributions"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := f.clone(t)
			desc := proto.Clone(f.desc).(*cohortv1.DatasetDescriptor)
			c.edit(desc)
			f.withDescriptor(t, b, desc) // every node signs it READY
			expect(t, Verify(b, WithCache(f.cache)), map[string]string{CheckSetup: c.want}, false)
		})
	}
}

package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// claimCeremonyFixture is a claim-key ceremony of three nodes run in this
// process, its record signed by each: what the nodes would publish.
type claimCeremonyFixture struct {
	rec *cohortv1.ClaimCeremony
	tb  []byte
	tr  *setup.Transcript
	pk  []byte
	sk  []ed25519.PrivateKey
}

var claimFixture = sync.OnceValues(func() (*claimCeremonyFixture, error) {
	sys, err := circuits.CompileClaim()
	if err != nil {
		return nil, err
	}
	keys, tr, err := setup.RunLocalCeremony(sys.CCS, 3, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	if err != nil {
		return nil, err
	}
	cd, err := setup.CircuitDigest(sys.CCS)
	if err != nil {
		return nil, err
	}
	td, err := tr.Digest()
	if err != nil {
		return nil, err
	}
	tb, err := tr.MarshalBinary()
	if err != nil {
		return nil, err
	}
	pk, err := setup.MarshalProvingKey(keys.PK)
	if err != nil {
		return nil, err
	}
	f := &claimCeremonyFixture{tb: tb, tr: tr, pk: pk}
	var nodes []*cohortv1.NodeInfo
	for i := range 3 {
		pub, sk, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		f.sk = append(f.sk, sk)
		nodes = append(nodes, &cohortv1.NodeInfo{Index: uint32(i), SigningScheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, SigningPublicKey: pub})
	}
	const id = "claims-fixture"
	var atts []*cohortv1.CeremonyAttestation
	for p, list := range [][][]byte{tr.Phase1, tr.Phase2} {
		for pos, c := range list {
			atts = append(atts, dataset.AttestContribution(id, uint32(p+1), uint32(pos), uint32(pos), c, f.sk[pos]))
		}
	}
	info := &cohortv1.CeremonyInfo{CeremonyId: id, DomainSize: tr.DomainSize, CircuitDigest: cd[:], Participants: []uint32{0, 1, 2},
		BeaconSource: "fixture", State: cohortv1.CeremonyState_CEREMONY_STATE_SEALED, Phase1Contributions: 3, Phase2Contributions: 3,
		Beacon1: tr.Beacon1, Beacon2: tr.Beacon2, TranscriptDigest: td[:]}
	f.rec = ClaimCeremonyRecord(info, nodes, tr, pk, atts)
	f.sign(f.rec)
	return f, nil
})

// sign has every node sign rec.
func (f *claimCeremonyFixture) sign(rec *cohortv1.ClaimCeremony) {
	rec.Signatures = nil
	st, err := ClaimCeremonyStatement(rec)
	if err != nil {
		panic(err)
	}
	for i, sk := range f.sk {
		rec.Signatures = append(rec.Signatures, &cohortv1.NodeSignature{NodeIndex: uint32(i), Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: attest.Sign(sk, st)})
	}
}

// TestVerifyClaimCeremony: a claim ceremony's published record and
// transcript verify offline; every alteration of either is refused, even
// one re-signed by every node when the transcript does not replay to it.
func TestVerifyClaimCeremony(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-party ceremony of the claim circuit")
	}
	f, err := claimFixture()
	if err != nil {
		t.Fatal(err)
	}
	chk, err := VerifyClaimCeremony(f.rec, f.tb)
	if err != nil {
		t.Fatal(err)
	}
	if chk.Nodes != 3 || !bytes.Equal(chk.VerifyingKey, f.rec.GetVerifyingKey()) || chk.BeaconSource != "fixture" {
		t.Fatalf("check: %+v", chk)
	}
	if err := CheckClaimProvingKey(f.rec, f.pk); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(f.pk)
	bad[len(bad)/2] ^= 1
	if err := CheckClaimProvingKey(f.rec, bad); !errors.Is(err, ErrClaimCeremony) {
		t.Fatalf("an altered proving key: %v", err)
	}

	tamperedTranscript := func(edit func(*setup.Transcript)) []byte {
		tr := *f.tr
		tr.Phase1 = append([][]byte(nil), f.tr.Phase1...)
		tr.Phase2 = append([][]byte(nil), f.tr.Phase2...)
		edit(&tr)
		b, err := tr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, c := range map[string]struct {
		edit   func(*cohortv1.ClaimCeremony)
		resign bool
		tb     []byte
	}{
		"a node's signature missing": {edit: func(r *cohortv1.ClaimCeremony) { r.Signatures = r.Signatures[:2] }},
		"another verifying key":      {edit: func(r *cohortv1.ClaimCeremony) { r.VerifyingKey[40] ^= 1 }},
		"another proving key digest": {edit: func(r *cohortv1.ClaimCeremony) { r.ProvingKeyDigest[0] ^= 1 }, resign: true},
		"a node left out of the plan": {edit: func(r *cohortv1.ClaimCeremony) {
			r.Ceremony.Participants = []uint32{0, 1}
		}, resign: true},
		"a plan for a dataset": {edit: func(r *cohortv1.ClaimCeremony) { r.Ceremony.DatasetId = "fitness" }, resign: true},
		"one node attesting two contributions": {edit: func(r *cohortv1.ClaimCeremony) {
			r.Contributions[4] = dataset.AttestContribution("claims-fixture", 2, 1, 0, f.tr.Phase2[1], f.sk[0])
		}, resign: true},
		"a contribution altered": {tb: tamperedTranscript(func(tr *setup.Transcript) {
			tr.Phase2[1] = bytes.Clone(tr.Phase2[1])
			tr.Phase2[1][len(tr.Phase2[1])/2] ^= 1
		})},
		"a contribution altered, re-attested and re-signed": {tb: tamperedTranscript(func(tr *setup.Transcript) {
			tr.Phase1[0] = bytes.Clone(tr.Phase1[0])
			tr.Phase1[0][len(tr.Phase1[0])-40] ^= 1
		}), resign: true},
	} {
		rec := proto.Clone(f.rec).(*cohortv1.ClaimCeremony)
		tb := f.tb
		if c.edit != nil {
			c.edit(rec)
		}
		if c.tb != nil {
			tb = c.tb
			if c.resign {
				var tr setup.Transcript
				if err := tr.UnmarshalBinary(tb); err != nil {
					t.Fatal(err)
				}
				td, err := tr.Digest()
				if err != nil {
					t.Fatal(err)
				}
				rec.Ceremony.TranscriptDigest = td[:]
				rec.Contributions[0] = dataset.AttestContribution("claims-fixture", 1, 0, 0, tr.Phase1[0], f.sk[0])
			}
		}
		if c.resign {
			f.sign(rec)
		}
		if _, err := VerifyClaimCeremony(rec, tb); !errors.Is(err, ErrClaimCeremony) {
			t.Errorf("%s: %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

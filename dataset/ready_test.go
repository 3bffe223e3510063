package dataset

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// signedDescriptor is a READY descriptor of three nodes, with three
// contributions per phase, by nodes 0, 1 and 2 in that order, attested
// and every node's READY signature.
func signedDescriptor(t *testing.T) (*cohortv1.DatasetDescriptor, []ed25519.PrivateKey, [2][][]byte) {
	t.Helper()
	d := &cohortv1.DatasetDescriptor{Id: "fitness", CeremonyId: "fitness-c1", State: cohortv1.DatasetState_DATASET_STATE_READY, NodeCount: 3}
	var keys []ed25519.PrivateKey
	for i := range 3 {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, priv)
		d.Nodes = append(d.Nodes, &cohortv1.NodeInfo{Index: uint32(i), SigningScheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, SigningPublicKey: pub})
	}
	phases := [2][][]byte{{[]byte("p1-a"), []byte("p1-b"), []byte("p1-c")}, {[]byte("p2-a"), []byte("p2-b"), []byte("p2-c")}}
	for p, list := range phases {
		for i, c := range list {
			d.CeremonyContributions = append(d.CeremonyContributions, AttestContribution(d.CeremonyId, uint32(p+1), uint32(i), uint32(i), c, keys[i]))
		}
	}
	for i, k := range keys {
		sig, err := SignReady(d, uint32(i), k)
		if err != nil {
			t.Fatal(err)
		}
		d.ReadySignatures = append(d.ReadySignatures, sig)
	}
	return d, keys, phases
}

func TestReadySignatures(t *testing.T) {
	d, keys, _ := signedDescriptor(t)
	if err := CheckReadySignatures(d); err != nil {
		t.Fatal(err)
	}
	// The digest leaves the signatures out and covers everything else.
	d0, err := ReadyDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	bare := proto.Clone(d).(*cohortv1.DatasetDescriptor)
	bare.ReadySignatures = nil
	if d1, _ := ReadyDigest(bare); d1 != d0 {
		t.Fatal("the READY digest depends on the signatures")
	}
	cases := map[string]func(d *cohortv1.DatasetDescriptor){
		"another creation time": func(d *cohortv1.DatasetDescriptor) { d.CreatedAt = 1 },
		"another verifying key": func(d *cohortv1.DatasetDescriptor) { d.VerifyingKey = []byte{1} },
		"a contribution dropped": func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions = d.CeremonyContributions[1:]
		},
		"node 1's signature missing": func(d *cohortv1.DatasetDescriptor) {
			d.ReadySignatures = []*cohortv1.NodeSignature{d.ReadySignatures[0], d.ReadySignatures[2]}
		},
		"signatures out of order": func(d *cohortv1.DatasetDescriptor) {
			d.ReadySignatures[0], d.ReadySignatures[1] = d.ReadySignatures[1], d.ReadySignatures[0]
		},
		"node 0 signs for node 1": func(d *cohortv1.DatasetDescriptor) {
			sig, err := SignReady(d, 1, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			d.ReadySignatures[1] = sig
		},
		"no signatures":  func(d *cohortv1.DatasetDescriptor) { d.ReadySignatures = nil },
		"unknown scheme": func(d *cohortv1.DatasetDescriptor) { d.ReadySignatures[2].Scheme = 0 },
	}
	for name, edit := range cases {
		x := proto.Clone(d).(*cohortv1.DatasetDescriptor)
		edit(x)
		if err := CheckReadySignatures(x); !errors.Is(err, ErrUnsigned) {
			t.Errorf("%s: %v, want ErrUnsigned", name, err)
		}
	}
}

func TestCheckContributions(t *testing.T) {
	d, keys, phases := signedDescriptor(t)
	who, err := CheckContributions(d, phases[0], phases[1])
	if err != nil {
		t.Fatal(err)
	}
	for p := range who {
		if len(who[p]) != 3 || who[p][0] != 0 || who[p][1] != 1 || who[p][2] != 2 {
			t.Fatalf("phase %d made by %v", p+1, who[p])
		}
	}
	cases := map[string]func(d *cohortv1.DatasetDescriptor){
		"node 0 twice in phase 1": func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[1] = AttestContribution(d.CeremonyId, 1, 1, 0, phases[0][1], keys[0])
		},
		"attributed to node 1, signed by node 2": func(d *cohortv1.DatasetDescriptor) {
			a := AttestContribution(d.CeremonyId, 2, 2, 2, phases[1][2], keys[2])
			a.Signature.NodeIndex = 1
			d.CeremonyContributions[5] = a
		},
		"another ceremony's attestation": func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[0] = AttestContribution("other", 1, 0, 0, phases[0][0], keys[0])
		},
		"another contribution's digest": func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[0] = AttestContribution(d.CeremonyId, 1, 0, 0, phases[0][1], keys[0])
		},
		"positions swapped": func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[0], d.CeremonyContributions[1] = d.CeremonyContributions[1], d.CeremonyContributions[0]
		},
		"a node outside the dataset": func(d *cohortv1.DatasetDescriptor) {
			d.CeremonyContributions[2].Signature.NodeIndex = 7
		},
		"one missing":    func(d *cohortv1.DatasetDescriptor) { d.CeremonyContributions = d.CeremonyContributions[:5] },
		"none at all":    func(d *cohortv1.DatasetDescriptor) { d.CeremonyContributions = nil },
		"phase mixed up": func(d *cohortv1.DatasetDescriptor) { d.CeremonyContributions[3].Phase = 1 },
	}
	for name, edit := range cases {
		x := proto.Clone(d).(*cohortv1.DatasetDescriptor)
		edit(x)
		if _, err := CheckContributions(x, phases[0], phases[1]); !errors.Is(err, ErrContributions) {
			t.Errorf("%s: %v, want ErrContributions", name, err)
		}
	}
}

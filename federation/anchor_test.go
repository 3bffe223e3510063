package federation

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/seal"
)

// datasetOf is a dataset descriptor naming the federation's nodes, as a
// node builds it.
func datasetOf(d *Descriptor) *cohortv1.DatasetDescriptor {
	desc := &cohortv1.DatasetDescriptor{Id: "fitness", NodeCount: uint32(len(d.Nodes))}
	for _, n := range d.Nodes {
		desc.Nodes = append(desc.Nodes, &cohortv1.NodeInfo{
			Index: n.Index, Name: n.Name, Address: n.APIAddress, SealPublicKey: bytes.Clone(n.SealPublicKey),
			SigningScheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, SigningPublicKey: bytes.Clone(n.SigningPublicKey),
		})
	}
	return desc
}

// TestSubstitutedDescriptorRefused is a node that serves a dataset
// descriptor naming keys of its own in place of the federation's, so that it
// can open every share sealed to them or sign receipts for the other nodes.
// CheckDataset refuses each substitution with ErrNotAnchored.
func TestSubstitutedDescriptorRefused(t *testing.T) {
	_, res := initFederation(t, InitOptions{Nodes: 3})
	fed := res.Descriptor
	if err := fed.CheckDataset(datasetOf(fed)); err != nil {
		t.Fatalf("the federation's own dataset: %v", err)
	}
	sk, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherSeal := sk.Public().Marshal()
	otherSigning, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(d *cohortv1.DatasetDescriptor){
		"node 1's seal key replaced":    func(d *cohortv1.DatasetDescriptor) { d.Nodes[1].SealPublicKey = otherSeal },
		"node 2's signing key replaced": func(d *cohortv1.DatasetDescriptor) { d.Nodes[2].SigningPublicKey = otherSigning },
		"every seal key node 0's": func(d *cohortv1.DatasetDescriptor) {
			d.Nodes[1].SealPublicKey, d.Nodes[2].SealPublicKey = d.Nodes[0].SealPublicKey, d.Nodes[0].SealPublicKey
		},
		"two nodes swapped":          func(d *cohortv1.DatasetDescriptor) { d.Nodes[0], d.Nodes[1] = d.Nodes[1], d.Nodes[0] },
		"signing scheme unspecified": func(d *cohortv1.DatasetDescriptor) { d.Nodes[0].SigningScheme = 0 },
		"one node dropped":           func(d *cohortv1.DatasetDescriptor) { d.Nodes, d.NodeCount = d.Nodes[:2], 2 },
		"a fourth node of the server's own": func(d *cohortv1.DatasetDescriptor) {
			d.Nodes, d.NodeCount = append(d.Nodes, proto.Clone(d.Nodes[0]).(*cohortv1.NodeInfo)), 4
		},
		"node count disagrees with entries": func(d *cohortv1.DatasetDescriptor) { d.NodeCount = 2 },
		"index renumbered":                  func(d *cohortv1.DatasetDescriptor) { d.Nodes[2].Index = 7 },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			d := datasetOf(fed)
			edit(d)
			wantErr(t, fed.CheckDataset(d), ErrNotAnchored)
		})
	}
	t.Run("names and addresses are not compared", func(t *testing.T) {
		d := datasetOf(fed)
		d.Nodes[0].Name, d.Nodes[0].Address = "renamed", "elsewhere.example:1"
		if err := fed.CheckDataset(d); err != nil {
			t.Fatal(err)
		}
	})
}

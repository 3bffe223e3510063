package federation

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// CheckDataset checks a dataset descriptor against the federation, the
// trust anchor a contributor or auditor pins (docs/design.md §2.2): the
// dataset has exactly the federation's nodes (node_count and one entry per
// node, in index order), and each node's seal key and Ed25519 signing key
// are byte for byte the ones federation.yaml names. Names and addresses are
// not compared: they authenticate nothing. Errors wrap ErrNotAnchored.
//
// A descriptor that passes names only keys the federation's nodes hold, so
// the node that served it cannot have shares sealed to a key of its own
// choosing, nor receipts or transcripts accepted under its own signatures.
func (d *Descriptor) CheckDataset(desc *cohortv1.DatasetDescriptor) error {
	id := desc.GetId()
	if int(desc.GetNodeCount()) != len(d.Nodes) || len(desc.GetNodes()) != len(d.Nodes) {
		return fmt.Errorf("%w: dataset %q names %d nodes (%d entries), federation %q has %d",
			ErrNotAnchored, id, desc.GetNodeCount(), len(desc.GetNodes()), d.Name, len(d.Nodes))
	}
	for i, n := range desc.GetNodes() {
		want := d.Nodes[i]
		switch {
		case n.GetIndex() != want.Index:
			return fmt.Errorf("%w: dataset %q: entry %d names node %d", ErrNotAnchored, id, i, n.GetIndex())
		case !bytes.Equal(n.GetSealPublicKey(), want.SealPublicKey):
			return fmt.Errorf("%w: dataset %q: node %d's seal key is not the federation's", ErrNotAnchored, id, i)
		case n.GetSigningScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 ||
			len(n.GetSigningPublicKey()) != ed25519.PublicKeySize ||
			!bytes.Equal(n.GetSigningPublicKey(), want.SigningPublicKey):
			return fmt.Errorf("%w: dataset %q: node %d's signing key is not the federation's", ErrNotAnchored, id, i)
		}
	}
	return nil
}

package client

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// VerifyReceipt checks that r is a receipt for the record named by nullifier
// in dataset ds, acknowledged by every node: it names ds and the nullifier,
// has an ACCEPTED or REVOKED status, a 32-byte payload digest and registry
// root, and exactly node_count acknowledgments in node order, each for the
// same dataset, nullifier and payload digest and signed by that node's key
// from the descriptor (attest.ContributionAck). The one exception is a node
// the receipt lists in pending_nodes (at most one): it was down when the
// record was stored and has not acknowledged it yet, and its entry is
// empty (see Pending). It does not check which
// payload the digest is of; Contribute, which knows, does.
func VerifyReceipt(ds *dataset.Dataset, r *cohortv1.Receipt, nullifier [32]byte) error {
	if r == nil {
		return fmt.Errorf("%w: no receipt", ErrBadReceipt)
	}
	id := ds.Desc.GetId()
	if r.GetDatasetId() != id {
		return fmt.Errorf("%w: receipt for dataset %q, want %q", ErrBadReceipt, r.GetDatasetId(), id)
	}
	if !bytes.Equal(r.GetNullifier(), nullifier[:]) {
		return fmt.Errorf("%w: receipt for nullifier %x, want %x", ErrBadReceipt, r.GetNullifier(), nullifier)
	}
	switch r.GetStatus() {
	case cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED, cohortv1.ReceiptStatus_RECEIPT_STATUS_REVOKED:
	default:
		return fmt.Errorf("%w: status %s", ErrBadReceipt, r.GetStatus())
	}
	digest, err := digest32(r.GetPayloadDigest())
	if err != nil {
		return fmt.Errorf("%w: payload digest: %v", ErrBadReceipt, err)
	}
	if _, err := digest32(r.GetRegistryRoot()); err != nil {
		return fmt.Errorf("%w: registry root: %v", ErrBadReceipt, err)
	}
	if len(r.GetAcks()) != len(ds.Signing) {
		return fmt.Errorf("%w: %d acknowledgments from %d nodes", ErrBadReceipt, len(r.GetAcks()), len(ds.Signing))
	}
	pending, err := pendingNodes(r, len(ds.Signing))
	if err != nil {
		return err
	}
	for i, a := range r.GetAcks() {
		if pending[uint32(i)] {
			continue
		}
		switch {
		case a.GetDatasetId() != id:
			return fmt.Errorf("%w: node %d acknowledged dataset %q", ErrBadReceipt, i, a.GetDatasetId())
		case !bytes.Equal(a.GetNullifier(), nullifier[:]):
			return fmt.Errorf("%w: node %d acknowledged nullifier %x", ErrBadReceipt, i, a.GetNullifier())
		case !bytes.Equal(a.GetPayloadDigest(), digest[:]):
			return fmt.Errorf("%w: node %d acknowledged payload %x, the receipt names %x", ErrBadReceipt, i, a.GetPayloadDigest(), digest)
		}
		st := attest.ContributionAck{DatasetID: id, Nullifier: nullifier, PayloadDigest: digest, Node: uint32(i), StoredAt: a.GetStoredAt()}
		if err := verifySignature(ds, i, a.GetSignature(), st); err != nil {
			return err
		}
	}
	return nil
}

// pendingNodes checks the receipt's pending nodes — those that were down
// when the record was stored and will acknowledge it when they catch up:
// at most one, a member of the federation, in a federation of at least
// three nodes, with an empty acknowledgment in its place.
func pendingNodes(r *cohortv1.Receipt, nodes int) (map[uint32]bool, error) {
	p := r.GetPendingNodes()
	switch {
	case len(p) == 0:
		return nil, nil
	case len(p) > 1:
		return nil, fmt.Errorf("%w: %d nodes pending; a record may await one", ErrBadReceipt, len(p))
	case int(p[0]) >= nodes || nodes < 3:
		return nil, fmt.Errorf("%w: node %d pending in a federation of %d nodes", ErrBadReceipt, p[0], nodes)
	case r.GetAcks()[p[0]].GetSignature() != nil:
		return nil, fmt.Errorf("%w: node %d is both pending and signed", ErrBadReceipt, p[0])
	}
	return map[uint32]bool{p[0]: true}, nil
}

// Pending reports the nodes a receipt lists as not having acknowledged
// the record yet (VerifyReceipt checked them): the record is held for
// them, counted by no job until they do, and GetReceipt answers with
// their acknowledgment once they caught up.
func Pending(r *cohortv1.Receipt) []uint32 { return r.GetPendingNodes() }

// verifySignature checks node i's signature over st.
func verifySignature(ds *dataset.Dataset, i int, sig *cohortv1.NodeSignature, st attest.Statement) error {
	switch {
	case sig == nil:
		return fmt.Errorf("%w: node %d did not sign", ErrBadReceipt, i)
	case sig.GetNodeIndex() != uint32(i):
		return fmt.Errorf("%w: signature of node %d in node %d's place", ErrBadReceipt, sig.GetNodeIndex(), i)
	case sig.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519:
		return fmt.Errorf("%w: node %d signed with scheme %s", ErrBadReceipt, i, sig.GetScheme())
	}
	if err := attest.Verify(ds.Signing[i], st, sig.GetSignature()); err != nil {
		return fmt.Errorf("%w: node %d: %w", ErrBadReceipt, i, err)
	}
	return nil
}

// Receipt fetches the receipt of the record named by nullifier in a dataset,
// with the first page (up to 100, oldest first) of the jobs that counted it,
// and verifies it (VerifyReceipt) against the dataset's node keys.
func (c *Client) Receipt(ctx context.Context, datasetID string, nullifier [32]byte) (*cohortv1.GetReceiptResponse, error) {
	ds, err := c.Dataset(ctx, datasetID)
	if err != nil {
		return nil, err
	}
	resp, err := c.api.GetReceipt(ctx, &cohortv1.GetReceiptRequest{DatasetId: datasetID, Nullifier: nullifier[:]})
	if err != nil {
		return nil, rpcError("fetching the receipt", err)
	}
	if err := VerifyReceipt(ds, resp.GetReceipt(), nullifier); err != nil {
		return nil, err
	}
	return resp, nil
}

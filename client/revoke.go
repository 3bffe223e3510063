package client

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Revoke revokes the identity's record for a dataset and epoch by revealing
// its revocation token (which says nothing about the secret or other
// records). It checks the answer: the nullifier is the record's, and every
// node signed the revocation (attest.Revocation) under its key from the
// dataset's descriptor. Jobs admitted before revoked_at may still release
// results that counted the record.
func (c *Client) Revoke(ctx context.Context, id *Identity, datasetID string, epoch uint64) (*cohortv1.RevokeResponse, error) {
	ds, err := c.Dataset(ctx, datasetID)
	if err != nil {
		return nil, err
	}
	rt := id.RevocationToken(datasetID, epoch)
	resp, err := c.api.Revoke(ctx, &cohortv1.RevokeRequest{DatasetId: datasetID, RevocationToken: rt[:]})
	if err != nil {
		return nil, rpcError("node refused the revocation", err)
	}
	if err := verifyRevocation(ds, resp, id.Nullifier(datasetID, epoch)); err != nil {
		return nil, err
	}
	return resp, nil
}

// verifyRevocation checks a revocation answer for the record named by
// nullifier: node_count signatures in node order over
// attest.Revocation{dataset, nullifier, revoked_at}.
func verifyRevocation(ds *dataset.Dataset, r *cohortv1.RevokeResponse, nullifier [32]byte) error {
	if !bytes.Equal(r.GetNullifier(), nullifier[:]) {
		return fmt.Errorf("%w: revocation of nullifier %x, want %x", ErrBadReceipt, r.GetNullifier(), nullifier)
	}
	if r.GetRevokedAt() <= 0 {
		return fmt.Errorf("%w: revocation time %d", ErrBadReceipt, r.GetRevokedAt())
	}
	if len(r.GetSignatures()) != len(ds.Signing) {
		return fmt.Errorf("%w: %d revocation signatures from %d nodes", ErrBadReceipt, len(r.GetSignatures()), len(ds.Signing))
	}
	st := attest.Revocation{DatasetID: ds.Desc.GetId(), Nullifier: nullifier, RevokedAt: r.GetRevokedAt()}
	for i, sig := range r.GetSignatures() {
		if err := verifySignature(ds, i, sig, st); err != nil {
			return err
		}
	}
	return nil
}

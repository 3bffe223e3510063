package client

import (
	"context"
	"fmt"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Dataset fetches a dataset's descriptor and checks it (dataset.From: the
// schema against its digest, the node keys, the verifying key of a READY
// dataset) and, when the client pins a federation (WithFederation), that its
// nodes are the federation's (federation.ErrNotAnchored otherwise) and that
// a READY descriptor is signed by every one of them (dataset.ErrUnsigned
// otherwise). It does
// not compile the circuit; Contribute does, and refuses a descriptor whose
// circuit digest differs from the compiled circuit's.
func (c *Client) Dataset(ctx context.Context, datasetID string) (*dataset.Dataset, error) {
	if !dataset.ValidID(datasetID) {
		return nil, fmt.Errorf("%w: dataset id %q is not 1..64 bytes of [a-z0-9-]", ErrInvalidOptions, datasetID)
	}
	resp, err := c.api.GetDataset(ctx, &cohortv1.GetDatasetRequest{DatasetId: datasetID})
	if err != nil {
		return nil, rpcError("fetching dataset "+datasetID, err)
	}
	ds, err := dataset.From(resp.GetDataset())
	if err != nil {
		return nil, fmt.Errorf("client: dataset %s: %w", datasetID, err)
	}
	if ds.Desc.GetId() != datasetID {
		return nil, fmt.Errorf("%w: asked for dataset %q, got %q", ErrBadResponse, datasetID, ds.Desc.GetId())
	}
	if err := c.checkAnchor(ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// checkAnchor checks ds's nodes against the pinned federation, if any,
// and that every one of them signed a READY descriptor
// (dataset.CheckReadySignatures): a descriptor one node substituted or
// altered lacks the others' signatures.
func (c *Client) checkAnchor(ds *dataset.Dataset) error {
	if c.anchor == nil {
		return nil
	}
	if err := c.anchor.CheckDataset(ds.Desc); err != nil {
		return fmt.Errorf("client: node %s served a dataset descriptor that is not the federation's; nothing was sealed or sent: %w", c.addr, err)
	}
	if ds.Ready() {
		if err := dataset.CheckReadySignatures(ds.Desc); err != nil {
			return fmt.Errorf("client: node %s served a dataset descriptor that not every node of the federation signed; nothing was sealed or sent: %w", c.addr, err)
		}
	}
	return nil
}

// Datasets lists the node's dataset descriptors (ContributorService.
// ListDatasets), every page, as the node sends them: pass an id to Dataset
// to have it checked against the pinned federation before trusting it.
func (c *Client) Datasets(ctx context.Context) ([]*cohortv1.DatasetDescriptor, error) {
	var out []*cohortv1.DatasetDescriptor
	for tok := ""; ; {
		resp, err := c.api.ListDatasets(ctx, &cohortv1.ContributorServiceListDatasetsRequest{PageSize: 100, PageToken: tok})
		if err != nil {
			return nil, rpcError("list datasets", err)
		}
		out = append(out, resp.GetDatasets()...)
		if resp.GetNextPageToken() == "" || len(out) > 100_000 {
			return out, nil
		}
		tok = resp.GetNextPageToken()
	}
}

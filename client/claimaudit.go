package client

import (
	"context"
	"fmt"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// MaxClaims bounds the claims RewardsInput reads from a node for one
// dataset.
const MaxClaims = 1 << 20

// ClaimCeremony downloads the claim keys' ceremony (AuditService.
// GetClaimCeremony): its record, signed by every node, and its transcript,
// checked against the stream header's size and SHA-256. Nothing else is
// checked: audit.VerifyClaimCeremony does, offline.
func (c *Client) ClaimCeremony(ctx context.Context) (*cohortv1.ClaimCeremony, []byte, error) {
	st, err := cohortv1.NewAuditServiceClient(c.conn).GetClaimCeremony(ctx, &cohortv1.GetClaimCeremonyRequest{})
	if err != nil {
		return nil, nil, rpcError("get claim ceremony", err)
	}
	first, err := st.Recv()
	if err != nil {
		return nil, nil, rpcError("get claim ceremony", err)
	}
	b, err := blob.Receive(first.GetHeader(), MaxBundleSize, func() (*cohortv1.Chunk, error) {
		m, err := st.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("client: get claim ceremony: %w", err)
	}
	if first.GetCeremony() == nil {
		return nil, nil, fmt.Errorf("%w: the claim ceremony came without its record", ErrBadResponse)
	}
	return first.GetCeremony(), b, nil
}

// Claims lists every reward claim the node recorded for a dataset's jobs
// (AuditService.ListClaims), with their proofs.
func (c *Client) Claims(ctx context.Context, datasetID string) ([]*cohortv1.RewardClaim, error) {
	api := cohortv1.NewAuditServiceClient(c.conn)
	var out []*cohortv1.RewardClaim
	for tok := ""; ; {
		resp, err := api.ListClaims(ctx, &cohortv1.ListClaimsRequest{DatasetId: datasetID, PageSize: 1000, PageToken: tok})
		if err != nil {
			return nil, rpcError("list claims", err)
		}
		out = append(out, resp.GetClaims()...)
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		if len(out) > MaxClaims {
			return nil, fmt.Errorf("%w: more than %d claims", ErrBadResponse, MaxClaims)
		}
		tok = resp.GetNextPageToken()
	}
}

// RewardsInput gathers from the node what audit.Rewards checks for a
// dataset: the claim keys' ceremony, every released transcript of the
// dataset (without the dataset's ceremony) and every claim.
func (c *Client) RewardsInput(ctx context.Context, datasetID string) (audit.RewardsInput, error) {
	in := audit.RewardsInput{DatasetID: datasetID}
	var err error
	if in.Ceremony, in.CeremonyTranscript, err = c.ClaimCeremony(ctx); err != nil {
		return in, err
	}
	infos, err := c.Transcripts(ctx, datasetID)
	if err != nil {
		return in, err
	}
	for _, ti := range infos {
		b, err := c.TranscriptWithoutCeremony(ctx, ti.GetTranscriptId())
		if err != nil {
			return in, err
		}
		bundle, err := audit.UnmarshalBundle(b, audit.DefaultLimits())
		if err != nil {
			return in, fmt.Errorf("%w: transcript %s: %v", ErrBadResponse, ti.GetTranscriptId(), err)
		}
		in.Bundles = append(in.Bundles, bundle)
	}
	if in.Claims, err = c.Claims(ctx, datasetID); err != nil {
		return in, err
	}
	return in, nil
}

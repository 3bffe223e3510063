package node

import (
	"context"
	"errors"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/store"
)

// PeerService: contributions and revocations forwarded by the node that
// received them.

func (s *peerService) ForwardContribution(ctx context.Context, req *cohortv1.ForwardContributionRequest) (*cohortv1.ForwardContributionResponse, error) {
	return s.n.forward(ctx, req.GetDatasetId(), req.GetPayload())
}

func (s *peerService) AbortContribution(ctx context.Context, req *cohortv1.AbortContributionRequest) (*cohortv1.AbortContributionResponse, error) {
	nf, err := fieldBytes(req.GetNullifier(), "nullifier")
	if err != nil {
		return nil, err
	}
	from, _ := callerPeer(ctx)
	err = s.n.store.DeleteContribution(ctx, req.GetDatasetId(), nf.Bytes())
	if errors.Is(err, store.ErrNotFound) {
		return &cohortv1.AbortContributionResponse{}, nil
	}
	if err != nil {
		return nil, s.n.internal("delete contribution", err)
	}
	s.n.log.Info("contribution rolled back", "by", from, "dataset", req.GetDatasetId(), "reason", truncate(req.GetReason(), 1024))
	s.n.metrics.contributions.WithLabelValues("peer", "rolled_back").Inc()
	return &cohortv1.AbortContributionResponse{Removed: true}, nil
}

func (s *peerService) GetContributionAck(ctx context.Context, req *cohortv1.GetContributionAckRequest) (*cohortv1.GetContributionAckResponse, error) {
	nf, err := fieldBytes(req.GetNullifier(), "nullifier")
	if err != nil {
		return nil, err
	}
	row, err := s.n.store.GetContribution(ctx, req.GetDatasetId(), nf.Bytes())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.NotFound, "no such record")
	}
	if err != nil {
		return nil, s.n.internal("read contribution", err)
	}
	a, err := storedAck(&row)
	if err != nil {
		return nil, s.n.internal("stored ack", err)
	}
	resp := &cohortv1.GetContributionAckResponse{Ack: a}
	if row.Revoked() {
		resp.RevokedAt = row.RevokedAt.Unix()
	}
	return resp, nil
}

func (s *peerService) ForwardRevocation(ctx context.Context, req *cohortv1.ForwardRevocationRequest) (*cohortv1.ForwardRevocationResponse, error) {
	if d := time.Since(time.Unix(req.GetRevokedAt(), 0)); d < -time.Hour || d > time.Hour {
		return nil, status.Error(codes.InvalidArgument, "revoked_at is more than an hour from this node's clock")
	}
	nf, _, sig, err := s.n.revokeLocal(ctx, req.GetDatasetId(), req.GetRevocationToken(), time.Unix(req.GetRevokedAt(), 0))
	if err != nil {
		return nil, err
	}
	return &cohortv1.ForwardRevocationResponse{Nullifier: nf[:], Signature: sig}, nil
}

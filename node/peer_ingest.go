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
	from, ok := callerPeer(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified node identity")
	}
	return s.n.forward(ctx, from, req.GetDatasetId(), req.GetPayload())
}

func (s *peerService) AbortContribution(ctx context.Context, req *cohortv1.AbortContributionRequest) (*cohortv1.AbortContributionResponse, error) {
	nf, err := fieldBytes(req.GetNullifier(), "nullifier")
	if err != nil {
		return nil, err
	}
	from, ok := callerPeer(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified node identity")
	}
	id, key := req.GetDatasetId(), nf.Bytes()
	tracked, err := s.n.pending.rollback(id, key, from, s.n.now(), func() error {
		return s.n.store.DeleteContribution(ctx, id, key)
	})
	if !tracked {
		// Not pending: refused if the record is here, answered as done if
		// not (a retry of a rollback that completed).
		_, err = s.n.store.GetContribution(ctx, id, key)
		switch {
		case err == nil:
			err = errNotPending
		case errors.Is(err, store.ErrNotFound):
		default:
			return nil, s.n.internal("read contribution", err)
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &cohortv1.AbortContributionResponse{}, nil
	case errors.Is(err, errNotForwarder):
		s.n.log.Warn("rollback refused", "by", from, "dataset", id, "error", err)
		return nil, status.Errorf(codes.PermissionDenied, "node %d may not roll back record %x: %v", from, key, err)
	case errors.Is(err, errNotPending), errors.Is(err, errSelected):
		s.n.log.Warn("rollback refused", "by", from, "dataset", id, "error", err)
		return nil, status.Errorf(codes.FailedPrecondition, "record %x is kept: %v", key, err)
	case err != nil:
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

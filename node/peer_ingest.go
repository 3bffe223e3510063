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
	return s.n.forward(ctx, from, req.GetDatasetId(), req.GetPayload(), req.GetCatchUp())
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
	row, err := s.n.store.GetContribution(ctx, id, key)
	if errors.Is(err, store.ErrNotFound) {
		// Never stored here, or a retry of a rollback that completed.
		return &cohortv1.AbortContributionResponse{}, nil
	}
	if err != nil {
		return nil, s.n.internal("read contribution", err)
	}
	if err = mayRollBack(row, from); err == nil {
		err = s.n.store.RollBackContribution(ctx, id, key, from, time.Time{})
		if errors.Is(err, store.ErrConflict) {
			err = errCommitted // committed meanwhile
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &cohortv1.AbortContributionResponse{}, nil
	case errors.Is(err, errNotForwarder):
		s.n.log.Warn("rollback refused", "by", from, "dataset", id, "error", err)
		return nil, status.Errorf(codes.PermissionDenied, "node %d may not roll back record %x: %v", from, key, err)
	case errors.Is(err, errCommitted):
		s.n.log.Warn("rollback refused", "by", from, "dataset", id, "error", err)
		return nil, status.Errorf(codes.FailedPrecondition, "record %x is kept: %v", key, err)
	case err != nil:
		return nil, s.n.internal("roll back contribution", err)
	}
	s.n.log.Info("contribution rolled back", "by", from, "dataset", id, "reason", truncate(req.GetReason(), 1024))
	s.n.metrics.contributions.WithLabelValues("peer", "rolled_back").Inc()
	return &cohortv1.AbortContributionResponse{Removed: true}, nil
}

// GetContributionAck answers with this node's acknowledgment of a
// committed record. Asked by the node that forwarded a pending record, it
// commits it first: the forwarder asks only once it committed its own
// (docs/design.md §7.5), Incomplete when it names a node the record
// awaits; asked by it without one for an Incomplete record, it completes
// it (that node caught up). Any other node is told FailedPrecondition
// while the record is pending.
func (s *peerService) GetContributionAck(ctx context.Context, req *cohortv1.GetContributionAckRequest) (*cohortv1.GetContributionAckResponse, error) {
	nf, err := fieldBytes(req.GetNullifier(), "nullifier")
	if err != nil {
		return nil, err
	}
	from, ok := callerPeer(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified node identity")
	}
	row, err := s.n.store.GetContribution(ctx, req.GetDatasetId(), nf.Bytes())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.NotFound, "no such record")
	}
	if err != nil {
		return nil, s.n.internal("read contribution", err)
	}
	missing := req.GetMissingNodes()
	if err := s.n.checkMissing(from, missing); err != nil {
		return nil, err
	}
	switch {
	case row.Pending && row.Forwarder != from:
		return nil, status.Errorf(codes.FailedPrecondition, "record %x is pending here until node %d decides; retry later", row.Nullifier, row.Forwarder)
	case row.Pending:
		if err := s.n.commitAs(ctx, row, missing); err != nil {
			return nil, s.n.internal("commit contribution", err)
		}
		row.Pending, row.Incomplete = false, len(missing) > 0
		if row.Incomplete {
			row.Missing = missing[0]
		}
	case row.Incomplete && row.Forwarder == from && len(missing) == 0:
		// The node the record awaited caught up (docs/design.md §7.5).
		if err := s.n.store.CompleteContribution(ctx, row.DatasetID, row.Nullifier); err != nil {
			return nil, s.n.internal("complete contribution", err)
		}
		row.Incomplete = false
	}
	a, err := storedAck(&row)
	if err != nil {
		return nil, s.n.internal("stored ack", err)
	}
	resp := &cohortv1.GetContributionAckResponse{Ack: a, MissingNodes: missingOf(row)}
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

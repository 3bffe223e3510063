package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/store"
)

// PeerService: the registry, invites and buyer accounts every node keeps.

func (s *peerService) ProposeRegistration(ctx context.Context, req *cohortv1.ProposeRegistrationRequest) (*cohortv1.ProposeRegistrationResponse, error) {
	if s.n.opts.Index != s.n.opts.Sequencer {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d is not the registry sequencer (node %d is)", s.n.opts.Index, s.n.opts.Sequencer)
	}
	return s.n.registry.register(ctx, req.GetIdentityCommitment(), req.GetInviteToken())
}

func (s *peerService) StoreInvites(ctx context.Context, req *cohortv1.StoreInvitesRequest) (*cohortv1.StoreInvitesResponse, error) {
	if s.n.opts.Index != s.n.opts.Sequencer {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d is not the registry sequencer", s.n.opts.Index)
	}
	exp := time.Unix(req.GetExpiresAt(), 0)
	if !exp.After(s.n.now()) {
		return nil, status.Error(codes.InvalidArgument, "expires_at must be in the future")
	}
	if err := s.n.storeInvites(ctx, req.GetTokenHashes(), exp); err != nil {
		return nil, err
	}
	return &cohortv1.StoreInvitesResponse{}, nil
}

func (s *peerService) ApplyRegistration(ctx context.Context, req *cohortv1.ApplyRegistrationRequest) (*cohortv1.ApplyRegistrationResponse, error) {
	if from, _ := callerPeer(ctx); from != s.n.opts.Sequencer {
		return nil, status.Errorf(codes.PermissionDenied, "only the registry sequencer (node %d) orders updates", s.n.opts.Sequencer)
	}
	if req.GetUpdate() == nil {
		return nil, status.Error(codes.InvalidArgument, "update missing")
	}
	r := s.n.registry
	r.mu.Lock()
	gap := req.GetUpdate().GetSequence() > r.head.Version+1
	r.mu.Unlock()
	if gap {
		// Not under mu: catchUp calls the sequencer (docs/design.md §8.4).
		if err := r.catchUp(ctx); err != nil {
			return nil, status.Errorf(codes.Unavailable, "catching up with the sequencer: %s", status.Convert(err).Message())
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.apply(ctx, req.GetUpdate()); err != nil {
		return nil, err
	}
	return &cohortv1.ApplyRegistrationResponse{Sequence: r.head.Version, Root: bytesOf(r.root())}, nil
}

func (s *peerService) GetRegistryState(ctx context.Context, req *cohortv1.GetRegistryStateRequest) (*cohortv1.GetRegistryStateResponse, error) {
	size := int(req.GetPageSize())
	if size <= 0 {
		size = 100
	}
	if size > 1000 {
		return nil, status.Error(codes.InvalidArgument, "page_size: at most 1000")
	}
	r := s.n.registry
	head, err := s.n.store.RegistryHead(ctx)
	if err != nil {
		return nil, s.n.internal("registry head", err)
	}
	after := req.GetAfterSequence()
	if after > head.Version {
		return nil, status.Errorf(codes.InvalidArgument, "after_sequence %d is beyond this node's %d", after, head.Version)
	}
	us, err := r.updates(ctx, after, size)
	if err != nil {
		return nil, err
	}
	root := head.Root
	if head.Version == 0 {
		root = feBytes(circuitsEmptyRoot(s.n.opts.RegistryDepth))
	}
	return &cohortv1.GetRegistryStateResponse{Sequence: head.Version, Root: bytesOf(root), Updates: us}, nil
}

// StoreBuyer records an account another node's admin created.
func (s *peerService) StoreBuyer(ctx context.Context, req *cohortv1.StoreBuyerRequest) (*cohortv1.StoreBuyerResponse, error) {
	if !validBuyerID(req.GetBuyerId()) {
		return nil, status.Error(codes.InvalidArgument, "buyer_id: want 1..64 bytes of [A-Za-z0-9._-]")
	}
	if len(req.GetTokenHash()) != sha256.Size {
		return nil, status.Error(codes.InvalidArgument, "token_hash must be 32 bytes")
	}
	if len(req.GetPublicKey()) != ed25519.PublicKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "public_key must be the buyer's %d-byte Ed25519 key", ed25519.PublicKeySize)
	}
	b := store.Buyer{ID: req.GetBuyerId(), TokenHash: [32]byte(req.GetTokenHash()), CreatedAt: time.Unix(req.GetCreatedAt(), 0), PublicKey: req.GetPublicKey()}
	if err := s.n.putBuyer(ctx, b); err != nil {
		return nil, err
	}
	return &cohortv1.StoreBuyerResponse{}, nil
}

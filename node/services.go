package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// contributorService is ContributorService: unauthenticated, authorised by
// proofs, invite tokens and revocation tokens.
type contributorService struct {
	cohortv1.UnimplementedContributorServiceServer
	n *Node
}

func (s *contributorService) GetDataset(ctx context.Context, req *cohortv1.GetDatasetRequest) (*cohortv1.GetDatasetResponse, error) {
	d, err := s.n.datasets.descriptor(ctx, req.GetDatasetId())
	if err != nil {
		return nil, err
	}
	return &cohortv1.GetDatasetResponse{Dataset: d}, nil
}

func (s *contributorService) GetProvingKey(req *cohortv1.GetProvingKeyRequest, stream cohortv1.ContributorService_GetProvingKeyServer) error {
	ctx := stream.Context()
	if _, err := s.n.readyDescriptor(ctx, req.GetDatasetId()); err != nil {
		return err
	}
	keys, err := s.n.store.GetDatasetKeys(ctx, req.GetDatasetId())
	if err != nil {
		return s.n.internal("read proving key", err)
	}
	if err := stream.Send(&cohortv1.GetProvingKeyResponse{Part: &cohortv1.GetProvingKeyResponse_Header{Header: blob.Header(keys.ProvingKey)}}); err != nil {
		return err
	}
	return blob.Send(keys.ProvingKey, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetProvingKeyResponse{Part: &cohortv1.GetProvingKeyResponse_Chunk{Chunk: c}})
	})
}

func (s *contributorService) Register(ctx context.Context, req *cohortv1.RegisterRequest) (*cohortv1.RegisterResponse, error) {
	var (
		resp *cohortv1.ProposeRegistrationResponse
		err  error
	)
	if s.n.opts.Index == s.n.opts.Sequencer {
		resp, err = s.n.registry.register(ctx, req.GetIdentityCommitment(), req.GetInviteToken())
	} else {
		if _, err := fieldBytes(req.GetIdentityCommitment(), "identity_commitment"); err != nil {
			return nil, err
		}
		resp, err = call(ctx, s.n, s.n.opts.Sequencer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ProposeRegistrationResponse, error) {
			return c.ProposeRegistration(ctx, &cohortv1.ProposeRegistrationRequest{IdentityCommitment: req.GetIdentityCommitment(), InviteToken: req.GetInviteToken()})
		})
		if code := status.Code(err); code == codes.DeadlineExceeded || code == codes.Unavailable {
			return nil, status.Errorf(codes.Unavailable, "the registry sequencer (node %d) is unreachable: %s", s.n.opts.Sequencer, status.Convert(err).Message())
		}
	}
	if err != nil {
		return nil, err
	}
	return &cohortv1.RegisterResponse{MemberIndex: resp.GetMemberIndex(), Root: resp.GetRoot(), Sequence: resp.GetSequence()}, nil
}

func (s *contributorService) GetMembershipPath(_ context.Context, req *cohortv1.GetMembershipPathRequest) (*cohortv1.GetMembershipPathResponse, error) {
	return s.n.registry.path(req.GetMemberIndex())
}

func (s *contributorService) Contribute(ctx context.Context, req *cohortv1.ContributeRequest) (*cohortv1.ContributeResponse, error) {
	r, err := s.n.contribute(ctx, req.GetDatasetId(), req.GetPayload())
	if err != nil {
		return nil, err
	}
	return &cohortv1.ContributeResponse{Receipt: r}, nil
}

func (s *contributorService) Revoke(ctx context.Context, req *cohortv1.RevokeRequest) (*cohortv1.RevokeResponse, error) {
	return s.n.revoke(ctx, req.GetDatasetId(), req.GetRevocationToken())
}

func (s *contributorService) GetReceipt(ctx context.Context, req *cohortv1.GetReceiptRequest) (*cohortv1.GetReceiptResponse, error) {
	nf, err := fieldBytes(req.GetNullifier(), "nullifier")
	if err != nil {
		return nil, err
	}
	r, err := s.n.receiptOf(ctx, req.GetDatasetId(), nf.Bytes())
	if err != nil {
		return nil, err
	}
	return &cohortv1.GetReceiptResponse{Receipt: r}, nil
}

// adminService is AdminService: every call needs the admin token.
type adminService struct {
	cohortv1.UnimplementedAdminServiceServer
	n *Node
}

// MaxInvites bounds one IssueInvites call.
const MaxInvites = 10000

func (s *adminService) IssueInvites(ctx context.Context, req *cohortv1.IssueInvitesRequest) (*cohortv1.IssueInvitesResponse, error) {
	if err := s.n.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.GetCount() < 1 || req.GetCount() > MaxInvites {
		return nil, status.Errorf(codes.InvalidArgument, "count %d: want 1..%d", req.GetCount(), MaxInvites)
	}
	exp := time.Unix(req.GetExpiresAt(), 0)
	if !exp.After(s.n.now()) {
		return nil, status.Error(codes.InvalidArgument, "expires_at must be in the future")
	}
	tokens := make([]string, req.GetCount())
	hashes := make([][]byte, req.GetCount())
	for i := range tokens {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, s.n.internal("random token", err)
		}
		tokens[i] = base64.RawURLEncoding.EncodeToString(b[:])
		h := sha256.Sum256([]byte(tokens[i]))
		hashes[i] = h[:]
	}
	var err error
	if s.n.opts.Index == s.n.opts.Sequencer {
		err = s.n.storeInvites(ctx, hashes, exp)
	} else {
		_, err = call(ctx, s.n, s.n.opts.Sequencer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.StoreInvitesResponse, error) {
			return c.StoreInvites(ctx, &cohortv1.StoreInvitesRequest{TokenHashes: hashes, ExpiresAt: req.GetExpiresAt()})
		})
	}
	if err != nil {
		return nil, err
	}
	return &cohortv1.IssueInvitesResponse{Tokens: tokens, ExpiresAt: req.GetExpiresAt()}, nil
}

func (n *Node) storeInvites(ctx context.Context, hashes [][]byte, exp time.Time) error {
	if len(hashes) < 1 || len(hashes) > MaxInvites {
		return status.Errorf(codes.InvalidArgument, "%d invites: want 1..%d", len(hashes), MaxInvites)
	}
	for _, h := range hashes {
		if len(h) != 32 {
			return status.Error(codes.InvalidArgument, "token hash must be 32 bytes")
		}
	}
	for _, h := range hashes {
		if err := n.store.PutInvite(ctx, [32]byte(h), exp); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return n.internal("store invite", err)
		}
	}
	return nil
}

func (s *adminService) NodeStatus(ctx context.Context, _ *cohortv1.NodeStatusRequest) (*cohortv1.NodeStatusResponse, error) {
	if err := s.n.requireAdmin(ctx); err != nil {
		return nil, err
	}
	n := s.n
	n.registry.mu.Lock()
	resp := &cohortv1.NodeStatusResponse{
		NodeIndex:        n.opts.Index,
		Version:          n.opts.Version,
		StartedAt:        n.started.Unix(),
		RegistrySequence: n.registry.head.Version,
		RegistryRoot:     bytesOf(n.registry.root()),
		RegistryMembers:  uint64(n.registry.tree.Len()),
	}
	n.registry.mu.Unlock()
	for _, i := range n.others() {
		st := n.peers.status(i)
		ps := &cohortv1.PeerStatus{NodeIndex: i, Address: n.opts.Members[i].PeerAddress, Reachable: st.reachable, RegistrySequence: st.sequence}
		if !st.at.IsZero() {
			ps.LastSeenAt = st.at.Unix()
		}
		resp.Peers = append(resp.Peers, ps)
	}
	for tok := ""; ; {
		ds, next, err := n.store.ListDatasets(ctx, tok, store.MaxPageSize)
		if err != nil {
			return nil, n.internal("list datasets", err)
		}
		resp.Datasets += uint32(len(ds))
		if next == "" {
			break
		}
		tok = next
	}
	return resp, nil
}

func (s *adminService) CreateDataset(ctx context.Context, req *cohortv1.CreateDatasetRequest) (*cohortv1.CreateDatasetResponse, error) {
	if err := s.n.requireAdmin(ctx); err != nil {
		return nil, err
	}
	d, err := s.n.createDataset(ctx, req)
	if err != nil {
		return nil, err
	}
	return &cohortv1.CreateDatasetResponse{Dataset: d}, nil
}

// peerService is PeerService: callers are authenticated nodes (see
// authenticatePeer); a peer re-checks everything it can.
type peerService struct {
	cohortv1.UnimplementedPeerServiceServer
	n *Node
}

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
	s.n.metrics.ingested.WithLabelValues("peer", "rolled_back").Inc()
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
	defer r.mu.Unlock()
	if req.GetUpdate().GetSequence() > r.head.Version+1 {
		if err := r.catchUp(ctx); err != nil {
			return nil, status.Errorf(codes.Unavailable, "catching up with the sequencer: %s", status.Convert(err).Message())
		}
	}
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

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

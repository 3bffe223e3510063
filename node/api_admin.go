package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/store"
)

// AdminService: every call needs this node's admin token.

// adminService is AdminService: every call needs the admin token.
type adminService struct {
	cohortv1.UnimplementedAdminServiceServer
	n *Node
}

func (s *adminService) IssueInvites(ctx context.Context, req *cohortv1.IssueInvitesRequest) (*cohortv1.IssueInvitesResponse, error) {
	if req.GetCount() < 1 || req.GetCount() > MaxInvites {
		return nil, status.Errorf(codes.InvalidArgument, "count %d: want 1..%d", req.GetCount(), MaxInvites)
	}
	if err := req.GetExpiresAt().CheckValid(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "expires_at: %v", err)
	}
	exp := req.GetExpiresAt().AsTime().Truncate(time.Second)
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
			return c.StoreInvites(ctx, &cohortv1.StoreInvitesRequest{TokenHashes: hashes, ExpiresAt: exp.Unix()})
		})
	}
	if err != nil {
		return nil, err
	}
	return &cohortv1.IssueInvitesResponse{Tokens: tokens, ExpiresAt: apiTime(exp)}, nil
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
	n := s.n
	head, root, err := n.registry.current(ctx)
	if err != nil {
		return nil, n.internal("registry", err)
	}
	resp := &cohortv1.NodeStatusResponse{
		NodeIndex:        n.opts.Index,
		Version:          n.opts.Version,
		StartedAt:        apiTime(n.started),
		RegistrySequence: head.Version,
		RegistryRoot:     bytesOf(root),
		RegistryMembers:  head.Size,
		ReplicaId:        n.opts.ReplicaID,
	}
	rs, err := n.store.ListReplicas(ctx, store.MaxPageSize)
	if err != nil {
		return nil, n.internal("list replicas", err)
	}
	for _, r := range rs {
		resp.Replicas = append(resp.Replicas, &cohortv1.ReplicaStatus{ReplicaId: r.ID, Version: r.Version,
			StartedAt: apiTime(r.StartedAt), LastSeenAt: apiTime(r.SeenAt)})
	}
	for _, i := range n.others() {
		st := n.peers.status(i)
		ps := &cohortv1.PeerStatus{NodeIndex: i, Address: n.opts.Members[i].PeerAddress, Reachable: st.reachable, RegistrySequence: st.sequence}
		ps.LastSeenAt = apiTime(st.at)
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
	d, err := s.n.createDataset(ctx, req)
	if err != nil {
		return nil, err
	}
	return &cohortv1.CreateDatasetResponse{Dataset: d}, nil
}

// CreateBuyer creates the account on this node and on every peer, so the
// token works wherever the buyer connects. Every node must be reachable:
// an account missing on some node would be refused there.
func (s *adminService) CreateBuyer(ctx context.Context, req *cohortv1.CreateBuyerRequest) (*cohortv1.CreateBuyerResponse, error) {
	id := req.GetBuyerId()
	if !validBuyerID(id) {
		return nil, status.Errorf(codes.InvalidArgument, "buyer_id %q: want 1..64 bytes of [A-Za-z0-9._-]", truncate(id, 80))
	}
	if len(req.GetPublicKey()) != ed25519.PublicKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "public_key: the buyer's Ed25519 public key of %d bytes is required (`cohort buyer keygen`), got %d bytes",
			ed25519.PublicKeySize, len(req.GetPublicKey()))
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, s.n.internal("random token", err)
	}
	token := BuyerTokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	b := store.Buyer{ID: id, TokenHash: sha256.Sum256([]byte(token)), CreatedAt: s.n.now().Truncate(time.Second), PublicKey: req.GetPublicKey()}
	if err := s.n.putBuyer(ctx, b); err != nil {
		return nil, err
	}
	_, errs := fanOut(ctx, s.n, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.StoreBuyerResponse, error) {
		return c.StoreBuyer(ctx, &cohortv1.StoreBuyerRequest{BuyerId: b.ID, TokenHash: b.TokenHash[:], CreatedAt: b.CreatedAt.Unix(), PublicKey: b.PublicKey})
	})
	for i, err := range errs {
		return nil, status.Errorf(codes.Unavailable, "buyer %q was created on node %d but node %d did not store it (%s); create the buyer under another id once every node is up",
			id, s.n.opts.Index, i, status.Convert(err).Message())
	}
	s.n.log.Info("buyer created", "buyer", id)
	return &cohortv1.CreateBuyerResponse{BuyerId: id, Token: token}, nil
}

// MaxInvites bounds one IssueInvites call.
const MaxInvites = 10000

package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// BuyerTokenPrefix starts every buyer token, so a leaked one is easy to
// recognise (and to scan for).
const BuyerTokenPrefix = "cohort-buyer-"

// validBuyerID reports whether id is 1..64 bytes of [A-Za-z0-9._-].
func validBuyerID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// CreateBuyer creates the account on this node and on every peer, so the
// token works wherever the buyer connects. Every node must be reachable:
// an account missing on some node would be refused there.
func (s *adminService) CreateBuyer(ctx context.Context, req *cohortv1.CreateBuyerRequest) (*cohortv1.CreateBuyerResponse, error) {
	if err := s.n.requireAdmin(ctx); err != nil {
		return nil, err
	}
	id := req.GetBuyerId()
	if !validBuyerID(id) {
		return nil, status.Errorf(codes.InvalidArgument, "buyer_id %q: want 1..64 bytes of [A-Za-z0-9._-]", truncate(id, 80))
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, s.n.internal("random token", err)
	}
	token := BuyerTokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	b := store.Buyer{ID: id, TokenHash: sha256.Sum256([]byte(token)), CreatedAt: s.n.now().Truncate(time.Second)}
	if err := s.n.putBuyer(ctx, b); err != nil {
		return nil, err
	}
	_, errs := fanOut(ctx, s.n, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.StoreBuyerResponse, error) {
		return c.StoreBuyer(ctx, &cohortv1.StoreBuyerRequest{BuyerId: b.ID, TokenHash: b.TokenHash[:], CreatedAt: b.CreatedAt.Unix()})
	})
	for i, err := range errs {
		return nil, status.Errorf(codes.Unavailable, "buyer %q was created on node %d but node %d did not store it (%s); create the buyer under another id once every node is up",
			id, s.n.opts.Index, i, status.Convert(err).Message())
	}
	s.n.log.Info("buyer created", "buyer", id)
	return &cohortv1.CreateBuyerResponse{BuyerId: id, Token: token}, nil
}

// StoreBuyer records an account another node's admin created.
func (s *peerService) StoreBuyer(ctx context.Context, req *cohortv1.StoreBuyerRequest) (*cohortv1.StoreBuyerResponse, error) {
	if !validBuyerID(req.GetBuyerId()) {
		return nil, status.Error(codes.InvalidArgument, "buyer_id: want 1..64 bytes of [A-Za-z0-9._-]")
	}
	if len(req.GetTokenHash()) != sha256.Size {
		return nil, status.Error(codes.InvalidArgument, "token_hash must be 32 bytes")
	}
	b := store.Buyer{ID: req.GetBuyerId(), TokenHash: [32]byte(req.GetTokenHash()), CreatedAt: time.Unix(req.GetCreatedAt(), 0)}
	if err := s.n.putBuyer(ctx, b); err != nil {
		return nil, err
	}
	return &cohortv1.StoreBuyerResponse{}, nil
}

func (n *Node) putBuyer(ctx context.Context, b store.Buyer) error {
	err := n.store.PutBuyer(ctx, b)
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Errorf(codes.AlreadyExists, "buyer %q exists already", b.ID)
	case errors.Is(err, store.ErrInvalid):
		return status.Errorf(codes.InvalidArgument, "buyer: %v", err)
	case err != nil:
		return n.internal("store buyer", err)
	}
	return nil
}

// authenticateBuyer returns the buyer whose token the call carries in its
// "authorization" metadata ("Bearer <token>"). Tokens are looked up by
// their SHA-256: a 256-bit random secret's hash is not guessable from
// lookup timing.
func (n *Node) authenticateBuyer(ctx context.Context) (store.Buyer, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return store.Buyer{}, status.Error(codes.Unauthenticated, "buyer calls need an \"authorization: Bearer <buyer token>\" header")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || !strings.HasPrefix(tok, BuyerTokenPrefix) {
		return store.Buyer{}, status.Errorf(codes.Unauthenticated, "authorization header must be \"Bearer %s…\"", BuyerTokenPrefix)
	}
	b, err := n.store.BuyerByToken(ctx, sha256.Sum256([]byte(tok)))
	if errors.Is(err, store.ErrNotFound) {
		return store.Buyer{}, status.Error(codes.Unauthenticated, "unknown buyer token")
	}
	if err != nil {
		return store.Buyer{}, n.internal("look up buyer", fmt.Errorf("buyer by token: %w", err))
	}
	return b, nil
}

package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

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

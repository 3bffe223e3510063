package node

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/store"
)

// The public API authenticates in one interceptor (docs/design.md §8.2),
// chosen by the service called, before any handler runs: every
// AdminService method needs the node's admin token, every BuyerService
// method a buyer token, and the ContributorService, AuditService, health and
// reflection need nothing. A method added to a service is covered without a
// line in its handler.

const (
	adminServicePrefix = "/cohort.v1.AdminService/"
	buyerServicePrefix = "/cohort.v1.BuyerService/"
)

// buyerKey is the context key of the authenticated buyer.
type buyerKey struct{}

// authorise checks the credentials method needs and returns ctx carrying
// the authenticated buyer, if any.
func (n *Node) authorise(ctx context.Context, method string) (context.Context, error) {
	switch {
	case strings.HasPrefix(method, adminServicePrefix):
		if err := n.requireAdmin(ctx); err != nil {
			return nil, err
		}
	case strings.HasPrefix(method, buyerServicePrefix):
		b, err := n.authenticateBuyer(ctx)
		if err != nil {
			return nil, err
		}
		ctx = context.WithValue(ctx, buyerKey{}, b)
	}
	return ctx, nil
}

func (n *Node) apiAuthUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := n.authorise(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (n *Node) apiAuthStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := n.authorise(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, wrappedStream{ss, ctx})
}

// buyerOf returns the buyer apiAuthUnary or apiAuthStream authenticated.
// Only BuyerService handlers call it; anywhere else it is a bug, answered
// Internal rather than served unauthenticated.
func buyerOf(ctx context.Context) (store.Buyer, error) {
	b, ok := ctx.Value(buyerKey{}).(store.Buyer)
	if !ok {
		return store.Buyer{}, status.Error(codes.Internal, "no authenticated buyer for this call")
	}
	return b, nil
}

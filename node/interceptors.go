package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// unaryInterceptor recovers from panics (a bug must not take the node down
// or leak a stack trace to a caller), adds field details to InvalidArgument,
// records the call in the standard gRPC server metrics and logs it without
// its payload.
func (n *Node) unaryInterceptor(surface string) grpc.UnaryServerInterceptor {
	record := n.metrics.server(surface).UnaryServerInterceptor()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := record(ctx, req, info, func(ctx context.Context, req any) (resp any, err error) {
			defer func() {
				if r := recover(); r != nil {
					n.log.Error("panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					resp, err = nil, status.Error(codes.Internal, "internal error")
				}
			}()
			resp, err = handler(ctx, req)
			return resp, withFieldDetails(err)
		})
		n.observe(surface, info.FullMethod, err, start)
		return resp, err
	}
}

func (n *Node) streamInterceptor(surface string) grpc.StreamServerInterceptor {
	record := n.metrics.server(surface).StreamServerInterceptor()
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := record(srv, ss, info, func(srv any, ss grpc.ServerStream) (err error) {
			defer func() {
				if r := recover(); r != nil {
					n.log.Error("panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = status.Error(codes.Internal, "internal error")
				}
			}()
			return withFieldDetails(handler(srv, ss))
		})
		n.observe(surface, info.FullMethod, err, start)
		return err
	}
}

func (n *Node) observe(surface, method string, err error, start time.Time) {
	code := status.Code(err)
	d := time.Since(start)
	level := n.log.Debug
	if code != codes.OK {
		level = n.log.Info
	}
	if code == codes.Internal || code == codes.Unknown {
		level = n.log.Warn
	}
	level("rpc", "surface", surface, "method", method, "code", code.String(), "duration", d, "error", errMessage(err))
}

func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return status.Convert(err).Message()
}

// peerKey carries the calling peer's index in a peer call's context.
type peerKey struct{}

// callerPeer returns the index of the peer that made this call.
func callerPeer(ctx context.Context) (uint32, bool) {
	i, ok := ctx.Value(peerKey{}).(uint32)
	return i, ok
}

// authenticatePeer identifies the caller from its verified client
// certificate; anything but a node of this federation is refused.
func (n *Node) authenticatePeer(ctx context.Context) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "peer calls need mutual TLS")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 {
		return nil, status.Error(codes.Unauthenticated, "peer calls need a verified client certificate")
	}
	idx, err := n.opts.PeerIdentity(ti.State)
	if err != nil || int(idx) >= len(n.opts.Members) {
		return nil, status.Errorf(codes.PermissionDenied, "caller is not a node of this federation: %v", err)
	}
	return context.WithValue(ctx, peerKey{}, idx), nil
}

func (n *Node) peerUnaryAuth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := n.authenticatePeer(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func (n *Node) peerStreamAuth(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := n.authenticatePeer(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, wrappedStream{ss, ctx})
}

// requireAdmin checks the administrator's bearer token in the call's
// "authorization" metadata ("Bearer <token>"), in constant time.
func (n *Node) requireAdmin(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return status.Error(codes.Unauthenticated, "admin calls need an \"authorization: Bearer <admin token>\" header")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || tok == "" {
		return status.Error(codes.Unauthenticated, "authorization header must be \"Bearer <admin token>\"")
	}
	h := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(h[:], n.opts.AdminTokenHash[:]) != 1 {
		return status.Error(codes.PermissionDenied, "not this node's admin token")
	}
	return nil
}

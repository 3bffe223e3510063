package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The public API's bounds (docs/design.md §8.4): every call of the
// contributor, buyer and audit services takes a token from its client
// address's bucket, and the streams that carry whole blobs (proving keys,
// ceremony transcripts, job bundles) take a slot of their own, per client
// address and on the whole node. Refusals are ResourceExhausted with a
// RetryInfo detail; nothing is read or stored for a refused call.

// publicServices are the services whose calls are rate limited.
var publicServices = []string{
	"/" + cohortv1.ContributorService_ServiceDesc.ServiceName + "/",
	"/" + cohortv1.BuyerService_ServiceDesc.ServiceName + "/",
	"/" + cohortv1.AuditService_ServiceDesc.ServiceName + "/",
}

// heavyMethods are the public streams that send a whole stored blob.
var heavyMethods = map[string]bool{
	cohortv1.ContributorService_GetProvingKey_FullMethodName: true,
	cohortv1.AuditService_GetCeremony_FullMethodName:         true,
	cohortv1.AuditService_GetTranscript_FullMethodName:       true,
	cohortv1.AuditService_GetClaimCeremony_FullMethodName:    true,
}

func isPublic(method string) bool {
	for _, p := range publicServices {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// maxTrackedClients bounds the client addresses the limiter remembers;
// beyond it, new addresses share one bucket (overflowKey) until idle ones
// are forgotten.
const maxTrackedClients = 1 << 16

// clientIdle is how long an address's state is kept after its last call
// with no stream open.
const clientIdle = 10 * time.Minute

const overflowKey = "(overflow)"

// clientLimiter holds each client address's token bucket and open heavy
// streams, and the node's open heavy streams. It is safe for concurrent
// use.
type clientLimiter struct {
	lim   Limits
	now   func() time.Time
	mu    sync.Mutex
	heavy int // heavy streams open on the node
	cl    map[string]*clientState
	swept time.Time
}

type clientState struct {
	bucket *rate.Limiter
	heavy  int
	seen   time.Time
}

func newClientLimiter(lim Limits, now func() time.Time) *clientLimiter {
	return &clientLimiter{lim: lim, now: now, cl: map[string]*clientState{}, swept: now()}
}

// clientKey is the caller's address without its port.
func clientKey(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "(unknown)"
	}
	s := p.Addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// state returns key's state, creating it; callers hold mu.
func (c *clientLimiter) state(key string, now time.Time) *clientState {
	if since := now.Sub(c.swept); since > clientIdle || (len(c.cl) >= maxTrackedClients && since > time.Second) {
		for k, s := range c.cl {
			if s.heavy == 0 && now.Sub(s.seen) > clientIdle {
				delete(c.cl, k)
			}
		}
		c.swept = now
	}
	s, ok := c.cl[key]
	if !ok {
		if len(c.cl) >= maxTrackedClients {
			key = overflowKey
			if s, ok = c.cl[key]; ok {
				s.seen = now
				return s
			}
		}
		s = &clientState{bucket: rate.NewLimiter(rate.Limit(c.lim.PublicRate), c.lim.PublicBurst)}
		c.cl[key] = s
	}
	s.seen = now
	return s
}

// allow takes a token from key's bucket, or says how long to wait for one.
func (c *clientLimiter) allow(key string) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	b := c.state(key, now).bucket
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// acquireHeavy opens a heavy stream for key; release must be called when
// it ends. It refuses when key or the node has its maximum open.
func (c *clientLimiter) acquireHeavy(key string) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state(key, c.now())
	switch {
	case s.heavy >= c.lim.HeavyStreamsPerClient:
		return nil, exhausted(time.Second, "this client already has %d key or transcript streams open, the most one client may; retry when one ends", s.heavy)
	case c.heavy >= c.lim.HeavyStreams:
		return nil, exhausted(time.Second, "this node is serving %d key or transcript streams, its maximum; retry shortly", c.heavy)
	}
	s.heavy++
	c.heavy++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			s.heavy--
			c.heavy--
			s.seen = c.now()
		})
	}, nil
}

// exhausted is ResourceExhausted with a RetryInfo detail.
func exhausted(retry time.Duration, format string, args ...any) error {
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(format, args...))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}); err == nil {
		st = d
	}
	return st.Err()
}

func (c *clientLimiter) refuseRate(key string) error {
	d, ok := c.allow(key)
	if ok {
		return nil
	}
	d = max(d, time.Millisecond).Round(time.Millisecond)
	return exhausted(d, "rate limit: this client is over %g calls per second (burst %d) to the public API; retry in %s",
		c.lim.PublicRate, c.lim.PublicBurst, d)
}

// publicUnaryLimit rate limits the public services' unary calls.
func (n *Node) publicUnaryLimit(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if isPublic(info.FullMethod) {
		if err := n.limiter.refuseRate(clientKey(ctx)); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// publicStreamLimit rate limits the public services' streams and bounds
// the heavy ones.
func (n *Node) publicStreamLimit(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !isPublic(info.FullMethod) {
		return handler(srv, ss)
	}
	key := clientKey(ss.Context())
	if err := n.limiter.refuseRate(key); err != nil {
		return err
	}
	if heavyMethods[info.FullMethod] {
		release, err := n.limiter.acquireHeavy(key)
		if err != nil {
			return err
		}
		defer release()
	}
	return handler(srv, ss)
}

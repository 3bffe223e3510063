package node

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// peerConns holds one gRPC connection per other node, dialled lazily over mTLS,
// and what was last seen of each.
type peerConns struct {
	e     *env
	mu    sync.Mutex
	conns map[uint32]*grpc.ClientConn
	seen  map[uint32]peerSeen
}

type peerSeen struct {
	reachable bool
	at        time.Time
	sequence  uint64
}

func newPeers(e *env) *peerConns {
	return &peerConns{e: e, conns: map[uint32]*grpc.ClientConn{}, seen: map[uint32]peerSeen{}}
}

// conn returns the PeerService client of node i.
func (p *peerConns) conn(i uint32) (cohortv1.PeerServiceClient, error) {
	c, err := p.clientConn(i)
	if err != nil {
		return nil, err
	}
	return cohortv1.NewPeerServiceClient(c), nil
}

// clientConn returns the connection to node i, dialling it the first time.
func (p *peerConns) clientConn(i uint32) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[i]; ok {
		return c, nil
	}
	if int(i) >= len(p.e.opts.Members) || i == p.e.opts.Index {
		return nil, fmt.Errorf("no peer %d", i)
	}
	tc, err := p.e.opts.PeerClientTLS(i)
	if err != nil {
		return nil, fmt.Errorf("peer %d: tls: %w", i, err)
	}
	lim := p.e.opts.Limits
	c, err := grpc.NewClient(p.e.opts.Members[i].PeerAddress,
		grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(lim.MaxMessageBytes), grpc.MaxCallSendMsgSize(lim.MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: lim.KeepaliveTime, Timeout: lim.KeepaliveTimeout}),
	)
	if err != nil {
		return nil, fmt.Errorf("peer %d: %w", i, err)
	}
	p.conns[i] = c
	return c, nil
}

// record notes the outcome of a call to peer i.
func (p *peerConns) record(i uint32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen[i]
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		s.reachable = false
		p.e.metrics.peerFailures.WithLabelValues(strconv.Itoa(int(i))).Inc()
	default:
		s.reachable, s.at = true, p.e.now()
	}
	p.seen[i] = s
}

func (p *peerConns) noteSequence(i uint32, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen[i]
	s.sequence = seq
	p.seen[i] = s
}

func (p *peerConns) status(i uint32) peerSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[i]
}

func (p *peerConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = map[uint32]*grpc.ClientConn{}
}

// peerSource is what call and fanOut reach the peers through: the Node,
// or its peers themselves.
type peerSource interface{ peerSet() *peerConns }

func (p *peerConns) peerSet() *peerConns { return p }

// call runs fn against peer i with the peer timeout and records the outcome.
func call[T any](ctx context.Context, via peerSource, i uint32, fn func(context.Context, cohortv1.PeerServiceClient) (T, error)) (T, error) {
	return callWithin(ctx, via, i, via.peerSet().e.opts.Limits.PeerTimeout, fn)
}

// callWithin is call with another timeout.
func callWithin[T any](ctx context.Context, via peerSource, i uint32, timeout time.Duration, fn func(context.Context, cohortv1.PeerServiceClient) (T, error)) (T, error) {
	var zero T
	p := via.peerSet()
	c, err := p.conn(i)
	if err != nil {
		return zero, status.Errorf(codes.Unavailable, "node %d: %v", i, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := fn(ctx, c)
	p.record(i, err)
	return out, err
}

// fanOut calls fn on every other node in parallel and returns the results
// and errors by node index.
func fanOut[T any](ctx context.Context, via peerSource, fn func(context.Context, uint32, cohortv1.PeerServiceClient) (T, error)) (map[uint32]T, map[uint32]error) {
	return fanOutWithin(ctx, via, via.peerSet().e.opts.Limits.PeerTimeout, fn)
}

// fanOutWithin is fanOut with another timeout per call.
func fanOutWithin[T any](ctx context.Context, via peerSource, timeout time.Duration, fn func(context.Context, uint32, cohortv1.PeerServiceClient) (T, error)) (map[uint32]T, map[uint32]error) {
	return fanOutTo(ctx, via, via.peerSet().e.others(), timeout, fn)
}

// fanOutTo is fanOut to the given peers only (never this node).
func fanOutTo[T any](ctx context.Context, via peerSource, peers []uint32, timeout time.Duration, fn func(context.Context, uint32, cohortv1.PeerServiceClient) (T, error)) (map[uint32]T, map[uint32]error) {
	type res struct {
		i   uint32
		v   T
		err error
	}
	others := peers
	ch := make(chan res, len(others))
	for _, i := range others {
		go func() {
			v, err := callWithin(ctx, via, i, timeout, func(ctx context.Context, c cohortv1.PeerServiceClient) (T, error) { return fn(ctx, i, c) })
			ch <- res{i, v, err}
		}()
	}
	vals, errs := map[uint32]T{}, map[uint32]error{}
	for range others {
		r := <-ch
		if r.err != nil {
			errs[r.i] = r.err
		} else {
			vals[r.i] = r.v
		}
	}
	return vals, errs
}

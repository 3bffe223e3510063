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

// peers holds one gRPC connection per other node, dialled lazily over mTLS,
// and what was last seen of each.
type peers struct {
	n     *Node
	mu    sync.Mutex
	conns map[uint32]*grpc.ClientConn
	seen  map[uint32]peerSeen
}

type peerSeen struct {
	reachable bool
	at        time.Time
	sequence  uint64
}

func newPeers(n *Node) *peers {
	return &peers{n: n, conns: map[uint32]*grpc.ClientConn{}, seen: map[uint32]peerSeen{}}
}

// client returns the PeerService client of node i.
func (p *peers) client(i uint32) (cohortv1.PeerServiceClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[i]; ok {
		return cohortv1.NewPeerServiceClient(c), nil
	}
	if int(i) >= len(p.n.opts.Members) || i == p.n.opts.Index {
		return nil, fmt.Errorf("no peer %d", i)
	}
	tc, err := p.n.opts.PeerClientTLS(i)
	if err != nil {
		return nil, fmt.Errorf("peer %d: tls: %w", i, err)
	}
	lim := p.n.opts.Limits
	c, err := grpc.NewClient(p.n.opts.Members[i].PeerAddress,
		grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(lim.MaxMessageBytes), grpc.MaxCallSendMsgSize(lim.MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: lim.KeepaliveTime, Timeout: lim.KeepaliveTimeout}),
	)
	if err != nil {
		return nil, fmt.Errorf("peer %d: %w", i, err)
	}
	p.conns[i] = c
	return cohortv1.NewPeerServiceClient(c), nil
}

// record notes the outcome of a call to peer i.
func (p *peers) record(i uint32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen[i]
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		s.reachable = false
		p.n.metrics.peerFailure.WithLabelValues(strconv.Itoa(int(i))).Inc()
	default:
		s.reachable, s.at = true, p.n.now()
	}
	p.seen[i] = s
}

func (p *peers) noteSequence(i uint32, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen[i]
	s.sequence = seq
	p.seen[i] = s
}

func (p *peers) status(i uint32) peerSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[i]
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = map[uint32]*grpc.ClientConn{}
}

// call runs fn against peer i with the peer timeout and records the outcome.
func call[T any](ctx context.Context, n *Node, i uint32, fn func(context.Context, cohortv1.PeerServiceClient) (T, error)) (T, error) {
	return callWithin(ctx, n, i, n.opts.Limits.PeerTimeout, fn)
}

// callWithin is call with another timeout.
func callWithin[T any](ctx context.Context, n *Node, i uint32, timeout time.Duration, fn func(context.Context, cohortv1.PeerServiceClient) (T, error)) (T, error) {
	var zero T
	c, err := n.peers.client(i)
	if err != nil {
		return zero, status.Errorf(codes.Unavailable, "node %d: %v", i, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := fn(ctx, c)
	n.peers.record(i, err)
	return out, err
}

// fanOut calls fn on every other node in parallel and returns the results
// and errors by node index.
func fanOut[T any](ctx context.Context, n *Node, fn func(context.Context, uint32, cohortv1.PeerServiceClient) (T, error)) (map[uint32]T, map[uint32]error) {
	return fanOutWithin(ctx, n, n.opts.Limits.PeerTimeout, fn)
}

// fanOutWithin is fanOut with another timeout per call.
func fanOutWithin[T any](ctx context.Context, n *Node, timeout time.Duration, fn func(context.Context, uint32, cohortv1.PeerServiceClient) (T, error)) (map[uint32]T, map[uint32]error) {
	return fanOutTo(ctx, n, n.others(), timeout, fn)
}

// fanOutTo is fanOut to the given peers only (never this node).
func fanOutTo[T any](ctx context.Context, n *Node, peers []uint32, timeout time.Duration, fn func(context.Context, uint32, cohortv1.PeerServiceClient) (T, error)) (map[uint32]T, map[uint32]error) {
	type res struct {
		i   uint32
		v   T
		err error
	}
	others := peers
	ch := make(chan res, len(others))
	for _, i := range others {
		go func() {
			v, err := callWithin(ctx, n, i, timeout, func(ctx context.Context, c cohortv1.PeerServiceClient) (T, error) { return fn(ctx, i, c) })
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

package node

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// transcriptsPerPeer is how many transcripts one peer may have this node
// receive for signing at once; a further one waits for a slot, as long as
// its call lasts. With Limits.MaxTranscriptBytes this bounds what one peer
// can make the node hold (docs/design.md §8.4), and a peer holding its own
// slots delays no other peer.
const transcriptsPerPeer = 2

// peerSlots bounds a kind of peer call per calling peer.
type peerSlots struct {
	what  string
	slots []chan struct{} // by peer index
}

func newPeerSlots(what string, peers, per int) *peerSlots {
	s := &peerSlots{what: what, slots: make([]chan struct{}, peers)}
	for i := range s.slots {
		s.slots[i] = make(chan struct{}, per)
	}
	return s
}

// acquire waits for a slot of peer from until ctx ends; release frees it.
func (s *peerSlots) acquire(ctx context.Context, from uint32) (release func(), err error) {
	if int(from) >= len(s.slots) {
		return nil, status.Errorf(codes.PermissionDenied, "no node %d in this federation", from)
	}
	ch := s.slots[from]
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		st := status.FromContextError(ctx.Err())
		return nil, status.Error(st.Code(), fmt.Sprintf("node %d already has %d %s open here: %s", from, cap(ch), s.what, st.Message()))
	}
}

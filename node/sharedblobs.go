package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"

	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// sharedBlobs holds the stored blobs (proving keys, ceremony transcripts)
// that public streams are sending: each is read from the
// store and hashed once however many streams send it at the same time, and
// dropped when the last of them ends (docs/design.md §8.4). With the
// heavy-stream limits this bounds the memory of these streams by the
// distinct blobs in flight, not by the streams. It is safe for concurrent
// use.
type sharedBlobs struct {
	ctx context.Context // loads outlive the stream that started them
	mu  sync.Mutex
	m   map[string]*sharedBlob
}

// sharedBlob is one blob in flight: its bytes, its stream header and
// whatever the loader derived from it.
type sharedBlob struct {
	ready   chan struct{} // closed when loaded (or failed)
	data    []byte
	sum     [32]byte
	derived any
	err     error
	refs    int
}

func newSharedBlobs(ctx context.Context) *sharedBlobs {
	return &sharedBlobs{ctx: ctx, m: map[string]*sharedBlob{}}
}

// get returns the blob under key, loading it with load unless a stream
// already holds it; release must be called when the stream is done with
// it. A load's error is returned to every stream waiting for it and not
// kept: the next get loads again.
func (s *sharedBlobs) get(ctx context.Context, key string, load func(context.Context) ([]byte, any, error)) (*sharedBlob, func(), error) {
	s.mu.Lock()
	b, ok := s.m[key]
	if !ok {
		b = &sharedBlob{ready: make(chan struct{})}
		s.m[key] = b
	}
	b.refs++
	s.mu.Unlock()
	var once sync.Once
	release := func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if b.refs--; b.refs == 0 && s.m[key] == b {
				delete(s.m, key)
			}
		})
	}
	if !ok {
		b.data, b.derived, b.err = load(s.ctx)
		if b.err == nil {
			b.sum = sha256.Sum256(b.data)
		} else {
			s.mu.Lock()
			if s.m[key] == b {
				delete(s.m, key)
			}
			s.mu.Unlock()
		}
		close(b.ready)
	}
	select {
	case <-b.ready:
	case <-ctx.Done():
		release()
		return nil, nil, status.FromContextError(ctx.Err()).Err()
	}
	if b.err != nil {
		release()
		return nil, nil, b.err
	}
	return b, release, nil
}

// header is the blob's stream header, a message of the caller's own.
func (b *sharedBlob) header() *cohortv1.BlobHeader {
	return &cohortv1.BlobHeader{TotalSize: uint64(len(b.data)), Sha256: bytes.Clone(b.sum[:])}
}

// inFlight is the number of distinct blobs held.
func (s *sharedBlobs) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

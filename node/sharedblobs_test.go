package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSharedBlobs: concurrent streams of one blob load it once and share
// it; it is dropped when the last releases it; a failed load reaches every
// waiter and is not kept.
func TestSharedBlobs(t *testing.T) {
	s := newSharedBlobs(context.Background())
	ctx := context.Background()
	var loads atomic.Int32
	gate := make(chan struct{})
	load := func(context.Context) ([]byte, any, error) {
		loads.Add(1)
		<-gate
		return []byte("the blob"), "derived", nil
	}
	const streams = 8
	var wg sync.WaitGroup
	releases := make(chan func(), streams)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, release, err := s.get(ctx, "k", load)
			if err != nil {
				t.Error(err)
				return
			}
			if h := b.header(); string(b.data) != "the blob" || b.derived != "derived" || h.GetTotalSize() != 8 || [32]byte(h.GetSha256()) != sha256.Sum256(b.data) {
				t.Errorf("blob %q, derived %v, header %v", b.data, b.derived, h)
			}
			releases <- release
		}()
	}
	close(gate)
	wg.Wait()
	close(releases)
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for %d concurrent streams, want 1", n, streams)
	}
	if s.inFlight() != 1 {
		t.Fatalf("%d blobs held, want 1", s.inFlight())
	}
	for release := range releases {
		release()
		release() // a second release is harmless
	}
	if s.inFlight() != 0 {
		t.Fatalf("%d blobs held after every release", s.inFlight())
	}

	notFound := status.Error(codes.NotFound, "no such blob")
	fail := func(context.Context) ([]byte, any, error) { return nil, nil, notFound }
	if _, _, err := s.get(ctx, "missing", fail); !errors.Is(err, notFound) {
		t.Fatalf("failed load: %v", err)
	}
	if s.inFlight() != 0 {
		t.Fatal("a failed load is kept")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	hold := make(chan struct{})
	go func() {
		_, release, err := s.get(ctx, "slow", func(context.Context) ([]byte, any, error) { <-hold; return []byte("x"), nil, nil })
		if err == nil {
			release()
		}
	}()
	for s.inFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, _, err := s.get(cancelled, "slow", load); status.Code(err) != codes.Canceled {
		t.Fatalf("a waiter whose stream ended: %v, want Canceled", err)
	}
	close(hold)
}

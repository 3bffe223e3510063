package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

func TestHEKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		k := HEKey{DatasetID: "fitness", Sealed: []byte("sealed-1"), CreatedAt: t0}
		k.PublicKeyDigest[0] = 1
		if _, err := s.GetHEKey(ctx, "fitness"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("before put: %v", err)
		}
		if err := s.PutHEKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		k.Sealed = []byte("sealed-2") // a retried key generation of the same key
		if err := s.PutHEKey(ctx, k); err != nil {
			t.Fatalf("same key again: %v", err)
		}
		other := k
		other.PublicKeyDigest[0] = 2
		if err := s.PutHEKey(ctx, other); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("another public key: %v", err)
		}
		got, err := s.GetHEKey(ctx, "fitness")
		if err != nil {
			t.Fatal(err)
		}
		if got.PublicKeyDigest != k.PublicKeyDigest || !bytes.Equal(got.Sealed, []byte("sealed-2")) || !got.CreatedAt.Equal(t0) {
			t.Fatalf("read back %+v", got)
		}
		for _, bad := range []HEKey{{DatasetID: "", Sealed: []byte("x")}, {DatasetID: "ok"}} {
			if err := s.PutHEKey(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("put %+v: %v, want ErrInvalid", bad, err)
			}
		}
	})
}

func TestDecryptionSharesOncePerAggregate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		d := DecryptionShare{DatasetID: "fitness", Set: []uint32{0, 1}, JobID: "job-1", Share: []byte("share-a"), CreatedAt: t0}
		d.Aggregate[0] = 7
		if prev, err := s.PutDecryptionShare(ctx, d); err != nil || prev != nil {
			t.Fatalf("first put: %v, %v", prev, err)
		}
		// Any second put for the aggregate writes nothing and returns the first.
		second := d
		second.Set, second.JobID, second.Share = []uint32{0, 2}, "job-2", []byte("share-b")
		prev, err := s.PutDecryptionShare(ctx, second)
		if err != nil || prev == nil {
			t.Fatalf("second put: %v, %v", prev, err)
		}
		if !SameSet(prev.Set, []uint32{0, 1}) || prev.JobID != "job-1" || !bytes.Equal(prev.Share, []byte("share-a")) {
			t.Fatalf("second put returned %+v, want the first share", prev)
		}
		got, err := s.GetDecryptionShare(ctx, "fitness", d.Aggregate)
		if err != nil || !bytes.Equal(got.Share, []byte("share-a")) {
			t.Fatalf("get: %+v, %v", got, err)
		}
		var other [32]byte
		if _, err := s.GetDecryptionShare(ctx, "fitness", other); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown aggregate: %v", err)
		}
		bad := []DecryptionShare{
			{DatasetID: "fitness", Set: nil, JobID: "j", Share: []byte("x")},
			{DatasetID: "fitness", Set: []uint32{1, 0}, JobID: "j", Share: []byte("x")},
			{DatasetID: "fitness", Set: []uint32{16}, JobID: "j", Share: []byte("x")},
			{DatasetID: "fitness", Set: []uint32{0}, JobID: "j"},
		}
		for _, b := range bad {
			if _, err := s.PutDecryptionShare(ctx, b); !errors.Is(err, ErrInvalid) {
				t.Errorf("put %+v: %v, want ErrInvalid", b, err)
			}
		}
		if _, err := s.PutDecryptionShare(ctx, DecryptionShare{DatasetID: "nope", Set: []uint32{0}, JobID: "j", Share: []byte("x")}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown dataset: %v", err)
		}

		// Concurrent puts for a fresh aggregate with different sets: exactly
		// one is stored, and every caller sees it.
		var agg [32]byte
		agg[0] = 9
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			fresh   int
			winners = map[uint32]bool{}
		)
		for i := range 4 {
			wg.Go(func() {
				x := DecryptionShare{DatasetID: "fitness", Aggregate: agg, Set: []uint32{0, uint32(i + 1)}, JobID: "job-c", Share: []byte{byte(i)}, CreatedAt: t0}
				prev, err := s.PutDecryptionShare(ctx, x)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("concurrent put %d: %v", i, err)
				case prev == nil:
					fresh++
					winners[uint32(i+1)] = true
				default:
					winners[prev.Set[1]] = true
				}
			})
		}
		wg.Wait()
		if fresh != 1 || len(winners) != 1 {
			t.Fatalf("concurrent puts: %d fresh inserts, %d distinct winners; want exactly one", fresh, len(winners))
		}
	})
}

package store

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
)

// BenchmarkPutContribution measures a durable ingest commit on SQLite (one
// fsynced transaction per contribution), with 4 KiB of proof, inputs and
// share.
func BenchmarkPutContribution(b *testing.B) {
	ctx := context.Background()
	s := openBenchStore(b)
	c := testContribution("fitness", 0, 1)
	c.Public, c.Proof, c.Share = make([]byte, 1024), make([]byte, 1024), make([]byte, 2048)
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(c.Nullifier[:8], uint64(i))
		if _, err := s.PutContribution(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// openBenchStore opens a new SQLite store holding dataset "fitness",
// closed when b ends.
func openBenchStore(b *testing.B) Store {
	b.Helper()
	s, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "cohort.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.PutDataset(context.Background(), Dataset{ID: "fitness", CreatedAt: t0}); err != nil {
		b.Fatal(err)
	}
	return s
}

package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestTranscripts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "other")
		tr := Transcript{ID: "job-1", DatasetID: "fitness", ReleasedAt: t0, CohortSize: 44, Bundle: []byte("bundle")}
		tr.Digest[0] = 1
		if err := s.PutTranscript(ctx, tr); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTranscript(ctx, tr); err != nil {
			t.Fatalf("identical put again: %v", err)
		}
		other := tr
		other.Digest[0] = 2
		if err := s.PutTranscript(ctx, other); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("same id, other digest: %v", err)
		}
		got, err := s.GetTranscript(ctx, "job-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tr.ID || got.DatasetID != tr.DatasetID || got.Digest != tr.Digest || !got.ReleasedAt.Equal(tr.ReleasedAt) ||
			got.CohortSize != 44 || !bytes.Equal(got.Bundle, tr.Bundle) {
			t.Fatalf("read back %+v, want %+v", got, tr)
		}
		for _, id := range []string{"job-2", "bad id"} {
			if _, err := s.GetTranscript(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("get %q: %v", id, err)
			}
		}
		bad := tr
		bad.ID, bad.DatasetID = "job-9", "missing"
		if err := s.PutTranscript(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown dataset: %v", err)
		}
		bad = tr
		bad.ID, bad.Bundle = "job-9", nil
		if err := s.PutTranscript(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("empty bundle: %v", err)
		}

		// Five more, one in another dataset; pages of two, newest first.
		for i := 2; i <= 6; i++ {
			x := Transcript{ID: fmt.Sprintf("job-%d", i), DatasetID: "fitness", ReleasedAt: t0.Add(time.Duration(i) * time.Minute),
				CohortSize: uint64(i), Bundle: []byte{byte(i)}}
			if i == 4 {
				x.DatasetID = "other"
			}
			if err := s.PutTranscript(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		tok := ""
		for page := 0; ; page++ {
			list, next, err := s.ListTranscripts(ctx, "fitness", tok, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range list {
				if x.Bundle != nil {
					t.Errorf("listing carries the bundle of %s", x.ID)
				}
				ids = append(ids, x.ID)
			}
			if next == "" {
				break
			}
			if page > 5 {
				t.Fatal("paging does not end")
			}
			tok = next
		}
		if fmt.Sprint(ids) != "[job-6 job-5 job-3 job-2 job-1]" {
			t.Errorf("listed %v", ids)
		}
		if _, _, err := s.ListTranscripts(ctx, "fitness", "%%%", 2); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad token: %v", err)
		}
	})
}

// TestTranscriptStream: a bundle put as a stream is stored in chunks and
// read back whole, in order, or its first bytes only; its size and both
// SHA-256s are the bundle's and the bundle's without its ceremony. A put
// again is a no-op that does not read its reader; another digest, an
// empty bundle, an offset past the bundle or a failing reader store
// nothing.
func TestTranscriptStream(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		bundle := make([]byte, 2*TranscriptChunkSize+1000)
		for i := range bundle {
			bundle[i] = byte(i*31 + i>>11)
		}
		const offset = 2*TranscriptChunkSize + 500
		tr := Transcript{ID: "job-1", DatasetID: "fitness", ReleasedAt: t0, CohortSize: 7, CeremonyOffset: offset}
		tr.Digest = h32("transcript", "job-1")
		if err := s.PutTranscriptStream(ctx, tr, bytes.NewReader(bundle)); err != nil {
			t.Fatal(err)
		}
		info, err := s.GetTranscriptInfo(ctx, "job-1")
		if err != nil {
			t.Fatal(err)
		}
		light := append(bytes.Clone(bundle[:offset]), make([]byte, 8)...)
		if info.Bundle != nil || info.BundleSize != uint64(len(bundle)) || info.CeremonyOffset != offset ||
			info.BundleSHA256 != sha256.Sum256(bundle) || info.LightSHA256 != sha256.Sum256(light) || info.CohortSize != 7 {
			t.Fatalf("info: size %d, offset %d, bundle in the row %v; want %d, %d", info.BundleSize, info.CeremonyOffset, info.Bundle != nil, len(bundle), offset)
		}
		// Both hashes, with the ceremony's length field on either side of
		// a chunk's end and at its start.
		for i, at := range []uint64{1, TranscriptChunkSize - 4, TranscriptChunkSize - 1, TranscriptChunkSize, TranscriptChunkSize + 1} {
			x := Transcript{ID: fmt.Sprintf("job-at-%d", i), DatasetID: "fitness", ReleasedAt: t0, CohortSize: 7, CeremonyOffset: at}
			x.Digest = h32("transcript", x.ID)
			if err := s.PutTranscriptStream(ctx, x, bytes.NewReader(bundle)); err != nil {
				t.Fatal(err)
			}
			info, err := s.GetTranscriptInfo(ctx, x.ID)
			light := append(bytes.Clone(bundle[:at]), make([]byte, 8)...)
			if err != nil || info.BundleSHA256 != sha256.Sum256(bundle) || info.LightSHA256 != sha256.Sum256(light) {
				t.Fatalf("ceremony at %d: the SHA-256s stored differ (%v)", at, err)
			}
		}
		got, err := s.GetTranscript(ctx, "job-1")
		if err != nil || !bytes.Equal(got.Bundle, bundle) {
			t.Fatalf("whole bundle read back: %d bytes, %v", len(got.Bundle), err)
		}
		for _, limit := range []uint64{0, offset, 10, TranscriptChunkSize} {
			var chunks [][]byte
			var read []byte
			err := s.ReadTranscriptBundle(ctx, "job-1", limit, func(c []byte) error {
				chunks = append(chunks, c)
				read = append(read, c...)
				return nil
			})
			want := bundle
			if limit > 0 {
				want = bundle[:limit]
			}
			if err != nil || !bytes.Equal(read, want) {
				t.Fatalf("limit %d: read %d bytes, %v", limit, len(read), err)
			}
			for _, c := range chunks {
				if len(c) > TranscriptChunkSize {
					t.Fatalf("limit %d: a chunk of %d bytes", limit, len(c))
				}
			}
		}
		stop := errors.New("stop")
		if err := s.ReadTranscriptBundle(ctx, "job-1", 0, func([]byte) error { return stop }); err != stop {
			t.Fatalf("fn's error: %v", err)
		}
		if err := s.ReadTranscriptBundle(ctx, "job-2", 0, func([]byte) error { return nil }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown transcript: %v", err)
		}

		failing := iotest.ErrReader(errors.New("disk gone"))
		if err := s.PutTranscriptStream(ctx, tr, failing); err != nil {
			t.Fatalf("identical put again (reader not read): %v", err)
		}
		other := tr
		other.Digest[0] ^= 1
		if err := s.PutTranscriptStream(ctx, other, bytes.NewReader(bundle)); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("same id, other digest: %v", err)
		}
		for name, c := range map[string]struct {
			src    io.Reader
			offset uint64
			want   error
		}{
			"empty":          {bytes.NewReader(nil), 0, ErrInvalid},
			"offset past it": {bytes.NewReader(bundle[:100]), 95, ErrInvalid},
			"failing reader": {io.MultiReader(bytes.NewReader(bundle[:TranscriptChunkSize+1]), failing), 0, nil},
		} {
			bad := tr
			bad.ID, bad.CeremonyOffset = "job-9", c.offset
			err := s.PutTranscriptStream(ctx, bad, c.src)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("%s: %v", name, err)
			}
			if _, err := s.GetTranscriptInfo(ctx, "job-9"); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: a row was stored: %v", name, err)
			}
		}
		bad := tr
		bad.ID, bad.Bundle = "job-9", []byte("whole")
		if err := s.PutTranscriptStream(ctx, bad, bytes.NewReader(bundle)); !errors.Is(err, ErrInvalid) {
			t.Errorf("a bundle both whole and streamed: %v", err)
		}

		// A bundle stored whole (as before chunks) is read the same way,
		// its info carrying it and no chunked size.
		whole := Transcript{ID: "job-3", DatasetID: "fitness", ReleasedAt: t0, CohortSize: 1, Bundle: bundle[:3*TranscriptChunkSize/2]}
		whole.Digest = h32("transcript", "job-3")
		if err := s.PutTranscript(ctx, whole); err != nil {
			t.Fatal(err)
		}
		if info, err := s.GetTranscriptInfo(ctx, "job-3"); err != nil || info.BundleSize != 0 || !bytes.Equal(info.Bundle, whole.Bundle) {
			t.Fatalf("info of a bundle stored whole: size %d, %d bytes, %v", info.BundleSize, len(info.Bundle), err)
		}
		var read []byte
		if err := s.ReadTranscriptBundle(ctx, "job-3", 100, func(c []byte) error { read = append(read, c...); return nil }); err != nil ||
			!bytes.Equal(read, whole.Bundle[:100]) {
			t.Fatalf("the first bytes of a bundle stored whole: %d bytes, %v", len(read), err)
		}
	})
}

// TestTranscriptChunksMigration: migration 0022 moves the chunks a
// database stored under 0019's WITHOUT ROWID table into a rowid table,
// byte for byte, and later bundles are stored there too.
func TestTranscriptChunksMigration(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/cohort.db"
	raw, exec := sqliteBefore(t, path, "0022_transcript_chunks_rowid.sql")
	bundle := make([]byte, 2*TranscriptChunkSize+77)
	for i := range bundle {
		bundle[i] = byte(i*7 + i>>13)
	}
	digest, sum := h32("transcript", "job-old"), sha256.Sum256(bundle)
	exec(`INSERT INTO datasets (id, descriptor, created_at) VALUES ('fitness', x'00', 0)`)
	exec(`INSERT INTO transcripts (id, dataset_id, digest, released_at, cohort_size, bundle, bundle_size, bundle_sha256, ceremony_offset, light_sha256)
	      VALUES ('job-old', 'fitness', $1, 0, 3, x'', $2, $3, 10, $4)`, digest[:], len(bundle), sum[:], sum[:])
	for seq := 0; seq*TranscriptChunkSize < len(bundle); seq++ {
		exec(`INSERT INTO transcript_chunks (transcript_id, seq, data) VALUES ('job-old', $1, $2)`,
			seq, bundle[seq*TranscriptChunkSize:min((seq+1)*TranscriptChunkSize, len(bundle))])
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, Config{Path: path})
	got, err := s.GetTranscript(ctx, "job-old")
	if err != nil || !bytes.Equal(got.Bundle, bundle) {
		t.Fatalf("a bundle stored before the migration reads back as %d bytes, %v", len(got.Bundle), err)
	}
	var ddl string
	if err := s.(*sqlStore).r.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'transcript_chunks'`).Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToUpper(ddl), "WITHOUT ROWID") {
		t.Fatalf("transcript_chunks is still a WITHOUT ROWID table: %s", ddl)
	}
	tr := Transcript{ID: "job-new", DatasetID: "fitness", ReleasedAt: t0, CohortSize: 3, CeremonyOffset: 10, Digest: h32("transcript", "job-new")}
	if err := s.PutTranscriptStream(ctx, tr, bytes.NewReader(bundle)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetTranscript(ctx, "job-new"); err != nil || !bytes.Equal(got.Bundle, bundle) {
		t.Fatalf("a bundle stored after the migration reads back as %d bytes, %v", len(got.Bundle), err)
	}
}

// sqliteBefore creates a SQLite database at path with the schema as
// migrate leaves it just before the migration named next, and returns it
// open, with exec to write to it; the caller closes it before opening
// the store, which applies next and the rest.
func sqliteBefore(t *testing.T, path, next string) (*sql.DB, func(q string, args ...any)) {
	t.Helper()
	ms, err := loadMigrations(DriverSQLite)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migration) bool { return m.name == next })
	if i < 0 {
		t.Fatalf("no migration %s", next)
	}
	raw, err := sql.Open("sqlite", sqliteDSN(path, "_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`)
	for _, m := range ms[:i] {
		exec(m.sql)
		exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)`, m.version, m.name)
	}
	return raw, exec
}

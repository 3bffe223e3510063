package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testBundle is a bundle of n bytes for the transcript tests.
func testBundle(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>11)
	}
	return b
}

// bundleDirFiles lists the files in the bundle directory of the SQLite
// database at path.
func bundleDirFiles(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(path + "-bundles")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestTranscriptBundleFiles: on SQLite a streamed bundle is one file
// beside the database, named by its row, with no chunk in the database;
// it reads back whole and by prefix; a file that lost bytes is refused,
// not read short.
func TestTranscriptBundleFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cohort.db")
	s := openStore(t, Config{Path: path})
	mustPutDataset(t, s, "fitness")
	bundle := testBundle(2*TranscriptChunkSize + 1234)
	tr := Transcript{ID: "job-files", DatasetID: "fitness", ReleasedAt: t0, CohortSize: 3, CeremonyOffset: 100, Digest: h32("transcript", "job-files")}
	if err := s.PutTranscriptStream(ctx, tr, bytes.NewReader(bundle)); err != nil {
		t.Fatal(err)
	}
	files := bundleDirFiles(t, path)
	if len(files) != 1 || !strings.HasPrefix(files[0], "job-files.") || !strings.HasSuffix(files[0], bundleFileExt) {
		t.Fatalf("bundle directory holds %q, want one file of job-files", files)
	}
	if on, err := os.ReadFile(filepath.Join(path+"-bundles", files[0])); err != nil || !bytes.Equal(on, bundle) {
		t.Fatalf("the bundle's file holds %d bytes, %v", len(on), err)
	}
	var chunks int
	if err := s.(*sqlStore).r.QueryRowContext(ctx, `SELECT count(*) FROM transcript_chunks`).Scan(&chunks); err != nil || chunks != 0 {
		t.Fatalf("the database holds %d chunks, %v", chunks, err)
	}
	info, err := s.GetTranscriptInfo(ctx, tr.ID)
	if err != nil || info.BundleSize != uint64(len(bundle)) || info.bundleFile != files[0] {
		t.Fatalf("GetTranscriptInfo: size %d, file %q, %v", info.BundleSize, info.bundleFile, err)
	}
	got, err := s.GetTranscript(ctx, tr.ID)
	if err != nil || !bytes.Equal(got.Bundle, bundle) {
		t.Fatalf("GetTranscript: %d bytes, %v", len(got.Bundle), err)
	}
	for _, limit := range []uint64{1, TranscriptChunkSize, TranscriptChunkSize + 1, uint64(len(bundle))} {
		var read []byte
		var last []byte
		if err := s.ReadTranscriptBundle(ctx, tr.ID, limit, func(chunk []byte) error {
			if len(chunk) > TranscriptChunkSize {
				t.Errorf("a chunk of %d bytes", len(chunk))
			}
			if last != nil && &last[0] == &chunk[0] {
				t.Error("a chunk reuses the previous one's bytes")
			}
			last = chunk
			read = append(read, chunk...)
			return nil
		}); err != nil || !bytes.Equal(read, bundle[:limit]) {
			t.Fatalf("ReadTranscriptBundle(%d): %d bytes, %v", limit, len(read), err)
		}
	}
	if err := s.ReadTranscriptBundle(ctx, tr.ID, uint64(len(bundle))+1, func([]byte) error { return nil }); err == nil {
		t.Fatal("read a byte past the bundle")
	}

	if err := os.Truncate(filepath.Join(path+"-bundles", files[0]), int64(len(bundle)-1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTranscript(ctx, tr.ID); err == nil || !strings.Contains(err.Error(), "holds") {
		t.Fatalf("a bundle file one byte short: %v", err)
	}
}

// failingReader gives n bytes, then fails.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("the source failed")
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// TestTranscriptBundleFilesRefused: a bundle whose reader fails stores no
// row and leaves no file; a bundle stored in a transaction that rolls back
// leaves a file no row names, which the next open removes with the
// temporary files, keeping the files rows name and any other file.
func TestTranscriptBundleFilesRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cohort.db")
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	mustPutDataset(t, s, "fitness")
	tr := func(id string) Transcript {
		return Transcript{ID: id, DatasetID: "fitness", ReleasedAt: t0, CohortSize: 3, CeremonyOffset: 10, Digest: h32("transcript", id)}
	}
	if err := s.PutTranscriptStream(ctx, tr("job-failed"), &failingReader{n: TranscriptChunkSize + 5}); err == nil || !strings.Contains(err.Error(), "the source failed") {
		t.Fatalf("a bundle whose reader fails: %v", err)
	}
	if _, err := s.GetTranscriptInfo(ctx, "job-failed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed bundle's row: %v", err)
	}
	if files := bundleDirFiles(t, path); len(files) != 0 {
		t.Fatalf("a failed bundle left %q", files)
	}

	kept := testBundle(3000)
	if err := s.PutTranscriptStream(ctx, tr("job-kept"), bytes.NewReader(kept)); err != nil {
		t.Fatal(err)
	}
	rollback := errors.New("the job's commit failed")
	if err := s.InTx(ctx, func(tx Tx) error {
		if err := tx.PutTranscriptStream(ctx, tr("job-rolled-back"), bytes.NewReader(testBundle(2000))); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := s.GetTranscriptInfo(ctx, "job-rolled-back"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a rolled-back bundle's row: %v", err)
	}
	if files := bundleDirFiles(t, path); len(files) != 2 {
		t.Fatalf("bundle directory holds %q, want the kept bundle and the rolled-back one's", files)
	}
	dir := path + "-bundles"
	for name, data := range map[string]string{"job-crashed.0011223344556677.tmp": "half", "README": "an operator's note"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, Config{Path: path})
	files := bundleDirFiles(t, path)
	slices.Sort(files)
	if len(files) != 2 || files[0] != "README" || !strings.HasPrefix(files[1], "job-kept.") {
		t.Fatalf("after reopening the bundle directory holds %q, want README and job-kept's bundle", files)
	}
	got, err := s.GetTranscript(ctx, "job-kept")
	if err != nil || !bytes.Equal(got.Bundle, kept) {
		t.Fatalf("the kept bundle after reopening: %d bytes, %v", len(got.Bundle), err)
	}
}

// TestBundleFileNames: a row naming a file that is not a bundle file of
// this directory is refused before anything is opened.
func TestBundleFileNames(t *testing.T) {
	b := &bundleFiles{dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(b.dir, "job-1.00.bundle"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../cohort.db", "job-1.00.tmp", ".bundle", "sub/job-1.bundle", "/etc/passwd"} {
		if f, err := b.open("job-1", name, 1); err == nil {
			f.Close()
			t.Errorf("opened %q", name)
		}
	}
	f, err := b.open("job-1", "job-1.00.bundle", 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(data) != "x" {
		t.Fatalf("read %q, %v", data, err)
	}
	if _, err := b.open("job-1", "job-1.00.bundle", 2); err == nil {
		t.Error("opened a file of another size than its row's")
	}
}

// TestTranscriptBundleFileWriteback: a bundle larger than writebackBytes,
// handed to the disk in parts as it is written, reads back whole.
func TestTranscriptBundleFileWriteback(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Config{Path: filepath.Join(t.TempDir(), "cohort.db")})
	mustPutDataset(t, s, "fitness")
	bundle := testBundle(2*writebackBytes + 123)
	tr := Transcript{ID: "job-large", DatasetID: "fitness", ReleasedAt: t0, CohortSize: 3, CeremonyOffset: 100, Digest: h32("transcript", "job-large")}
	if err := s.PutTranscriptStream(ctx, tr, bytes.NewReader(bundle)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetTranscript(ctx, tr.ID); err != nil || !bytes.Equal(got.Bundle, bundle) {
		t.Fatalf("a bundle of %d bytes reads back as %d, %v", len(bundle), len(got.Bundle), err)
	}
}

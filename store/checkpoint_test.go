package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"testing"
	"time"
)

// walIndex reads SQLite's wal-index header from the -shm file beside the
// database at path: mxFrame, the frames in the WAL, and nBackfill, those of
// them copied into the database file (the header is two copies of 48 bytes
// in the host's byte order, then the checkpoint information, nBackfill
// first).
func walIndex(t *testing.T, path string) (frames, backfilled uint32) {
	t.Helper()
	b, err := os.ReadFile(path + "-shm")
	if err != nil || len(b) < 100 {
		t.Fatalf("read the wal-index: %d bytes, %v", len(b), err)
	}
	return binary.NativeEndian.Uint32(b[16:]), binary.NativeEndian.Uint32(b[96:])
}

// waitCheckpointed waits until the WAL of the database at path, at least
// minFrames long, is copied whole into the database file, and fails the
// test if that takes longer than a few intervals of the checkpointer.
func waitCheckpointed(t *testing.T, path string, minFrames uint32) {
	t.Helper()
	deadline := time.Now().Add(10 * checkpointInterval)
	for {
		frames, backfilled := walIndex(t, path)
		if frames >= minFrames && backfilled == frames {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL of %d frames has %d copied into the database file after %v", frames, backfilled, 10*checkpointInterval)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeMegabytes commits a transaction of n MiB through the store's
// group commits, in a table of the test's own.
func writeMegabytes(t *testing.T, s *sqlStore, n int) {
	t.Helper()
	err := s.writeTx(context.Background(), "test write", func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS ballast (b BLOB NOT NULL)`); err != nil {
			return err
		}
		mib := bytes.Repeat([]byte{0xa5}, 1<<20)
		for range n {
			if _, err := tx.Exec(`INSERT INTO ballast (b) VALUES ($1)`, mib); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointAfterCommit: a commit's WAL frames are copied into the
// database file by the checkpointer, not by the committing writer (which
// has wal_autocheckpoint=0, TestSQLitePragmas).
func TestCheckpointAfterCommit(t *testing.T) {
	path := t.TempDir() + "/cohort.db"
	s := openStore(t, Config{Path: path}).(*sqlStore)
	writeMegabytes(t, s, 8)
	waitCheckpointed(t, path, 8<<20/4096)
}

// TestCheckpointRetried: a reader that holds an older snapshot when a
// large transaction commits keeps the checkpoint from copying it; once
// the reader ends, the checkpointer copies the WAL whole without another
// commit to wake it. SQLite's own checkpoint, run by the commit, would
// not try again until the next commit.
func TestCheckpointRetried(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/cohort.db"
	s := openStore(t, Config{Path: path}).(*sqlStore)
	waitCheckpointed(t, path, 0)
	rtx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	writeMegabytes(t, s, 8)
	time.Sleep(2 * checkpointInterval) // a checkpoint or two run meanwhile
	if frames, backfilled := walIndex(t, path); frames < 8<<20/4096 || backfilled == frames {
		t.Fatalf("with a reader of an older snapshot: %d of %d frames copied, want fewer than all of at least %d", backfilled, frames, 8<<20/4096)
	}
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitCheckpointed(t, path, 8<<20/4096)
}

// TestCheckpointerClose: closing the store stops its checkpointer,
// closing it again is harmless, and a commit's notice after that blocks
// nothing.
func TestCheckpointerClose(t *testing.T) {
	path := t.TempDir() + "/cohort.db"
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	st := s.(*sqlStore)
	writeMegabytes(t, st, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	st.checkpoints.committed()
	select {
	case <-st.checkpoints.stop:
	default:
		t.Fatal("the checkpointer was not stopped by Close")
	}
}

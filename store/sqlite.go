package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBusyTimeoutMS is how long a connection waits for the database lock
// before failing with SQLITE_BUSY.
const sqliteBusyTimeoutMS = 10000

// sqlitePragmas apply to every connection as it is opened. mmap_size lets
// reads map the database file, up to SQLite's largest mapping (2 GiB less
// 64 KiB), instead of copying each page through a read system call and
// SQLite's page cache (a job's scans and lookups spent most of their time
// there, docs/design.md §7.7); writes still go through the WAL, so
// durability is unchanged. The mapped pages are the kernel's page cache,
// shared by the connections and reclaimable: they count in the process's
// resident size, not its heap.
var sqlitePragmas = []string{
	fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS),
	"journal_mode(WAL)",
	"synchronous(FULL)",
	"foreign_keys(1)",
	fmt.Sprintf("mmap_size(%d)", sqliteMmapBytes),
}

// sqliteMmapBytes is SQLITE_MAX_MMAP_SIZE, the most a connection maps: a
// larger mmap_size is cut to it.
const sqliteMmapBytes = 0x7fff0000

// openSQLite opens (creating if needed) the database file at path with three
// pools: one connection for write transactions, begun IMMEDIATE so that a
// transaction holds the write lock from its first statement and writers
// queue in Go instead of failing mid-transaction, a few query-only
// connections for reads, which WAL lets proceed beside the writer, and
// one that checkpoints the WAL, which the writer leaves to it
// (walCheckpointer).
func openSQLite(ctx context.Context, path string) (*sqlStore, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: sqlite: empty path", ErrInvalid)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("%w: sqlite: path %q contains '?' or '#'", ErrInvalid, path)
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, "_txlock=immediate&_pragma=wal_autocheckpoint(0)"))
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := newSQLStore(w, w, dialect{name: DriverSQLite, countCommitted: countCommittedSQLite})
	// Check the pragmas on the writer before the first migration creates
	// the file's tables, so a database is never written without them.
	if err := firstSQLiteConn(ctx, w); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	if err := checkPragma(ctx, w, "wal_autocheckpoint", 0); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	if err := s.migrate(ctx, "sqlite", ""); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, "_pragma=query_only(1)"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store: sqlite: open %s: %w", path, err), w.Close())
	}
	n := min(max(runtime.GOMAXPROCS(0), 2), 8)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.r = r
	s.scans = newScanConns(path, n)
	s.group = &groupCommitter{s: s}
	if err := checkSQLitePragmas(ctx, r); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	c, err := sql.Open("sqlite", sqliteDSN(path, ""))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store: sqlite: open %s: %w", path, err), s.Close())
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	if err := checkSQLitePragmas(ctx, c); err != nil {
		return nil, errors.Join(err, c.Close(), s.Close())
	}
	s.checkpoints = startCheckpointer(c, checkpointInterval)
	if s.bundles, err = openBundleFiles(path); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if err := s.bundles.sweep(ctx, s); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// firstSQLiteConn opens the first connection and checks its pragmas.
// Switching a new file to WAL takes an exclusive lock that SQLite does not
// wait for with the busy handler, so two processes opening the same new file
// at once can get SQLITE_BUSY here: retry that, within the busy timeout.
func firstSQLiteConn(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeoutMS * time.Millisecond)
	for {
		err := checkSQLitePragmas(ctx, db)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: sqlite: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func sqliteDSN(path, extra string) string {
	q := make([]string, 0, len(sqlitePragmas)+1)
	for _, p := range sqlitePragmas {
		q = append(q, "_pragma="+url.QueryEscape(p))
	}
	if extra != "" {
		q = append(q, extra)
	}
	return "file:" + path + "?" + strings.Join(q, "&")
}

// checkSQLitePragmas fails closed if a connection did not get the durability
// settings.
func checkSQLitePragmas(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: sqlite: read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: sqlite: journal_mode is %q, want wal", mode)
	}
	checks := []struct {
		pragma string
		want   int
	}{
		{"synchronous", 2}, // FULL
		{"foreign_keys", 1},
		{"busy_timeout", sqliteBusyTimeoutMS},
	}
	for _, c := range checks {
		if err := checkPragma(ctx, db, c.pragma, c.want); err != nil {
			return err
		}
	}
	return nil
}

// checkPragma fails unless db's connection has integer pragma name set
// to want.
func checkPragma(ctx context.Context, db *sql.DB, name string, want int) error {
	var got int
	if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
		return fmt.Errorf("store: sqlite: read %s: %w", name, err)
	}
	if got != want {
		return fmt.Errorf("store: sqlite: %s is %d, want %d", name, got, want)
	}
	return nil
}

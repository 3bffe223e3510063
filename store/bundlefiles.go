package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// bundleFiles keeps the transcript bundles of an SQLite database as files
// in a directory beside it, the database path with "-bundles" appended
// (docs/design.md §7.6). A bundle is hundreds of megabytes at a million
// records: stored as chunks it would pass through the WAL, be synced
// there, then be copied into the database file by a checkpoint and
// synced again, and every read transaction begun meanwhile would search
// the WAL for each page it reads. As a file it is written once and synced
// once. PostgreSQL keeps its bundles in chunks.
//
// A bundle's file is written, synced and renamed into place, and the
// directory synced, inside the write transaction that inserts its row and
// before that transaction commits; the row names the file. A crash or a
// rollback can leave a file no row names (or a temporary one): sweep
// removes those when the store opens, inside a write transaction, so that
// no writer is between writing a file and committing its row. A file a
// row names is never removed.
type bundleFiles struct {
	dir string
}

// Bundle file names: the job id (checkJobID: [A-Za-z0-9-]), a random
// suffix, and one of these extensions.
const (
	bundleFileExt = ".bundle"
	bundleTempExt = ".tmp"
)

// writebackBytes is how many bytes of a bundle file put writes before it
// asks the kernel to start writing them to the disk.
const writebackBytes = 16 << 20

// openBundleFiles makes (if needed) the bundle directory of the SQLite
// database at path.
func openBundleFiles(path string) (*bundleFiles, error) {
	dir := path + "-bundles"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: sqlite: bundle directory: %w", err)
	}
	return &bundleFiles{dir: dir}, nil
}

// put writes the bundle src holds to a new file for transcript id and
// returns the file's name, with the bundle's size and sums (bundleSums).
// The file is synced and in place when put returns; the caller names it in
// the transcript's row in the same transaction, or removes it.
func (b *bundleFiles) put(id string, ceremonyOffset uint64, src io.Reader) (name string, sums bundleSum, err error) {
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", bundleSum{}, fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	base := id + "." + hex.EncodeToString(suffix[:])
	tmp := filepath.Join(b.dir, base+bundleTempExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", bundleSum{}, fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// The bytes written are handed to the disk every writebackBytes as
	// they go (startWriteback), so that the fsync below waits for the
	// last of them, not for all of a large bundle.
	var written, flushed int64
	sums, err = bundleSums(id, ceremonyOffset, src, func(_ int, chunk []byte) error {
		n, err := f.Write(chunk)
		written += int64(n)
		if written-flushed >= writebackBytes {
			startWriteback(f, flushed, written-flushed)
			flushed = written
		}
		return err
	})
	if err != nil {
		return "", bundleSum{}, err
	}
	if err := f.Sync(); err != nil {
		return "", bundleSum{}, fmt.Errorf("store: put transcript %q: sync the bundle: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return "", bundleSum{}, fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	name = base + bundleFileExt
	if err := os.Rename(tmp, filepath.Join(b.dir, name)); err != nil {
		return "", bundleSum{}, fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	if err := b.syncDir(); err != nil {
		os.Remove(filepath.Join(b.dir, name))
		return "", bundleSum{}, fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	return name, sums, nil
}

// syncDir makes the directory's entries (a rename) durable.
func (b *bundleFiles) syncDir() error {
	d, err := os.Open(b.dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// remove deletes the file name, written by put for a row that was not
// stored.
func (b *bundleFiles) remove(name string) {
	os.Remove(filepath.Join(b.dir, name))
}

// open opens the bundle file a row names, which must hold size bytes.
func (b *bundleFiles) open(id, name string, size uint64) (*os.File, error) {
	if name != filepath.Base(name) || !strings.HasSuffix(name, bundleFileExt) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("store: read transcript %q: stored bundle file name %q is not one of ours", id, name)
	}
	f, err := os.Open(filepath.Join(b.dir, name))
	if err != nil {
		return nil, fmt.Errorf("store: read transcript %q: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: read transcript %q: %w", id, err)
	}
	if fi.Size() < 0 || uint64(fi.Size()) != size {
		f.Close()
		return nil, fmt.Errorf("store: read transcript %q: its bundle file holds %d bytes, its row says %d", id, fi.Size(), size)
	}
	return f, nil
}

// sweep removes the temporary files and the bundle files no transcript
// names, in a write transaction of s (held while it reads the names and
// removes the files: no put is between its file and its commit).
func (b *bundleFiles) sweep(ctx context.Context, s *sqlStore) error {
	return s.inTx(ctx, "sweep bundle files", func(tx *sql.Tx) error {
		entries, err := os.ReadDir(b.dir)
		if err != nil {
			return fmt.Errorf("store: sqlite: bundle directory: %w", err)
		}
		if len(entries) == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT bundle_file FROM transcripts WHERE bundle_file IS NOT NULL`)
		if err != nil {
			return fmt.Errorf("store: sqlite: sweep bundle files: %w", err)
		}
		named := map[string]bool{}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return fmt.Errorf("store: sqlite: sweep bundle files: %w", err)
			}
			named[name] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("store: sqlite: sweep bundle files: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if !e.Type().IsRegular() || named[name] || !(strings.HasSuffix(name, bundleFileExt) || strings.HasSuffix(name, bundleTempExt)) {
				continue
			}
			if err := os.Remove(filepath.Join(b.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("store: sqlite: sweep bundle files: %w", err)
			}
		}
		return nil
	})
}

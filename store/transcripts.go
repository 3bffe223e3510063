package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// transcriptColumns are read by scanTranscript; withBundle adds the bundle.
const transcriptColumns = `id, dataset_id, digest, released_at, cohort_size`

func scanTranscript(sc interface{ Scan(...any) error }, withBundle bool) (Transcript, error) {
	var (
		t                   Transcript
		digest, full, light []byte
		released, cohort    int64
		size, offset        int64
		file                sql.NullString
	)
	dst := []any{&t.ID, &t.DatasetID, &digest, &released, &cohort}
	if withBundle {
		dst = append(dst, &t.Bundle, &size, &full, &offset, &light, &file)
	}
	if err := sc.Scan(dst...); err != nil {
		return Transcript{}, err
	}
	var err error
	if t.Digest, err = bytes32(digest, "transcript digest"); err != nil {
		return Transcript{}, err
	}
	if t.CohortSize, err = unsigned(cohort, "cohort size"); err != nil {
		return Transcript{}, err
	}
	t.ReleasedAt = fromMicros(released)
	if !withBundle {
		return t, nil
	}
	if len(t.Bundle) == 0 {
		t.Bundle = nil
	}
	t.bundleFile = file.String
	if t.BundleSize, err = unsigned(size, "bundle size"); err != nil {
		return Transcript{}, err
	}
	if t.CeremonyOffset, err = unsigned(offset, "ceremony offset"); err != nil {
		return Transcript{}, err
	}
	if t.BundleSize > 0 {
		if t.BundleSHA256, err = bytes32(full, "bundle SHA-256"); err != nil {
			return Transcript{}, err
		}
		if t.LightSHA256, err = bytes32(light, "bundle SHA-256 without its ceremony"); err != nil {
			return Transcript{}, err
		}
	}
	return t, nil
}

func (q queries) PutTranscript(ctx context.Context, t Transcript) error {
	if len(t.Bundle) == 0 {
		return fmt.Errorf("store: put transcript %q: %w: empty bundle", t.ID, ErrInvalid)
	}
	return q.putTranscript(ctx, t, nil)
}

// TranscriptChunkSize is the size of a stored bundle's chunks (the last
// may be shorter): blob.MaxChunkSize, so that each is one message of a
// stream.
const TranscriptChunkSize = 1 << 20

func (q queries) PutTranscriptStream(ctx context.Context, t Transcript, bundle io.Reader) error {
	if len(t.Bundle) != 0 {
		return fmt.Errorf("store: put transcript %q: %w: a streamed bundle comes from its reader", t.ID, ErrInvalid)
	}
	if bundle == nil {
		return fmt.Errorf("store: put transcript %q: %w: no bundle", t.ID, ErrInvalid)
	}
	return q.putTranscript(ctx, t, bundle)
}

// putTranscript inserts t's row and, when src is not nil, its bundle's
// chunks read from src, in one transaction.
func (q queries) putTranscript(ctx context.Context, t Transcript, src io.Reader) error {
	if err := checkJobID(t.ID); err != nil {
		return fmt.Errorf("store: put transcript: %w", err)
	}
	if err := checkDatasetID(t.DatasetID); err != nil {
		return fmt.Errorf("store: put transcript: %w", err)
	}
	cohort, err := signed(t.CohortSize, "cohort size")
	if err != nil {
		return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
	}
	offset, err := signed(t.CeremonyOffset, "ceremony offset")
	if err != nil {
		return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
	}
	bundle := t.Bundle
	if bundle == nil {
		bundle = []byte{}
	}
	return q.write(ctx, "put transcript", func(tx *sql.Tx) error {
		ok, err := datasetExists(ctx, tx, t.DatasetID)
		if err != nil {
			return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
		}
		if !ok {
			return fmt.Errorf("store: put transcript %q: dataset %q: %w", t.ID, t.DatasetID, ErrNotFound)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO transcripts (id, dataset_id, digest, released_at, cohort_size, bundle, ceremony_offset)
			 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.DatasetID, t.Digest[:], micros(t.ReleasedAt), cohort, bundle, offset)
		if err != nil {
			return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
		} else if n == 1 {
			switch {
			case src == nil:
				return nil
			case q.s.bundles != nil:
				return q.s.putTranscriptFile(ctx, tx, t.ID, t.CeremonyOffset, src)
			}
			return putTranscriptChunks(ctx, tx, t.ID, t.CeremonyOffset, src)
		}
		var digest []byte
		if err := tx.QueryRowContext(ctx, `SELECT digest FROM transcripts WHERE id = $1`, t.ID).Scan(&digest); err != nil {
			return fmt.Errorf("store: put transcript %q: read existing: %w", t.ID, err)
		}
		if !bytes.Equal(digest, t.Digest[:]) {
			return fmt.Errorf("store: put transcript %q: another transcript has this id: %w", t.ID, ErrAlreadyExists)
		}
		return nil
	})
}

// bundleSum is what a stored bundle's row says of it: its size and
// SHA-256, and the SHA-256 of the bundle without its ceremony.
type bundleSum struct {
	size        int64
	full, light []byte
}

// bundleSums reads the bundle src holds in chunks of TranscriptChunkSize,
// passing each to store (seq counting from 0) while it hashes it, and
// returns its size, its SHA-256 and that of the bundle without its
// ceremony, whose length field is at ceremonyOffset.
func bundleSums(id string, ceremonyOffset uint64, src io.Reader, store func(seq int, chunk []byte) error) (bundleSum, error) {
	// The two hashes share the bundle up to the ceremony's length field:
	// it is hashed once, and the light hash cloned from the full one there.
	full := sha256.New()
	var light hash.Hash
	buf := make([]byte, TranscriptChunkSize)
	var size uint64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			chunk := buf[:n]
			if light == nil && size+uint64(n) >= ceremonyOffset {
				at := ceremonyOffset - size
				full.Write(chunk[:at])
				cl, ok := full.(hash.Cloner)
				if !ok {
					return bundleSum{}, fmt.Errorf("store: put transcript %q: SHA-256 cannot be cloned", id)
				}
				c, cerr := cl.Clone()
				if cerr != nil {
					return bundleSum{}, fmt.Errorf("store: put transcript %q: %w", id, cerr)
				}
				light, chunk = c, chunk[at:]
			}
			// The chunk is hashed while it is stored: both only read it,
			// and the next read waits for both.
			var hashed sync.WaitGroup
			hashed.Go(func() { full.Write(chunk) })
			err := store(seq, buf[:n])
			hashed.Wait()
			if err != nil {
				return bundleSum{}, fmt.Errorf("store: put transcript %q: chunk %d: %w", id, seq, err)
			}
			size += uint64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return bundleSum{}, fmt.Errorf("store: put transcript %q: read the bundle: %w", id, err)
		}
	}
	if size == 0 {
		return bundleSum{}, fmt.Errorf("store: put transcript %q: %w: empty bundle", id, ErrInvalid)
	}
	if ceremonyOffset+8 > size || light == nil {
		return bundleSum{}, fmt.Errorf("store: put transcript %q: %w: ceremony offset %d in a bundle of %d bytes", id, ErrInvalid, ceremonyOffset, size)
	}
	light.Write(make([]byte, 8)) // the ceremony's zero length
	total, err := signed(size, "bundle size")
	if err != nil {
		return bundleSum{}, fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	return bundleSum{size: total, full: full.Sum(nil), light: light.Sum(nil)}, nil
}

// putTranscriptChunks stores the bundle src holds as the chunks of
// transcript id, and its sums in its row.
func putTranscriptChunks(ctx context.Context, tx *sql.Tx, id string, ceremonyOffset uint64, src io.Reader) error {
	sum, err := bundleSums(id, ceremonyOffset, src, func(seq int, chunk []byte) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO transcript_chunks (transcript_id, seq, data) VALUES ($1, $2, $3)`, id, seq, chunk)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE transcripts SET bundle_size = $1, bundle_sha256 = $2, light_sha256 = $3 WHERE id = $4`,
		sum.size, sum.full, sum.light, id); err != nil {
		return fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	return nil
}

// putTranscriptFile stores the bundle src holds as a file beside the
// SQLite database (bundleFiles), named with its sums in the row of
// transcript id. The file is removed if the row cannot name it; if the
// transaction rolls back later, the next open sweeps it.
func (s *sqlStore) putTranscriptFile(ctx context.Context, tx *sql.Tx, id string, ceremonyOffset uint64, src io.Reader) error {
	name, sum, err := s.bundles.put(id, ceremonyOffset, src)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE transcripts SET bundle_size = $1, bundle_sha256 = $2, light_sha256 = $3, bundle_file = $4 WHERE id = $5`,
		sum.size, sum.full, sum.light, name, id); err != nil {
		s.bundles.remove(name)
		return fmt.Errorf("store: put transcript %q: %w", id, err)
	}
	return nil
}

func (q queries) GetTranscript(ctx context.Context, id string) (Transcript, error) {
	t, err := q.GetTranscriptInfo(ctx, id)
	if err != nil || t.BundleSize == 0 {
		return t, err
	}
	t.Bundle = make([]byte, 0, t.BundleSize)
	err = q.ReadTranscriptBundle(ctx, id, 0, func(chunk []byte) error {
		t.Bundle = append(t.Bundle, chunk...)
		return nil
	})
	if err != nil {
		return Transcript{}, err
	}
	return t, nil
}

func (q queries) GetTranscriptInfo(ctx context.Context, id string) (Transcript, error) {
	if checkJobID(id) != nil {
		return Transcript{}, fmt.Errorf("store: get transcript: malformed id: %w", ErrNotFound)
	}
	// A chunked bundle's column is empty: reading it costs nothing.
	t, err := scanTranscript(q.read().QueryRowContext(ctx,
		`SELECT `+transcriptColumns+`, bundle, bundle_size, bundle_sha256, ceremony_offset, light_sha256, `+q.s.bundleFileColumn()+` FROM transcripts WHERE id = $1`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return Transcript{}, fmt.Errorf("store: get transcript %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Transcript{}, fmt.Errorf("store: get transcript %q: %w", id, err)
	}
	return t, nil
}

func (q queries) ReadTranscriptBundle(ctx context.Context, id string, limit uint64, fn func(chunk []byte) error) error {
	t, err := q.GetTranscriptInfo(ctx, id)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = max(t.BundleSize, uint64(len(t.Bundle)))
	}
	if t.BundleSize == 0 { // a bundle stored whole
		b := t.Bundle[:min(limit, uint64(len(t.Bundle)))]
		for off := 0; off < len(b); off += TranscriptChunkSize {
			if err := fn(b[off:min(off+TranscriptChunkSize, len(b))]); err != nil {
				return err
			}
		}
		return nil
	}
	if t.bundleFile != "" {
		return q.s.readTranscriptFile(t, limit, fn)
	}
	rows, err := q.read().QueryContext(ctx,
		`SELECT data FROM transcript_chunks WHERE transcript_id = $1 AND seq < $2 ORDER BY seq`, id, int64((limit+TranscriptChunkSize-1)/TranscriptChunkSize))
	if err != nil {
		return fmt.Errorf("store: read transcript %q: %w", id, err)
	}
	defer rows.Close()
	var sent uint64
	for rows.Next() && sent < limit {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return fmt.Errorf("store: read transcript %q: %w", id, err)
		}
		data = data[:min(uint64(len(data)), limit-sent)]
		if err := fn(data); err != nil {
			return err
		}
		sent += uint64(len(data))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read transcript %q: %w", id, err)
	}
	if sent != limit {
		return fmt.Errorf("store: read transcript %q: %d of its %d bytes stored", id, sent, limit)
	}
	return nil
}

// readTranscriptFile passes the first limit bytes of the bundle file of
// t to fn, a fresh chunk of at most TranscriptChunkSize bytes at a time.
func (s *sqlStore) readTranscriptFile(t Transcript, limit uint64, fn func(chunk []byte) error) error {
	if limit > t.BundleSize {
		return fmt.Errorf("store: read transcript %q: %d bytes asked of a bundle of %d", t.ID, limit, t.BundleSize)
	}
	f, err := s.bundles.open(t.ID, t.bundleFile, t.BundleSize)
	if err != nil {
		return err
	}
	defer f.Close()
	for sent := uint64(0); sent < limit; {
		chunk := make([]byte, min(limit-sent, TranscriptChunkSize))
		if _, err := io.ReadFull(f, chunk); err != nil {
			return fmt.Errorf("store: read transcript %q: %d of its %d bytes read: %w", t.ID, sent, limit, err)
		}
		if err := fn(chunk); err != nil {
			return err
		}
		sent += uint64(len(chunk))
	}
	return nil
}

// ListTranscripts pages by (released_at, id) descending, like ListJobs.
func (q queries) ListTranscripts(ctx context.Context, datasetID, pageToken string, limit int) ([]Transcript, string, error) {
	if err := checkDatasetID(datasetID); err != nil {
		return nil, "", fmt.Errorf("store: list transcripts: %w", err)
	}
	query := `SELECT ` + transcriptColumns + ` FROM transcripts WHERE dataset_id = $1`
	args := []any{datasetID}
	if pageToken != "" {
		released, id, err := decodeJobToken(pageToken)
		if err != nil {
			return nil, "", fmt.Errorf("store: list transcripts: %w", err)
		}
		query += ` AND (released_at, id) < ($2, $3)`
		args = append(args, released, id)
	}
	n := pageSize(limit)
	query += fmt.Sprintf(` ORDER BY released_at DESC, id DESC LIMIT %d`, n+1)
	rows, err := q.read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list transcripts: %w", err)
	}
	defer rows.Close()
	var out []Transcript
	for rows.Next() {
		t, err := scanTranscript(rows, false)
		if err != nil {
			return nil, "", fmt.Errorf("store: list transcripts: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list transcripts: %w", err)
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		next = encodeTimeIDToken(out[n-1].ReleasedAt, out[n-1].ID)
	}
	return out, next, nil
}

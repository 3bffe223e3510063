package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// transcriptColumns are read by scanTranscript; withBundle adds the bundle.
const transcriptColumns = `id, dataset_id, digest, released_at, cohort_size`

func scanTranscript(sc interface{ Scan(...any) error }, withBundle bool) (Transcript, error) {
	var (
		t        Transcript
		digest   []byte
		released int64
		cohort   int64
	)
	dst := []any{&t.ID, &t.DatasetID, &digest, &released, &cohort}
	if withBundle {
		dst = append(dst, &t.Bundle)
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
	return t, nil
}

func (q queries) PutTranscript(ctx context.Context, t Transcript) error {
	if err := checkJobID(t.ID); err != nil {
		return fmt.Errorf("store: put transcript: %w", err)
	}
	if err := checkDatasetID(t.DatasetID); err != nil {
		return fmt.Errorf("store: put transcript: %w", err)
	}
	if len(t.Bundle) == 0 {
		return fmt.Errorf("store: put transcript %q: %w: empty bundle", t.ID, ErrInvalid)
	}
	cohort, err := signed(t.CohortSize, "cohort size")
	if err != nil {
		return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
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
			`INSERT INTO transcripts (id, dataset_id, digest, released_at, cohort_size, bundle)
			 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.DatasetID, t.Digest[:], micros(t.ReleasedAt), cohort, t.Bundle)
		if err != nil {
			return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: put transcript %q: %w", t.ID, err)
		} else if n == 1 {
			return nil
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

func (q queries) GetTranscript(ctx context.Context, id string) (Transcript, error) {
	if checkJobID(id) != nil {
		return Transcript{}, fmt.Errorf("store: get transcript: malformed id: %w", ErrNotFound)
	}
	t, err := scanTranscript(q.read().QueryRowContext(ctx,
		`SELECT `+transcriptColumns+`, bundle FROM transcripts WHERE id = $1`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return Transcript{}, fmt.Errorf("store: get transcript %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Transcript{}, fmt.Errorf("store: get transcript %q: %w", id, err)
	}
	return t, nil
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

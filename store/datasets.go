package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

func (q queries) PutDataset(ctx context.Context, d Dataset) error {
	if err := checkDatasetID(d.ID); err != nil {
		return fmt.Errorf("store: put dataset: %w", err)
	}
	return q.write(ctx, "put dataset", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO datasets (id, descriptor, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			d.ID, blob(d.Descriptor), micros(d.CreatedAt))
		if err != nil {
			return fmt.Errorf("store: put dataset %q: %w", d.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: put dataset %q: %w", d.ID, err)
		} else if n == 0 {
			return fmt.Errorf("store: put dataset %q: %w", d.ID, ErrAlreadyExists)
		}
		return nil
	})
}

func (q queries) UpdateDataset(ctx context.Context, id string, descriptor []byte) error {
	return q.write(ctx, "update dataset", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE datasets SET descriptor = $1 WHERE id = $2`, blob(descriptor), id)
		if err != nil {
			return fmt.Errorf("store: update dataset %q: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: update dataset %q: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("store: update dataset %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

func (q queries) GetDataset(ctx context.Context, id string) (Dataset, error) {
	d := Dataset{ID: id}
	var created int64
	err := q.read().QueryRowContext(ctx, `SELECT descriptor, created_at FROM datasets WHERE id = $1`, id).
		Scan(&d.Descriptor, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Dataset{}, fmt.Errorf("store: get dataset %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Dataset{}, fmt.Errorf("store: get dataset %q: %w", id, err)
	}
	d.CreatedAt = fromMicros(created)
	return d, nil
}

// ListDatasets pages by id; the page token is the last id of the previous
// page.
func (q queries) ListDatasets(ctx context.Context, pageToken string, limit int) ([]Dataset, string, error) {
	if len(pageToken) > MaxDatasetIDLen {
		return nil, "", fmt.Errorf("store: list datasets: %w: page token too long", ErrInvalid)
	}
	n := pageSize(limit)
	// One row more than asked tells whether there is a next page.
	rows, err := q.read().QueryContext(ctx,
		`SELECT id, descriptor, created_at FROM datasets WHERE id > $1 ORDER BY id LIMIT $2`,
		pageToken, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("store: list datasets: %w", err)
	}
	defer rows.Close()
	var out []Dataset
	for rows.Next() {
		var d Dataset
		var created int64
		if err := rows.Scan(&d.ID, &d.Descriptor, &created); err != nil {
			return nil, "", fmt.Errorf("store: list datasets: %w", err)
		}
		d.CreatedAt = fromMicros(created)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list datasets: %w", err)
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		next = out[n-1].ID
	}
	return out, next, nil
}

func (q queries) PutDatasetKeys(ctx context.Context, datasetID string, pk, vk, transcript []byte) error {
	if err := checkDatasetID(datasetID); err != nil {
		return fmt.Errorf("store: put dataset keys: %w", err)
	}
	return q.write(ctx, "put dataset keys", func(tx *sql.Tx) error {
		ok, err := datasetExists(ctx, tx, datasetID)
		if err != nil {
			return fmt.Errorf("store: put dataset keys %q: %w", datasetID, err)
		}
		if !ok {
			return fmt.Errorf("store: put dataset keys %q: dataset: %w", datasetID, ErrNotFound)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO dataset_keys (dataset_id, proving_key, verifying_key, transcript) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (dataset_id) DO NOTHING`,
			datasetID, blob(pk), blob(vk), blob(transcript))
		if err != nil {
			return fmt.Errorf("store: put dataset keys %q: %w", datasetID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: put dataset keys %q: %w", datasetID, err)
		} else if n == 0 {
			return fmt.Errorf("store: put dataset keys %q: %w", datasetID, ErrAlreadyExists)
		}
		return nil
	})
}

func (q queries) GetDatasetKeys(ctx context.Context, datasetID string) (DatasetKeys, error) {
	var k DatasetKeys
	err := q.read().QueryRowContext(ctx,
		`SELECT proving_key, verifying_key, transcript FROM dataset_keys WHERE dataset_id = $1`, datasetID).
		Scan(&k.ProvingKey, &k.VerifyingKey, &k.Transcript)
	if errors.Is(err, sql.ErrNoRows) {
		return DatasetKeys{}, fmt.Errorf("store: get dataset keys %q: %w", datasetID, ErrNotFound)
	}
	if err != nil {
		return DatasetKeys{}, fmt.Errorf("store: get dataset keys %q: %w", datasetID, err)
	}
	return k, nil
}

func (q queries) GetVerifyingKey(ctx context.Context, datasetID string) (DatasetKeys, error) {
	var k DatasetKeys
	err := q.read().QueryRowContext(ctx,
		`SELECT verifying_key, transcript FROM dataset_keys WHERE dataset_id = $1`, datasetID).
		Scan(&k.VerifyingKey, &k.Transcript)
	if errors.Is(err, sql.ErrNoRows) {
		return DatasetKeys{}, fmt.Errorf("store: get verifying key %q: %w", datasetID, ErrNotFound)
	}
	if err != nil {
		return DatasetKeys{}, fmt.Errorf("store: get verifying key %q: %w", datasetID, err)
	}
	return k, nil
}

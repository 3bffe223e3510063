package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SetupRun is a dataset setup (key generation and ceremony) this node
// coordinates, and the replica running it (docs/design.md §3.4).
type SetupRun struct {
	DatasetID  string
	CeremonyID string // 1..128 bytes
	Replica    string
	StartedAt  time.Time
}

// PutSetupRun records that r.Replica runs r.DatasetID's setup;
// ErrAlreadyExists when the dataset has a run recorded, ErrNotFound when
// the dataset does not exist, ErrInvalid for a malformed id.
func (q queries) PutSetupRun(ctx context.Context, r SetupRun) error {
	if err := checkDatasetID(r.DatasetID); err != nil {
		return fmt.Errorf("store: put setup run: %w", err)
	}
	if err := checkReplicaID(r.Replica); err != nil {
		return fmt.Errorf("store: put setup run %q: %w", r.DatasetID, err)
	}
	if r.CeremonyID == "" || len(r.CeremonyID) > 128 {
		return fmt.Errorf("store: put setup run %q: %w: ceremony id of %d bytes, want 1..128", r.DatasetID, ErrInvalid, len(r.CeremonyID))
	}
	if err := checkText(r.CeremonyID, "ceremony id"); err != nil {
		return fmt.Errorf("store: put setup run %q: %w", r.DatasetID, err)
	}
	return q.write(ctx, "put setup run", func(tx *sql.Tx) error {
		ok, err := datasetExists(ctx, tx, r.DatasetID)
		if err != nil {
			return fmt.Errorf("store: put setup run %q: %w", r.DatasetID, err)
		}
		if !ok {
			return fmt.Errorf("store: put setup run %q: %w", r.DatasetID, ErrNotFound)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO setup_runs (dataset_id, ceremony_id, replica_id, started_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			r.DatasetID, r.CeremonyID, r.Replica, micros(r.StartedAt))
		if err != nil {
			return fmt.Errorf("store: put setup run %q: %w", r.DatasetID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: put setup run %q: %w", r.DatasetID, err)
		} else if n == 0 {
			return fmt.Errorf("store: put setup run %q: %w", r.DatasetID, ErrAlreadyExists)
		}
		return nil
	})
}

// EndSetupRun deletes the dataset's run if replica runs it, and reports
// whether it did: of several replicas ending one run, one is told true.
func (q queries) EndSetupRun(ctx context.Context, datasetID, replica string) (bool, error) {
	if checkDatasetID(datasetID) != nil || checkReplicaID(replica) != nil {
		return false, nil // no such run can have been put
	}
	var ended bool
	err := q.write(ctx, "end setup run", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM setup_runs WHERE dataset_id = $1 AND replica_id = $2`, datasetID, replica)
		if err != nil {
			return fmt.Errorf("store: end setup run %q: %w", datasetID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: end setup run %q: %w", datasetID, err)
		}
		ended = n == 1
		return nil
	})
	return ended, err
}

// OrphanedSetupRuns returns up to limit runs whose replica has not beaten
// its heartbeat since seenBefore (or never did), and every run of
// previous, a replica id whose earlier process is known to be gone ("" for
// none), oldest first.
func (q queries) OrphanedSetupRuns(ctx context.Context, previous string, seenBefore time.Time, limit int) ([]SetupRun, error) {
	rows, err := q.read().QueryContext(ctx,
		`SELECT s.dataset_id, s.ceremony_id, s.replica_id, s.started_at FROM setup_runs s
		   LEFT JOIN replicas r ON r.id = s.replica_id
		  WHERE r.id IS NULL OR r.seen_at < $1 OR s.replica_id = $2
		  ORDER BY s.started_at, s.dataset_id LIMIT $3`, micros(seenBefore), previous, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: orphaned setup runs: %w", err)
	}
	defer rows.Close()
	var out []SetupRun
	for rows.Next() {
		var (
			r       SetupRun
			started int64
		)
		if err := rows.Scan(&r.DatasetID, &r.CeremonyID, &r.Replica, &started); err != nil {
			return nil, fmt.Errorf("store: orphaned setup runs: %w", err)
		}
		r.StartedAt = fromMicros(started)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: orphaned setup runs: %w", err)
	}
	return out, nil
}

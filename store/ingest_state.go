package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds the state of a record through ingest on this node
// (docs/design.md §7.5): pending until its forwarder decides, then
// committed or rolled back, and the rollbacks this node owes its peers.

func (q queries) CommitContribution(ctx context.Context, datasetID string, nullifier [32]byte) error {
	return q.write(ctx, "commit contribution", func(tx *sql.Tx) error {
		res, err := q.s.execInTx(ctx, tx,
			`UPDATE contributions SET pending = 0, pending_since = 0, replica = '' WHERE dataset_id = $1 AND nullifier = $2`,
			datasetID, nullifier[:])
		if err != nil {
			return fmt.Errorf("store: commit contribution: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: commit contribution: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: commit contribution: %w", ErrNotFound)
		}
		return nil
	})
}

func (q queries) RollBackContribution(ctx context.Context, datasetID string, nullifier [32]byte, forwarder uint32, since time.Time) error {
	return q.write(ctx, "roll back contribution", func(tx *sql.Tx) error {
		query := `DELETE FROM contributions WHERE dataset_id = $1 AND nullifier = $2 AND (pending = 1 OR missing >= 0) AND forwarder = $3`
		args := []any{datasetID, nullifier[:], int64(forwarder)}
		if !since.IsZero() {
			query += ` AND pending_since = $4`
			args = append(args, micros(since))
		}
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store: roll back contribution: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: roll back contribution: %w", err)
		}
		if n == 1 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM contributions WHERE dataset_id = $1 AND nullifier = $2`,
			datasetID, nullifier[:]).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: roll back contribution: %w", ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: roll back contribution: %w", err)
		}
		return fmt.Errorf("store: roll back contribution: committed, forwarded by another node or sent again: %w", ErrConflict)
	})
}

func (q queries) CommitIncomplete(ctx context.Context, datasetID string, nullifier [32]byte, missing uint32) error {
	return q.write(ctx, "commit incomplete", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE contributions SET pending = 0, pending_since = 0, replica = '', missing = $3 WHERE dataset_id = $1 AND nullifier = $2 AND pending = 1`,
			datasetID, nullifier[:], int64(missing))
		if err != nil {
			return fmt.Errorf("store: commit incomplete: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: commit incomplete: %w", err)
		} else if n == 1 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM contributions WHERE dataset_id = $1 AND nullifier = $2`,
			datasetID, nullifier[:]).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: commit incomplete: %w", ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: commit incomplete: %w", err)
		}
		return nil
	})
}

func (q queries) CompleteContribution(ctx context.Context, datasetID string, nullifier [32]byte) error {
	return q.write(ctx, "complete contribution", func(tx *sql.Tx) error {
		var pending, missing int64
		err := tx.QueryRowContext(ctx, `SELECT pending, missing FROM contributions WHERE dataset_id = $1 AND nullifier = $2`,
			datasetID, nullifier[:]).Scan(&pending, &missing)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: complete contribution: %w", ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: complete contribution: %w", err)
		case pending != 0:
			return fmt.Errorf("store: complete contribution: pending: %w", ErrConflict)
		case missing < 0:
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE contributions SET missing = -1 WHERE dataset_id = $1 AND nullifier = $2 AND pending = 0`,
			datasetID, nullifier[:]); err != nil {
			return fmt.Errorf("store: complete contribution: %w", err)
		}
		return nil
	})
}

func (q queries) PutCatchUp(ctx context.Context, c CatchUp) error {
	if err := checkDatasetID(c.DatasetID); err != nil {
		return fmt.Errorf("store: put catch-up: %w", err)
	}
	if len(c.Payload) == 0 {
		return fmt.Errorf("store: put catch-up: %w: empty payload", ErrInvalid)
	}
	return q.write(ctx, "put catch-up", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO catchups (dataset_id, nullifier, peer, payload, created_at) VALUES ($1, $2, $3, $4, $5)
			 ON CONFLICT (dataset_id, nullifier, peer) DO NOTHING`,
			c.DatasetID, c.Nullifier[:], int64(c.Peer), c.Payload, micros(c.CreatedAt)); err != nil {
			return fmt.Errorf("store: put catch-up: %w", err)
		}
		return nil
	})
}

func (q queries) ListCatchUps(ctx context.Context, limit int) ([]CatchUp, error) {
	rows, err := q.listOutbox(ctx, "catchups", "payload", "list catch-ups", limit)
	if err != nil {
		return nil, err
	}
	out := make([]CatchUp, len(rows))
	for i, r := range rows {
		out[i] = CatchUp{DatasetID: r.datasetID, Nullifier: r.nullifier, Peer: r.peer, Payload: r.value, CreatedAt: r.createdAt}
	}
	return out, nil
}

// outboxRow is a row of an outbox table — catchups or rollbacks: what is
// owed to peer for one record, and since when.
type outboxRow struct {
	datasetID string
	nullifier [32]byte
	peer      uint32
	value     []byte // the table's own column: a payload, or a reason
	createdAt time.Time
}

// listOutbox reads up to limit rows of table (keyed by dataset, nullifier
// and peer, with a created_at) oldest first, with its column value.
func (q queries) listOutbox(ctx context.Context, table, value, what string, limit int) ([]outboxRow, error) {
	rows, err := q.read().QueryContext(ctx,
		`SELECT dataset_id, nullifier, peer, `+value+`, created_at FROM `+table+`
		  ORDER BY created_at, dataset_id, nullifier, peer LIMIT $1`, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var (
			r        outboxRow
			nf       []byte
			peer, at int64
		)
		if err := rows.Scan(&r.datasetID, &nf, &peer, &r.value, &at); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		if r.nullifier, err = bytes32(nf, "nullifier"); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		if peer < 0 || peer > 1<<32-1 {
			return nil, fmt.Errorf("store: %s: stored peer %d out of range", what, peer)
		}
		r.peer, r.createdAt = uint32(peer), fromMicros(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (q queries) CountCatchUps(ctx context.Context, peer uint32) (uint64, error) {
	var n int64
	if err := q.read().QueryRowContext(ctx, `SELECT count(*) FROM catchups WHERE peer = $1`, int64(peer)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count catch-ups: %w", err)
	}
	return unsigned(n, "count")
}

func (q queries) DeleteCatchUp(ctx context.Context, datasetID string, nullifier [32]byte, peer uint32) error {
	return q.write(ctx, "delete catch-up", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM catchups WHERE dataset_id = $1 AND nullifier = $2 AND peer = $3`,
			datasetID, nullifier[:], int64(peer)); err != nil {
			return fmt.Errorf("store: delete catch-up: %w", err)
		}
		return nil
	})
}

func (q queries) RenewPending(ctx context.Context, datasetID string, nullifier [32]byte, at time.Time) error {
	return q.write(ctx, "renew pending", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE contributions SET pending_since = $3 WHERE dataset_id = $1 AND nullifier = $2 AND pending = 1`,
			datasetID, nullifier[:], micros(at))
		if err != nil {
			return fmt.Errorf("store: renew pending: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: renew pending: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: renew pending: not pending: %w", ErrConflict)
		}
		return nil
	})
}

func (q queries) ListPending(ctx context.Context, afterDataset string, afterNullifier [32]byte, limit int) ([]Contribution, error) {
	rows, err := q.read().QueryContext(ctx,
		`SELECT `+contributionColumns+`
		  WHERE c.pending = 1 AND (c.dataset_id > $1 OR (c.dataset_id = $1 AND c.nullifier > $2))
		  ORDER BY c.dataset_id, c.nullifier LIMIT $3`,
		afterDataset, afterNullifier[:], pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: list pending: %w", err)
	}
	defer rows.Close()
	var out []Contribution
	for rows.Next() {
		c, err := scanContribution(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list pending: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list pending: %w", err)
	}
	return out, nil
}

func (q queries) TakePending(ctx context.Context, datasetID string, nullifier [32]byte, replica string, at time.Time) error {
	if len(replica) > MaxReplicaIDLen {
		return fmt.Errorf("store: take pending: %w: replica id longer than %d bytes", ErrInvalid, MaxReplicaIDLen)
	}
	return q.write(ctx, "take pending", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE contributions SET replica = $3, pending_since = $4 WHERE dataset_id = $1 AND nullifier = $2 AND pending = 1`,
			datasetID, nullifier[:], replica, micros(at))
		if err != nil {
			return fmt.Errorf("store: take pending: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: take pending: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: take pending: not pending: %w", ErrConflict)
		}
		return nil
	})
}

func (q queries) OrphanedPending(ctx context.Context, forwarder uint32, previous string, seenBefore time.Time, afterDataset string, afterNullifier [32]byte, limit int) ([]Contribution, error) {
	rows, err := q.read().QueryContext(ctx,
		`SELECT `+contributionColumns+`
		   LEFT JOIN replicas p ON p.id = c.replica
		  WHERE c.pending = 1 AND c.forwarder = $1
		    AND (c.replica = '' OR c.replica = $2 OR p.id IS NULL OR p.seen_at < $3)
		    AND (c.dataset_id > $4 OR (c.dataset_id = $4 AND c.nullifier > $5))
		  ORDER BY c.dataset_id, c.nullifier LIMIT $6`,
		int64(forwarder), previous, micros(seenBefore), afterDataset, afterNullifier[:], pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: orphaned pending: %w", err)
	}
	defer rows.Close()
	var out []Contribution
	for rows.Next() {
		c, err := scanContribution(rows)
		if err != nil {
			return nil, fmt.Errorf("store: orphaned pending: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: orphaned pending: %w", err)
	}
	return out, nil
}

// MaxRollbackReasonLen bounds a rollback's reason in bytes.
const MaxRollbackReasonLen = 1024

func (q queries) PutRollback(ctx context.Context, r Rollback) error {
	if err := checkDatasetID(r.DatasetID); err != nil {
		return fmt.Errorf("store: put rollback: %w", err)
	}
	if len(r.Reason) > MaxRollbackReasonLen {
		return fmt.Errorf("store: put rollback: %w: reason longer than %d bytes", ErrInvalid, MaxRollbackReasonLen)
	}
	return q.write(ctx, "put rollback", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO rollbacks (dataset_id, nullifier, peer, reason, created_at) VALUES ($1, $2, $3, $4, $5)
			 ON CONFLICT (dataset_id, nullifier, peer) DO NOTHING`,
			r.DatasetID, r.Nullifier[:], int64(r.Peer), r.Reason, micros(r.CreatedAt)); err != nil {
			return fmt.Errorf("store: put rollback: %w", err)
		}
		return nil
	})
}

func (q queries) ListRollbacks(ctx context.Context, limit int) ([]Rollback, error) {
	rows, err := q.listOutbox(ctx, "rollbacks", "reason", "list rollbacks", limit)
	if err != nil {
		return nil, err
	}
	out := make([]Rollback, len(rows))
	for i, r := range rows {
		out[i] = Rollback{DatasetID: r.datasetID, Nullifier: r.nullifier, Peer: r.peer, Reason: string(r.value), CreatedAt: r.createdAt}
	}
	return out, nil
}

func (q queries) HasRollback(ctx context.Context, datasetID string, nullifier [32]byte, peer uint32) (bool, error) {
	var one int
	err := q.read().QueryRowContext(ctx,
		`SELECT 1 FROM rollbacks WHERE dataset_id = $1 AND nullifier = $2 AND peer = $3`,
		datasetID, nullifier[:], int64(peer)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: has rollback: %w", err)
	}
	return true, nil
}

func (q queries) DeleteRollback(ctx context.Context, datasetID string, nullifier [32]byte, peer uint32) error {
	return q.write(ctx, "delete rollback", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM rollbacks WHERE dataset_id = $1 AND nullifier = $2 AND peer = $3`,
			datasetID, nullifier[:], int64(peer)); err != nil {
			return fmt.Errorf("store: delete rollback: %w", err)
		}
		return nil
	})
}

func (q queries) DeleteRollbacks(ctx context.Context, datasetID string, nullifier [32]byte) error {
	return q.write(ctx, "delete rollbacks", func(tx *sql.Tx) error {
		if _, err := q.s.execInTx(ctx, tx,
			`DELETE FROM rollbacks WHERE dataset_id = $1 AND nullifier = $2`, datasetID, nullifier[:]); err != nil {
			return fmt.Errorf("store: delete rollbacks: %w", err)
		}
		return nil
	})
}

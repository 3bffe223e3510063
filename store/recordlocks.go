package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// RecordLock is one replica's hold on a record of this node through ingest
// (docs/design.md §3.4): taken before the replica ingests the record,
// decides its rollback or sends a rollback owed for it, and checked, by
// HoldRecord, in the transaction of every decision it writes meanwhile.
type RecordLock struct {
	DatasetID string
	Nullifier [32]byte
	Replica   string
	// Token is drawn at random at each acquisition: a holder whose lock
	// was taken over finds another token and writes nothing.
	Token int64
	// Expires is when another replica may take the lock, unless renewed.
	Expires time.Time
}

// newLockToken draws a lock token.
func newLockToken() (int64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b[:]) >> 1), nil
}

// LockRecord is one statement, an INSERT … ON CONFLICT DO UPDATE … WHERE:
// the row is written if the record has no lock, or its lock expired at
// now or is replica's own. In PostgreSQL a concurrent LockRecord, or a
// HoldRecord inside a transaction, of the same row holds its row lock; the
// statement waits for it and re-evaluates the condition against the row
// as committed, so of two replicas taking one lock only one gets it, and
// a lock renewed by HoldRecord meanwhile is not taken. In SQLite the write
// lock orders them.
func (q queries) LockRecord(ctx context.Context, datasetID string, nullifier [32]byte, replica string, now, until time.Time) (RecordLock, error) {
	if err := checkDatasetID(datasetID); err != nil {
		return RecordLock{}, fmt.Errorf("store: lock record: %w", err)
	}
	if err := checkReplicaID(replica); err != nil {
		return RecordLock{}, fmt.Errorf("store: lock record: %w", err)
	}
	if !until.After(now) {
		return RecordLock{}, fmt.Errorf("store: lock record: %w: lock ends at or before now", ErrInvalid)
	}
	token, err := newLockToken()
	if err != nil {
		return RecordLock{}, fmt.Errorf("store: lock record: token: %w", err)
	}
	l := RecordLock{DatasetID: datasetID, Nullifier: nullifier, Replica: replica, Token: token, Expires: fromMicros(micros(until))}
	err = q.write(ctx, "lock record", func(tx *sql.Tx) error {
		ok, err := q.s.datasetExistsInTx(ctx, tx, datasetID)
		if err != nil {
			return fmt.Errorf("store: lock record: %w", err)
		}
		if !ok {
			return fmt.Errorf("store: lock record: dataset %q: %w", datasetID, ErrNotFound)
		}
		res, err := q.s.execInTx(ctx, tx,
			`INSERT INTO record_locks (dataset_id, nullifier, replica, token, expires_at) VALUES ($1, $2, $3, $4, $5)
			 ON CONFLICT (dataset_id, nullifier) DO UPDATE
			    SET replica = excluded.replica, token = excluded.token, expires_at = excluded.expires_at
			  WHERE record_locks.expires_at <= $6 OR record_locks.replica = excluded.replica`,
			datasetID, nullifier[:], replica, token, micros(until), micros(now))
		if err != nil {
			return fmt.Errorf("store: lock record: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: lock record: %w", err)
		}
		if n == 1 {
			return nil
		}
		var (
			holder  string
			expires int64
		)
		err = tx.QueryRowContext(ctx, `SELECT replica, expires_at FROM record_locks WHERE dataset_id = $1 AND nullifier = $2`,
			datasetID, nullifier[:]).Scan(&holder, &expires)
		if err != nil {
			return fmt.Errorf("store: lock record: read holder: %w", err)
		}
		return fmt.Errorf("store: lock record: held by replica %q until %s: %w",
			holder, fromMicros(expires).Format(time.RFC3339Nano), ErrConflict)
	})
	if err != nil {
		return RecordLock{}, err
	}
	return l, nil
}

// HoldRecord is one conditional UPDATE of the lock's row, matching its
// token: inside InTx it keeps the row locked until the transaction ends,
// so the transaction's writes and a takeover of the lock exclude each
// other.
func (q queries) HoldRecord(ctx context.Context, l RecordLock, until time.Time) error {
	return q.write(ctx, "hold record", func(tx *sql.Tx) error {
		res, err := q.s.execInTx(ctx, tx,
			`UPDATE record_locks SET expires_at = $5 WHERE dataset_id = $1 AND nullifier = $2 AND replica = $3 AND token = $4`,
			l.DatasetID, l.Nullifier[:], l.Replica, l.Token, micros(until))
		if err != nil {
			return fmt.Errorf("store: hold record: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: hold record: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: hold record: the lock was taken by another replica or released: %w", ErrConflict)
		}
		return nil
	})
}

func (q queries) UnlockRecord(ctx context.Context, l RecordLock) error {
	return q.write(ctx, "unlock record", func(tx *sql.Tx) error {
		if _, err := q.s.execInTx(ctx, tx,
			`DELETE FROM record_locks WHERE dataset_id = $1 AND nullifier = $2 AND replica = $3 AND token = $4`,
			l.DatasetID, l.Nullifier[:], l.Replica, l.Token); err != nil {
			return fmt.Errorf("store: unlock record: %w", err)
		}
		return nil
	})
}

func (q queries) GetRecordLock(ctx context.Context, datasetID string, nullifier [32]byte) (RecordLock, error) {
	l := RecordLock{DatasetID: datasetID, Nullifier: nullifier}
	var expires int64
	err := q.read().QueryRowContext(ctx,
		`SELECT replica, token, expires_at FROM record_locks WHERE dataset_id = $1 AND nullifier = $2`,
		datasetID, nullifier[:]).Scan(&l.Replica, &l.Token, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RecordLock{}, fmt.Errorf("store: get record lock: %w", ErrNotFound)
	case err != nil:
		return RecordLock{}, fmt.Errorf("store: get record lock: %w", err)
	}
	l.Expires = fromMicros(expires)
	return l, nil
}

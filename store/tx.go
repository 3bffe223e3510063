package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// maxTxAttempts bounds how many times InTx runs its function when
// PostgreSQL aborts the transaction as a deadlock victim or a serialization
// failure.
const maxTxAttempts = 4

// queries implements every data method once, for the two places it runs. On
// the store (tx nil) a write method is a transaction of its own and a read
// is one statement on the read pool. Inside InTx (tx set) every statement
// runs in that transaction, and each write method under a savepoint of its
// own.
type queries struct {
	s  *sqlStore
	tx *sql.Tx
}

var _ Tx = queries{}

// querier is what a read runs on: a pool or the open transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// read returns where reads run: the open transaction, which sees its own
// writes, or the read pool.
func (q queries) read() querier {
	if q.tx != nil {
		return q.tx
	}
	return q.s.r
}

// write runs fn atomically: in a transaction of its own on the store, or
// under a savepoint inside InTx's transaction.
func (q queries) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if q.tx == nil {
		return q.s.writeTx(ctx, op, fn)
	}
	return q.s.savepoint(ctx, q.tx, op, fn)
}

// savepoint runs fn inside the open transaction tx. When fn fails, what it
// wrote is rolled back to the savepoint and tx stays usable: a method that
// returns an error inside InTx has changed nothing, and in PostgreSQL the
// failed statement does not abort the whole transaction. When fn succeeds,
// its writes join tx's and commit or roll back with them.
func (s *sqlStore) savepoint(ctx context.Context, tx *sql.Tx, op string, fn func(tx *sql.Tx) error) error {
	if _, err := s.execInTx(ctx, tx, `SAVEPOINT cohort_op`); err != nil {
		return fmt.Errorf("store: %s: savepoint: %w", op, err)
	}
	if err := fn(tx); err != nil {
		// ROLLBACK TO keeps the savepoint; RELEASE then drops it.
		if _, rbErr := s.execInTx(ctx, tx, `ROLLBACK TO SAVEPOINT cohort_op`); rbErr != nil {
			return errors.Join(err, fmt.Errorf("store: %s: rollback to savepoint: %w", op, rbErr))
		}
		if _, relErr := s.execInTx(ctx, tx, `RELEASE SAVEPOINT cohort_op`); relErr != nil {
			return errors.Join(err, fmt.Errorf("store: %s: release savepoint: %w", op, relErr))
		}
		return err
	}
	if _, err := s.execInTx(ctx, tx, `RELEASE SAVEPOINT cohort_op`); err != nil {
		return fmt.Errorf("store: %s: release savepoint: %w", op, err)
	}
	return nil
}

// InTx runs fn in one write transaction; see Store.InTx for the contract.
func (s *sqlStore) InTx(ctx context.Context, fn func(tx Tx) error) error {
	if fn == nil {
		return fmt.Errorf("store: transaction: %w: nil function", ErrInvalid)
	}
	for attempt := 1; ; attempt++ {
		err := s.writeTx(ctx, "transaction", func(tx *sql.Tx) error {
			return fn(queries{s: s, tx: tx})
		})
		if err == nil || !retryable(err) {
			return err
		}
		if attempt == maxTxAttempts {
			return fmt.Errorf("store: transaction: gave up after %d attempts: %w", attempt, err)
		}
		// Back off a little, with jitter, so that the transactions that
		// collided do not collide again in step.
		wait := time.Duration(attempt)*10*time.Millisecond + rand.N(10*time.Millisecond)
		select {
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("store: transaction: %w", ctx.Err()))
		case <-time.After(wait):
		}
	}
}

// PostgreSQL error codes after which a transaction may simply be run again.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// retryable reports whether err aborted a PostgreSQL transaction that may
// succeed if run again: a serialization failure or a deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == pgSerializationFailure || pe.Code == pgDeadlockDetected
}

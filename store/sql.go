package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// dialect holds what differs between the engines; the SQL text of every
// query is shared, with $n placeholders (both drivers accept them).
type dialect struct {
	name string
	// forUpdate is appended to a SELECT inside a write transaction to lock
	// the rows it reads (the registry head, a buyer being admitted a job):
	// a row lock in PostgreSQL; empty in SQLite, whose write transactions
	// (BEGIN IMMEDIATE) already exclude each other.
	forUpdate string
	// txOptions for write transactions, InTx's included.
	txOptions *sql.TxOptions
	// countCommitted counts a dataset's committed records in a range of
	// epochs ($1 the dataset, $2 and $3 the first and last epoch): in
	// SQLite from the per-epoch counts its triggers keep (migration
	// 0023), in PostgreSQL from the eligibility index, whose concurrent
	// writers a shared counter row would serialize.
	countCommitted string
}

// The two engines' dialect.countCommitted.
const (
	countCommittedSQLite = `SELECT coalesce(sum(records), 0) FROM committed_counts
		 WHERE dataset_id = $1 AND epoch >= $2 AND epoch <= $3`
	countCommittedPostgres = `SELECT count(*) FROM contributions
		 WHERE dataset_id = $1 AND epoch >= $2 AND epoch <= $3 AND pending = 0 AND missing = -1`
)

// sqlStore implements Store over database/sql for both engines. Its data
// methods are those of the embedded queries, which run them on the pools.
type sqlStore struct {
	queries
	w *sql.DB // write transactions
	r *sql.DB // single-statement reads; the same pool as w in PostgreSQL
	d dialect

	stmts stmtCache       // SQLite's prepared hot reads
	group *groupCommitter // SQLite's write transactions; nil on PostgreSQL
	// checkpoints copies SQLite's WAL into the database file after
	// commits; nil on PostgreSQL.
	checkpoints *walCheckpointer
	// bundles keeps transcript bundles as files beside an SQLite
	// database; nil on PostgreSQL.
	bundles *bundleFiles
	// scans runs a job's scans outside transactions on SQLite
	// (sqlite_scan.go); nil on PostgreSQL.
	scans *scanConns
}

var _ Store = (*sqlStore)(nil)

// bundleFileColumn is what a query reads for the file that holds a
// transcript's bundle: its column where the store keeps bundles as files,
// NULL where it keeps chunks.
func (s *sqlStore) bundleFileColumn() string {
	if s.bundles != nil {
		return "bundle_file"
	}
	return "NULL"
}

// newSQLStore returns a store over the writer and reader pools.
func newSQLStore(w, r *sql.DB, d dialect) *sqlStore {
	s := &sqlStore{w: w, r: r, d: d}
	s.queries = queries{s: s}
	return s
}

// inTx runs fn in a write transaction and commits it if fn returns nil. It
// rolls back when fn returns an error, and also when fn panics, before the
// panic goes on up: a transaction is never left open (in SQLite it would
// hold the only write connection).
func (s *sqlStore) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, s.d.txOptions)
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", op, err)
	}
	returned := false
	defer func() {
		if !returned {
			// fn panicked or called runtime.Goexit; the panic is what the
			// caller sees, so a rollback error would only hide it.
			_ = tx.Rollback()
		}
	}()
	err = fn(tx)
	returned = true
	if err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("store: %s: rollback: %w", op, rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", op, err)
	}
	s.checkpoints.committed()
	return nil
}

// writeTx runs fn in a write transaction: on SQLite grouped with those of
// concurrent callers into one commit (groupCommitter), on PostgreSQL alone.
func (s *sqlStore) writeTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if s.group != nil {
		return s.group.run(ctx, op, fn)
	}
	return s.inTx(ctx, op, fn)
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if s.w != s.r {
		if err := s.w.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping: %w", err)
		}
	}
	return nil
}

func (s *sqlStore) Close() error {
	s.scans.close()
	err := errors.Join(s.checkpoints.close(), s.stmts.close(), s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Times are stored as Unix microseconds, UTC: exact on both engines and wide
// enough for the zero time.Time.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// bytes32 decodes a stored 32-byte value, refusing any other length.
func bytes32(b []byte, what string) ([32]byte, error) {
	var out [32]byte
	if len(b) != len(out) {
		return out, fmt.Errorf("store: stored %s has %d bytes, want %d", what, len(b), len(out))
	}
	copy(out[:], b)
	return out, nil
}

// optional32 binds a zero array as NULL, any other as its 32 bytes.
func optional32(b [32]byte) any {
	if b == ([32]byte{}) {
		return nil
	}
	return b[:]
}

// blob maps nil to an empty slice: both drivers bind a nil []byte as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// signed converts a counter or epoch to the engines' signed 64-bit integer.
func signed(v uint64, what string) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %s %d exceeds %d", ErrInvalid, what, v, int64(math.MaxInt64))
	}
	return int64(v), nil
}

// unsigned converts a stored non-negative integer back.
func unsigned(v int64, what string) (uint64, error) {
	if v < 0 {
		return 0, fmt.Errorf("store: stored %s is negative (%d)", what, v)
	}
	return uint64(v), nil
}

// clampSigned reads an inclusive upper bound, saturating at MaxInt64.
func clampSigned(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPageSize {
		return MaxPageSize
	}
	return limit
}

func checkDatasetID(id string) error {
	if id == "" || len(id) > MaxDatasetIDLen {
		return fmt.Errorf("%w: dataset id must be 1..%d bytes, got %d", ErrInvalid, MaxDatasetIDLen, len(id))
	}
	return nil
}

// datasetExists reports whether id is a dataset, read on r (inside a
// write transaction, or on the read pool).
func datasetExists(ctx context.Context, r querier, id string) (bool, error) {
	var one int
	err := r.QueryRowContext(ctx, `SELECT 1 FROM datasets WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache holds the prepared statements of the queries run once per row
// of a job or an upload (a contribution looked up by nullifier, its row
// written), so that
// SQLite parses and plans each of them once per connection rather than on
// every call. database/sql prepares a Stmt lazily on each connection of its
// pool that runs it and keeps it there. PostgreSQL's driver (pgx) already
// caches the statements it prepares, so the cache is used on SQLite only.
type stmtCache struct {
	mu     sync.Mutex
	m      map[stmtKey]*sql.Stmt
	wanted map[stmtKey]bool // writes to prepare before the next transaction
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// get returns query prepared on db, preparing it on first use.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := stmtKey{db, query}
	if st, ok := c.m[k]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[stmtKey]*sql.Stmt)
	}
	c.m[k] = st
	return st, nil
}

// prepared returns query prepared on db if it is, without preparing it:
// otherwise it records that query is wanted there, for prepareWanted.
func (c *stmtCache) prepared(db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := stmtKey{db, query}
	if st, ok := c.m[k]; ok {
		return st
	}
	if c.wanted == nil {
		c.wanted = make(map[stmtKey]bool)
	}
	c.wanted[k] = true
	return nil
}

// prepareWanted prepares the statements asked of prepared. A statement
// that fails to prepare is asked for again on its next use.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for k := range wanted {
		if _, err := c.get(ctx, k.db, k.query); err != nil {
			continue
		}
	}
}

// close closes every statement; the cache is empty afterwards.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for k, st := range c.m {
		err = errors.Join(err, st.Close())
		delete(c.m, k)
	}
	return err
}

// execInTx runs a write statement in tx, the transaction of a group commit
// (SQLite), like tx.ExecContext, with the statement prepared once on the
// writer connection. Preparing it needs that connection, which tx holds:
// a statement's first run is unprepared and asks the group committer to
// prepare it before its next transaction (stmtCache.prepareWanted).
// The statements an upload's transactions run, and their savepoints, use
// it: parsing them was a quarter of a group commit's CPU (docs/design.md
// §5.6).
func (s *sqlStore) execInTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s.d.name != DriverSQLite || s.group == nil {
		return tx.ExecContext(ctx, query, args...)
	}
	st := s.stmts.prepared(s.w, query)
	if st == nil {
		return tx.ExecContext(ctx, query, args...)
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// datasetExistsInTx is datasetExists inside tx, its statement prepared as
// execInTx's are.
func (s *sqlStore) datasetExistsInTx(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	const query = `SELECT 1 FROM datasets WHERE id = $1`
	var st *sql.Stmt
	if s.d.name == DriverSQLite && s.group != nil {
		st = s.stmts.prepared(s.w, query)
	}
	var row *sql.Row
	if st == nil {
		row = tx.QueryRowContext(ctx, query, id)
	} else {
		row = tx.StmtContext(ctx, st).QueryRowContext(ctx, id)
	}
	var one int
	err := row.Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// rowScanner is a *sql.Row, or the error that kept a statement from being
// prepared.
type rowScanner interface{ Scan(...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// queryRowCached runs a single-row read like read().QueryRowContext, with
// the statement prepared once on the read pool (SQLite; see stmtCache).
// Inside a transaction it runs uncached: preparing on the writer pool would
// wait for the connection the transaction holds.
func (q queries) queryRowCached(ctx context.Context, query string, args ...any) rowScanner {
	if q.s.d.name != DriverSQLite || q.tx != nil {
		return q.read().QueryRowContext(ctx, query, args...)
	}
	st, err := q.s.stmts.get(ctx, q.s.r, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache holds the prepared statements of the queries run once per row
// of a job or an upload (a contribution looked up by nullifier), so that
// SQLite parses and plans each of them once per connection rather than on
// every call. database/sql prepares a Stmt lazily on each connection of its
// pool that runs it and keeps it there. PostgreSQL's driver (pgx) already
// caches the statements it prepares, so the cache is used on SQLite only.
type stmtCache struct {
	mu sync.Mutex
	m  map[stmtKey]*sql.Stmt
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

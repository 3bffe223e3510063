package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresMigrationLock is the pg_advisory_xact_lock key that serialises
// migrations of replicas starting at the same time ("cohort" in ASCII).
const postgresMigrationLock = `SELECT pg_advisory_xact_lock(109642672204660)`

// openPostgres connects through pgx's database/sql driver, so that both
// engines share one implementation of every query. Each session runs with
// synchronous_commit=on, whatever the server's default, so a commit has been
// flushed to the WAL when it returns, and every write transaction is READ
// COMMITTED: correctness under concurrent replicas rests on row locks and
// unique constraints, which that level honours, not on serializable retries.
func openPostgres(ctx context.Context, dsn string) (*sqlStore, error) {
	if dsn == "" {
		return nil, fmt.Errorf("%w: postgres: empty DSN", ErrInvalid)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The DSN may hold a password: do not echo it.
		return nil, fmt.Errorf("%w: postgres: cannot parse DSN", ErrInvalid)
	}
	cfg.RuntimeParams["synchronous_commit"] = "on"
	cfg.RuntimeParams["application_name"] = "cohort"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	s := newSQLStore(db, db, dialect{
		name:      DriverPostgres,
		forUpdate: " FOR UPDATE",
		txOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted},

		countCommitted: countCommittedPostgres,
	})
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err), db.Close())
	}
	if err := s.migrate(ctx, "postgres", postgresMigrationLock); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

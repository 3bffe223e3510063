package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migration is one embedded, numbered SQL file.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads migrations/<engine>/NNNN_name.sql in version order,
// refusing malformed names and duplicate or non-consecutive versions.
func loadMigrations(engine string) ([]migration, error) {
	dir := path.Join("migrations", engine)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations %s: %w", engine, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("store: migration %s/%s: name is not NNNN_name.sql", engine, name)
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("store: migration %s/%s: bad version %q", engine, name, num)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("store: migration %s/%s: %w", engine, name, err)
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != int64(i+1) {
			return nil, fmt.Errorf("store: migrations %s: want version %d, found %s", engine, i+1, m.name)
		}
	}
	return out, nil
}

// migrate applies the pending migrations of engine, each in its own write
// transaction together with its row in schema_migrations, so a migration is
// applied entirely or not at all. lock, run first in every transaction,
// serialises concurrent migrators (replicas starting together); a database
// migrated by a newer binary is refused rather than used.
func (s *sqlStore) migrate(ctx context.Context, engine, lock string) error {
	ms, err := loadMigrations(engine)
	if err != nil {
		return err
	}
	for _, m := range ms {
		err := s.inTx(ctx, "migrate", func(tx *sql.Tx) error {
			if lock != "" {
				if _, err := tx.ExecContext(ctx, lock); err != nil {
					return fmt.Errorf("store: migrate: lock: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    BIGINT PRIMARY KEY,
				name       TEXT   NOT NULL,
				applied_at BIGINT NOT NULL
			)`); err != nil {
				return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
			}
			var latest sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&latest); err != nil {
				return fmt.Errorf("store: migrate: read version: %w", err)
			}
			if latest.Int64 > int64(len(ms)) {
				return fmt.Errorf("store: migrate: database schema version %d is newer than this binary's %d", latest.Int64, len(ms))
			}
			if latest.Int64 >= m.version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migrate: %s/%s: %w", engine, m.name, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, micros(time.Now())); err != nil {
				return fmt.Errorf("store: migrate: record %s: %w", m.name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// schemaVersion returns the latest applied migration.
func (s *sqlStore) schemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v.Int64, nil
}

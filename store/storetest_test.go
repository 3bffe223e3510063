package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// postgresDSNEnv names the environment variable that enables the PostgreSQL
// run of the suite (see the Makefile's test-postgres target).
const postgresDSNEnv = "COHORT_TEST_POSTGRES_DSN"

// engine opens fresh, isolated databases of one kind for the suite.
type engine struct {
	name string
	// fresh returns the Config of a new empty database, removed after t; nil
	// when the engine is not available, and its subtests skip.
	fresh func(t *testing.T) Config
}

// run runs fn as e's subtest of t, with a fresh database's Config.
func (e engine) run(t *testing.T, fn func(t *testing.T, cfg Config)) {
	t.Helper()
	t.Run(e.name, func(t *testing.T) {
		if e.fresh == nil {
			t.Skipf("PostgreSQL not configured: set %s to a DSN (make test-postgres does, under pg_virtualenv)", postgresDSNEnv)
		}
		fn(t, e.fresh(t))
	})
}

// engines lists SQLite always and PostgreSQL when postgresDSNEnv is set.
func engines(t *testing.T) []engine {
	t.Helper()
	es := []engine{{name: DriverSQLite, fresh: func(t *testing.T) Config {
		return Config{Driver: DriverSQLite, Path: filepath.Join(t.TempDir(), "cohort.db")}
	}}}
	if dsn := os.Getenv(postgresDSNEnv); dsn != "" {
		es = append(es, engine{name: DriverPostgres, fresh: func(t *testing.T) Config {
			return Config{Driver: DriverPostgres, DSN: postgresSchema(t, dsn)}
		}})
	} else {
		es = append(es, engine{name: DriverPostgres})
	}
	return es
}

// postgresSchema creates a schema of its own for t and returns dsn with its
// search_path set to it, so tests never see each other's rows.
func postgresSchema(t *testing.T, dsn string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "cohort_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("postgres: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("postgres: drop schema: %v", err)
		}
	})
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=" + schema
	default:
		return dsn + " search_path=" + schema
	}
}

// forEachEngine runs fn as a subtest per engine, with a freshly opened store
// (closed after the subtest) and its Config, for tests that reopen it.
func forEachEngine(t *testing.T, fn func(t *testing.T, s Store, cfg Config)) {
	t.Helper()
	for _, e := range engines(t) {
		e.run(t, func(t *testing.T, cfg Config) { fn(t, openStore(t, cfg), cfg) })
	}
}

// openStore opens cfg and closes the store when t ends.
func openStore(t *testing.T, cfg Config) Store {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Driver, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

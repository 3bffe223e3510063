package node

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/store"
)

// postgresDSNEnv names the environment variable that runs the node tests
// that take it on PostgreSQL (the Makefile's test-postgres target sets it
// under pg_virtualenv).
const postgresDSNEnv = "COHORT_TEST_POSTGRES_DSN"

// postgresStores returns the stores of a federation on the PostgreSQL
// server of postgresDSNEnv, each node in a schema of its own dropped after
// the test; it skips t when the variable is not set.
func postgresStores(t *testing.T) func(t testing.TB, i int) store.Config {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		t.Skipf("PostgreSQL not configured: set %s to a DSN (make test-postgres does, under pg_virtualenv)", postgresDSNEnv)
	}
	return func(t testing.TB, _ int) store.Config {
		t.Helper()
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		schema := "cohort_node_test_" + hex.EncodeToString(b[:])
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
		sep := " "
		if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
			sep = "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
		}
		return store.Config{Driver: store.DriverPostgres, DSN: dsn + sep + "search_path=" + schema}
	}
}

package node

import (
	"os"
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
		return store.Config{Driver: store.DriverPostgres, DSN: postgresSchema(t, dsn)}
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

var errAbandon = errors.New("abandon the transaction")

func testTranscript(id, dataset string) Transcript {
	tr := Transcript{ID: id, DatasetID: dataset, ReleasedAt: t0, CohortSize: 44, Bundle: []byte("bundle of " + id)}
	tr.Digest = h32("transcript", id)
	return tr
}

// TestInTxCommits: everything fn writes commits together; inside fn, tx
// sees its own writes and the store (other connections) does not.
func TestInTxCommits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		j := testJob("job-1", "alice", "req-1", "fitness")
		done := j
		done.State, done.TranscriptID, done.Result = 5, "job-1", []byte("result")
		err := s.InTx(ctx, func(tx Tx) error {
			if err := tx.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0}); err != nil {
				return err
			}
			if _, err := tx.PutJob(ctx, j); err != nil {
				return err
			}
			if err := tx.PutTranscript(ctx, testTranscript("job-1", "fitness")); err != nil {
				return err
			}
			if err := tx.UpdateJob(ctx, done, j.State); err != nil {
				return err
			}
			if got, err := tx.GetJob(ctx, "job-1"); err != nil || got.State != 5 {
				return fmt.Errorf("tx.GetJob = %+v, %v; want its own write", got, err)
			}
			if _, err := s.GetDataset(ctx, "fitness"); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("the store saw an uncommitted dataset: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDataset(ctx, "fitness"); err != nil {
			t.Fatal(err)
		}
		if d := diffJob(mustGetJob(t, s, "job-1"), done); d != "" {
			t.Fatal(d)
		}
		if _, err := s.GetTranscript(ctx, "job-1"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestInTxRollsBack: when fn returns an error, neither the transcript it
// put nor the job state it moved is visible, whether fn gives up on its own
// or because the job's compare-and-set failed.
func TestInTxRollsBack(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		j := testJob("job-1", "alice", "req-1", "fitness")
		if _, err := s.PutJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		done := j
		done.State, done.TranscriptID, done.Result = 5, "job-1", []byte("result")

		err := s.InTx(ctx, func(tx Tx) error {
			if err := tx.PutTranscript(ctx, testTranscript("job-1", "fitness")); err != nil {
				return err
			}
			if err := tx.UpdateJob(ctx, done, j.State); err != nil {
				return err
			}
			return errAbandon
		})
		if !errors.Is(err, errAbandon) {
			t.Fatalf("InTx = %v, want fn's error", err)
		}
		_, err = s.GetTranscript(ctx, "job-1")
		wantErr(t, "GetTranscript after a rolled back InTx", err, ErrNotFound)
		if d := diffJob(mustGetJob(t, s, "job-1"), j); d != "" {
			t.Fatal("a rolled back InTx moved the job: " + d)
		}

		err = s.InTx(ctx, func(tx Tx) error {
			if err := tx.PutTranscript(ctx, testTranscript("job-1", "fitness")); err != nil {
				return err
			}
			return tx.UpdateJob(ctx, done, 7) // the job is in state 1
		})
		wantErr(t, "InTx(UpdateJob from the wrong state)", err, ErrConflict)
		_, err = s.GetTranscript(ctx, "job-1")
		wantErr(t, "GetTranscript after a refused compare-and-set", err, ErrNotFound)
		if d := diffJob(mustGetJob(t, s, "job-1"), j); d != "" {
			t.Fatal("a refused compare-and-set moved the job: " + d)
		}

		// The store goes on writing.
		if err := s.PutTranscript(ctx, testTranscript("job-1", "fitness")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestInTxPanic: a panic in fn rolls back and goes on up, and the store
// stays usable (in SQLite the transaction held the only writer).
func TestInTxPanic(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Fatalf("recovered %v, want the panic of fn", p)
				}
			}()
			_ = s.InTx(ctx, func(tx Tx) error {
				if err := tx.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0}); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		_, err := s.GetDataset(ctx, "fitness")
		wantErr(t, "GetDataset after a panic in InTx", err, ErrNotFound)
		mustPutDataset(t, s, "sleep")
		if err := s.InTx(ctx, func(tx Tx) error { return tx.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0}) }); err != nil {
			t.Fatal(err)
		}
	})
}

// TestInTxFailedMethod: a method that fails inside fn changes nothing and
// leaves the transaction usable, even after a statement error (which in
// PostgreSQL would otherwise abort the whole transaction).
func TestInTxFailedMethod(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		err := s.InTx(ctx, func(tx Tx) error {
			err := tx.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0})
			wantErr(t, "tx.PutDataset(taken id)", err, ErrAlreadyExists)
			// A write that fails after writing: its row is undone.
			q := tx.(queries)
			err = q.write(ctx, "test", func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx,
					`INSERT INTO datasets (id, descriptor, created_at) VALUES ('half', $1, 0)`, []byte{}); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `SELECT no_such_column FROM datasets`)
				return err
			})
			if err == nil {
				t.Fatal("a bad statement succeeded")
			}
			return tx.PutDataset(ctx, Dataset{ID: "sleep", CreatedAt: t0})
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDataset(ctx, "sleep"); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetDataset(ctx, "half")
		wantErr(t, "GetDataset(written by a failed method)", err, ErrNotFound)
	})
}

// TestInTxScope: tx is unusable once fn returned, offers no nested InTx,
// and InTx refuses a nil fn.
func TestInTxScope(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		var leaked Tx
		if err := s.InTx(ctx, func(tx Tx) error {
			leaked = tx
			if _, ok := tx.(interface {
				InTx(context.Context, func(Tx) error) error
			}); ok {
				t.Error("a Tx offers InTx")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := leaked.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0}); err == nil {
			t.Fatal("a Tx wrote after its InTx returned")
		}
		if _, err := leaked.GetDataset(ctx, "fitness"); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("a Tx read after its InTx returned: %v", err)
		}
		_, err := s.GetDataset(ctx, "fitness")
		wantErr(t, "GetDataset(put on a finished Tx)", err, ErrNotFound)
		wantErr(t, "InTx(nil)", s.InTx(ctx, nil), ErrInvalid)
	})
}

// TestInTxConcurrent: writers on two replicas each put a transcript and
// move one job on by one state, in one transaction, retrying when the
// compare-and-set loses. Every transcript committed comes with exactly one
// move: the states moved from are 1..n, once each.
func TestInTxConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		mustPutDataset(t, s, "fitness")
		if _, err := s.PutJob(ctx, testJob("job-0", "alice", "req-0", "fitness")); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var conflicts atomic.Int64
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				for range 1000 {
					err := replicas[i%2].InTx(ctx, func(tx Tx) error {
						j, err := tx.GetJob(ctx, "job-0")
						if err != nil {
							return err
						}
						tr := testTranscript(fmt.Sprintf("job-%d", i+1), "fitness")
						tr.CohortSize = uint64(j.State) // the state this writer moves the job from
						if err := tx.PutTranscript(ctx, tr); err != nil {
							return err
						}
						from := j.State
						j.State++
						return tx.UpdateJob(ctx, j, from)
					})
					if !errors.Is(err, ErrConflict) {
						errs[i] = err
						return
					}
					conflicts.Add(1)
				}
				errs[i] = errors.New("no progress after 1000 attempts")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		if got := mustGetJob(t, s, "job-0").State; got != 1+n {
			t.Fatalf("job state %d, want %d", got, 1+n)
		}
		trs, _, err := s.ListTranscripts(ctx, "fitness", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		seen := make(map[uint64]bool)
		for _, tr := range trs {
			if tr.CohortSize < 1 || tr.CohortSize > n || seen[tr.CohortSize] {
				t.Fatalf("transcript %s records a move from state %d; moves so far %v", tr.ID, tr.CohortSize, seen)
			}
			seen[tr.CohortSize] = true
		}
		if len(seen) != n {
			t.Fatalf("%d transcripts, want %d", len(seen), n)
		}
		t.Logf("%d compare-and-set conflicts rolled back", conflicts.Load())
	})
}

// TestInTxRetries: InTx runs fn again after a serialization failure or a
// deadlock, up to maxTxAttempts runs, and never after other errors.
func TestInTxRetries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		serialization := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: pgSerializationFailure})
		runs := 0
		err := s.InTx(ctx, func(tx Tx) error {
			runs++
			if err := tx.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0}); err != nil {
				return err
			}
			if runs < 3 {
				return serialization
			}
			return nil
		})
		if err != nil || runs != 3 {
			t.Fatalf("InTx = %v after %d runs, want nil after 3", err, runs)
		}
		if _, err := s.GetDataset(ctx, "fitness"); err != nil {
			t.Fatal(err)
		}

		runs = 0
		err = s.InTx(ctx, func(tx Tx) error {
			runs++
			return &pgconn.PgError{Code: pgDeadlockDetected}
		})
		if !retryable(err) || runs != maxTxAttempts || !strings.Contains(err.Error(), "gave up") {
			t.Fatalf("InTx = %v after %d runs, want the deadlock after %d", err, runs, maxTxAttempts)
		}

		runs = 0
		err = s.InTx(ctx, func(tx Tx) error {
			runs++
			return &pgconn.PgError{Code: "23505"} // unique_violation
		})
		if err == nil || runs != 1 {
			t.Fatalf("InTx = %v after %d runs, want the error after 1", err, runs)
		}
	})
}

// TestInTxDeadlock: two transactions that lock two jobs in opposite orders
// deadlock in PostgreSQL; the victim runs again and both commit.
func TestInTxDeadlock(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		if cfg.Driver != DriverPostgres {
			t.Skip("SQLite runs one write transaction at a time: two cannot hold locks at once")
		}
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		jobs := []Job{testJob("job-a", "alice", "req-a", "fitness"), testJob("job-b", "alice", "req-b", "fitness")}
		for _, j := range jobs {
			if _, err := s.PutJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		var (
			runs    atomic.Int64
			both    sync.WaitGroup
			errs    [2]error
			writers sync.WaitGroup
		)
		both.Add(2)
		for w := range 2 {
			writers.Go(func() {
				first := true
				errs[w] = s.InTx(ctx, func(tx Tx) error {
					runs.Add(1)
					for k := range 2 {
						u := jobs[(w+k)%2]
						u.Reason = fmt.Sprintf("writer %d", w)
						if err := tx.UpdateJob(ctx, u, 1); err != nil {
							return err
						}
						if k == 0 && first {
							// Both hold their first lock before either
							// asks for its second.
							first = false
							both.Done()
							both.Wait()
						}
					}
					return nil
				})
			})
		}
		writers.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", w, err)
			}
		}
		if got := runs.Load(); got < 3 {
			t.Fatalf("%d runs of fn, want a deadlock and a retry", got)
		}
		a, b := mustGetJob(t, s, "job-a"), mustGetJob(t, s, "job-b")
		if a.Reason != b.Reason {
			t.Fatalf("jobs written by different transactions: %q, %q", a.Reason, b.Reason)
		}
	})
}

// TestRetryable: only PostgreSQL's serialization failures and deadlocks.
func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{fmt.Errorf("store: x: %w", &pgconn.PgError{Code: "40P01"}), true},
		{errors.Join(errAbandon, &pgconn.PgError{Code: "40P01"}), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{ErrConflict, false},
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit: write transactions that queue behind a running one
// commit together (on SQLite), and each keeps its own outcome: those that
// succeed are all stored, one that fails or panics after writing stores
// nothing and gives its caller its error or its panic, and the others in
// its group are unaffected.
func TestGroupCommit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		const n = 40
		release := make(chan struct{})
		started := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, n)
		panics := make([]any, n)
		// The first transaction holds the writer until the others have
		// queued behind it.
		wg.Go(func() {
			errs[0] = s.InTx(ctx, func(tx Tx) error {
				close(started)
				<-release
				return tx.PutDataset(ctx, Dataset{ID: "ds-0", CreatedAt: t0})
			})
		})
		<-started
		for i := 1; i < n; i++ {
			wg.Go(func() {
				defer func() { panics[i] = recover() }()
				errs[i] = s.InTx(ctx, func(tx Tx) error {
					if err := tx.PutDataset(ctx, Dataset{ID: fmt.Sprintf("ds-%d", i), CreatedAt: t0}); err != nil {
						return err
					}
					switch {
					case i%7 == 0:
						return errAbandon
					case i == 11:
						panic("fn panicked")
					}
					return nil
				})
			})
		}
		close(release)
		wg.Wait()
		for i := range n {
			_, err := s.GetDataset(ctx, fmt.Sprintf("ds-%d", i))
			switch {
			case i%7 == 0 && i > 0:
				if !errors.Is(errs[i], errAbandon) {
					t.Errorf("transaction %d returned %v, want errAbandon", i, errs[i])
				}
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("transaction %d failed but its dataset is stored (%v)", i, err)
				}
			case i == 11:
				if panics[i] != "fn panicked" {
					t.Errorf("transaction %d: caller recovered %v, want its panic", i, panics[i])
				}
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("transaction %d panicked but its dataset is stored (%v)", i, err)
				}
			default:
				if errs[i] != nil || panics[i] != nil {
					t.Errorf("transaction %d: %v, %v", i, errs[i], panics[i])
				}
				if err != nil {
					t.Errorf("transaction %d committed but its dataset is not stored: %v", i, err)
				}
			}
		}
	})
}

// TestGroupCommitCanceled: a write whose context has ended before its turn
// in a group is not run, returns the context's error and stores nothing.
func TestGroupCommitCanceled(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		release := make(chan struct{})
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- s.InTx(ctx, func(tx Tx) error {
				close(started)
				<-release
				return tx.PutDataset(ctx, Dataset{ID: "first", CreatedAt: t0})
			})
		}()
		<-started
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := s.InTx(cctx, func(tx Tx) error {
			return tx.PutDataset(ctx, Dataset{ID: "canceled", CreatedAt: t0})
		})
		close(release)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("canceled transaction returned %v, want context.Canceled", err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDataset(ctx, "canceled"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the canceled transaction's dataset is stored (%v)", err)
		}
		if _, err := s.GetDataset(ctx, "first"); err != nil {
			t.Errorf("the first transaction's dataset: %v", err)
		}
	})
}

// TestGetContributionInTx: a lookup by nullifier inside a transaction, after
// one on the store, reads the transaction's own writes and does not wait
// for the writer connection the transaction holds (the store's lookups use
// statements prepared on the read pool; a transaction's run uncached).
func TestGetContributionInTx(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		mustPutDataset(t, s, "fitness")
		first, second := testContribution("fitness", 1, 3), testContribution("fitness", 2, 3)
		if _, err := s.PutContribution(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetContribution(ctx, "fitness", first.Nullifier); err != nil {
			t.Fatal(err)
		}
		err := s.InTx(ctx, func(tx Tx) error {
			if _, err := tx.PutContribution(ctx, second); err != nil {
				return err
			}
			for _, c := range []Contribution{first, second} {
				if _, err := tx.GetContribution(ctx, "fitness", c.Nullifier); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestGroupCommitAlone: a write transaction alone in its commit (it runs
// without a savepoint) that fails or panics after writing stores nothing
// and gives its caller its error or its panic; the next one commits.
func TestGroupCommitAlone(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		err := s.InTx(ctx, func(tx Tx) error {
			if err := tx.PutDataset(ctx, Dataset{ID: "failed", CreatedAt: t0}); err != nil {
				return err
			}
			return errAbandon
		})
		if !errors.Is(err, errAbandon) {
			t.Errorf("failing transaction returned %v, want errAbandon", err)
		}
		func() {
			defer func() {
				if p := recover(); p != "fn panicked" {
					t.Errorf("caller recovered %v, want the function's panic", p)
				}
			}()
			_ = s.InTx(ctx, func(tx Tx) error {
				if err := tx.PutDataset(ctx, Dataset{ID: "panicked", CreatedAt: t0}); err != nil {
					return err
				}
				panic("fn panicked")
			})
		}()
		for _, id := range []string{"failed", "panicked"} {
			if _, err := s.GetDataset(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("dataset %q of a transaction that did not commit is stored (%v)", id, err)
			}
		}
		if err := s.PutDataset(ctx, Dataset{ID: "after", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDataset(ctx, "after"); err != nil {
			t.Errorf("the write after them: %v", err)
		}
	})
}

// TestWriteStatementsPrepared: on SQLite a contribution's insert runs
// unprepared the first time, is prepared on the writer connection before
// the next transaction, and then runs prepared, in transactions alone and
// in groups alike, with the same outcomes: stored, or refused and nothing
// written.
func TestWriteStatementsPrepared(t *testing.T) {
	forEachEngine(t, func(t *testing.T, st Store, cfg Config) {
		ctx := context.Background()
		s, ok := st.(*sqlStore)
		if !ok || s.d.name != DriverSQLite {
			t.Skip("SQLite's writer statements")
		}
		if err := s.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		isPrepared := func() bool {
			s.stmts.mu.Lock()
			defer s.stmts.mu.Unlock()
			for k := range s.stmts.m {
				if k.db == s.w && strings.Contains(k.query, "INSERT INTO contributions") {
					return true
				}
			}
			return false
		}
		for i := range 3 {
			if _, err := s.PutContribution(ctx, testContribution("fitness", i, 1)); err != nil {
				t.Fatal(err)
			}
			if i == 0 && isPrepared() {
				t.Fatal("the insert was prepared while its first transaction held the writer")
			}
		}
		if !isPrepared() {
			t.Fatal("the insert is not prepared after its first transaction")
		}
		// Prepared, inside a transaction that fails after it: nothing stays.
		err := s.InTx(ctx, func(tx Tx) error {
			if _, err := tx.PutContribution(ctx, testContribution("fitness", 10, 1)); err != nil {
				return err
			}
			return errAbandon
		})
		if !errors.Is(err, errAbandon) {
			t.Fatalf("InTx: %v, want errAbandon", err)
		}
		if _, err := s.GetContribution(ctx, "fitness", h32("nf", 10)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the abandoned transaction's contribution: %v, want ErrNotFound", err)
		}
		// Prepared, concurrently: each stored once, a repeat returns the row.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if _, err := s.PutContribution(ctx, testContribution("fitness", 20+i, 1)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range 8 {
			if _, err := s.GetContribution(ctx, "fitness", h32("nf", 20+i)); err != nil {
				t.Errorf("contribution %d: %v", 20+i, err)
			}
		}
		if old, err := s.PutContribution(ctx, testContribution("fitness", 20, 1)); err != nil || old == nil {
			t.Fatalf("repeated put: %v, %v; want the stored row", old, err)
		}
	})
}

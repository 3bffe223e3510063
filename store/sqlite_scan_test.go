package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// openSQLiteStore opens a fresh SQLite store for the scan connections'
// tests, with its dataset "fitness".
func openSQLiteStore(t *testing.T) *sqlStore {
	t.Helper()
	s := openStore(t, Config{Driver: DriverSQLite, Path: filepath.Join(t.TempDir(), "cohort.db")})
	mustPutDataset(t, s, "fitness")
	return s.(*sqlStore)
}

// putScanRows stores n rows of "fitness" in epochs 1 to 3, every other one
// with a claim leaf, and revokes one.
func putScanRows(t *testing.T, s Store, n int) {
	t.Helper()
	ctx := context.Background()
	if err := s.InTx(ctx, func(tx Tx) error {
		for i := range n {
			c := testContribution("fitness", i, uint64(i%3+1))
			c.MinCohort = uint32(i)
			if i%2 == 0 {
				c.ClaimLeaf = h32("leaf", i)
			}
			if _, err := tx.PutContribution(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "fitness", testContribution("fitness", 4, 2).RevocationCommitment, h32("token"), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// scanAll returns what a scan passed to its callback, copied, and its error.
func scanAll(ctx context.Context, q interface {
	ScanContributions(context.Context, string, uint64, uint64, ContributionFields, func(*Contribution) error) error
}, from, to uint64, fields ContributionFields) ([]Contribution, error) {
	var out []Contribution
	err := q.ScanContributions(ctx, "fitness", from, to, fields, func(c *Contribution) error {
		cp := *c
		cp.Share, cp.Public, cp.Proof = bytes.Clone(c.Share), bytes.Clone(c.Public), bytes.Clone(c.Proof)
		out = append(out, cp)
		return nil
	})
	return out, err
}

// TestScanConnsMatchDatabaseSQL checks the scan connections against the
// database/sql path a transaction takes: for every set of fields and
// range of epochs, the same rows with the same values, in the same order,
// and the same error for a stored value out of range.
func TestScanConnsMatchDatabaseSQL(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteStore(t)
	putScanRows(t, s, 40)
	all := []ContributionFields{0, WithShare, WithProof, WithClaimLeaf, WithShare | WithProof, WithShare | WithProof | WithClaimLeaf}
	ranges := [][2]uint64{{0, math.MaxUint64}, {2, 2}, {1, 2}, {3, 3}, {4, 9}, {3, 2}}
	compare := func(t *testing.T) {
		t.Helper()
		for _, fields := range all {
			for _, r := range ranges {
				got, gotErr := scanAll(ctx, s, r[0], r[1], fields)
				var want []Contribution
				var wantErr error
				if err := s.InTx(ctx, func(tx Tx) error {
					want, wantErr = scanAll(ctx, tx, r[0], r[1], fields)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Fatalf("fields %b, epochs %v: error %v, database/sql's %v", fields, r, gotErr, wantErr)
				}
				if len(got) != len(want) {
					t.Fatalf("fields %b, epochs %v: %d rows, database/sql's %d", fields, r, len(got), len(want))
				}
				for i := range got {
					if fmt.Sprintf("%+v", got[i]) != fmt.Sprintf("%+v", want[i]) {
						t.Fatalf("fields %b, epochs %v, row %d:\n%+v\ndatabase/sql's\n%+v", fields, r, i, got[i], want[i])
					}
				}
			}
		}
	}
	compare(t)
	if s.scans.open == 0 {
		t.Fatal("no scan connection was opened: the scans took database/sql's path")
	}
	// A stored value out of range is refused alike, by both paths.
	nf := h32("nf", 7)
	if _, err := s.w.ExecContext(ctx, `UPDATE contributions SET min_cohort = 4294967296 WHERE nullifier = $1`, nf[:]); err != nil {
		t.Fatal(err)
	}
	_, err := scanAll(ctx, s, 0, math.MaxUint64, 0)
	if err == nil || !strings.Contains(err.Error(), "min cohort 4294967296 out of range") {
		t.Fatalf("a min cohort out of range scanned: %v", err)
	}
	compare(t)
}

// TestScanConnsStop checks how a scan on a scan connection ends early: its
// callback's error is returned as it is and the connection serves the
// next scan; a cancelled context stops it within scanCheckRows rows; a
// closed store refuses it.
func TestScanConnsStop(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteStore(t)
	putScanRows(t, s, 3*scanCheckRows)
	stop := errors.New("stop here")
	calls := 0
	err := s.ScanContributions(ctx, "fitness", 0, math.MaxUint64, WithShare, func(*Contribution) error {
		if calls++; calls == 5 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 5 {
		t.Fatalf("callback's error: scan returned %v after %d calls", err, calls)
	}
	if got, err := scanAll(ctx, s, 0, math.MaxUint64, WithShare); err != nil || len(got) != 3*scanCheckRows {
		t.Fatalf("the scan after: %d rows, %v", len(got), err)
	}
	if s.scans.open != 1 {
		t.Fatalf("%d scan connections open, want the one reused", s.scans.open)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.ScanContributions(cctx, "fitness", 0, math.MaxUint64, 0, func(*Contribution) error {
		t.Fatal("a row passed with the context cancelled")
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: %v", err)
	}
	cctx, cancel = context.WithCancel(ctx)
	calls = 0
	err = s.ScanContributions(cctx, "fitness", 0, math.MaxUint64, 0, func(*Contribution) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls > scanCheckRows {
		t.Fatalf("cancelled at the first row: %v after %d rows", err, calls)
	}

	closed, err := Open(ctx, Config{Driver: DriverSQLite, Path: filepath.Join(t.TempDir(), "cohort.db")})
	if err != nil {
		t.Fatal(err)
	}
	mustPutDataset(t, closed, "fitness")
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.ScanContributions(ctx, "fitness", 0, math.MaxUint64, 0, func(*Contribution) error { return nil }); err == nil {
		t.Fatal("a closed store scanned")
	}
}

// TestScanConnsPool runs more scans at once than the pool has connections:
// each reads every row, and no more connections are open at any time than
// the pool's bound; a scan waiting for a connection stops when its context
// is done.
func TestScanConnsPool(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteStore(t)
	const rows = 50
	putScanRows(t, s, rows)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		most int
		errs = make(chan error, 3*cap(s.scans.sem))
	)
	for range 3 * cap(s.scans.sem) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			err := s.ScanContributions(ctx, "fitness", 0, math.MaxUint64, WithProof, func(c *Contribution) error {
				s.scans.mu.Lock()
				open := s.scans.open
				s.scans.mu.Unlock()
				mu.Lock()
				most = max(most, open)
				mu.Unlock()
				n++
				time.Sleep(100 * time.Microsecond)
				return nil
			})
			if err == nil && n != rows {
				err = fmt.Errorf("%d rows, want %d", n, rows)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if most == 0 || most > cap(s.scans.sem) {
		t.Fatalf("%d scan connections open at once, bound %d", most, cap(s.scans.sem))
	}

	// With every connection held by a scan, another waits for one, and
	// gives up when its context is done; then it gets the one let go.
	var (
		held    sync.WaitGroup
		started = make(chan struct{}, cap(s.scans.sem))
		release = make(chan struct{})
	)
	for range cap(s.scans.sem) {
		held.Add(1)
		go func() {
			defer held.Done()
			first := true
			if err := s.ScanContributions(ctx, "fitness", 0, math.MaxUint64, 0, func(*Contribution) error {
				if first {
					first = false
					started <- struct{}{}
					<-release
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	for range cap(s.scans.sem) {
		<-started
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.ScanContributions(wctx, "fitness", 0, math.MaxUint64, 0, func(*Contribution) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a scan waiting for a connection: %v", err)
	}
	close(release)
	held.Wait()
	if got, err := scanAll(ctx, s, 0, math.MaxUint64, 0); err != nil || len(got) != rows {
		t.Fatalf("after: %d rows, %v", len(got), err)
	}
}

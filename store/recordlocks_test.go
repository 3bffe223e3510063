package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestRecordLocks: a record's lock is refused to another replica while it
// runs and taken once it expired; the holder whose lock was taken writes
// nothing under it (its decision's transaction fails whole); a stale
// unlock changes nothing; malformed requests store nothing.
func TestRecordLocks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		c := testContribution("fitness", 1, 7)
		c.Pending, c.PendingSince, c.Replica = true, t0, "replica-a"
		if _, err := s.PutContribution(ctx, c); err != nil {
			t.Fatal(err)
		}
		nf := c.Nullifier
		lock := func(replica string, now time.Time) (RecordLock, error) {
			return s.LockRecord(ctx, "fitness", nf, replica, now, now.Add(time.Minute))
		}
		held := func(want RecordLock) {
			t.Helper()
			got, err := s.GetRecordLock(ctx, "fitness", nf)
			if err != nil || got.Replica != want.Replica || got.Token != want.Token || !got.Expires.Equal(want.Expires) {
				t.Fatalf("lock %+v (%v), want %+v", got, err, want)
			}
		}
		// commit is the holder's decision: conditional on its lock.
		commit := func(l RecordLock, now time.Time) error {
			return s.InTx(ctx, func(tx Tx) error {
				if err := tx.HoldRecord(ctx, l, now.Add(time.Minute)); err != nil {
					return err
				}
				return tx.CommitContribution(ctx, "fitness", nf)
			})
		}
		pending := func() {
			t.Helper()
			got, err := s.GetContribution(ctx, "fitness", nf)
			if err != nil || !got.Pending || got.Replica != "replica-a" || !got.PendingSince.Equal(t0) {
				t.Fatalf("record after a refused decision: pending %v, replica %q (%v); want it unchanged", got.Pending, got.Replica, err)
			}
		}

		if _, err := s.GetRecordLock(ctx, "fitness", nf); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lock of a record never locked: %v, want ErrNotFound", err)
		}
		a, err := lock("replica-a", t0)
		if err != nil {
			t.Fatal(err)
		}
		if a.Replica != "replica-a" || !a.Expires.Equal(t0.Add(time.Minute)) {
			t.Fatalf("lock %+v", a)
		}
		held(a)
		// Another replica is refused while the lock runs; nothing changes.
		if _, err := lock("replica-b", t0.Add(59*time.Second)); !errors.Is(err, ErrConflict) {
			t.Fatalf("lock of a live lock: %v, want ErrConflict", err)
		}
		held(a)
		// The holder renews.
		if err := s.HoldRecord(ctx, a, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		a.Expires = t0.Add(2 * time.Minute)
		if _, err := lock("replica-b", t0.Add(90*time.Second)); !errors.Is(err, ErrConflict) {
			t.Fatalf("lock of a renewed lock: %v, want ErrConflict", err)
		}
		held(a)

		// Expired, it goes to another replica: the old holder's decision
		// is refused whole, renewal included, and its unlock changes nothing.
		b, err := lock("replica-b", t0.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if b.Token == a.Token {
			t.Fatal("a takeover kept the token")
		}
		if err := commit(a, t0.Add(3*time.Minute)); !errors.Is(err, ErrConflict) {
			t.Fatalf("commit under a lock taken over: %v, want ErrConflict", err)
		}
		pending()
		held(b)
		if err := s.HoldRecord(ctx, a, t0.Add(time.Hour)); !errors.Is(err, ErrConflict) {
			t.Fatalf("renewal of a lock taken over: %v, want ErrConflict", err)
		}
		held(b)
		if err := s.UnlockRecord(ctx, a); err != nil {
			t.Fatal(err)
		}
		held(b)

		// The same replica's lock again (its restarted process): a new
		// token, and the earlier one is fenced off.
		b2, err := lock("replica-b", t0.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if b2.Token == b.Token {
			t.Fatal("a second take by the same replica kept the token")
		}
		if err := commit(b, t0.Add(2*time.Minute)); !errors.Is(err, ErrConflict) {
			t.Fatalf("commit under the earlier process's lock: %v, want ErrConflict", err)
		}
		pending()
		if err := commit(b2, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetContribution(ctx, "fitness", nf); err != nil || got.Pending {
			t.Fatalf("record after the holder's commit: pending %v (%v)", got.Pending, err)
		}
		if err := s.UnlockRecord(ctx, b2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRecordLock(ctx, "fitness", nf); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lock after unlock: %v, want ErrNotFound", err)
		}
		if err := s.HoldRecord(ctx, b2, t0.Add(time.Hour)); !errors.Is(err, ErrConflict) {
			t.Fatalf("renewal of a released lock: %v, want ErrConflict", err)
		}
		if _, err := s.GetRecordLock(ctx, "fitness", nf); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lock after a refused renewal: %v, want ErrNotFound", err)
		}
	})
}

func TestRecordLocksRefuse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		nf := h32("nf", 1)
		for name, call := range map[string]func() error{
			"empty replica": func() error {
				_, err := s.LockRecord(ctx, "fitness", nf, "", t0, t0.Add(time.Minute))
				return err
			},
			"malformed replica": func() error {
				_, err := s.LockRecord(ctx, "fitness", nf, "a b", t0, t0.Add(time.Minute))
				return err
			},
			"until not after now": func() error {
				_, err := s.LockRecord(ctx, "fitness", nf, "replica-a", t0, t0)
				return err
			},
			"empty dataset": func() error {
				_, err := s.LockRecord(ctx, "", nf, "replica-a", t0, t0.Add(time.Minute))
				return err
			},
		} {
			if err := call(); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if _, err := s.LockRecord(ctx, "unknown", nf, "replica-a", t0, t0.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown dataset: %v, want ErrNotFound", err)
		}
		for _, ds := range []string{"fitness", "unknown"} {
			if _, err := s.GetRecordLock(ctx, ds, nf); !errors.Is(err, ErrNotFound) {
				t.Errorf("lock stored by a refused request in %q: %v", ds, err)
			}
		}
	})
}

// TestRecordLockRace races, many times, a holder's decision (its commit,
// conditional on its lock) against another replica's takeover of the lock
// once expired, through two connection pools: exactly one wins each time.
// A takeover that won leaves the record pending; a commit that won leaves
// the lock renewed and held by the holder.
func TestRecordLockRace(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		other := openStore(t, cfg)
		mustPutDataset(t, s, "fitness")
		const rounds = 20
		wins := map[string]int{}
		for i := range rounds {
			c := testContribution("fitness", 100+i, 7)
			c.Pending, c.PendingSince, c.Replica = true, t0, "replica-a"
			if _, err := s.PutContribution(ctx, c); err != nil {
				t.Fatal(err)
			}
			a, err := s.LockRecord(ctx, "fitness", c.Nullifier, "replica-a", t0, t0.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			later := t0.Add(time.Minute) // a's lock has expired
			var (
				commitErr, takeErr error
				taken              RecordLock
				wg                 sync.WaitGroup
			)
			wg.Go(func() {
				commitErr = s.InTx(ctx, func(tx Tx) error {
					if err := tx.HoldRecord(ctx, a, later.Add(time.Minute)); err != nil {
						return err
					}
					return tx.CommitContribution(ctx, "fitness", c.Nullifier)
				})
			})
			wg.Go(func() {
				taken, takeErr = other.LockRecord(ctx, "fitness", c.Nullifier, "replica-b", later, later.Add(time.Minute))
			})
			wg.Wait()
			got, err := s.GetContribution(ctx, "fitness", c.Nullifier)
			if err != nil {
				t.Fatal(err)
			}
			l, err := s.GetRecordLock(ctx, "fitness", c.Nullifier)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case commitErr == nil && errors.Is(takeErr, ErrConflict):
				wins["commit"]++
				if got.Pending || l.Token != a.Token || !l.Expires.Equal(later.Add(time.Minute)) {
					t.Fatalf("round %d: the commit won, but pending %v, lock %+v", i, got.Pending, l)
				}
			case takeErr == nil && errors.Is(commitErr, ErrConflict):
				wins["takeover"]++
				if !got.Pending || l.Token != taken.Token || l.Replica != "replica-b" {
					t.Fatalf("round %d: the takeover won, but pending %v, lock %+v", i, got.Pending, l)
				}
			default:
				t.Fatalf("round %d: commit %v, takeover %v: want exactly one to win", i, commitErr, takeErr)
			}
		}
		t.Logf("of %d races: %v", rounds, wins)
	})
}

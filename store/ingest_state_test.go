package store

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestIngestState walks a record through its states on one node: stored
// pending, refused a rollback by another forwarder or after being sent
// again, uncounted until committed, then kept for good; and the rollbacks
// owed to peers, recorded once and forgotten on confirmation.
func TestIngestState(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		c := testContribution("fitness", 1, 7)
		c.Pending, c.Forwarder, c.PendingSince = true, 1, t0
		if _, err := s.PutContribution(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetContribution(ctx, "fitness", c.Nullifier)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffContribution(got, c); d != "" {
			t.Fatal(d)
		}
		count := func(want uint64) {
			t.Helper()
			n, err := s.CountContributions(ctx, "fitness", 0, math.MaxUint64)
			if err != nil || n != want {
				t.Fatalf("CountContributions = %d, %v; want %d", n, err, want)
			}
			rows, err := s.ListContributions(ctx, "fitness", 0, math.MaxUint64, [32]byte{}, 0)
			if err != nil || uint64(len(rows)) != want {
				t.Fatalf("ListContributions = %d rows, %v; want %d", len(rows), err, want)
			}
		}
		count(0)
		pend, err := s.ListPending(ctx, "", [32]byte{}, 0)
		if err != nil || len(pend) != 1 || pend[0].Nullifier != c.Nullifier {
			t.Fatalf("ListPending = %v, %v; want the record", pend, err)
		}
		if pend, err := s.ListPending(ctx, "fitness", c.Nullifier, 0); err != nil || len(pend) != 0 {
			t.Fatalf("ListPending after the record = %d rows, %v", len(pend), err)
		}

		wantErr(t, "RollBackContribution(another forwarder)", s.RollBackContribution(ctx, "fitness", c.Nullifier, 2, time.Time{}), ErrConflict)
		if err := s.RenewPending(ctx, "fitness", c.Nullifier, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "RollBackContribution(sent again since)", s.RollBackContribution(ctx, "fitness", c.Nullifier, 1, t0), ErrConflict)
		if _, err := s.GetContribution(ctx, "fitness", c.Nullifier); err != nil {
			t.Fatalf("a refused rollback deleted the record: %v", err)
		}

		if err := s.CommitContribution(ctx, "fitness", c.Nullifier); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitContribution(ctx, "fitness", c.Nullifier); err != nil {
			t.Fatalf("CommitContribution(again) = %v; want nil", err)
		}
		wantErr(t, "CommitContribution(absent)", s.CommitContribution(ctx, "fitness", h32("nf", 9)), ErrNotFound)
		count(1)
		got, _ = s.GetContribution(ctx, "fitness", c.Nullifier)
		if got.Pending || !got.PendingSince.IsZero() || got.Forwarder != 1 {
			t.Fatalf("committed row: pending %v since %v forwarder %d", got.Pending, got.PendingSince, got.Forwarder)
		}
		wantErr(t, "RollBackContribution(committed)", s.RollBackContribution(ctx, "fitness", c.Nullifier, 1, time.Time{}), ErrConflict)
		wantErr(t, "RenewPending(committed)", s.RenewPending(ctx, "fitness", c.Nullifier, t0), ErrConflict)
		count(1)

		// Rollbacks owed.
		r := Rollback{DatasetID: "fitness", Nullifier: h32("nf", 2), Peer: 2, Reason: "node 1: Unavailable", CreatedAt: t0}
		for range 2 {
			if err := s.PutRollback(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		r1 := r
		r1.Peer, r1.CreatedAt = 1, t0.Add(time.Second)
		if err := s.PutRollback(ctx, r1); err != nil {
			t.Fatal(err)
		}
		long := r
		long.Reason = string(make([]byte, MaxRollbackReasonLen+1))
		wantErr(t, "PutRollback(long reason)", s.PutRollback(ctx, long), ErrInvalid)
		rs, err := s.ListRollbacks(ctx, 0)
		if err != nil || len(rs) != 2 || rs[0] != r || rs[1] != r1 {
			t.Fatalf("ListRollbacks = %+v, %v; want both, oldest first", rs, err)
		}
		if ok, err := s.HasRollback(ctx, "fitness", r.Nullifier, 2); err != nil || !ok {
			t.Fatalf("HasRollback = %v, %v", ok, err)
		}
		if err := s.DeleteRollback(ctx, "fitness", r.Nullifier, 2); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.HasRollback(ctx, "fitness", r.Nullifier, 2); err != nil || ok {
			t.Fatalf("HasRollback after delete = %v, %v", ok, err)
		}
		if err := s.PutRollback(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRollbacks(ctx, "fitness", r.Nullifier); err != nil {
			t.Fatal(err)
		}
		if rs, err := s.ListRollbacks(ctx, 0); err != nil || len(rs) != 0 {
			t.Fatalf("ListRollbacks after DeleteRollbacks = %+v, %v", rs, err)
		}
	})
}

// TestIncompleteRecords walks a record committed while a node was down:
// uncounted while it awaits that node, rolled back by its forwarder alone
// while incomplete, counted and kept once complete; and the payloads held
// for the missing node, counted per node and forgotten once caught up.
func TestIncompleteRecords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		count := func(want uint64) {
			t.Helper()
			n, err := s.CountContributions(ctx, "fitness", 0, math.MaxUint64)
			if err != nil || n != want {
				t.Fatalf("CountContributions = %d, %v; want %d", n, err, want)
			}
			rows, err := s.ListContributions(ctx, "fitness", 0, math.MaxUint64, [32]byte{}, 0)
			if err != nil || uint64(len(rows)) != want {
				t.Fatalf("ListContributions = %d rows, %v; want %d", len(rows), err, want)
			}
		}
		a, b := testContribution("fitness", 1, 7), testContribution("fitness", 2, 7)
		for _, c := range []Contribution{a, b} {
			c.Pending, c.Forwarder, c.PendingSince = true, 1, t0
			if _, err := s.PutContribution(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		wantErr(t, "CompleteContribution(pending)", s.CompleteContribution(ctx, "fitness", a.Nullifier), ErrConflict)
		wantErr(t, "CommitIncomplete(absent)", s.CommitIncomplete(ctx, "fitness", [32]byte{9}, 2), ErrNotFound)
		for _, c := range []Contribution{a, b} {
			if err := s.CommitIncomplete(ctx, "fitness", c.Nullifier, 2); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetContribution(ctx, "fitness", a.Nullifier)
		if err != nil || got.Pending || !got.Incomplete || got.Missing != 2 {
			t.Fatalf("committed incomplete = %+v, %v", got, err)
		}
		count(0)
		// Committing again changes nothing.
		if err := s.CommitIncomplete(ctx, "fitness", a.Nullifier, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitContribution(ctx, "fitness", a.Nullifier); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetContribution(ctx, "fitness", a.Nullifier); !got.Incomplete || got.Missing != 2 {
			t.Fatalf("commit again changed the missing node: %+v", got)
		}
		wantErr(t, "RollBackContribution(another forwarder)", s.RollBackContribution(ctx, "fitness", b.Nullifier, 2, time.Time{}), ErrConflict)
		if err := s.RollBackContribution(ctx, "fitness", b.Nullifier, 1, time.Time{}); err != nil {
			t.Fatalf("roll back an incomplete record: %v", err)
		}
		if err := s.CompleteContribution(ctx, "fitness", a.Nullifier); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteContribution(ctx, "fitness", a.Nullifier); err != nil {
			t.Fatalf("complete again: %v", err)
		}
		count(1)
		wantErr(t, "RollBackContribution(complete)", s.RollBackContribution(ctx, "fitness", a.Nullifier, 1, time.Time{}), ErrConflict)
		wantErr(t, "CompleteContribution(absent)", s.CompleteContribution(ctx, "fitness", b.Nullifier), ErrNotFound)

		cu := CatchUp{DatasetID: "fitness", Nullifier: a.Nullifier, Peer: 2, Payload: []byte("payload"), CreatedAt: t0}
		wantErr(t, "PutCatchUp(empty payload)", s.PutCatchUp(ctx, CatchUp{DatasetID: "fitness", Nullifier: a.Nullifier, Peer: 2, CreatedAt: t0}), ErrInvalid)
		for range 2 {
			if err := s.PutCatchUp(ctx, cu); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutCatchUp(ctx, CatchUp{DatasetID: "fitness", Nullifier: b.Nullifier, Peer: 0, Payload: []byte("other"), CreatedAt: t0.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountCatchUps(ctx, 2); err != nil || n != 1 {
			t.Fatalf("CountCatchUps(2) = %d, %v; want 1", n, err)
		}
		all, err := s.ListCatchUps(ctx, 0)
		if err != nil || len(all) != 2 || all[0].Peer != 2 || string(all[0].Payload) != "payload" || !all[0].CreatedAt.Equal(t0) {
			t.Fatalf("ListCatchUps = %+v, %v", all, err)
		}
		if err := s.DeleteCatchUp(ctx, "fitness", a.Nullifier, 2); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountCatchUps(ctx, 2); err != nil || n != 0 {
			t.Fatalf("CountCatchUps(2) after delete = %d, %v", n, err)
		}
	})
}

// TestPendingReplica: a pending record of this node's own names the
// replica forwarding it (docs/design.md §3.4). OrphanedPending lists those
// of a replica whose heartbeat is stale or missing, of the previous run of
// the asking replica's id and of no replica (stored before replicas were
// recorded), never a live replica's, another forwarder's or a committed
// one; TakePending moves a record to another replica; a commit clears it.
func TestPendingReplica(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		for _, r := range []Replica{{ID: "alive", StartedAt: t0, SeenAt: t0.Add(time.Minute)}, {ID: "dead", StartedAt: t0, SeenAt: t0}} {
			if err := s.PutReplica(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		put := func(i int, forwarder uint32, replica string) Contribution {
			t.Helper()
			c := testContribution("fitness", i, 7)
			c.Pending, c.Forwarder, c.PendingSince, c.Replica = true, forwarder, t0, replica
			if _, err := s.PutContribution(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetContribution(ctx, "fitness", c.Nullifier)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffContribution(got, c); d != "" {
				t.Fatal(d)
			}
			return c
		}
		put(1, 0, "alive")
		dead := put(2, 0, "dead")
		unknown := put(3, 0, "never-beat")
		legacy := put(4, 0, "")
		mine := put(5, 0, "me")
		put(6, 1, "") // forwarded by node 1: not node 0's
		committed := put(7, 0, "dead")
		if err := s.CommitContribution(ctx, "fitness", committed.Nullifier); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetContribution(ctx, "fitness", committed.Nullifier); got.Replica != "" {
			t.Fatalf("a committed record names replica %q, want none", got.Replica)
		}
		if err := s.PutReplica(ctx, Replica{ID: "me", StartedAt: t0, SeenAt: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		orphans := func(previous string, after [32]byte, limit int) map[[32]byte]bool {
			t.Helper()
			rows, err := s.OrphanedPending(ctx, 0, previous, t0.Add(time.Second), "fitness", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			out := map[[32]byte]bool{}
			for _, r := range rows {
				out[r.Nullifier] = true
			}
			return out
		}
		want := func(what string, got map[[32]byte]bool, rows ...Contribution) {
			t.Helper()
			ok := len(got) == len(rows)
			for _, r := range rows {
				ok = ok && got[r.Nullifier]
			}
			if !ok {
				t.Fatalf("%s: %d orphans %v, want %d", what, len(got), got, len(rows))
			}
		}
		want("in the lease loop", orphans("", [32]byte{}, 0), dead, unknown, legacy)
		want("at the start of replica me", orphans("me", [32]byte{}, 0), dead, unknown, legacy, mine)
		if got := orphans("me", [32]byte{}, 1); len(got) != 1 {
			t.Fatalf("a page of 1: %d rows", len(got))
		}
		if got := orphans("", [32]byte{0xff}, 0); len(got) != 0 {
			t.Fatalf("after the last nullifier: %d rows", len(got))
		}

		// Another replica sends dead's record again: it is alive's now.
		if err := s.TakePending(ctx, "fitness", dead.Nullifier, "alive", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetContribution(ctx, "fitness", dead.Nullifier)
		if err != nil || got.Replica != "alive" || !got.PendingSince.Equal(t0.Add(time.Minute)) {
			t.Fatalf("taken record: replica %q since %v (%v), want alive's since t0+1m", got.Replica, got.PendingSince, err)
		}
		want("after the take-over", orphans("", [32]byte{}, 0), unknown, legacy)
		// The rollback decided from the listing before the take-over is
		// refused: the record was sent again since.
		wantErr(t, "RollBackContribution(taken over)", s.RollBackContribution(ctx, "fitness", dead.Nullifier, 0, t0), ErrConflict)
		wantErr(t, "TakePending(committed)", s.TakePending(ctx, "fitness", committed.Nullifier, "alive", t0), ErrConflict)
		wantErr(t, "TakePending(absent)", s.TakePending(ctx, "fitness", h32("nf", 99), "alive", t0), ErrConflict)
		wantErr(t, "TakePending(long id)", s.TakePending(ctx, "fitness", dead.Nullifier, strings.Repeat("r", MaxReplicaIDLen+1), t0), ErrInvalid)
		long := testContribution("fitness", 8, 7)
		long.Pending, long.Replica = true, strings.Repeat("r", MaxReplicaIDLen+1)
		if _, err := s.PutContribution(ctx, long); !errors.Is(err, ErrInvalid) {
			t.Fatalf("PutContribution(long replica id) = %v, want ErrInvalid", err)
		}
		if _, err := s.GetContribution(ctx, "fitness", long.Nullifier); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused record was stored: %v", err)
		}
	})
}

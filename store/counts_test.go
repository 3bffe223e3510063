package store

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// checkCounts checks that CountContributions gives, for every range of
// the epochs 0…3 and beyond, as many records as ListContributions lists:
// the committed records the selection reads.
func checkCounts(t *testing.T, s Store, datasets ...string) {
	t.Helper()
	ctx := context.Background()
	for _, ds := range datasets {
		for from := uint64(0); from <= 4; from++ {
			for _, to := range []uint64{from, from + 1, 3, math.MaxUint64} {
				if to < from {
					continue
				}
				rows, err := s.ListContributions(ctx, ds, from, to, [32]byte{}, 0)
				if err != nil {
					t.Fatal(err)
				}
				n, err := s.CountContributions(ctx, ds, from, to)
				if err != nil || n != uint64(len(rows)) {
					t.Fatalf("%s, epochs %d…%d: CountContributions = %d, %v; %d records listed", ds, from, to, n, err, len(rows))
				}
			}
		}
	}
}

// TestCommittedCounts walks records of two datasets over four epochs
// through every change of state a node makes — stored pending or
// committed, committed, committed while a peer is down and completed
// later, rolled back — in a random order, and checks after each change
// that the count of committed records is what the table holds (on
// SQLite the per-epoch counts its triggers keep, migration 0023).
func TestCommittedCounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		rng := rand.New(rand.NewPCG(1, 2))
		type rec struct {
			c                   Contribution
			pending, incomplete bool
		}
		var recs []*rec
		for i := 0; i < 120; i++ {
			switch op := rng.IntN(5); {
			case op <= 1 || len(recs) == 0: // a new record, pending or committed at once
				ds := "fitness"
				if rng.IntN(3) == 0 {
					ds = "sleep"
				}
				c := testContribution(ds, i, uint64(rng.IntN(4)))
				r := &rec{c: c, pending: rng.IntN(2) == 0}
				if r.pending {
					c.Pending, c.Forwarder, c.PendingSince = true, 1, t0
				}
				if _, err := s.PutContribution(ctx, c); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			default:
				r := recs[rng.IntN(len(recs))]
				nf, ds := r.c.Nullifier, r.c.DatasetID
				switch {
				case r.pending && op == 2:
					if err := s.CommitContribution(ctx, ds, nf); err != nil {
						t.Fatal(err)
					}
					r.pending = false
				case r.pending && op == 3:
					if err := s.CommitIncomplete(ctx, ds, nf, 2); err != nil {
						t.Fatal(err)
					}
					r.pending, r.incomplete = false, true
				case r.pending || r.incomplete && op == 4:
					if err := s.RollBackContribution(ctx, ds, nf, 1, time.Time{}); err != nil {
						t.Fatal(err)
					}
					recs = removeRec(recs, r)
				case r.incomplete:
					if err := s.CompleteContribution(ctx, ds, nf); err != nil {
						t.Fatal(err)
					}
					r.incomplete = false
				default: // committed: nothing changes it
					if err := s.RollBackContribution(ctx, ds, nf, 1, time.Time{}); err == nil {
						t.Fatal("a committed record was rolled back")
					}
				}
			}
			checkCounts(t, s, "fitness", "sleep", "other")
		}
	})
}

func removeRec[T comparable](s []T, v T) []T {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// TestCommittedCountsMigration: migration 0023 counts the records a
// database held before it, committed or not, and its triggers keep the
// counts from then on.
func TestCommittedCountsMigration(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/cohort.db"
	// The schema as of migration 0022, with records in every state.
	raw, exec := sqliteBefore(t, path, "0023_committed_counts.sql")
	exec(`INSERT INTO datasets (id, descriptor, created_at) VALUES ('fitness', x'00', 0)`)
	for i, st := range []struct {
		epoch            int
		pending, missing int
	}{{0, 0, -1}, {0, 0, -1}, {1, 0, -1}, {1, 1, -1}, {2, 0, 2}, {3, 0, -1}} {
		c := testContribution("fitness", i, uint64(st.epoch))
		exec(`INSERT INTO contributions (dataset_id, nullifier, epoch, payload_digest, public_inputs, proof, share, purposes, expiry,
		        min_cohort, revocation, received_at, receipt, pending, missing)
		      VALUES ('fitness', $1, $2, $3, x'01', x'02', x'03', 1, 0, 0, $4, 0, x'04', $5, $6)`,
			c.Nullifier[:], st.epoch, c.PayloadDigest[:], c.RevocationCommitment[:], st.pending, st.missing)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, Config{Path: path})
	for _, want := range []struct{ from, to, n uint64 }{{0, 0, 2}, {1, 1, 1}, {2, 2, 0}, {0, 3, 4}, {3, math.MaxUint64, 1}} {
		if n, err := s.CountContributions(ctx, "fitness", want.from, want.to); err != nil || n != want.n {
			t.Errorf("epochs %d…%d: CountContributions = %d, %v; want %d", want.from, want.to, n, err, want.n)
		}
	}
	if err := s.CommitContribution(ctx, "fitness", h32("nf", 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteContribution(ctx, "fitness", h32("nf", 4)); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, s, "fitness")
	if n, err := s.CountContributions(ctx, "fitness", 0, math.MaxUint64); err != nil || n != 6 {
		t.Fatalf("after the commit and the completion: CountContributions = %d, %v; want 6", n, err)
	}
	// No node deletes a committed record, but the counts follow whatever
	// writes the table.
	nf := h32("nf", 0)
	if _, err := s.(*sqlStore).w.ExecContext(ctx, `DELETE FROM contributions WHERE dataset_id = 'fitness' AND nullifier = $1`, nf[:]); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, s, "fitness")
	if n, err := s.CountContributions(ctx, "fitness", 0, 0); err != nil || n != 1 {
		t.Fatalf("after a committed record's deletion: CountContributions = %d, %v; want 1", n, err)
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestJobLeases(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		j := testJob("job-1", "alice", "req-1", "fitness")
		if _, err := s.PutJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		active := []int32{1, 2}
		claim := func(holder string, now time.Time) (Job, JobLease, error) {
			return s.ClaimJob(ctx, JobClaim{JobID: "job-1", Holder: holder, Now: now, Until: now.Add(time.Minute), States: active})
		}

		free, err := s.ClaimableJobs(ctx, "replica-c", active, t0, 10)
		if err != nil || len(free) != 1 || free[0].JobID != "job-1" || free[0].Claims != 0 || free[0].Holder != "" {
			t.Fatalf("claimable before any claim: %+v (%v)", free, err)
		}
		got, l, err := claim("replica-a", t0)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != "job-1" || l.Holder != "replica-a" || l.Claims != 1 || !l.Expires.Equal(t0.Add(time.Minute)) {
			t.Fatalf("first claim: job %q, lease %+v", got.ID, l)
		}
		if free, err := s.ClaimableJobs(ctx, "replica-c", active, t0.Add(time.Second), 10); err != nil || len(free) != 0 {
			t.Fatalf("claimable under a live lease: %+v (%v)", free, err)
		}

		// Another replica is refused while the lease runs, and nothing changes.
		if _, _, err := claim("replica-b", t0.Add(30*time.Second)); !errors.Is(err, ErrConflict) {
			t.Fatalf("claim of a live lease: %v, want ErrConflict", err)
		}
		if l, err := s.GetJobLease(ctx, "job-1"); err != nil || l.Holder != "replica-a" || l.Claims != 1 {
			t.Fatalf("lease after a refused claim: %+v (%v)", l, err)
		}
		// The holder renews; its own claim again does not count.
		if err := s.RenewJobLease(ctx, "job-1", "replica-a", t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, l, err := claim("replica-a", t0.Add(time.Second)); err != nil || l.Claims != 1 {
			t.Fatalf("holder's own claim: %+v (%v)", l, err)
		}
		if err := s.RenewJobLease(ctx, "job-1", "replica-b", t0.Add(time.Hour)); !errors.Is(err, ErrConflict) {
			t.Fatalf("renewal by a non-holder: %v, want ErrConflict", err)
		}

		// Expired, it goes to the next claimant, which sees it was claimed before.
		later := t0.Add(time.Hour)
		if free, err := s.ClaimableJobs(ctx, "replica-c", active, later, 10); err != nil || len(free) != 1 || free[0].Holder != "replica-a" {
			t.Fatalf("claimable after expiry: %+v (%v)", free, err)
		}
		if _, l, err := claim("replica-b", later); err != nil || l.Holder != "replica-b" || l.Claims != 2 {
			t.Fatalf("claim after expiry: %+v (%v)", l, err)
		}
		if err := s.RenewJobLease(ctx, "job-1", "replica-a", later.Add(time.Hour)); !errors.Is(err, ErrConflict) {
			t.Fatalf("renewal by the replica that lost the lease: %v, want ErrConflict", err)
		}
		// Its holder lists it as claimable (a restart under its id); others do not.
		if free, err := s.ClaimableJobs(ctx, "replica-b", active, later, 10); err != nil || len(free) != 1 {
			t.Fatalf("claimable by its holder: %+v (%v)", free, err)
		}
		if free, err := s.ClaimableJobs(ctx, "replica-a", active, later, 10); err != nil || len(free) != 0 {
			t.Fatalf("claimable by another under a live lease: %+v (%v)", free, err)
		}

		// A job in no active state is not claimed.
		u := mustGetJob(t, s, "job-1")
		u.State = 9
		if err := s.UpdateJob(ctx, u, 1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := claim("replica-a", later); !errors.Is(err, ErrConflict) {
			t.Fatalf("claim of a final job: %v, want ErrConflict", err)
		}
		if free, err := s.ClaimableJobs(ctx, "replica-c", active, later, 10); err != nil || len(free) != 0 {
			t.Fatalf("claimable final job: %+v (%v)", free, err)
		}
	})
}

func TestJobLeasesRefuse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		if _, err := s.PutJob(ctx, testJob("job-1", "alice", "req-1", "fitness")); err != nil {
			t.Fatal(err)
		}
		ok := JobClaim{JobID: "job-1", Holder: "r1", Now: t0, Until: t0.Add(time.Minute), States: []int32{1}}
		for _, tc := range []struct {
			name string
			edit func(*JobClaim)
			want error
		}{
			{"unknown job", func(c *JobClaim) { c.JobID = "job-2" }, ErrNotFound},
			{"malformed job id", func(c *JobClaim) { c.JobID = "job 1" }, ErrNotFound},
			{"empty holder", func(c *JobClaim) { c.Holder = "" }, ErrInvalid},
			{"holder with a space", func(c *JobClaim) { c.Holder = "r 1" }, ErrInvalid},
			{"lease ending now", func(c *JobClaim) { c.Until = c.Now }, ErrInvalid},
			{"no states", func(c *JobClaim) { c.States = nil }, ErrInvalid},
		} {
			c := ok
			tc.edit(&c)
			if _, _, err := s.ClaimJob(ctx, c); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if l, err := s.GetJobLease(ctx, "job-1"); err != nil || l.Holder != "" || l.Claims != 0 {
			t.Fatalf("lease after refused claims: %+v (%v)", l, err)
		}
		if err := s.PutReplica(ctx, Replica{ID: "bad id"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("replica with a malformed id: %v", err)
		}
		if rs, err := s.ListReplicas(ctx, 10); err != nil || len(rs) != 0 {
			t.Errorf("replicas after a refused heartbeat: %+v (%v)", rs, err)
		}
	})
}

// TestClaimJobConcurrent claims one job from two store handles (replicas)
// at once: exactly one claim wins.
func TestClaimJobConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		mustPutDataset(t, s, "fitness")
		if _, err := s.PutJob(ctx, testJob("job-1", "alice", "req-1", "fitness")); err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = replicas[i%2].ClaimJob(ctx, JobClaim{JobID: "job-1", Holder: fmt.Sprintf("r%d", i),
					Now: t0, Until: t0.Add(time.Minute), States: []int32{1}})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("claims %d and %d both won", winner, i)
				}
				winner = i
			case !errors.Is(err, ErrConflict):
				t.Fatalf("claim %d: %v", i, err)
			}
		}
		if l, err := s.GetJobLease(ctx, "job-1"); err != nil || l.Holder != fmt.Sprintf("r%d", winner) || l.Claims != 1 {
			t.Fatalf("lease %+v (%v), want r%d's first claim", l, err, winner)
		}
	})
}

func TestReplicaHeartbeats(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		for i, id := range []string{"a", "b"} {
			if err := s.PutReplica(ctx, Replica{ID: id, Version: "v1", StartedAt: t0, SeenAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutReplica(ctx, Replica{ID: "a", Version: "v2", StartedAt: t0, SeenAt: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		rs, err := s.ListReplicas(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 || rs[0].ID != "a" || rs[0].Version != "v2" || !rs[0].SeenAt.Equal(t0.Add(time.Minute)) || rs[1].ID != "b" {
			t.Fatalf("replicas %+v, want a (seen last, v2) then b", rs)
		}
	})
}

func TestSetupRuns(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		if err := s.PutReplica(ctx, Replica{ID: "alive", StartedAt: t0, SeenAt: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutReplica(ctx, Replica{ID: "dead", StartedAt: t0, SeenAt: t0}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []SetupRun{
			{DatasetID: "fitness", CeremonyID: "fitness-1", Replica: "alive", StartedAt: t0},
			{DatasetID: "sleep", CeremonyID: "sleep-1", Replica: "dead", StartedAt: t0.Add(time.Second)},
		} {
			if err := s.PutSetupRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name string
			r    SetupRun
			want error
		}{
			{"a second run", SetupRun{DatasetID: "fitness", CeremonyID: "fitness-2", Replica: "dead"}, ErrAlreadyExists},
			{"unknown dataset", SetupRun{DatasetID: "steps", CeremonyID: "steps-1", Replica: "alive"}, ErrNotFound},
			{"no ceremony id", SetupRun{DatasetID: "fitness", Replica: "alive"}, ErrInvalid},
			{"malformed replica", SetupRun{DatasetID: "fitness", CeremonyID: "c", Replica: "a b"}, ErrInvalid},
		} {
			if err := s.PutSetupRun(ctx, tc.r); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		orphans := func(previous string) []string {
			t.Helper()
			rs, err := s.OrphanedSetupRuns(ctx, previous, t0.Add(30*time.Second), 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.DatasetID+"/"+r.Replica)
			}
			return ids
		}
		if got := fmt.Sprint(orphans("")); got != "[sleep/dead]" {
			t.Errorf("orphaned runs %s, want the dead replica's", got)
		}
		if got := fmt.Sprint(orphans("alive")); got != "[fitness/alive sleep/dead]" {
			t.Errorf("orphaned runs with alive's previous process gone: %s", got)
		}
		// One replica ends a run; another's end of the same run is told no.
		if ok, err := s.EndSetupRun(ctx, "sleep", "alive"); err != nil || ok {
			t.Fatalf("end of another replica's run: %t (%v)", ok, err)
		}
		if ok, err := s.EndSetupRun(ctx, "sleep", "dead"); err != nil || !ok {
			t.Fatalf("end of the run: %t (%v)", ok, err)
		}
		if ok, err := s.EndSetupRun(ctx, "sleep", "dead"); err != nil || ok {
			t.Fatalf("second end of the run: %t (%v)", ok, err)
		}
		if got := fmt.Sprint(orphans("")); got != "[]" {
			t.Errorf("orphaned runs after the end: %s", got)
		}
	})
}

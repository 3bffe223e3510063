package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func testPeerJob(id, dataset string) PeerJob {
	return PeerJob{
		JobID:       id,
		Coordinator: 3,
		DatasetID:   dataset,
		SpecDigest:  h32("spec", id),
		JobTime:     t0,
		SetDigest:   h32("set", id),
		Cohort:      120,
		State:       PeerJobPrepared,
		CreatedAt:   t0,
		UpdatedAt:   t0,
	}
}

// diffPeerJob describes how got differs from want ("" if equal); Partial
// must match in nil-ness too.
func diffPeerJob(got, want PeerJob) string {
	var d []string
	add := func(ok bool, field string) {
		if !ok {
			d = append(d, field)
		}
	}
	add(got.JobID == want.JobID, "JobID")
	add(got.Coordinator == want.Coordinator, "Coordinator")
	add(got.DatasetID == want.DatasetID, "DatasetID")
	add(got.SpecDigest == want.SpecDigest, "SpecDigest")
	add(got.JobTime.Equal(want.JobTime), "JobTime")
	add(got.SetDigest == want.SetDigest, "SetDigest")
	add(got.Cohort == want.Cohort, "Cohort")
	add(got.State == want.State, "State")
	add((got.Partial == nil) == (want.Partial == nil) && bytes.Equal(got.Partial, want.Partial), "Partial")
	add(got.Buyer == want.Buyer, "Buyer")
	add((got.Noise == nil) == (want.Noise == nil) && bytes.Equal(got.Noise, want.Noise), "Noise")
	add(got.CreatedAt.Equal(want.CreatedAt), "CreatedAt")
	add(got.UpdatedAt.Equal(want.UpdatedAt), "UpdatedAt")
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("fields differ: %v\n got %+v\nwant %+v", d, got, want)
}

func mustGetPeerJob(t *testing.T, s Store, id string) PeerJob {
	t.Helper()
	p, err := s.GetPeerJob(context.Background(), id)
	if err != nil {
		t.Fatalf("GetPeerJob(%q): %v", id, err)
	}
	return p
}

func TestPeerJobStates(t *testing.T) {
	legal := map[[2]PeerJobState]bool{
		{PeerJobPrepared, PeerJobPrepared}:        true,
		{PeerJobPrepared, PeerJobPartialReleased}: true,
		{PeerJobPrepared, PeerJobAborted}:         true,
		{PeerJobPartialReleased, PeerJobAborted}:  true,
	}
	for from := PeerJobState(-1); from <= 4; from++ {
		if want := from >= 1 && from <= 3; from.Valid() != want {
			t.Errorf("%v.Valid() = %v", from, !want)
		}
		for to := PeerJobState(-1); to <= 4; to++ {
			if got := from.CanMoveTo(to); got != legal[[2]PeerJobState{from, to}] {
				t.Errorf("%v.CanMoveTo(%v) = %v", from, to, got)
			}
		}
	}
	for s, want := range map[PeerJobState]string{
		PeerJobPrepared: "PREPARED", PeerJobPartialReleased: "PARTIAL_RELEASED", PeerJobAborted: "ABORTED", 9: "PeerJobState(9)",
	} {
		if s.String() != want {
			t.Errorf("String() = %q, want %q", s.String(), want)
		}
	}
}

func TestPeerJobs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		p := testPeerJob("job-1", "fitness")
		_, err := s.PutPeerJob(ctx, p)
		wantErr(t, "PutPeerJob(no dataset)", err, ErrNotFound)
		mustPutDataset(t, s, "fitness")

		// Extremes of the columns round-trip.
		p.Coordinator, p.Cohort, p.JobTime = math.MaxUint32, math.MaxInt64, time.Unix(1<<40, 999000).UTC()
		if existing, err := s.PutPeerJob(ctx, p); err != nil || existing != nil {
			t.Fatalf("PutPeerJob = %+v, %v; want nil, nil", existing, err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), p); d != "" {
			t.Fatal(d)
		}

		// The job id answers once: a second put returns the stored row and
		// changes nothing.
		other := testPeerJob("job-1", "fitness")
		other.SetDigest, other.Cohort = h32("another set"), 7
		existing, err := s.PutPeerJob(ctx, other)
		if err != nil || existing == nil {
			t.Fatalf("PutPeerJob(known id) = %+v, %v; want the stored row", existing, err)
		}
		if d := diffPeerJob(*existing, p); d != "" {
			t.Fatal(d)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), p); d != "" {
			t.Fatal("a second put changed the row: " + d)
		}

		// Prepared again over a settled set: the set, its size and the job
		// time change, nothing else.
		settled := p
		settled.SetDigest, settled.Cohort, settled.JobTime, settled.UpdatedAt = h32("settled set"), 9, t0.Add(time.Second), t0.Add(time.Second)
		arg0 := settled
		arg0.Coordinator, arg0.DatasetID, arg0.SpecDigest, arg0.CreatedAt = 2, "sleep", h32("x"), t0.Add(time.Hour)
		if err := s.UpdatePeerJob(ctx, arg0, PeerJobPrepared); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), settled); d != "" {
			t.Fatal(d)
		}
		zero := settled
		zero.SetDigest = [32]byte{}
		wantErr(t, "UpdatePeerJob(prepared again with a zero set digest)", s.UpdatePeerJob(ctx, zero, PeerJobPrepared), ErrInvalid)
		p = settled

		// Release: state, partial and time change; the other fields of the
		// argument are ignored.
		released := p
		released.State, released.Partial, released.UpdatedAt = PeerJobPartialReleased, []byte("partial"), t0.Add(time.Minute)
		arg := released
		arg.Coordinator, arg.DatasetID, arg.SpecDigest, arg.SetDigest, arg.Cohort = 1, "sleep", h32("x"), h32("y"), 1
		arg.JobTime, arg.CreatedAt = t0.Add(time.Hour), t0.Add(time.Hour)
		if err := s.UpdatePeerJob(ctx, arg, PeerJobPrepared); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), released); d != "" {
			t.Fatal(d)
		}

		// From a state the job is not in: refused, naming the stored state.
		again := released
		again.Partial = []byte("another partial")
		err = s.UpdatePeerJob(ctx, again, PeerJobPrepared)
		wantErr(t, "UpdatePeerJob(stale from)", err, ErrConflict)
		if !strings.Contains(err.Error(), "state is PARTIAL_RELEASED") {
			t.Fatalf("UpdatePeerJob(stale from): error %q does not name the stored state", err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), released); d != "" {
			t.Fatal("a refused update changed the row: " + d)
		}
		// A released job is never prepared again over another set.
		reprep := released
		reprep.State, reprep.Partial, reprep.SetDigest = PeerJobPrepared, nil, h32("late set")
		wantErr(t, "UpdatePeerJob(prepared again after release)", s.UpdatePeerJob(ctx, reprep, PeerJobPrepared), ErrConflict)
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), released); d != "" {
			t.Fatal("preparing a released job changed the row: " + d)
		}

		// Aborted after release keeps the partial; then nothing moves.
		aborted := released
		aborted.State, aborted.UpdatedAt = PeerJobAborted, t0.Add(2*time.Minute)
		if err := s.UpdatePeerJob(ctx, aborted, PeerJobPartialReleased); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), aborted); d != "" {
			t.Fatal(d)
		}

		// Aborted before release: no partial.
		p2 := testPeerJob("job-2", "fitness")
		if _, err := s.PutPeerJob(ctx, p2); err != nil {
			t.Fatal(err)
		}
		p2.State = PeerJobAborted
		if err := s.UpdatePeerJob(ctx, p2, PeerJobPrepared); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-2"), p2); d != "" {
			t.Fatal(d)
		}

		_, err = s.GetPeerJob(ctx, "job-absent")
		wantErr(t, "GetPeerJob(absent)", err, ErrNotFound)
		absent := testPeerJob("job-absent", "fitness")
		absent.State, absent.Partial = PeerJobPartialReleased, []byte("partial")
		wantErr(t, "UpdatePeerJob(absent)", s.UpdatePeerJob(ctx, absent, PeerJobPrepared), ErrNotFound)
	})
}

func TestPeerJobsRefuse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		for _, tc := range []struct {
			name   string
			change func(p *PeerJob)
		}{
			{"empty job id", func(p *PeerJob) { p.JobID = "" }},
			{"long job id", func(p *PeerJob) { p.JobID = strings.Repeat("a", MaxJobIDLen+1) }},
			{"job id with a space", func(p *PeerJob) { p.JobID = "job 1" }},
			{"empty dataset id", func(p *PeerJob) { p.DatasetID = "" }},
			{"long dataset id", func(p *PeerJob) { p.DatasetID = strings.Repeat("d", MaxDatasetIDLen+1) }},
			{"dataset id not UTF-8", func(p *PeerJob) { p.DatasetID = "\xff" }},
			{"zero spec digest", func(p *PeerJob) { p.SpecDigest = [32]byte{} }},
			{"zero set digest", func(p *PeerJob) { p.SetDigest = [32]byte{} }},
			{"cohort above MaxInt64", func(p *PeerJob) { p.Cohort = math.MaxInt64 + 1 }},
			{"no state", func(p *PeerJob) { p.State = 0 }},
			{"unknown state", func(p *PeerJob) { p.State = 4 }},
			{"prepared with a partial", func(p *PeerJob) { p.Partial = []byte("partial") }},
			{"released without a partial", func(p *PeerJob) { p.State = PeerJobPartialReleased }},
			{"long buyer", func(p *PeerJob) { p.Buyer = strings.Repeat("b", MaxBuyerIDLen+1) }},
			{"buyer with a space", func(p *PeerJob) { p.Buyer = "al ice" }},
			{"noise above its bound", func(p *PeerJob) { p.Noise = make([]byte, MaxPeerJobNoise+1) }},
		} {
			p := testPeerJob("job-1", "fitness")
			tc.change(&p)
			_, err := s.PutPeerJob(ctx, p)
			wantErr(t, "PutPeerJob("+tc.name+")", err, ErrInvalid)
		}
		if _, err := s.GetPeerJob(ctx, "job-1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused puts wrote a peer job: %v", err)
		}
		_, err := s.GetPeerJob(ctx, "job 1")
		wantErr(t, "GetPeerJob(malformed id)", err, ErrInvalid)

		p := testPeerJob("job-1", "fitness")
		if _, err := s.PutPeerJob(ctx, p); err != nil {
			t.Fatal(err)
		}
		edge := testPeerJob(strings.Repeat("Z", MaxJobIDLen), "fitness")
		if _, err := s.PutPeerJob(ctx, edge); err != nil {
			t.Fatalf("PutPeerJob(id at its bound): %v", err)
		}
		released := p
		released.State, released.Partial = PeerJobPartialReleased, []byte("partial")
		for _, tc := range []struct {
			name string
			p    PeerJob
			from PeerJobState
		}{
			{"malformed id", func() PeerJob { q := released; q.JobID = "job 1"; return q }(), PeerJobPrepared},
			{"released without a partial", func() PeerJob { q := released; q.Partial = nil; return q }(), PeerJobPrepared},
			{"back to prepared", p, PeerJobPartialReleased},
			{"released to itself", released, PeerJobPartialReleased},
			{"out of aborted", released, PeerJobAborted},
			{"from no state", released, 0},
			{"to an unknown state", func() PeerJob { q := p; q.State = 4; return q }(), PeerJobPrepared},
			{"malformed buyer", func() PeerJob { q := released; q.Buyer = "al/ice"; return q }(), PeerJobPrepared},
			{"noise above its bound", func() PeerJob { q := released; q.Noise = make([]byte, MaxPeerJobNoise+1); return q }(), PeerJobPrepared},
			{"prepared again with a malformed buyer", func() PeerJob { q := p; q.Buyer = "al ice"; return q }(), PeerJobPrepared},
			{"prepared again with noise above its bound", func() PeerJob {
				q := p
				q.Noise = make([]byte, MaxPeerJobNoise+1)
				return q
			}(), PeerJobPrepared},
		} {
			wantErr(t, "UpdatePeerJob("+tc.name+")", s.UpdatePeerJob(ctx, tc.p, tc.from), ErrInvalid)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), p); d != "" {
			t.Fatal("refused updates changed the row: " + d)
		}
	})
}

// TestPeerJobsConcurrent: replicas recording one job at once write one row
// and all read it back; releasing it at once, exactly one wins.
func TestPeerJobsConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		mustPutDataset(t, s, "fitness")
		const n = 8
		existing := make([]*PeerJob, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				p := testPeerJob("job-1", "fitness")
				p.SetDigest = h32("set of writer", i)
				existing[i], errs[i] = replicas[i%2].PutPeerJob(ctx, p)
			})
		}
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("PutPeerJob %d: %v", i, errs[i])
			}
			if existing[i] == nil {
				if winner >= 0 {
					t.Fatalf("PutPeerJob %d and %d both inserted", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no PutPeerJob inserted")
		}
		stored := mustGetPeerJob(t, s, "job-1")
		if stored.SetDigest != h32("set of writer", winner) {
			t.Fatalf("stored set digest is not writer %d's", winner)
		}
		for i := range n {
			if existing[i] != nil {
				if d := diffPeerJob(*existing[i], stored); d != "" {
					t.Fatalf("PutPeerJob %d: %s", i, d)
				}
			}
		}

		for i := range n {
			wg.Go(func() {
				p := stored
				p.State, p.Partial = PeerJobPartialReleased, fmt.Appendf(nil, "partial %d", i)
				errs[i] = replicas[i%2].UpdatePeerJob(ctx, p, PeerJobPrepared)
			})
		}
		wg.Wait()
		winner = -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("UpdatePeerJob %d and %d both won", winner, i)
				}
				winner = i
			case !errors.Is(err, ErrConflict):
				t.Fatalf("UpdatePeerJob %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no UpdatePeerJob won")
		}
		if got := mustGetPeerJob(t, s, "job-1"); string(got.Partial) != fmt.Sprintf("partial %d", winner) {
			t.Fatalf("stored partial %q, want writer %d's", got.Partial, winner)
		}
	})
}

// TestPeerJobCharge: the buyer a peer job is charged to and the node's
// noise for it are written by PutPeerJob and, as given, by UpdatePeerJob.
func TestPeerJobCharge(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")

		// An exact release: no buyer, no noise.
		exact := testPeerJob("job-exact", "fitness")
		if _, err := s.PutPeerJob(ctx, exact); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-exact"), exact); d != "" {
			t.Fatal(d)
		}
		// An empty noise is read as none.
		empty := testPeerJob("job-empty", "fitness")
		empty.Noise = []byte{}
		if _, err := s.PutPeerJob(ctx, empty); err != nil {
			t.Fatal(err)
		}
		if got := mustGetPeerJob(t, s, "job-empty"); got.Noise != nil {
			t.Fatalf("an empty noise read back as %v, want nil", got.Noise)
		}

		// Buyer and noise at their bounds round-trip.
		p := testPeerJob("job-1", "fitness")
		p.Buyer = strings.Repeat("b", MaxBuyerIDLen)
		p.Noise = bytes.Repeat([]byte{0, 0xff, 7}, MaxPeerJobNoise/3)
		p.Noise = append(p.Noise, make([]byte, MaxPeerJobNoise-len(p.Noise))...)
		if _, err := s.PutPeerJob(ctx, p); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), p); d != "" {
			t.Fatal(d)
		}

		// Prepared again, passing them: kept.
		again := p
		again.SetDigest, again.Cohort, again.UpdatedAt = h32("settled set"), 9, t0.Add(time.Second)
		if err := s.UpdatePeerJob(ctx, again, PeerJobPrepared); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), again); d != "" {
			t.Fatal(d)
		}
		// Prepared again with others: written.
		redrawn := again
		redrawn.Buyer, redrawn.Noise, redrawn.UpdatedAt = "alice", []byte("noise drawn again"), t0.Add(2*time.Second)
		if err := s.UpdatePeerJob(ctx, redrawn, PeerJobPrepared); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), redrawn); d != "" {
			t.Fatal(d)
		}
		// Released, passing them: kept beside the partial.
		released := redrawn
		released.State, released.Partial, released.UpdatedAt = PeerJobPartialReleased, []byte("partial"), t0.Add(time.Minute)
		if err := s.UpdatePeerJob(ctx, released, PeerJobPrepared); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), released); d != "" {
			t.Fatal(d)
		}
		// Aborted without them: written as given, none.
		aborted := released
		aborted.State, aborted.Buyer, aborted.Noise, aborted.UpdatedAt = PeerJobAborted, "", nil, t0.Add(2*time.Minute)
		if err := s.UpdatePeerJob(ctx, aborted, PeerJobPartialReleased); err != nil {
			t.Fatal(err)
		}
		if d := diffPeerJob(mustGetPeerJob(t, s, "job-1"), aborted); d != "" {
			t.Fatal(d)
		}
	})
}

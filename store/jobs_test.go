package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBuyers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		alice := Buyer{ID: "alice", TokenHash: h32("alice token"), CreatedAt: t0}
		if err := s.PutBuyer(ctx, alice); err != nil {
			t.Fatal(err)
		}
		// A peer replaying the same buyer later changes nothing.
		replay := alice
		replay.CreatedAt = t0.Add(time.Hour)
		if err := s.PutBuyer(ctx, replay); err != nil {
			t.Fatalf("PutBuyer(replay): %v", err)
		}
		got, err := s.BuyerByToken(ctx, alice.TokenHash)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != "alice" || got.TokenHash != alice.TokenHash || !got.CreatedAt.Equal(t0) {
			t.Fatalf("BuyerByToken = %+v, want %+v", got, alice)
		}
		wantErr(t, "PutBuyer(id with another token)",
			s.PutBuyer(ctx, Buyer{ID: "alice", TokenHash: h32("other token"), CreatedAt: t0}), ErrAlreadyExists)
		wantErr(t, "PutBuyer(token of another id)",
			s.PutBuyer(ctx, Buyer{ID: "mallory", TokenHash: alice.TokenHash, CreatedAt: t0}), ErrAlreadyExists)
		_, err = s.BuyerByToken(ctx, h32("other token"))
		wantErr(t, "BuyerByToken(refused token)", err, ErrNotFound)
		if got, err := s.BuyerByToken(ctx, alice.TokenHash); err != nil || got.ID != "alice" {
			t.Fatalf("a refused PutBuyer changed the buyer: %+v, %v", got, err)
		}

		// A buyer's public key: stored, read back by id and by token,
		// replayed only with the same key.
		key := h32("bob key")
		bob := Buyer{ID: "bob", TokenHash: h32("bob token"), CreatedAt: t0, PublicKey: key[:]}
		if err := s.PutBuyer(ctx, bob); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetBuyer(ctx, "bob"); err != nil || !bytes.Equal(got.PublicKey, key[:]) || got.TokenHash != bob.TokenHash {
			t.Fatalf("GetBuyer(bob) = %+v, %v", got, err)
		}
		if got, err := s.GetBuyer(ctx, "alice"); err != nil || got.PublicKey != nil {
			t.Fatalf("GetBuyer(alice, no key) = %+v, %v", got, err)
		}
		_, err = s.GetBuyer(ctx, "nobody")
		wantErr(t, "GetBuyer(unknown)", err, ErrNotFound)
		other := h32("other key")
		wantErr(t, "PutBuyer(same token, another key)",
			s.PutBuyer(ctx, Buyer{ID: "bob", TokenHash: bob.TokenHash, CreatedAt: t0, PublicKey: other[:]}), ErrAlreadyExists)
		wantErr(t, "PutBuyer(short key)",
			s.PutBuyer(ctx, Buyer{ID: "carol", TokenHash: h32("carol token"), CreatedAt: t0, PublicKey: key[:31]}), ErrInvalid)

		edge := Buyer{ID: strings.Repeat("aZ9._-", 10) + "abcd", TokenHash: h32("edge"), CreatedAt: t0}
		if len(edge.ID) != MaxBuyerIDLen {
			t.Fatalf("edge id has %d bytes", len(edge.ID))
		}
		if err := s.PutBuyer(ctx, edge); err != nil {
			t.Fatalf("PutBuyer(%d-byte id): %v", MaxBuyerIDLen, err)
		}
		if got, err := s.BuyerByToken(ctx, edge.TokenHash); err != nil || got.ID != edge.ID {
			t.Fatalf("BuyerByToken(edge) = %+v, %v", got, err)
		}

		for _, tc := range []struct {
			name string
			b    Buyer
		}{
			{"empty id", Buyer{TokenHash: h32("x")}},
			{"long id", Buyer{ID: strings.Repeat("a", MaxBuyerIDLen+1), TokenHash: h32("x")}},
			{"space", Buyer{ID: "a b", TokenHash: h32("x")}},
			{"slash", Buyer{ID: "a/b", TokenHash: h32("x")}},
			{"non-ASCII", Buyer{ID: "zoë", TokenHash: h32("x")}},
			{"NUL", Buyer{ID: "a\x00", TokenHash: h32("x")}},
			{"zero hash", Buyer{ID: "bob"}},
		} {
			wantErr(t, "PutBuyer("+tc.name+")", s.PutBuyer(ctx, tc.b), ErrInvalid)
		}
	})
}

// TestPutBuyerConcurrent: replicas replaying one buyer at once all succeed,
// and one row is written.
func TestPutBuyerConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		b := Buyer{ID: "alice", TokenHash: h32("alice token"), CreatedAt: t0}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = replicas[i%2].PutBuyer(ctx, b) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("PutBuyer %d: %v", i, err)
			}
		}
		var rows int
		if err := s.(*sqlStore).r.QueryRowContext(ctx, `SELECT count(*) FROM buyers`).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%d buyer rows (%v), want 1", rows, err)
		}
	})
}

func testJob(id, buyer, request, dataset string) Job {
	return Job{
		ID:              id,
		Buyer:           buyer,
		RequestID:       request,
		DatasetID:       dataset,
		Spec:            []byte("spec of " + request),
		State:           1,
		Reason:          "",
		Coordinator:     2,
		EligibleRecords: 0,
		CohortSize:      0,
		Progress:        "admitting",
		SubmittedAt:     t0,
		UpdatedAt:       t0,
		TranscriptID:    "",
	}
}

// diffJob describes how got differs from want ("" if equal). Result and
// Evidence must match in nil-ness too: nil means not set.
func diffJob(got, want Job) string {
	var d []string
	add := func(ok bool, field string) {
		if !ok {
			d = append(d, field)
		}
	}
	sameBlob := func(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }
	add(got.ID == want.ID, "ID")
	add(got.Buyer == want.Buyer, "Buyer")
	add(got.RequestID == want.RequestID, "RequestID")
	add(got.DatasetID == want.DatasetID, "DatasetID")
	add(bytes.Equal(got.Spec, want.Spec), "Spec")
	add(got.State == want.State, "State")
	add(got.Reason == want.Reason, "Reason")
	add(got.Coordinator == want.Coordinator, "Coordinator")
	add(got.EligibleRecords == want.EligibleRecords, "EligibleRecords")
	add(got.CohortSize == want.CohortSize, "CohortSize")
	add(got.Progress == want.Progress, "Progress")
	add(got.SubmittedAt.Equal(want.SubmittedAt), "SubmittedAt")
	add(got.UpdatedAt.Equal(want.UpdatedAt), "UpdatedAt")
	add(sameBlob(got.Result, want.Result), "Result")
	add(sameBlob(got.Evidence, want.Evidence), "Evidence")
	add(got.TranscriptID == want.TranscriptID, "TranscriptID")
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("fields differ: %v\n got %+v\nwant %+v", d, got, want)
}

func mustGetJob(t *testing.T, s Store, id string) Job {
	t.Helper()
	j, err := s.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("GetJob(%q): %v", id, err)
	}
	return j
}

func TestJobsRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		full := Job{
			ID:              "job-1",
			Buyer:           "alice",
			RequestID:       "req 1 ✓",
			DatasetID:       "fitness",
			Spec:            []byte{0, 1, 2, 255},
			State:           5,
			Reason:          "a reason ✓",
			Coordinator:     math.MaxUint32,
			EligibleRecords: math.MaxInt64,
			CohortSize:      1234,
			Progress:        "2 of 3 partial sums received",
			SubmittedAt:     t0,
			UpdatedAt:       t0.Add(90*time.Second + 7*time.Microsecond),
			Result:          []byte("result"),
			Evidence:        []byte("evidence"),
			TranscriptID:    "transcript-1",
		}
		// Extremes of each column, and nil against empty blobs.
		unset := testJob("job-2", "alice", "req-2", "fitness")
		unset.Spec = nil
		empty := testJob("job-3", "alice", "req-3", "fitness")
		empty.Result, empty.Evidence, empty.State = []byte{}, []byte{}, math.MinInt32
		huge := testJob("job-4", "alice", "req-4", "fitness")
		huge.State, huge.SubmittedAt, huge.UpdatedAt = math.MaxInt32, time.Time{}, time.Unix(1<<40, 999000).UTC()
		for _, j := range []Job{full, unset, empty, huge} {
			if existing, err := s.PutJob(ctx, j); err != nil || existing != nil {
				t.Fatalf("PutJob(%s) = %+v, %v; want nil, nil", j.ID, existing, err)
			}
			want := j
			if want.Spec == nil {
				want.Spec = []byte{}
			}
			if d := diffJob(mustGetJob(t, s, j.ID), want); d != "" {
				t.Fatalf("GetJob(%s): %s", j.ID, d)
			}
		}
		_, err := s.GetJob(ctx, "job-absent")
		wantErr(t, "GetJob(absent)", err, ErrNotFound)
		_, err = s.GetJob(ctx, "not a job id!")
		wantErr(t, "GetJob(malformed id)", err, ErrNotFound)
	})
}

func TestPutJobIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		_, err := s.PutJob(ctx, testJob("job-1", "alice", "req-1", "fitness"))
		wantErr(t, "PutJob(no dataset)", err, ErrNotFound)
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		j := testJob("job-1", "alice", "req-1", "fitness")
		if existing, err := s.PutJob(ctx, j); err != nil || existing != nil {
			t.Fatalf("PutJob = %+v, %v; want nil, nil", existing, err)
		}

		// A retry of the request, under a fresh job id and with another
		// spec, returns the stored job and writes nothing.
		retry := testJob("job-2", "alice", "req-1", "sleep")
		retry.Spec, retry.SubmittedAt = []byte("another spec"), t0.Add(time.Hour)
		existing, err := s.PutJob(ctx, retry)
		if err != nil || existing == nil {
			t.Fatalf("PutJob(retry) = %v, %v; want the stored job", existing, err)
		}
		if d := diffJob(*existing, j); d != "" {
			t.Fatal("existing: " + d)
		}
		_, err = s.GetJob(ctx, "job-2")
		wantErr(t, "GetJob(job id of the retry)", err, ErrNotFound)
		// The same retry under the stored job id also returns it.
		retry.ID = "job-1"
		if existing, err := s.PutJob(ctx, retry); err != nil || existing == nil || existing.ID != "job-1" {
			t.Fatalf("PutJob(retry, same id) = %+v, %v", existing, err)
		}

		// Request ids are unique per buyer only.
		bobs := testJob("job-3", "bob", "req-1", "fitness")
		if existing, err := s.PutJob(ctx, bobs); err != nil || existing != nil {
			t.Fatalf("PutJob(same request id, another buyer) = %+v, %v; want nil, nil", existing, err)
		}
		if d := diffJob(mustGetJob(t, s, "job-3"), bobs); d != "" {
			t.Fatal(d)
		}

		// A taken job id under another request is refused.
		taken := testJob("job-1", "alice", "req-2", "fitness")
		existing, err = s.PutJob(ctx, taken)
		wantErr(t, "PutJob(taken id)", err, ErrAlreadyExists)
		if existing != nil {
			t.Fatal("a job returned beside an error")
		}
		if d := diffJob(mustGetJob(t, s, "job-1"), j); d != "" {
			t.Fatal("refused PutJob changed the job: " + d)
		}
		page, _, err := s.ListJobs(ctx, JobFilter{}, "", 0)
		if err != nil || len(page) != 2 {
			t.Fatalf("ListJobs = %d jobs, %v; want 2", len(page), err)
		}
	})
}

func TestPutJobRefuses(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		for _, tc := range []struct {
			name   string
			change func(j *Job)
		}{
			{"empty id", func(j *Job) { j.ID = "" }},
			{"long id", func(j *Job) { j.ID = strings.Repeat("a", MaxJobIDLen+1) }},
			{"dot in id", func(j *Job) { j.ID = "job.1" }},
			{"underscore in id", func(j *Job) { j.ID = "job_1" }},
			{"empty buyer", func(j *Job) { j.Buyer = "" }},
			{"bad buyer", func(j *Job) { j.Buyer = "a/b" }},
			{"empty request id", func(j *Job) { j.RequestID = "" }},
			{"long request id", func(j *Job) { j.RequestID = strings.Repeat("r", MaxRequestIDLen+1) }},
			{"NUL in request id", func(j *Job) { j.RequestID = "r\x00" }},
			{"request id not UTF-8", func(j *Job) { j.RequestID = "r\xff" }},
			{"empty dataset", func(j *Job) { j.DatasetID = "" }},
			{"reason not UTF-8", func(j *Job) { j.Reason = "\xc3" }},
			{"NUL in progress", func(j *Job) { j.Progress = "a\x00b" }},
			{"NUL in transcript id", func(j *Job) { j.TranscriptID = "\x00" }},
			{"eligible records", func(j *Job) { j.EligibleRecords = math.MaxInt64 + 1 }},
			{"cohort size", func(j *Job) { j.CohortSize = math.MaxUint64 }},
		} {
			j := testJob("job-1", "alice", "req-1", "fitness")
			tc.change(&j)
			existing, err := s.PutJob(ctx, j)
			wantErr(t, "PutJob("+tc.name+")", err, ErrInvalid)
			if existing != nil {
				t.Fatalf("PutJob(%s) returned a job beside its error", tc.name)
			}
		}
		if page, _, err := s.ListJobs(ctx, JobFilter{}, "", 0); err != nil || len(page) != 0 {
			t.Fatalf("refused puts wrote %d jobs (%v)", len(page), err)
		}
		edge := testJob(strings.Repeat("Z", MaxJobIDLen), "alice", strings.Repeat("r", MaxRequestIDLen), "fitness")
		if _, err := s.PutJob(ctx, edge); err != nil {
			t.Fatalf("PutJob(ids at their bounds): %v", err)
		}
	})
}

// TestPutJobConcurrent: the same request submitted on two replicas at once,
// under different job ids, creates one job; every other caller gets it.
func TestPutJobConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		mustPutDataset(t, s, "fitness")
		const n = 8
		existing := make([]*Job, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				existing[i], errs[i] = replicas[i%2].PutJob(ctx, testJob(fmt.Sprintf("job-%d", i), "alice", "req-1", "fitness"))
			})
		}
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("PutJob %d: %v", i, errs[i])
			}
			if existing[i] == nil {
				if winner >= 0 {
					t.Fatalf("PutJob %d and %d both inserted", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no PutJob inserted")
		}
		want := testJob(fmt.Sprintf("job-%d", winner), "alice", "req-1", "fitness")
		for i := range n {
			if existing[i] != nil {
				if d := diffJob(*existing[i], want); d != "" {
					t.Fatalf("PutJob %d: %s", i, d)
				}
			}
		}
		if page, _, err := s.ListJobs(ctx, JobFilter{}, "", 0); err != nil || len(page) != 1 {
			t.Fatalf("%d jobs (%v), want 1", len(page), err)
		}
	})
}

func TestUpdateJob(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		j := testJob("job-1", "alice", "req-1", "fitness")
		if _, err := s.PutJob(ctx, j); err != nil {
			t.Fatal(err)
		}

		// Every mutable column changes; the immutable ones in the argument
		// are ignored.
		next := j
		next.State, next.Reason, next.EligibleRecords, next.CohortSize = 5, "done", 300, math.MaxInt64
		next.Progress, next.UpdatedAt, next.TranscriptID = "", t0.Add(time.Minute+time.Microsecond), "transcript-1"
		next.Result, next.Evidence = []byte("result"), []byte("evidence")
		arg := next
		arg.Buyer, arg.RequestID, arg.DatasetID, arg.Spec = "mallory", "req-x", "sleep", []byte("forged")
		arg.Coordinator, arg.SubmittedAt = 9, t0.Add(time.Hour)
		if err := s.UpdateJob(ctx, arg, 1); err != nil {
			t.Fatal(err)
		}
		if d := diffJob(mustGetJob(t, s, "job-1"), next); d != "" {
			t.Fatal(d)
		}

		// From a state the job is not in: refused, naming the stored state,
		// and nothing changes.
		stale := next
		stale.State, stale.Reason, stale.Result = 7, "failed", nil
		err := s.UpdateJob(ctx, stale, 1)
		wantErr(t, "UpdateJob(wrong from)", err, ErrConflict)
		if !strings.Contains(err.Error(), "state is 5") {
			t.Fatalf("UpdateJob(wrong from): error %q does not name the stored state 5", err)
		}
		if d := diffJob(mustGetJob(t, s, "job-1"), next); d != "" {
			t.Fatal("refused UpdateJob changed the job: " + d)
		}

		// Result and Evidence are cleared by nil.
		if err := s.UpdateJob(ctx, stale, 5); err != nil {
			t.Fatal(err)
		}
		if d := diffJob(mustGetJob(t, s, "job-1"), stale); d != "" {
			t.Fatal(d)
		}

		wantErr(t, "UpdateJob(absent)", s.UpdateJob(ctx, testJob("job-2", "alice", "req-2", "fitness"), 1), ErrNotFound)
		wantErr(t, "UpdateJob(malformed id)", s.UpdateJob(ctx, testJob("job 2", "alice", "req-2", "fitness"), 1), ErrNotFound)
		bad := stale
		bad.Reason = "\xff"
		wantErr(t, "UpdateJob(reason not UTF-8)", s.UpdateJob(ctx, bad, 7), ErrInvalid)
		bad = stale
		bad.CohortSize = math.MaxInt64 + 1
		wantErr(t, "UpdateJob(cohort size)", s.UpdateJob(ctx, bad, 7), ErrInvalid)
	})
}

// TestUpdateJobConcurrent: writers on two replicas move one job out of the
// same state at once; exactly one wins, and the row holds its write.
func TestUpdateJobConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		mustPutDataset(t, s, "fitness")
		j := testJob("job-1", "alice", "req-1", "fitness")
		if _, err := s.PutJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				u := j
				u.State, u.Reason, u.CohortSize = int32(10+i), fmt.Sprintf("writer %d", i), uint64(i)
				errs[i] = replicas[i%2].UpdateJob(ctx, u, j.State)
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("UpdateJob %d and %d both won", winner, i)
				}
				winner = i
			case !errors.Is(err, ErrConflict):
				t.Fatalf("UpdateJob %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no UpdateJob won")
		}
		got := mustGetJob(t, s, "job-1")
		if got.State != int32(10+winner) || got.Reason != fmt.Sprintf("writer %d", winner) || got.CohortSize != uint64(winner) {
			t.Fatalf("stored job %+v, want writer %d's update", got, winner)
		}
	})
}

// listJobIDs pages through ListJobs with limit, returning the ids in order
// and the number of pages.
func listJobIDs(t *testing.T, s Store, f JobFilter, limit int) ([]string, int) {
	t.Helper()
	var ids []string
	token := ""
	for pages := 1; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		page, next, err := s.ListJobs(context.Background(), f, token, limit)
		if err != nil {
			t.Fatalf("ListJobs(%+v, page %d): %v", f, pages, err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d jobs, limit %d", len(page), limit)
		}
		for _, j := range page {
			ids = append(ids, j.ID)
		}
		if next == "" {
			return ids, pages
		}
		token = next
	}
}

func TestListJobs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		// Twelve jobs submitted in pairs at the same microsecond; the ids of
		// a pair differ only in case, so the order is bytewise ("B" < "a")
		// on both engines whatever PostgreSQL's default collation.
		var all []Job
		for i := range 12 {
			j := testJob(fmt.Sprintf("job-%02d-%c", i/2, "aB"[i%2]), []string{"alice", "bob", "alice"}[i%3],
				fmt.Sprintf("req-%d", i), []string{"fitness", "sleep"}[i%2])
			j.State = int32(i%4 + 1)
			j.SubmittedAt = t0.Add(time.Duration(i/2) * time.Microsecond)
			if _, err := s.PutJob(ctx, j); err != nil {
				t.Fatal(err)
			}
			all = append(all, j)
		}
		newestFirst := func(f JobFilter) []string {
			var match []Job
			for _, j := range all {
				if (f.Buyer == "" || j.Buyer == f.Buyer) && (f.DatasetID == "" || j.DatasetID == f.DatasetID) &&
					(len(f.States) == 0 || slices.Contains(f.States, j.State)) {
					match = append(match, j)
				}
			}
			slices.SortFunc(match, func(a, b Job) int {
				if c := b.SubmittedAt.Compare(a.SubmittedAt); c != 0 {
					return c
				}
				return strings.Compare(b.ID, a.ID)
			})
			var ids []string
			for _, j := range match {
				ids = append(ids, j.ID)
			}
			return ids
		}
		for _, tc := range []struct {
			name string
			f    JobFilter
		}{
			{"all", JobFilter{}},
			{"buyer", JobFilter{Buyer: "alice"}},
			{"dataset", JobFilter{DatasetID: "sleep"}},
			{"states", JobFilter{States: []int32{4, 1, 4}}},
			{"all filters", JobFilter{Buyer: "alice", DatasetID: "fitness", States: []int32{1, 3}}},
			{"unknown buyer", JobFilter{Buyer: "carol"}},
			{"unknown state", JobFilter{States: []int32{99}}},
		} {
			want := newestFirst(tc.f)
			page, next, err := s.ListJobs(ctx, tc.f, "", 0)
			if err != nil || next != "" {
				t.Fatalf("%s: ListJobs(limit 0) next %q, %v", tc.name, next, err)
			}
			var got []string
			for _, j := range page {
				got = append(got, j.ID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: listed %v, want %v", tc.name, got, want)
			}
			if len(want) > 0 {
				paged, _ := listJobIDs(t, s, tc.f, 2)
				if !slices.Equal(paged, want) {
					t.Fatalf("%s: paged %v, want %v", tc.name, paged, want)
				}
			}
		}
		// Listed rows are complete.
		page, _, err := s.ListJobs(ctx, JobFilter{}, "", 1)
		if err != nil || len(page) != 1 {
			t.Fatalf("ListJobs(limit 1) = %d jobs, %v", len(page), err)
		}
		if d := diffJob(page[0], all[10]); d != "" {
			t.Fatal(d)
		}

		// Three pages: 5, 5, 2, without duplicates or gaps, even though a
		// newer job arrives after the first page.
		want := newestFirst(JobFilter{})
		first, token, err := s.ListJobs(ctx, JobFilter{}, "", 5)
		if err != nil || len(first) != 5 || token == "" {
			t.Fatalf("first page: %d jobs, next %q, %v", len(first), token, err)
		}
		late := testJob("job-late", "alice", "req-late", "fitness")
		late.SubmittedAt = t0.Add(time.Hour)
		if _, err := s.PutJob(ctx, late); err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, j := range first {
			got = append(got, j.ID)
		}
		pages := 1
		for token != "" {
			var page []Job
			page, token, err = s.ListJobs(ctx, JobFilter{}, token, 5)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page {
				got = append(got, j.ID)
			}
			pages++
		}
		if !slices.Equal(got, want) || pages != 3 {
			t.Fatalf("listed %v in %d pages, want %v in 3", got, pages, want)
		}
		// An exact fit leaves no next page.
		if ids, pages := listJobIDs(t, s, JobFilter{Buyer: "bob"}, 4); len(ids) != 4 || pages != 1 {
			t.Fatalf("bob's 4 jobs with limit 4: %d in %d pages", len(ids), pages)
		}
	})
}

func TestListJobsRefuses(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		enc := base64.RawURLEncoding.EncodeToString
		valid := encodeJobToken(Job{ID: "job-1", SubmittedAt: t0})
		if _, _, err := s.ListJobs(ctx, JobFilter{}, valid, 10); err != nil {
			t.Fatalf("ListJobs(valid token): %v", err)
		}
		manyStates := make([]int32, MaxJobStateFilter+1)
		for i := range manyStates {
			manyStates[i] = int32(i)
		}
		for _, tc := range []struct {
			name  string
			f     JobFilter
			token string
		}{
			{"not base64", JobFilter{}, "!!!"},
			{"padded", JobFilter{}, valid + "="},
			{"std alphabet", JobFilter{}, base64.StdEncoding.EncodeToString([]byte("\xff\xff\xff\xff\xff\xff\xff\xffjob-1"))},
			{"no id", JobFilter{}, enc(make([]byte, 8))},
			{"short", JobFilter{}, enc([]byte("job"))},
			{"bad id", JobFilter{}, enc(append(make([]byte, 8), "job 1"...))},
			{"long", JobFilter{}, enc(append(make([]byte, 8), strings.Repeat("a", MaxJobIDLen+1)...))},
			{"huge", JobFilter{}, strings.Repeat("A", 1<<20)},
			{"too many states", JobFilter{States: manyStates}, ""},
			{"buyer not UTF-8", JobFilter{Buyer: "\xff"}, ""},
			{"NUL in dataset", JobFilter{DatasetID: "\x00"}, ""},
		} {
			page, next, err := s.ListJobs(ctx, tc.f, tc.token, 10)
			wantErr(t, "ListJobs("+tc.name+")", err, ErrInvalid)
			if page != nil || next != "" {
				t.Fatalf("ListJobs(%s) returned a page beside its error", tc.name)
			}
		}
		// Repeated states count once.
		if _, _, err := s.ListJobs(ctx, JobFilter{States: slices.Repeat([]int32{3}, 1000)}, "", 10); err != nil {
			t.Fatalf("ListJobs(one state repeated): %v", err)
		}
	})
}

func FuzzDecodeJobToken(f *testing.F) {
	f.Add(encodeJobToken(Job{ID: "job-1", SubmittedAt: t0}))
	f.Add(encodeJobToken(Job{ID: strings.Repeat("Z", MaxJobIDLen), SubmittedAt: time.Time{}}))
	f.Add("")
	f.Add("!!!")
	f.Add("AAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, token string) {
		submitted, id, err := decodeJobToken(token)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeJobToken: %v does not wrap ErrInvalid", err)
			}
			return
		}
		again := encodeJobToken(Job{ID: id, SubmittedAt: fromMicros(submitted)})
		s2, id2, err := decodeJobToken(again)
		if err != nil || s2 != submitted || id2 != id {
			t.Fatalf("re-encoded token decodes to %d %q, %v; want %d %q", s2, id2, err, submitted, id)
		}
	})
}

// testLimit caps a buyer at two jobs in state 1 or 2 (1 is repeated).
var testLimit = JobLimit{Max: 2, Active: []int32{1, 2, 1}}

func TestAdmitJob(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		_, err := s.AdmitJob(ctx, testJob("job-1", "alice", "req-1", "fitness"), testLimit)
		wantErr(t, "AdmitJob(no dataset)", err, ErrNotFound)
		mustPutDataset(t, s, "fitness")
		_, err = s.AdmitJob(ctx, testJob("job-1", "alice", "req-1", "fitness"), testLimit)
		wantErr(t, "AdmitJob(no buyer)", err, ErrNotFound)
		for _, b := range []string{"alice", "bob"} {
			if err := s.PutBuyer(ctx, Buyer{ID: b, TokenHash: h32(b), CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}

		// Up to the cap, then refused; a job put without admission counts.
		if _, err := s.PutJob(ctx, testJob("job-1", "alice", "req-1", "fitness")); err != nil {
			t.Fatal(err)
		}
		j2 := testJob("job-2", "alice", "req-2", "fitness")
		if existing, err := s.AdmitJob(ctx, j2, testLimit); err != nil || existing != nil {
			t.Fatalf("AdmitJob(second job) = %+v, %v; want nil, nil", existing, err)
		}
		if d := diffJob(mustGetJob(t, s, "job-2"), j2); d != "" {
			t.Fatal(d)
		}
		_, err = s.AdmitJob(ctx, testJob("job-3", "alice", "req-3", "fitness"), testLimit)
		wantErr(t, "AdmitJob(over the cap)", err, ErrLimit)
		if !strings.Contains(err.Error(), "2 active jobs") {
			t.Fatalf("AdmitJob(over the cap): error %q does not give the count", err)
		}
		_, err = s.GetJob(ctx, "job-3")
		wantErr(t, "GetJob(refused admission)", err, ErrNotFound)

		// A request admitted before is answered at the cap, not refused.
		retry := testJob("job-2b", "alice", "req-2", "fitness")
		existing, err := s.AdmitJob(ctx, retry, testLimit)
		if err != nil || existing == nil {
			t.Fatalf("AdmitJob(admitted request) = %+v, %v; want the stored job", existing, err)
		}
		if d := diffJob(*existing, j2); d != "" {
			t.Fatal(d)
		}

		// Another buyer has a cap of its own; a job leaving the active
		// states frees a place.
		if existing, err := s.AdmitJob(ctx, testJob("job-4", "bob", "req-1", "fitness"), testLimit); err != nil || existing != nil {
			t.Fatalf("AdmitJob(bob) = %+v, %v", existing, err)
		}
		done := mustGetJob(t, s, "job-1")
		done.State = 5
		if err := s.UpdateJob(ctx, done, 1); err != nil {
			t.Fatal(err)
		}
		if existing, err := s.AdmitJob(ctx, testJob("job-3", "alice", "req-3", "fitness"), testLimit); err != nil || existing != nil {
			t.Fatalf("AdmitJob(after a job ended) = %+v, %v", existing, err)
		}

		// A job id that is another request's job.
		_, err = s.AdmitJob(ctx, testJob("job-4", "bob", "req-9", "fitness"), JobLimit{Max: 9, Active: []int32{1}})
		wantErr(t, "AdmitJob(taken job id)", err, ErrAlreadyExists)

		many := make([]int32, MaxJobStateFilter+1)
		for i := range many {
			many[i] = int32(i)
		}
		for _, tc := range []struct {
			name  string
			j     Job
			limit JobLimit
		}{
			{"max 0", testJob("job-9", "bob", "req-9", "fitness"), JobLimit{Active: []int32{1}}},
			{"max -1", testJob("job-9", "bob", "req-9", "fitness"), JobLimit{Max: -1, Active: []int32{1}}},
			{"no active states", testJob("job-9", "bob", "req-9", "fitness"), JobLimit{Max: 9}},
			{"too many states", testJob("job-9", "bob", "req-9", "fitness"), JobLimit{Max: 9, Active: many}},
			{"bad job id", testJob("job 9", "bob", "req-9", "fitness"), JobLimit{Max: 9, Active: []int32{1}}},
			{"bad buyer id", testJob("job-9", "bob!", "req-9", "fitness"), JobLimit{Max: 9, Active: []int32{1}}},
			{"empty request id", testJob("job-9", "bob", "", "fitness"), JobLimit{Max: 9, Active: []int32{1}}},
		} {
			_, err := s.AdmitJob(ctx, tc.j, tc.limit)
			wantErr(t, "AdmitJob("+tc.name+")", err, ErrInvalid)
		}
		if _, err := s.AdmitJob(ctx, testJob("job-9", "bob", "req-9", "fitness"), JobLimit{Max: 9, Active: many[:MaxJobStateFilter]}); err != nil {
			t.Fatalf("AdmitJob(%d states): %v", MaxJobStateFilter, err)
		}
	})
}

// TestAdmitJobConcurrent: one buyer submits many jobs at once on two
// replicas; exactly the cap is admitted, and every other call is refused.
func TestAdmitJobConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		mustPutDataset(t, s, "fitness")
		if err := s.PutBuyer(ctx, Buyer{ID: "alice", TokenHash: h32("alice"), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		const n, most = 24, 5
		limit := JobLimit{Max: most, Active: []int32{1, 2}}
		existing := make([]*Job, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				j := testJob(fmt.Sprintf("job-%d", i), "alice", fmt.Sprintf("req-%d", i), "fitness")
				existing[i], errs[i] = replicas[i%2].AdmitJob(ctx, j, limit)
			})
		}
		wg.Wait()
		admitted := 0
		for i := range n {
			switch {
			case errs[i] == nil && existing[i] == nil:
				admitted++
			case errors.Is(errs[i], ErrLimit):
			default:
				t.Fatalf("AdmitJob %d = %+v, %v", i, existing[i], errs[i])
			}
		}
		if admitted != most {
			t.Fatalf("%d jobs admitted, want %d", admitted, most)
		}
		if page, _, err := s.ListJobs(ctx, JobFilter{Buyer: "alice"}, "", 0); err != nil || len(page) != most {
			t.Fatalf("%d jobs stored (%v), want %d", len(page), err, most)
		}
	})
}

// TestJobNotices: a notice is put once per (job, node), listed oldest
// first, written or not with the transaction it is put in, and forgotten.
func TestJobNotices(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		for _, id := range []string{"job-1", "job-2"} {
			if _, err := s.PutJob(ctx, testJob(id, "alice", "req-"+id, "fitness")); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Unix(1700000000, 0)
		for _, n := range []JobNotice{
			{JobID: "job-2", Peer: 1, State: 5, CreatedAt: at.Add(time.Second)},
			{JobID: "job-1", Peer: 2, State: 6, CreatedAt: at},
			{JobID: "job-1", Peer: 2, State: 7, CreatedAt: at.Add(time.Hour)}, // already owed: kept as it was
		} {
			if err := s.PutJobNotice(ctx, n); err != nil {
				t.Fatalf("PutJobNotice(%+v): %v", n, err)
			}
		}
		wantErr(t, "PutJobNotice(bad id)", s.PutJobNotice(ctx, JobNotice{JobID: "not a job id!", State: 5}), ErrInvalid)
		wantErr(t, "PutJobNotice(no state)", s.PutJobNotice(ctx, JobNotice{JobID: "job-1", Peer: 0}), ErrInvalid)
		// A notice put in a transaction that fails is not kept.
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx Tx) error {
			if err := tx.PutJobNotice(ctx, JobNotice{JobID: "job-2", Peer: 0, State: 5, CreatedAt: at}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v", err)
		}
		got, err := s.ListJobNotices(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []JobNotice{{JobID: "job-1", Peer: 2, State: 6, CreatedAt: at}, {JobID: "job-2", Peer: 1, State: 5, CreatedAt: at.Add(time.Second)}}
		if len(got) != len(want) {
			t.Fatalf("ListJobNotices = %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].JobID != want[i].JobID || got[i].Peer != want[i].Peer || got[i].State != want[i].State || !got[i].CreatedAt.Equal(want[i].CreatedAt) {
				t.Fatalf("ListJobNotices[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		for _, n := range want {
			if err := s.DeleteJobNotice(ctx, n.JobID, n.Peer); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteJobNotice(ctx, "job-1", 2); err != nil {
			t.Fatalf("DeleteJobNotice(forgotten): %v", err)
		}
		if got, err := s.ListJobNotices(ctx, 0); err != nil || len(got) != 0 {
			t.Fatalf("ListJobNotices after deleting = %+v, %v", got, err)
		}
	})
}

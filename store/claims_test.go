package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

func mustPutJobReward(t *testing.T, s Tx, job string, reward, counted uint64) JobReward {
	t.Helper()
	r := JobReward{JobID: job, DatasetID: "fitness", ClaimRoot: h32("root", job), Reward: reward, Counted: counted, RecordedAt: t0}
	if err := s.PutJobReward(context.Background(), r); err != nil {
		t.Fatalf("PutJobReward(%s): %v", job, err)
	}
	return r
}

func testClaim(nf, job, payout string) Claim {
	return Claim{Nullifier: h32("claim", nf), JobID: job, PayoutKey: h32("payout", payout), ClaimedAt: t0}
}

// TestClaimKeys: the federation's claim keys are stored once.
func TestClaimKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		if _, err := s.GetClaimKeys(ctx, false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no keys: %v", err)
		}
		k := ClaimKeys{SetupKind: 2, ProvingKey: []byte("pk"), VerifyingKey: []byte("vk"), CreatedAt: t0}
		if err := s.PutClaimKeys(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.PutClaimKeys(ctx, k); err != nil {
			t.Fatalf("the same keys again: %v", err)
		}
		other := k
		other.VerifyingKey = []byte("vk2")
		wantErr(t, "other keys", s.PutClaimKeys(ctx, other), ErrAlreadyExists)
		wantErr(t, "no kind", s.PutClaimKeys(ctx, ClaimKeys{ProvingKey: []byte("pk"), VerifyingKey: []byte("vk")}), ErrInvalid)
		got, err := s.GetClaimKeys(ctx, true)
		if err != nil || got.SetupKind != 2 || !bytes.Equal(got.ProvingKey, k.ProvingKey) || !bytes.Equal(got.VerifyingKey, k.VerifyingKey) {
			t.Fatalf("GetClaimKeys: %+v, %v", got, err)
		}
		if got, err := s.GetClaimKeys(ctx, false); err != nil || got.ProvingKey != nil || !bytes.Equal(got.VerifyingKey, k.VerifyingKey) {
			t.Fatalf("GetClaimKeys without the proving key: %+v, %v", got, err)
		}
	})
}

// TestRecordClaim: a claim credits its payout key the job's reward once;
// the same claim nullifier again, for any job or key, changes nothing; a
// job's claims stop at its counted records.
func TestRecordClaim(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		r := mustPutJobReward(t, s, "job-1", 7, 2)
		mustPutJobReward(t, s, "job-2", 11, 5)
		if err := s.PutJobReward(ctx, r); err != nil {
			t.Fatalf("the same reward again: %v", err)
		}
		r2 := r
		r2.Reward++
		wantErr(t, "another reward", s.PutJobReward(ctx, r2), ErrAlreadyExists)
		wantErr(t, "unknown dataset", s.PutJobReward(ctx, JobReward{JobID: "job-9", DatasetID: "nope"}), ErrNotFound)
		wantErr(t, "reward too large", s.PutJobReward(ctx, JobReward{JobID: "job-9", DatasetID: "fitness", Reward: MaxAmount + 1}), ErrInvalid)

		c, p, err := s.RecordClaim(ctx, testClaim("a", "job-1", "k1"))
		if err != nil || c.Amount != 7 || p.Credited != 7 || p.Claims != 1 {
			t.Fatalf("first claim: %+v %+v %v", c, p, err)
		}
		for _, again := range []Claim{testClaim("a", "job-1", "k1"), testClaim("a", "job-1", "k2"), testClaim("a", "job-2", "k1")} {
			_, _, err := s.RecordClaim(ctx, again)
			var ce *ClaimExistsError
			if !errors.Is(err, ErrAlreadyExists) || !errors.As(err, &ce) || ce.Stored.JobID != "job-1" {
				t.Fatalf("claim nullifier again: %v", err)
			}
		}
		if _, p, err := s.RecordClaim(ctx, testClaim("b", "job-2", "k1")); err != nil || p.Credited != 18 || p.Claims != 2 {
			t.Fatalf("second job: %+v, %v", p, err)
		}
		if _, _, err := s.RecordClaim(ctx, testClaim("c", "job-1", "k2")); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.RecordClaim(ctx, testClaim("d", "job-1", "k3"))
		wantErr(t, "more claims than counted records", err, ErrLimit)
		_, _, err = s.RecordClaim(ctx, testClaim("e", "job-3", "k3"))
		wantErr(t, "unknown job", err, ErrNotFound)

		for key, want := range map[string]Payout{"k1": {Credited: 18, Claims: 2}, "k2": {Credited: 7, Claims: 1}, "k3": {}} {
			p, err := s.GetPayout(ctx, h32("payout", key))
			if err != nil || p.Credited != want.Credited || p.Claims != want.Claims {
				t.Errorf("payout %s: %+v, %v; want %+v", key, p, err, want)
			}
		}
		if r, err := s.GetJobReward(ctx, "job-1"); err != nil || r.Claims != 2 {
			t.Fatalf("job-1 reward: %+v, %v", r, err)
		}
		if c, err := s.GetClaim(ctx, h32("claim", "a")); err != nil || c.JobID != "job-1" || c.PayoutKey != h32("payout", "k1") {
			t.Fatalf("GetClaim: %+v, %v", c, err)
		}
	})
}

// TestRecordClaimConcurrent: many concurrent claims with one nullifier
// credit once.
func TestRecordClaimConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutJobReward(t, s, "job-1", 5, 100)
		var (
			wg sync.WaitGroup
			mu sync.Mutex
			ok int
		)
		for i := range 8 {
			wg.Go(func() {
				_, _, err := s.RecordClaim(ctx, testClaim("same", "job-1", string(rune('a'+i))))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ErrAlreadyExists):
					t.Errorf("claim %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d claims with one nullifier succeeded, want 1", ok)
		}
		if r, err := s.GetJobReward(ctx, "job-1"); err != nil || r.Claims != 1 {
			t.Fatalf("reward after: %+v, %v", r, err)
		}
	})
}

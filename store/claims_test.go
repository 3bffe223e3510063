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

// TestClaimCeremonyKeys: a ceremony's claim keys are stored with its
// record and transcript, in one transaction; a development setup's have
// neither, and a mix of the two is refused with nothing stored.
func TestClaimCeremonyKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		k := ClaimKeys{SetupKind: 1, ProvingKey: []byte("pk"), VerifyingKey: []byte("vk"), Ceremony: []byte("record"), Transcript: []byte("transcript"), CreatedAt: t0}
		for name, bad := range map[string]func(*ClaimKeys){
			"a ceremony without record":        func(k *ClaimKeys) { k.Ceremony = nil },
			"a ceremony without transcript":    func(k *ClaimKeys) { k.Transcript = nil },
			"a development setup with record":  func(k *ClaimKeys) { k.SetupKind = 2; k.Transcript = nil },
			"a development setup with a trace": func(k *ClaimKeys) { k.SetupKind = 2; k.Ceremony = nil },
		} {
			b := k
			bad(&b)
			wantErr(t, name, s.PutClaimKeys(ctx, b), ErrInvalid)
		}
		if _, err := s.GetClaimKeys(ctx, false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("keys after refusals: %v", err)
		}
		if _, err := s.GetClaimTranscript(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("transcript before the keys: %v", err)
		}
		if err := s.PutClaimKeys(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.PutClaimKeys(ctx, k); err != nil {
			t.Fatalf("the same keys again: %v", err)
		}
		got, err := s.GetClaimKeys(ctx, false)
		if err != nil || got.SetupKind != 1 || !bytes.Equal(got.Ceremony, k.Ceremony) || got.Transcript != nil {
			t.Fatalf("GetClaimKeys: %+v, %v", got, err)
		}
		if tr, err := s.GetClaimTranscript(ctx); err != nil || !bytes.Equal(tr, k.Transcript) {
			t.Fatalf("GetClaimTranscript: %q, %v", tr, err)
		}
	})
}

// TestListClaims: a dataset's claims are listed with their proofs, by job
// then claim nullifier, in pages, and no other dataset's.
func TestListClaims(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		mustPutJobReward(t, s, "job-1", 7, 5)
		mustPutJobReward(t, s, "job-2", 7, 5)
		if err := s.PutJobReward(ctx, JobReward{JobID: "job-3", DatasetID: "sleep", Reward: 1, Counted: 1}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []Claim{testClaim("a", "job-2", "k"), testClaim("b", "job-1", "k"), testClaim("c", "job-1", "k"), testClaim("d", "job-3", "k")} {
			c.Proof = []byte("proof " + c.JobID)
			if _, _, err := s.RecordClaim(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		var all []Claim
		job, nf := "", [32]byte{}
		for {
			page, err := s.ListClaims(ctx, "fitness", job, nf, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			job, nf = page[len(page)-1].JobID, page[len(page)-1].Nullifier
		}
		if len(all) != 3 || all[0].JobID != "job-1" || all[1].JobID != "job-1" || all[2].JobID != "job-2" ||
			bytes.Compare(all[0].Nullifier[:], all[1].Nullifier[:]) >= 0 {
			t.Fatalf("listed %+v", all)
		}
		for _, c := range all {
			if string(c.Proof) != "proof "+c.JobID || c.Amount != 7 {
				t.Fatalf("claim %+v", c)
			}
		}
		_, err := s.ListClaims(ctx, "fitness", "", [32]byte{}, 0)
		wantErr(t, "limit 0", err, ErrInvalid)
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

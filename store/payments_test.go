package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

func mustPutBuyer(t *testing.T, s Tx, id string) {
	t.Helper()
	if err := s.PutBuyer(context.Background(), Buyer{ID: id, TokenHash: h32("token", id), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
}

func mustCredit(t *testing.T, s Tx, id, buyer string, amount uint64) Balance {
	t.Helper()
	b, err := s.CreditBuyer(context.Background(), Credit{ID: id, Buyer: buyer, Amount: amount, At: t0})
	if err != nil {
		t.Fatalf("CreditBuyer(%s): %v", id, err)
	}
	return b
}

// wantBalance checks a buyer's balance.
func wantBalance(t *testing.T, what string, s Tx, buyer string, credited, charged, held uint64) {
	t.Helper()
	b, err := s.BuyerBalance(context.Background(), buyer)
	if err != nil {
		t.Fatalf("%s: BuyerBalance: %v", what, err)
	}
	want := Balance{Buyer: buyer, Credited: credited, Charged: charged, Held: held}
	if b != want {
		t.Fatalf("%s: balance %+v, want %+v", what, b, want)
	}
}

func testEscrow(job, buyer string, price, fee, maxCohort uint64) Escrow {
	return Escrow{JobID: job, Buyer: buyer, DatasetID: "fitness", Price: price, Fee: fee, MaxCohort: maxCohort, HeldAt: t0}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		price, fee, cohort, want uint64
		ok                       bool
	}{
		{0, 0, 100, 0, true},
		{3, 5, 100, 305, true},
		{0, MaxAmount, 7, MaxAmount, true},
		{1, 1, MaxAmount, 0, false},
		{math.MaxUint64, 0, 2, 0, false},
		{1 << 32, 0, 1 << 32, 0, false},
		{1, math.MaxUint64, 1, 0, false},
	} {
		got, err := Quote(tc.price, tc.fee, tc.cohort)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("Quote(%d, %d, %d) = %d, %v; want %d", tc.price, tc.fee, tc.cohort, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("Quote(%d, %d, %d) = %d, %v; want ErrInvalid", tc.price, tc.fee, tc.cohort, got, err)
		}
	}
}

// TestCredit: a credit is applied once per id, replayed credits answer the
// balance, and refusals change nothing.
func TestCredit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		_, err := s.CreditBuyer(ctx, Credit{ID: "c1", Buyer: "alice", Amount: 10, At: t0})
		wantErr(t, "CreditBuyer(unknown buyer)", err, ErrNotFound)
		mustPutBuyer(t, s, "alice")
		mustPutBuyer(t, s, "bob")
		wantBalance(t, "never credited", s, "alice", 0, 0, 0)

		if b := mustCredit(t, s, "c1", "alice", 10); b.Credited != 10 || b.Available() != 10 {
			t.Fatalf("after a credit: %+v", b)
		}
		if b := mustCredit(t, s, "c1", "alice", 10); b.Credited != 10 {
			t.Fatalf("a replayed credit was applied again: %+v", b)
		}
		_, err = s.CreditBuyer(ctx, Credit{ID: "c1", Buyer: "alice", Amount: 11, At: t0})
		wantErr(t, "CreditBuyer(id with another amount)", err, ErrAlreadyExists)
		_, err = s.CreditBuyer(ctx, Credit{ID: "c1", Buyer: "bob", Amount: 10, At: t0})
		wantErr(t, "CreditBuyer(id with another buyer)", err, ErrAlreadyExists)
		mustCredit(t, s, "c2", "alice", 5)
		wantBalance(t, "two credits", s, "alice", 15, 0, 0)

		for _, tc := range []struct {
			name string
			c    Credit
		}{
			{"no id", Credit{Buyer: "alice", Amount: 1}},
			{"bad id", Credit{ID: "c 3", Buyer: "alice", Amount: 1}},
			{"bad buyer", Credit{ID: "c3", Buyer: "al/ice", Amount: 1}},
			{"zero", Credit{ID: "c3", Buyer: "alice"}},
			{"above MaxAmount", Credit{ID: "c3", Buyer: "alice", Amount: MaxAmount + 1}},
		} {
			_, err := s.CreditBuyer(ctx, tc.c)
			wantErr(t, "CreditBuyer("+tc.name+")", err, ErrInvalid)
		}
		_, err = s.CreditBuyer(ctx, Credit{ID: "c3", Buyer: "alice", Amount: MaxAmount, At: t0})
		wantErr(t, "CreditBuyer(past MaxAmount in all)", err, ErrLimit)
		wantBalance(t, "after refusals", s, "alice", 15, 0, 0)
		// The refused id is free: the refusal wrote nothing.
		mustCredit(t, s, "c3", "alice", 1)
		wantBalance(t, "after c3", s, "alice", 16, 0, 0)
	})
}

// TestEscrowLifecycle: a hold takes the quote from the available balance,
// a settlement charges price × cohort + fee and gives the rest back, a
// refund gives all back, from held or settled.
func TestEscrowLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutBuyer(t, s, "alice")
		mustCredit(t, s, "c1", "alice", 1000)

		e, err := s.HoldEscrow(ctx, testEscrow("job-1", "alice", 3, 50, 100))
		if err != nil {
			t.Fatal(err)
		}
		if e.Held != 350 || e.State != EscrowHeld {
			t.Fatalf("held %+v, want 350 held", e)
		}
		wantBalance(t, "held", s, "alice", 1000, 0, 350)
		_, err = s.HoldEscrow(ctx, testEscrow("job-1", "alice", 3, 50, 100))
		wantErr(t, "HoldEscrow(twice)", err, ErrAlreadyExists)
		wantBalance(t, "after a second hold", s, "alice", 1000, 0, 350)

		_, err = s.SettleEscrow(ctx, "job-1", 101, t0)
		wantErr(t, "SettleEscrow(cohort above the quote's)", err, ErrInvalid)
		e, err = s.SettleEscrow(ctx, "job-1", 40, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if e.State != EscrowSettled || e.Cohort != 40 || e.Charged != 170 || !e.EndedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("settled %+v, want 3 × 40 + 50 = 170 charged", e)
		}
		wantBalance(t, "settled", s, "alice", 1000, 170, 0)
		_, err = s.SettleEscrow(ctx, "job-1", 40, t0)
		wantErr(t, "SettleEscrow(twice)", err, ErrConflict)
		wantBalance(t, "settled twice", s, "alice", 1000, 170, 0)
		got, err := s.GetEscrow(ctx, "job-1")
		if err != nil || got != e {
			t.Fatalf("GetEscrow = %+v, %v; want %+v", got, err, e)
		}

		// A settled escrow refunded (the release undone).
		if e, err = s.RefundEscrow(ctx, "job-1", t0); err != nil || e.State != EscrowRefunded || e.Charged != 0 {
			t.Fatalf("RefundEscrow(settled) = %+v, %v", e, err)
		}
		wantBalance(t, "refunded after settling", s, "alice", 1000, 0, 0)
		_, err = s.RefundEscrow(ctx, "job-1", t0)
		wantErr(t, "RefundEscrow(twice)", err, ErrConflict)
		_, err = s.SettleEscrow(ctx, "job-1", 1, t0)
		wantErr(t, "SettleEscrow(refunded)", err, ErrConflict)

		// A held escrow refunded.
		if _, err := s.HoldEscrow(ctx, testEscrow("job-2", "alice", 0, 7, 100)); err != nil {
			t.Fatal(err)
		}
		wantBalance(t, "fee only held", s, "alice", 1000, 0, 7)
		if e, err = s.RefundEscrow(ctx, "job-2", t0); err != nil || e.State != EscrowRefunded {
			t.Fatalf("RefundEscrow(held) = %+v, %v", e, err)
		}
		wantBalance(t, "refunded", s, "alice", 1000, 0, 0)

		for _, f := range []func() error{
			func() error { _, err := s.SettleEscrow(ctx, "job-9", 1, t0); return err },
			func() error { _, err := s.RefundEscrow(ctx, "job-9", t0); return err },
			func() error { _, err := s.GetEscrow(ctx, "job-9"); return err },
		} {
			wantErr(t, "escrow of an unknown job", f(), ErrNotFound)
		}
	})
}

// TestEscrowRefused: a hold the balance cannot pay is refused naming the
// balance, and no refused hold writes anything.
func TestEscrowRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutBuyer(t, s, "alice")
		mustCredit(t, s, "c1", "alice", 100)
		if _, err := s.HoldEscrow(ctx, testEscrow("job-1", "alice", 1, 0, 60)); err != nil {
			t.Fatal(err)
		}
		_, err := s.HoldEscrow(ctx, testEscrow("job-2", "alice", 1, 1, 40))
		wantErr(t, "HoldEscrow(more than available)", err, ErrInsufficientFunds)
		var ie *InsufficientFundsError
		if !errors.As(err, &ie) || ie.Buyer != "alice" || ie.Available != 40 || ie.Quote != 41 {
			t.Fatalf("HoldEscrow(more than available) = %v, want an *InsufficientFundsError with 40 available, 41 quoted", err)
		}
		_, err = s.GetEscrow(ctx, "job-2")
		wantErr(t, "GetEscrow(refused)", err, ErrNotFound)
		wantBalance(t, "after a refused hold", s, "alice", 100, 0, 60)

		_, err = s.HoldEscrow(ctx, Escrow{JobID: "job-3", Buyer: "alice", DatasetID: "nope", Price: 1, MaxCohort: 1})
		wantErr(t, "HoldEscrow(unknown dataset)", err, ErrNotFound)
		_, err = s.HoldEscrow(ctx, testEscrow("job-3", "bob", 1, 0, 1))
		wantErr(t, "HoldEscrow(unknown buyer)", err, ErrNotFound)
		for _, tc := range []struct {
			name string
			e    Escrow
		}{
			{"free", testEscrow("job-3", "alice", 0, 0, 100)},
			{"quote overflows", testEscrow("job-3", "alice", math.MaxUint64, 0, 2)},
			{"bad job id", testEscrow("job 3", "alice", 1, 0, 1)},
			{"bad buyer", testEscrow("job-3", "", 1, 0, 1)},
			{"no dataset", Escrow{JobID: "job-3", Buyer: "alice", Price: 1, MaxCohort: 1}},
		} {
			_, err := s.HoldEscrow(ctx, tc.e)
			wantErr(t, "HoldEscrow("+tc.name+")", err, ErrInvalid)
		}
		wantBalance(t, "after refusals", s, "alice", 100, 0, 60)
	})
}

// TestEscrowInTx: an escrow commits with its caller's transaction and
// rolls back with it.
func TestEscrowInTx(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutBuyer(t, s, "alice")
		mustCredit(t, s, "c1", "alice", 100)
		err := s.InTx(ctx, func(tx Tx) error {
			if _, err := tx.HoldEscrow(ctx, testEscrow("job-1", "alice", 1, 0, 60)); err != nil {
				return err
			}
			wantBalance(t, "inside", tx, "alice", 100, 0, 60)
			return errAbandon
		})
		if !errors.Is(err, errAbandon) {
			t.Fatalf("InTx = %v", err)
		}
		wantBalance(t, "rolled back", s, "alice", 100, 0, 0)
		_, err = s.GetEscrow(ctx, "job-1")
		wantErr(t, "GetEscrow(rolled back)", err, ErrNotFound)

		// A refused hold inside leaves the transaction usable.
		err = s.InTx(ctx, func(tx Tx) error {
			if _, err := tx.HoldEscrow(ctx, testEscrow("job-1", "alice", 1, 0, 101)); !errors.Is(err, ErrInsufficientFunds) {
				return fmt.Errorf("HoldEscrow(too much) = %v", err)
			}
			_, err := tx.HoldEscrow(ctx, testEscrow("job-1", "alice", 1, 0, 60))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		wantBalance(t, "committed", s, "alice", 100, 0, 60)
	})
}

// TestListBalances pages through the ledger by buyer id.
func TestListBalances(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		for i := range 5 {
			id := fmt.Sprintf("buyer-%d", i)
			mustPutBuyer(t, s, id)
			mustCredit(t, s, "c-"+id, id, uint64(i+1))
		}
		var got []Balance
		for tok := ""; ; {
			page, next, err := s.ListBalances(ctx, tok, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("page of %d", len(page))
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			tok = next
		}
		if len(got) != 5 {
			t.Fatalf("listed %d balances, want 5", len(got))
		}
		for i, b := range got {
			if b.Buyer != fmt.Sprintf("buyer-%d", i) || b.Credited != uint64(i+1) {
				t.Fatalf("balance %d = %+v", i, b)
			}
		}
		_, _, err := s.ListBalances(ctx, "bad token!", 2)
		wantErr(t, "ListBalances(bad token)", err, ErrInvalid)
	})
}

// TestEscrowConcurrent: holds racing on two replicas never take more than
// the balance, and exactly as many succeed as fit; credits racing on two
// replicas, each sent twice, are each applied once.
func TestEscrowConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutBuyer(t, s, "alice")
		mustCredit(t, s, "c0", "alice", 100)
		replicas := []Store{s, openStore(t, cfg)}
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := replicas[i%len(replicas)]
				e := testEscrow(fmt.Sprintf("job-%d", i), "alice", 1, 0, 10)
				if i%2 == 1 {
					errs[i] = r.InTx(ctx, func(tx Tx) error {
						_, err := tx.HoldEscrow(ctx, e)
						return err
					})
					return
				}
				_, errs[i] = r.HoldEscrow(ctx, e)
			})
		}
		wg.Wait()
		held := 0
		for i, err := range errs {
			switch {
			case err == nil:
				held++
			case !errors.Is(err, ErrInsufficientFunds):
				t.Fatalf("hold %d: %v", i, err)
			}
		}
		if held != 10 {
			t.Fatalf("%d holds of 10 succeeded with 100 available, want 10", held)
		}
		wantBalance(t, "after the holds", s, "alice", 100, 0, 100)

		for i := range n {
			wg.Go(func() {
				// Every credit is sent twice, to both replicas.
				_, errs[i] = replicas[i%len(replicas)].CreditBuyer(ctx, Credit{ID: fmt.Sprintf("c-%d", i/2), Buyer: "alice", Amount: 1000, At: t0})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("credit %d: %v", i, err)
			}
		}
		wantBalance(t, "after the credits", s, "alice", 100+n/2*1000, 0, 100)
	})
}

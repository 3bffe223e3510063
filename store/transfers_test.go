package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func testTransfer(id, payout, buyer string, amount uint64) PayoutTransfer {
	return PayoutTransfer{ID: id, PayoutKey: h32("payout", payout), Buyer: buyer, Amount: amount,
		Signature: bytes.Repeat([]byte{7}, 64), TransferredAt: t0}
}

// wantPayout checks a payout account.
func wantPayout(t *testing.T, what string, s Tx, payout string, credited, transferred uint64) {
	t.Helper()
	p, err := s.GetPayout(context.Background(), h32("payout", payout))
	if err != nil || p.Credited != credited || p.Transferred != transferred || p.Balance() != credited-transferred {
		t.Fatalf("%s: payout %+v, %v; want credited %d, transferred %d", what, p, err, credited, transferred)
	}
}

// TestTransferPayout: a transfer debits the payout account and credits the
// buyer in one transaction; every refusal changes nothing.
func TestTransferPayout(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutBuyer(t, s, "acme")
		mustCredit(t, s, "c-1", "acme", 100)
		mustPutJobReward(t, s, "job-1", 7, 3)
		for _, nf := range []string{"a", "b"} {
			if _, _, err := s.RecordClaim(ctx, testClaim(nf, "job-1", "k1")); err != nil {
				t.Fatal(err)
			}
		}
		p, b, err := s.TransferPayout(ctx, testTransfer("t-1", "k1", "acme", 5))
		if err != nil || p.Credited != 14 || p.Transferred != 5 || p.Balance() != 9 || b.Credited != 105 {
			t.Fatalf("transfer: %+v %+v %v", p, b, err)
		}
		_, _, err = s.TransferPayout(ctx, testTransfer("t-1", "k1", "acme", 5))
		var te *TransferExistsError
		if !errors.Is(err, ErrAlreadyExists) || !errors.As(err, &te) || te.Stored.Amount != 5 || te.Stored.Buyer != "acme" {
			t.Fatalf("replay: %v", err)
		}
		for _, c := range []struct {
			name string
			tr   PayoutTransfer
			want error
		}{
			{"the same id, another amount", testTransfer("t-1", "k1", "acme", 1), ErrAlreadyExists},
			{"more than the balance", testTransfer("t-2", "k1", "acme", 10), ErrInsufficientFunds},
			{"an account never credited", testTransfer("t-3", "k9", "acme", 1), ErrInsufficientFunds},
			{"an unknown buyer", testTransfer("t-4", "k1", "nobody", 1), ErrNotFound},
			{"zero", testTransfer("t-5", "k1", "acme", 0), ErrInvalid},
			{"a malformed id", testTransfer("t/6", "k1", "acme", 1), ErrInvalid},
			{"no signature", PayoutTransfer{ID: "t-7", PayoutKey: h32("payout", "k1"), Buyer: "acme", Amount: 1}, ErrInvalid},
		} {
			_, _, err := s.TransferPayout(ctx, c.tr)
			wantErr(t, c.name, err, c.want)
		}
		wantPayout(t, "after refusals", s, "k1", 14, 5)
		wantPayout(t, "an account never credited", s, "k9", 0, 0)
		wantBalance(t, "after refusals", s, "acme", 105, 0, 0)
		if _, err := s.GetPayoutTransfer(ctx, "t-2"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused transfer was stored: %v", err)
		}
		got, err := s.GetPayoutTransfer(ctx, "t-1")
		if err != nil || got.PayoutKey != h32("payout", "k1") || got.Amount != 5 || !got.TransferredAt.Equal(t0) {
			t.Fatalf("GetPayoutTransfer: %+v, %v", got, err)
		}
		if _, _, err := s.TransferPayout(ctx, testTransfer("t-8", "k1", "acme", 9)); err != nil {
			t.Fatalf("the whole balance: %v", err)
		}
		wantPayout(t, "emptied", s, "k1", 14, 14)
		if _, p, err := s.RecordClaim(ctx, testClaim("c", "job-1", "k1")); err != nil || p.Credited != 21 || p.Transferred != 14 {
			t.Fatalf("a claim after transfers: %+v, %v", p, err)
		}
	})
}

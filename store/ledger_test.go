package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// rat parses a rational the tests write as "p" or "p/q".
func rat(t testing.TB, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad rational %q", s)
	}
	return r
}

func testDebit(t testing.TB, job, buyer string, from, to uint64, rho, epochTotal, buyerTotal string) PrivacyDebit {
	return PrivacyDebit{
		JobID: job, DatasetID: "fitness", Buyer: buyer, EpochFrom: from, EpochTo: to,
		Rho: rat(t, rho), EpochTotal: rat(t, epochTotal), BuyerTotal: rat(t, buyerTotal), At: t0,
	}
}

// ratEq reports whether a and b are both set and equal.
func ratEq(a, b *big.Rat) bool { return a != nil && b != nil && a.Cmp(b) == 0 }

// diffDebit describes how got differs from want ("" if equal).
func diffDebit(got, want PrivacyDebit) string {
	var d []string
	add := func(ok bool, field string) {
		if !ok {
			d = append(d, field)
		}
	}
	add(got.JobID == want.JobID, "JobID")
	add(got.DatasetID == want.DatasetID, "DatasetID")
	add(got.Buyer == want.Buyer, "Buyer")
	add(got.EpochFrom == want.EpochFrom, "EpochFrom")
	add(got.EpochTo == want.EpochTo, "EpochTo")
	add(ratEq(got.Rho, want.Rho), "Rho")
	add(ratEq(got.EpochTotal, want.EpochTotal), "EpochTotal")
	add(ratEq(got.BuyerTotal, want.BuyerTotal), "BuyerTotal")
	add(got.At.Equal(want.At), "At")
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("fields differ: %v\n got %+v\nwant %+v", d, got, want)
}

// checkEntries checks a debit's entries: one per epoch of d, ascending,
// with d's totals, the given amounts before, and before + ρ after.
func checkEntries(t *testing.T, what string, got []LedgerEntry, d PrivacyDebit, epochBefore, buyerBefore []string) {
	t.Helper()
	if uint64(len(got)) != d.EpochTo-d.EpochFrom+1 {
		t.Fatalf("%s: %d entries, want %d", what, len(got), d.EpochTo-d.EpochFrom+1)
	}
	for i, e := range got {
		eb, bb := rat(t, epochBefore[i]), rat(t, buyerBefore[i])
		if e.Epoch != d.EpochFrom+uint64(i) ||
			!ratEq(e.EpochTotal, d.EpochTotal) || !ratEq(e.EpochBefore, eb) || !ratEq(e.EpochAfter, new(big.Rat).Add(eb, d.Rho)) ||
			!ratEq(e.BuyerTotal, d.BuyerTotal) || !ratEq(e.BuyerBefore, bb) || !ratEq(e.BuyerAfter, new(big.Rat).Add(bb, d.Rho)) {
			t.Fatalf("%s: entry %d = %s, want epoch %d, totals %s/%s, before %s/%s, plus ρ %s",
				what, i, fmtEntry(e), d.EpochFrom+uint64(i), d.EpochTotal.RatString(), d.BuyerTotal.RatString(),
				epochBefore[i], buyerBefore[i], d.Rho.RatString())
		}
	}
}

func fmtEntry(e LedgerEntry) string {
	s := func(r *big.Rat) string {
		if r == nil {
			return "nil"
		}
		return r.RatString()
	}
	return fmt.Sprintf("{epoch %d: total %s, %s → %s; buyer total %s, %s → %s}", e.Epoch,
		s(e.EpochTotal), s(e.EpochBefore), s(e.EpochAfter), s(e.BuyerTotal), s(e.BuyerBefore), s(e.BuyerAfter))
}

// checkSpent checks PrivacySpent over [from, from+len(spent)-1] against the
// expected amounts, overall and by buyer.
func checkSpent(t *testing.T, what string, s Tx, buyer string, from uint64, spent, buyerSpent []string) {
	t.Helper()
	got, err := s.PrivacySpent(context.Background(), "fitness", buyer, from, from+uint64(len(spent))-1)
	if err != nil {
		t.Fatalf("%s: PrivacySpent: %v", what, err)
	}
	if len(got) != len(spent) {
		t.Fatalf("%s: PrivacySpent returned %d epochs, want %d", what, len(got), len(spent))
	}
	for i, e := range got {
		if e.Epoch != from+uint64(i) || !ratEq(e.Spent, rat(t, spent[i])) || !ratEq(e.BuyerSpent, rat(t, buyerSpent[i])) {
			t.Fatalf("%s: epoch %d: spent %v, by %s %v; want epoch %d, %s and %s", what, e.Epoch, e.Spent, buyer,
				e.BuyerSpent, from+uint64(i), spent[i], buyerSpent[i])
		}
	}
}

func mustDebitOf(t *testing.T, s Tx, jobID string) (PrivacyDebit, []LedgerEntry) {
	t.Helper()
	d, entries, err := s.PrivacyDebitOf(context.Background(), jobID)
	if err != nil {
		t.Fatalf("PrivacyDebitOf(%q): %v", jobID, err)
	}
	return d, entries
}

func TestLedgerDebit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		d1 := testDebit(t, "job-1", "alice", 3, 5, "1/10", "1", "1/2")
		_, err := s.DebitPrivacy(ctx, d1)
		wantErr(t, "DebitPrivacy(no dataset)", err, ErrNotFound)
		_, err = s.PrivacySpent(ctx, "fitness", "alice", 0, 1)
		wantErr(t, "PrivacySpent(no dataset)", err, ErrNotFound)
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		checkSpent(t, "a fresh ledger", s, "alice", 0, []string{"0", "0"}, []string{"0", "0"})

		entries, err := s.DebitPrivacy(ctx, d1)
		if err != nil {
			t.Fatal(err)
		}
		checkEntries(t, "first debit", entries, d1, []string{"0", "0", "0"}, []string{"0", "0", "0"})
		// The store kept copies: changing what it was given or returned
		// changes nothing stored.
		d1Want := d1
		d1Want.Rho, d1Want.EpochTotal, d1Want.BuyerTotal = rat(t, "1/10"), rat(t, "1"), rat(t, "1/2")
		d1.Rho.SetInt64(7)
		entries[0].EpochAfter.SetInt64(9)
		got, gotEntries := mustDebitOf(t, s, "job-1")
		if diff := diffDebit(got, d1Want); diff != "" {
			t.Fatal(diff)
		}
		checkEntries(t, "PrivacyDebitOf(job-1)", gotEntries, d1Want, []string{"0", "0", "0"}, []string{"0", "0", "0"})
		d1 = d1Want

		// Another buyer over epochs 4..7, with ρ of another denominator: the
		// epochs' sums are exact, the buyers' shares apart.
		d2 := testDebit(t, "job-2", "bob", 4, 7, "1/3", "1", "1/2")
		d2.At = t0.Add(time.Hour)
		entries, err = s.DebitPrivacy(ctx, d2)
		if err != nil {
			t.Fatal(err)
		}
		checkEntries(t, "second debit", entries, d2, []string{"1/10", "1/10", "0", "0"}, []string{"0", "0", "0", "0"})
		checkSpent(t, "after two debits", s, "alice", 2, []string{"0", "1/10", "13/30", "13/30", "1/3", "1/3", "0"},
			[]string{"0", "1/10", "1/10", "1/10", "0", "0", "0"})
		checkSpent(t, "after two debits", s, "bob", 2, []string{"0", "1/10", "13/30", "13/30", "1/3", "1/3", "0"},
			[]string{"0", "0", "1/3", "1/3", "1/3", "1/3", "0"})
		checkSpent(t, "a buyer without debits", s, "carol", 5, []string{"13/30"}, []string{"0"})
		got, gotEntries = mustDebitOf(t, s, "job-2")
		if diff := diffDebit(got, d2); diff != "" {
			t.Fatal(diff)
		}
		checkEntries(t, "PrivacyDebitOf(job-2)", gotEntries, d2, []string{"1/10", "1/10", "0", "0"}, []string{"0", "0", "0", "0"})

		// Exactly up to the totals: alice's share of epoch 5 to 1/2, then
		// the epoch to 1.
		d3 := testDebit(t, "job-3", "alice", 5, 5, "2/5", "1", "1/2")
		if entries, err = s.DebitPrivacy(ctx, d3); err != nil {
			t.Fatal(err)
		}
		checkEntries(t, "a debit up to the buyer's total", entries, d3, []string{"13/30"}, []string{"1/10"})
		d4 := testDebit(t, "job-4", "carol", 5, 5, "1/6", "1", "1/2")
		if entries, err = s.DebitPrivacy(ctx, d4); err != nil {
			t.Fatal(err)
		}
		checkEntries(t, "a debit up to the epoch's total", entries, d4, []string{"5/6"}, []string{"0"})
		checkSpent(t, "epoch 5 spent", s, "alice", 5, []string{"1"}, []string{"1/2"})

		// Another dataset's ledger is its own.
		d5 := testDebit(t, "job-5", "alice", 5, 5, "1/2", "1", "1/2")
		d5.DatasetID = "sleep"
		if _, err := s.DebitPrivacy(ctx, d5); err != nil {
			t.Fatal(err)
		}
		spent, err := s.PrivacySpent(ctx, "sleep", "alice", 5, 5)
		if err != nil || len(spent) != 1 || !ratEq(spent[0].Spent, rat(t, "1/2")) || !ratEq(spent[0].BuyerSpent, rat(t, "1/2")) {
			t.Fatalf("PrivacySpent(sleep) = %+v, %v; want 1/2 and 1/2", spent, err)
		}

		// The largest range, at the top of the epochs.
		wide := testDebit(t, "job-6", "alice", math.MaxInt64-MaxLedgerEpochs+1, math.MaxInt64, "1/4", "1", "1/2")
		start := time.Now()
		if entries, err = s.DebitPrivacy(ctx, wide); err != nil {
			t.Fatal(err)
		}
		t.Logf("a debit of %d epochs took %v", MaxLedgerEpochs, time.Since(start))
		zeros := make([]string, MaxLedgerEpochs)
		quarters := make([]string, MaxLedgerEpochs)
		for i := range zeros {
			zeros[i], quarters[i] = "0", "1/4"
		}
		checkEntries(t, "the widest debit", entries, wide, zeros, zeros)
		_, gotEntries = mustDebitOf(t, s, "job-6")
		checkEntries(t, "PrivacyDebitOf(the widest debit)", gotEntries, wide, zeros, zeros)
		checkSpent(t, "the widest debit", s, "alice", wide.EpochFrom, quarters, quarters)

		_, _, err = s.PrivacyDebitOf(ctx, "job-absent")
		wantErr(t, "PrivacyDebitOf(absent)", err, ErrNotFound)
	})
}

// wantOverspend checks that err is an overspend of budget b on epoch with
// the given spent and remaining amounts.
func wantOverspend(t *testing.T, what string, err error, b PrivacyBudget, epoch uint64, total, spent, remaining string) {
	t.Helper()
	wantErr(t, what, err, ErrOverspend)
	var oe *OverspendError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: error %v holds no *OverspendError", what, err)
	}
	if oe.Budget != b || oe.Epoch != epoch || !ratEq(oe.Total, rat(t, total)) || !ratEq(oe.Spent, rat(t, spent)) ||
		!ratEq(oe.Remaining, rat(t, remaining)) {
		t.Fatalf("%s: %v; want the %s budget of epoch %d, %s of %s spent, %s remaining", what, err, b, epoch, spent, total, remaining)
	}
	for _, part := range []string{fmt.Sprintf("epoch %d", epoch), string(b), spent + " of " + total, remaining + " remaining"} {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("%s: error %q does not say %q", what, err, part)
		}
	}
}

// TestLedgerOverspend: a debit beyond an epoch's total or a buyer's, on
// any epoch of its range, is refused and writes nothing, for no epoch; a
// job is debited once.
func TestLedgerOverspend(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		for _, d := range []PrivacyDebit{
			testDebit(t, "job-1", "alice", 0, 3, "1/4", "1", "1/2"),
			testDebit(t, "job-2", "bob", 2, 2, "1/2", "1", "1/2"),
		} {
			if _, err := s.DebitPrivacy(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		spent := []string{"1/4", "1/4", "3/4", "1/4", "0"}
		aliceSpent := []string{"1/4", "1/4", "1/4", "1/4", "0"}
		unchanged := func(what string) {
			t.Helper()
			checkSpent(t, what, s, "alice", 0, spent, aliceSpent)
			checkSpent(t, what, s, "bob", 2, []string{"3/4"}, []string{"1/2"})
		}

		// The buyer's cap: alice has 1/4 of 1/2 left on every epoch.
		_, err := s.DebitPrivacy(ctx, testDebit(t, "job-3", "alice", 1, 1, "1/3", "1", "1/2"))
		wantOverspend(t, "DebitPrivacy(beyond the buyer's cap)", err, BuyerBudget, 1, "1/2", "1/4", "1/4")
		// The epoch's total: epoch 2 has 1/4 left for anyone.
		_, err = s.DebitPrivacy(ctx, testDebit(t, "job-3", "carol", 2, 2, "1/3", "1", "1/2"))
		wantOverspend(t, "DebitPrivacy(beyond the epoch's total)", err, EpochBudget, 2, "1", "3/4", "1/4")
		// One exhausted epoch in the range: nothing written for the others.
		_, err = s.DebitPrivacy(ctx, testDebit(t, "job-3", "carol", 0, 4, "1/3", "1", "1/2"))
		wantOverspend(t, "DebitPrivacy(over an exhausted epoch)", err, EpochBudget, 2, "1", "3/4", "1/4")
		_, err = s.DebitPrivacy(ctx, testDebit(t, "job-3", "alice", 3, 4, "1/3", "1", "1/2"))
		wantOverspend(t, "DebitPrivacy(over the buyer's exhausted epoch)", err, BuyerBudget, 3, "1/2", "1/4", "1/4")
		// Totals lowered below what was spent: nothing remains.
		_, err = s.DebitPrivacy(ctx, testDebit(t, "job-3", "alice", 0, 0, "1/100", "1/5", "1/5"))
		wantOverspend(t, "DebitPrivacy(under lowered totals)", err, EpochBudget, 0, "1/5", "1/4", "0")
		// A zero total refuses every debit.
		_, err = s.DebitPrivacy(ctx, testDebit(t, "job-3", "alice", 4, 4, "1/100", "0", "0"))
		wantOverspend(t, "DebitPrivacy(a zero total)", err, EpochBudget, 4, "0", "0", "0")
		unchanged("after refused debits")
		_, _, err = s.PrivacyDebitOf(ctx, "job-3")
		wantErr(t, "PrivacyDebitOf(a refused debit)", err, ErrNotFound)

		// A job is debited once, even where the second debit would fit.
		_, err = s.DebitPrivacy(ctx, testDebit(t, "job-1", "alice", 4, 4, "1/100", "1", "1/2"))
		wantErr(t, "DebitPrivacy(a debited job)", err, ErrAlreadyExists)
		unchanged("after a second debit of a job")
		d, entries := mustDebitOf(t, s, "job-1")
		want := testDebit(t, "job-1", "alice", 0, 3, "1/4", "1", "1/2")
		if diff := diffDebit(d, want); diff != "" {
			t.Fatal("a second debit changed the first: " + diff)
		}
		checkEntries(t, "the first debit", entries, want, []string{"0", "0", "0", "0"}, []string{"0", "0", "0", "0"})

		// The job refused above may still be debited within the budgets.
		if _, err := s.DebitPrivacy(ctx, testDebit(t, "job-3", "carol", 2, 4, "1/4", "1", "1/2")); err != nil {
			t.Fatal(err)
		}
		checkSpent(t, "after a debit that fits", s, "carol", 0, []string{"1/4", "1/4", "1", "1/2", "1/4"},
			[]string{"0", "0", "1/4", "1/4", "1/4"})
	})
}

// TestLedgerSpentLimit: sums of debits with unlike denominators grow; the
// debit that would take one past MaxSpentLen is refused with ErrLimit and
// writes nothing.
func TestLedgerSpentLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		var before []EpochSpent
		for i, p := range []int64{2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71} {
			// 1/p^k with about 240 digits.
			k := int64(240 / math.Log10(float64(p)))
			rho := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(p), big.NewInt(k), nil))
			d := PrivacyDebit{
				JobID: fmt.Sprintf("job-%d", i), DatasetID: "fitness", Buyer: "alice", EpochFrom: 1, EpochTo: 1,
				Rho: rho, EpochTotal: big.NewRat(1, 1), BuyerTotal: big.NewRat(1, 1), At: t0,
			}
			_, err := s.DebitPrivacy(ctx, d)
			if errors.Is(err, ErrLimit) {
				after, serr := s.PrivacySpent(ctx, "fitness", "alice", 1, 1)
				if serr != nil {
					t.Fatal(serr)
				}
				if !ratEq(after[0].Spent, before[0].Spent) || !ratEq(after[0].BuyerSpent, before[0].BuyerSpent) {
					t.Fatalf("a debit refused with ErrLimit changed the ledger")
				}
				if _, _, err := s.PrivacyDebitOf(ctx, d.JobID); !errors.Is(err, ErrNotFound) {
					t.Fatalf("a debit refused with ErrLimit was recorded: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("debit %d: %v", i, err)
			}
			if before, err = s.PrivacySpent(ctx, "fitness", "alice", 1, 1); err != nil {
				t.Fatal(err)
			}
		}
		t.Fatal("the spent amount never reached MaxSpentLen")
	})
}

func TestLedgerRefuse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		huge := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), 1<<20))
		for _, tc := range []struct {
			name   string
			change func(d *PrivacyDebit)
		}{
			{"empty job id", func(d *PrivacyDebit) { d.JobID = "" }},
			{"long job id", func(d *PrivacyDebit) { d.JobID = strings.Repeat("j", MaxJobIDLen+1) }},
			{"job id with a space", func(d *PrivacyDebit) { d.JobID = "job 1" }},
			{"empty dataset id", func(d *PrivacyDebit) { d.DatasetID = "" }},
			{"long dataset id", func(d *PrivacyDebit) { d.DatasetID = strings.Repeat("d", MaxDatasetIDLen+1) }},
			{"dataset id not UTF-8", func(d *PrivacyDebit) { d.DatasetID = "\xff" }},
			{"empty buyer", func(d *PrivacyDebit) { d.Buyer = "" }},
			{"long buyer", func(d *PrivacyDebit) { d.Buyer = strings.Repeat("b", MaxBuyerIDLen+1) }},
			{"buyer with a slash", func(d *PrivacyDebit) { d.Buyer = "al/ice" }},
			{"from after to", func(d *PrivacyDebit) { d.EpochFrom, d.EpochTo = 5, 4 }},
			{"epoch above MaxInt64", func(d *PrivacyDebit) { d.EpochFrom, d.EpochTo = math.MaxInt64, math.MaxInt64+1 }},
			{"too many epochs", func(d *PrivacyDebit) { d.EpochFrom, d.EpochTo = 10, 10+MaxLedgerEpochs }},
			{"nil ρ", func(d *PrivacyDebit) { d.Rho = nil }},
			{"zero ρ", func(d *PrivacyDebit) { d.Rho = new(big.Rat) }},
			{"negative ρ", func(d *PrivacyDebit) { d.Rho = big.NewRat(-1, 10) }},
			{"nil epoch total", func(d *PrivacyDebit) { d.EpochTotal = nil }},
			{"negative epoch total", func(d *PrivacyDebit) { d.EpochTotal, d.BuyerTotal = big.NewRat(-1, 2), big.NewRat(-1, 2) }},
			{"nil buyer total", func(d *PrivacyDebit) { d.BuyerTotal = nil }},
			{"negative buyer total", func(d *PrivacyDebit) { d.BuyerTotal = big.NewRat(-1, 2) }},
			{"buyer total above the epoch's", func(d *PrivacyDebit) { d.BuyerTotal = big.NewRat(3, 2) }},
			{"ρ of a million bits", func(d *PrivacyDebit) { d.Rho = huge }},
			{"ρ longer than MaxRatLen", func(d *PrivacyDebit) {
				d.Rho = rat(t, "1/1"+strings.Repeat("0", MaxRatLen))
			}},
			{"total too long", func(d *PrivacyDebit) { d.EpochTotal = rat(t, strings.Repeat("9", MaxRatLen+1)) }},
		} {
			d := testDebit(t, "job-1", "alice", 0, 2, "1/10", "1", "1/2")
			tc.change(&d)
			_, err := s.DebitPrivacy(ctx, d)
			wantErr(t, "DebitPrivacy("+tc.name+")", err, ErrInvalid)
		}
		_, _, err := s.PrivacyDebitOf(ctx, "job-1")
		wantErr(t, "PrivacyDebitOf after refused debits", err, ErrNotFound)
		checkSpent(t, "after refused debits", s, "alice", 0, []string{"0", "0", "0"}, []string{"0", "0", "0"})
		_, _, err = s.PrivacyDebitOf(ctx, "job 1")
		wantErr(t, "PrivacyDebitOf(malformed id)", err, ErrInvalid)

		// Bounds that are accepted.
		edge := testDebit(t, strings.Repeat("J", MaxJobIDLen), strings.Repeat("b", MaxBuyerIDLen), 0, MaxLedgerEpochs-1,
			"1/"+strings.Repeat("9", MaxRatLen-2), strings.Repeat("9", MaxRatLen), strings.Repeat("9", MaxRatLen))
		if _, err := s.DebitPrivacy(ctx, edge); err != nil {
			t.Fatalf("DebitPrivacy(at its bounds): %v", err)
		}

		for _, tc := range []struct {
			name, dataset, buyer string
			from, to             uint64
			want                 error
		}{
			{"empty dataset id", "", "alice", 0, 1, ErrInvalid},
			{"dataset id not UTF-8", "\xff", "alice", 0, 1, ErrInvalid},
			{"empty buyer", "fitness", "", 0, 1, ErrInvalid},
			{"malformed buyer", "fitness", "al ice", 0, 1, ErrInvalid},
			{"from after to", "fitness", "alice", 2, 1, ErrInvalid},
			{"epoch above MaxInt64", "fitness", "alice", 0, math.MaxInt64 + 1, ErrInvalid},
			{"too many epochs", "fitness", "alice", 0, MaxLedgerEpochs, ErrInvalid},
			{"unknown dataset", "sleep", "alice", 0, 1, ErrNotFound},
		} {
			_, err := s.PrivacySpent(ctx, tc.dataset, tc.buyer, tc.from, tc.to)
			wantErr(t, "PrivacySpent("+tc.name+")", err, tc.want)
		}
	})
}

// TestLedgerMalformedRow: a stored amount not in RatString form is an
// error when read, never a panic nor a guess.
func TestLedgerMalformedRow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		if _, err := s.DebitPrivacy(ctx, testDebit(t, "job-1", "alice", 0, 0, "1/2", "1", "1")); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"0.5", "2/4", "-1/2", "1e3", "x"} {
			if _, err := s.(*sqlStore).w.ExecContext(ctx, `UPDATE privacy_epochs SET spent = $1`, bad); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PrivacySpent(ctx, "fitness", "alice", 0, 0); err == nil || !strings.Contains(err.Error(), "lowest terms") {
				t.Fatalf("PrivacySpent over a stored %q: %v, want an error", bad, err)
			}
			_, err := s.DebitPrivacy(ctx, testDebit(t, "job-2", "alice", 0, 0, "1/100", "1", "1"))
			if err == nil || !strings.Contains(err.Error(), "lowest terms") {
				t.Fatalf("DebitPrivacy over a stored %q: %v, want an error", bad, err)
			}
		}
		if _, err := s.(*sqlStore).w.ExecContext(ctx, `UPDATE privacy_debit_entries SET epoch_before = '1.0'`); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.PrivacyDebitOf(ctx, "job-1"); err == nil || !strings.Contains(err.Error(), "lowest terms") {
			t.Fatalf("PrivacyDebitOf over a stored 1.0: %v, want an error", err)
		}
	})
}

// TestLedgerInTx: a debit commits with its caller's transaction, and rolls
// back with it; a refused debit inside a transaction leaves it usable.
func TestLedgerInTx(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		p := testPeerJob("job-1", "fitness")
		p.Buyer, p.Noise = "alice", []byte("noise of job-1")
		if _, err := s.PutPeerJob(ctx, p); err != nil {
			t.Fatal(err)
		}
		released := p
		released.State, released.Partial, released.UpdatedAt = PeerJobPartialReleased, []byte("partial"), t0.Add(time.Minute)
		d := testDebit(t, "job-1", "alice", 0, 1, "1/2", "1", "1/2")

		// The caller's transaction fails after the debit: nothing stays.
		err := s.InTx(ctx, func(tx Tx) error {
			if _, err := tx.DebitPrivacy(ctx, d); err != nil {
				return err
			}
			if err := tx.UpdatePeerJob(ctx, released, PeerJobPrepared); err != nil {
				return err
			}
			checkSpent(t, "inside the transaction", tx, "alice", 0, []string{"1/2", "1/2"}, []string{"1/2", "1/2"})
			mustDebitOf(t, tx, "job-1")
			return errAbandon
		})
		if !errors.Is(err, errAbandon) {
			t.Fatalf("InTx = %v, want fn's error", err)
		}
		checkSpent(t, "after a rolled back debit", s, "alice", 0, []string{"0", "0"}, []string{"0", "0"})
		_, _, err = s.PrivacyDebitOf(ctx, "job-1")
		wantErr(t, "PrivacyDebitOf after a rolled back debit", err, ErrNotFound)
		if diff := diffPeerJob(mustGetPeerJob(t, s, "job-1"), p); diff != "" {
			t.Fatal("a rolled back release changed the peer job: " + diff)
		}

		// A refused debit inside: the transaction goes on, and what it wrote
		// commits.
		err = s.InTx(ctx, func(tx Tx) error {
			over := testDebit(t, "job-1", "alice", 0, 1, "2/3", "1", "1/2")
			if _, err := tx.DebitPrivacy(ctx, over); !errors.Is(err, ErrOverspend) {
				return fmt.Errorf("DebitPrivacy(over the cap) = %v, want ErrOverspend", err)
			}
			if _, err := tx.DebitPrivacy(ctx, d); err != nil {
				return err
			}
			return tx.UpdatePeerJob(ctx, released, PeerJobPrepared)
		})
		if err != nil {
			t.Fatal(err)
		}
		checkSpent(t, "after a committed debit", s, "alice", 0, []string{"1/2", "1/2"}, []string{"1/2", "1/2"})
		got, _ := mustDebitOf(t, s, "job-1")
		if diff := diffDebit(got, d); diff != "" {
			t.Fatal(diff)
		}
		if diff := diffPeerJob(mustGetPeerJob(t, s, "job-1"), released); diff != "" {
			t.Fatal(diff)
		}
	})
}

// debitRace runs n debits at once, spread over the replicas, and returns
// which succeeded; any error but ErrOverspend fails t. Every third runs
// inside InTx.
func debitRace(t *testing.T, replicas []Store, n int, debit func(i int) PrivacyDebit) []bool {
	t.Helper()
	ctx := context.Background()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := replicas[i%len(replicas)]
			if i%3 == 2 {
				errs[i] = s.InTx(ctx, func(tx Tx) error {
					_, err := tx.DebitPrivacy(ctx, debit(i))
					return err
				})
				return
			}
			_, errs[i] = s.DebitPrivacy(ctx, debit(i))
		})
	}
	wg.Wait()
	ok := make([]bool, n)
	for i, err := range errs {
		switch {
		case err == nil:
			ok[i] = true
		case !errors.Is(err, ErrOverspend):
			t.Fatalf("debit %d: %v", i, err)
		}
	}
	return ok
}

func count(ok []bool) int {
	n := 0
	for _, b := range ok {
		if b {
			n++
		}
	}
	return n
}

// TestLedgerConcurrent: debits racing on two replicas never overspend an
// epoch's total or a buyer's cap, and exactly as many succeed as fit; debits
// over overlapping ranges neither deadlock nor overspend.
func TestLedgerConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		mustPutDataset(t, s, "fitness")
		replicas := []Store{s, openStore(t, cfg)}
		const n = 20

		// The epoch's total: 20 buyers, 1/10 each, total 1.
		ok := debitRace(t, replicas, n, func(i int) PrivacyDebit {
			return testDebit(t, fmt.Sprintf("epoch-%d", i), fmt.Sprintf("buyer-%d", i), 1, 1, "1/10", "1", "1")
		})
		if got := count(ok); got != 10 {
			t.Fatalf("%d debits of 1/10 against a total of 1 succeeded, want 10", got)
		}
		buyer0 := "0"
		if ok[0] {
			buyer0 = "1/10"
		}
		checkSpent(t, "epoch 1 after the race", s, "buyer-0", 1, []string{"1"}, []string{buyer0})

		// A buyer's cap: one buyer, 1/10 each, cap 1 under a total of 10.
		ok = debitRace(t, replicas, n, func(i int) PrivacyDebit {
			return testDebit(t, fmt.Sprintf("buyer-%d", i), "alice", 2, 2, "1/10", "10", "1")
		})
		if got := count(ok); got != 10 {
			t.Fatalf("%d debits of 1/10 against a cap of 1 succeeded, want 10", got)
		}
		checkSpent(t, "epoch 2 after the race", s, "alice", 2, []string{"1"}, []string{"1"})

		// Overlapping ranges [10+i%4, 13+i%4]: each epoch ends at most at its
		// total, and at exactly what the successful debits covering it add.
		ok = debitRace(t, replicas, n, func(i int) PrivacyDebit {
			from := uint64(10 + i%4)
			return testDebit(t, fmt.Sprintf("range-%d", i), fmt.Sprintf("buyer-%d", i%3), from, from+3, "1/7", "1", "1/2")
		})
		want := make([]*big.Rat, 7)
		for e := range want {
			want[e] = new(big.Rat)
		}
		for i, won := range ok {
			if won {
				for e := i % 4; e < i%4+4; e++ {
					want[e].Add(want[e], big.NewRat(1, 7))
				}
			}
		}
		got, err := s.PrivacySpent(context.Background(), "fitness", "buyer-0", 10, 16)
		if err != nil {
			t.Fatal(err)
		}
		for e, sp := range got {
			if !ratEq(sp.Spent, want[e]) || sp.Spent.Cmp(big.NewRat(1, 1)) > 0 || sp.BuyerSpent.Cmp(big.NewRat(1, 2)) > 0 {
				t.Fatalf("epoch %d: spent %s (by buyer-0 %s), want %s, at most 1 (1/2)", sp.Epoch, sp.Spent.RatString(),
					sp.BuyerSpent.RatString(), want[e].RatString())
			}
		}
		if count(ok) == 0 {
			t.Fatal("no debit over overlapping ranges succeeded")
		}
	})
}

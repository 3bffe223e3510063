package dp

import (
	"errors"
	"math/big"
	"testing"
)

func mustRho(t testing.TB, s string) Rho {
	t.Helper()
	r, err := ParseRho(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRhoArithmetic(t *testing.T) {
	a, b := mustRho(t, "1/3"), mustRho(t, "0.25")
	if got := a.Add(b).String(); got != "7/12" {
		t.Errorf("1/3 + 1/4 = %s, want 7/12", got)
	}
	d, err := a.Sub(b)
	if err != nil || d.String() != "1/12" {
		t.Errorf("1/3 − 1/4 = %v, %v, want 1/12", d, err)
	}
	if _, err := b.Sub(a); !errors.Is(err, ErrRho) {
		t.Errorf("1/4 − 1/3 = %v, want ErrRho", err)
	}
	if a.Cmp(b) != 1 || b.Cmp(a) != -1 || a.Cmp(mustRho(t, "2/6")) != 0 {
		t.Error("Cmp disagrees with the rationals")
	}
	var zero Rho
	if !zero.IsZero() || zero.String() != "0" || zero.Add(a).Cmp(a) != 0 {
		t.Errorf("the zero Rho is not ρ = 0: %s", zero)
	}
	r := big.NewRat(1, 2)
	p, err := NewRho(r)
	if err != nil {
		t.Fatal(err)
	}
	r.SetInt64(5)
	p.Rat().SetInt64(6)
	if p.String() != "1/2" {
		t.Errorf("ρ changed with its input or output: %s", p)
	}
	for _, s := range []string{"-1/2", "x", "", "1/0", "1/00", "1e9", "1e999999999", "+1", " 1", "1.", ".5", "0x10", "1/2/3", "1.5/2",
		"1234567890123456789012345678901"} {
		if _, err := ParseRho(s); !errors.Is(err, ErrRho) {
			t.Errorf("ParseRho(%q) = %v, want ErrRho", s, err)
		}
	}
	if _, err := NewRho(nil); !errors.Is(err, ErrRho) {
		t.Errorf("NewRho(nil) = %v, want ErrRho", err)
	}
}

func TestVarianceForRoundTrips(t *testing.T) {
	for _, c := range []struct {
		rho, d2, want string
	}{
		{"1/2", "1", "1"},    // Δ = 1, ρ = 1/2: σ² = 1
		{"1/10", "4", "20"},  // 4/(2/10)
		{"3/7", "5", "35/6"}, // 5/(6/7)
		{"0.001", "360000", "180000000"},
		{"1/3", "340282366920938463426481119284349108225", "1020847100762815390279443357853047324675/2"}, // (2^64−1)²·3/2
	} {
		rho := mustRho(t, c.rho)
		d2, _ := new(big.Int).SetString(c.d2, 10)
		v, err := VarianceFor(rho, d2)
		if err != nil {
			t.Fatal(err)
		}
		if v.String() != c.want {
			t.Errorf("VarianceFor(%s, %s) = %s, want %s", c.rho, c.d2, v, c.want)
		}
		back, err := RhoOf(v, d2)
		if err != nil {
			t.Fatal(err)
		}
		if back.Cmp(rho) != 0 {
			t.Errorf("RhoOf(VarianceFor(%s)) = %s", c.rho, back)
		}
	}
	if _, err := VarianceFor(Rho{}, big.NewInt(1)); !errors.Is(err, ErrRho) {
		t.Errorf("VarianceFor(0) = %v, want ErrRho", err)
	}
	for _, d2 := range []*big.Int{nil, big.NewInt(0), big.NewInt(-4)} {
		if _, err := VarianceFor(mustRho(t, "1"), d2); !errors.Is(err, ErrSensitivity) {
			t.Errorf("VarianceFor(Δ² = %v) = %v, want ErrSensitivity", d2, err)
		}
		if _, err := RhoOf(mustVariance(t, 1, 1), d2); !errors.Is(err, ErrSensitivity) {
			t.Errorf("RhoOf(Δ² = %v) = %v, want ErrSensitivity", d2, err)
		}
	}
	if _, err := RhoOf(Variance{}, big.NewInt(1)); !errors.Is(err, ErrParameter) {
		t.Errorf("RhoOf(zero variance) = %v, want ErrParameter", err)
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(mustRho(t, "1"))
	var err error
	for _, d := range []string{"1/3", "1/3", "1/4"} {
		if b, err = b.Debit(mustRho(t, d)); err != nil {
			t.Fatalf("debit %s: %v", d, err)
		}
	}
	if b.Spent().String() != "11/12" || b.Remaining().String() != "1/12" || b.Total().String() != "1" {
		t.Fatalf("spent %s, remaining %s of %s; want 11/12, 1/12 of 1", b.Spent(), b.Remaining(), b.Total())
	}
	over, err := b.Debit(mustRho(t, "1/11"))
	if !errors.Is(err, ErrOverspend) {
		t.Fatalf("overspending by 1/132: %v, want ErrOverspend", err)
	}
	if over != (Budget{}) || b.Spent().String() != "11/12" {
		t.Errorf("a refused debit changed the budget or returned one")
	}
	if _, err := b.Debit(Rho{}); !errors.Is(err, ErrRho) {
		t.Errorf("a zero debit: %v, want ErrRho", err)
	}
	full, err := b.Debit(mustRho(t, "1/12")) // exactly what is left
	if err != nil || !full.Remaining().IsZero() {
		t.Fatalf("spending the rest: %v, remaining %s", err, full.Remaining())
	}
	if _, err := full.Debit(mustRho(t, "1/1000000000000")); !errors.Is(err, ErrOverspend) {
		t.Errorf("debit from a spent budget: %v, want ErrOverspend", err)
	}
	if _, err := NewBudget(Rho{}).Debit(mustRho(t, "1/2")); !errors.Is(err, ErrOverspend) {
		t.Errorf("debit from a zero budget: %v, want ErrOverspend", err)
	}
	re, err := BudgetOf(mustRho(t, "1"), mustRho(t, "11/12"))
	if err != nil || re.Remaining().Cmp(b.Remaining()) != 0 {
		t.Errorf("BudgetOf: %v, %v", re, err)
	}
	if _, err := BudgetOf(mustRho(t, "1/2"), mustRho(t, "2/3")); !errors.Is(err, ErrOverspend) {
		t.Errorf("BudgetOf(spent > total) = %v, want ErrOverspend", err)
	}
}

func TestParseAmount(t *testing.T) {
	for s, want := range map[string]*big.Rat{
		"0": big.NewRat(0, 1), "2": big.NewRat(2, 1), "0.125": big.NewRat(1, 8), "1/8": big.NewRat(1, 8),
		"6/4": big.NewRat(3, 2), "007": big.NewRat(7, 1), "123456789012345678901234567890": func() *big.Rat {
			r, _ := new(big.Rat).SetString("123456789012345678901234567890")
			return r
		}(),
	} {
		got, err := ParseAmount(s)
		if err != nil || got.Cmp(want) != 0 {
			t.Errorf("ParseAmount(%q) = %v, %v, want %s", s, got, err, want.RatString())
		}
	}
}

package he

import (
	"errors"
	"math/big"
	"testing"
)

func TestParamSets(t *testing.T) {
	want := []struct {
		id       ParamSetID
		n        int
		maxQBits int
		tBits    int
		limbs    int
		insecure bool
	}{
		{BGVTestN8, 256, 109, 40, 2, true},
		{BGVN12Q109, 4096, 109, 40, 2, false},
		{BGVN13Q132, 8192, 132, 48, 3, false},
		{BGVN13Q218, 8192, 218, 60, 4, false},
	}
	ids := ParamSets()
	if len(ids) != len(want) {
		t.Fatalf("ParamSets() = %v", ids)
	}
	for i, w := range want {
		if ids[i] != w.id {
			t.Errorf("ParamSets()[%d] = %q, want %q (size order)", i, ids[i], w.id)
		}
		p := mustParams(t, w.id)
		if p.ID() != w.id || p.N() != w.n || p.Insecure() != w.insecure || p.limbs() != w.limbs {
			t.Errorf("%s: id %q N %d insecure %v limbs %d", w.id, p.ID(), p.N(), p.Insecure(), p.limbs())
		}
		if b := p.Q().BitLen(); b > w.maxQBits || b < w.maxQBits-1 {
			t.Errorf("%s: Q has %d bits, want ≤ %d", w.id, b, w.maxQBits)
		}
		tBig := new(big.Int).SetUint64(p.T())
		if tBig.BitLen() != w.tBits || !tBig.ProbablyPrime(20) || p.T()%uint64(2*p.N()) != 1 {
			t.Errorf("%s: t = %d is not a %d-bit prime ≡ 1 mod 2N", w.id, p.T(), w.tBits)
		}
		one := new(big.Int).Mul(p.Delta(), tBig)
		if one.Mod(one, p.Q()).Cmp(big.NewInt(1)) != 0 {
			t.Errorf("%s: Δ·t ≠ 1 mod Q", w.id)
		}
		if p.BGV().PCount() != 0 || p.BGV().PlaintextModulus() != p.T() || p.BGV().N() != p.N() {
			t.Errorf("%s: lattigo parameters disagree", w.id)
		}
		if p.ErrorBits() != 6 {
			t.Errorf("%s: ErrorBits = %d", w.id, p.ErrorBits())
		}
		// Accessors hand out copies.
		p.Q().SetInt64(1)
		p.Delta().SetInt64(1)
		if p.Q().Cmp(big.NewInt(1)) == 0 || p.Delta().Cmp(big.NewInt(1)) == 0 {
			t.Errorf("%s: Q or Delta is mutable through its accessor", w.id)
		}
		if again, _ := Lookup(w.id); again != p {
			t.Errorf("%s: Lookup returns a new *Params each time", w.id)
		}
	}
	if _, err := Lookup("bgv-n12-q110"); !errors.Is(err, ErrUnknownParamSet) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestCRTAndExactProduct(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	n := p.N()
	// Random a in [0, Q) and ternary u: the auxiliary-ring product equals the
	// schoolbook product over Z[X].
	u, err := sampleTernary(testRNG(1), n)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]*big.Int, n)
	for i := range a {
		a[i] = new(big.Int).Rand(newMathRand(uint64(i)), p.Q())
	}
	a[0] = new(big.Int).Sub(p.Q(), big.NewInt(1)) // the extreme value
	for i := range u {
		u[i] = 1 // worst case for magnitude
		if i%3 == 0 {
			u[i] = -1
		}
	}
	got := p.exact.mulTernary(u, p.exact.prepare(a))
	want := make([]*big.Int, 2*n)
	for i := range want {
		want[i] = new(big.Int)
	}
	var x big.Int
	for i, ui := range u {
		for j, aj := range a {
			want[i+j].Add(want[i+j], x.Mul(big.NewInt(ui), aj))
		}
	}
	if !bigEqual(got, want) {
		t.Fatal("exact product differs from the schoolbook product")
	}
}

package mpc

import (
	"math/big"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// TestAddNoise: noise added to one node's partial, negative values
// included, shifts the reconstructed sum by exactly that integer.
func TestAddNoise(t *testing.T) {
	a, _ := NewPartial(2)
	b, _ := NewPartial(2)
	var x, y fr.Element
	x.SetUint64(10)
	y.SetUint64(7)
	if err := a.Add([]fr.Element{x, y}); err != nil {
		t.Fatal(err)
	}
	if err := b.Add([]fr.Element{y, x}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddNoise([]*big.Int{big.NewInt(-3), big.NewInt(5)}); err != nil {
		t.Fatal(err)
	}
	total, err := Reconstruct(a.Sum(), b.Sum())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToBig(total, big.NewInt(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Int64() != 14 || got[1].Int64() != 22 || a.Count() != 1 {
		t.Fatalf("sums %v, count %d; want [14 22], 1", got, a.Count())
	}
	if err := a.AddNoise([]*big.Int{big.NewInt(1)}); err == nil {
		t.Fatal("noise of the wrong length accepted")
	}
	if err := a.AddNoise([]*big.Int{nil, big.NewInt(1)}); err == nil {
		t.Fatal("nil noise accepted")
	}
}

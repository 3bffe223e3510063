package mpc

import (
	"errors"
	"math/big"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

func TestToUint64(t *testing.T) {
	var minusOne fr.Element
	minusOne.SetOne()
	minusOne.Neg(&minusOne)
	tests := []struct {
		name  string
		sum   []fr.Element
		bound uint64
		want  []uint64
		is    error
	}{
		{"small", elementsOf([]uint64{0, 1, 99}), 100, []uint64{0, 1, 99}, nil},
		{"at bound", elementsOf([]uint64{0, 100}), 100, nil, ErrOutOfRange},
		{"wrapped below zero", []fr.Element{minusOne}, ^uint64(0), nil, ErrOutOfRange},
		{"max uint64 below bound", elementsOf([]uint64{^uint64(0) - 1}), ^uint64(0), []uint64{^uint64(0) - 1}, nil},
		{"empty", nil, 1, []uint64{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToUint64(tt.sum, tt.bound)
			if tt.is != nil {
				if !errors.Is(err, tt.is) || got != nil {
					t.Fatalf("got %v, %v; want %v", got, err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	if _, err := ToUint64(elementsOf([]uint64{0}), 0); err == nil {
		t.Fatal("bound 0 accepted")
	}
}

func TestToBig(t *testing.T) {
	var minusOne fr.Element
	minusOne.SetOne()
	minusOne.Neg(&minusOne)
	big2to100 := new(big.Int).Lsh(big.NewInt(1), 100)
	var e2to99 fr.Element
	e2to99.SetBigInt(new(big.Int).Lsh(big.NewInt(1), 99))

	got, err := ToBig([]fr.Element{fr.NewElement(5), e2to99}, big2to100)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Int64() != 5 || got[1].Cmp(new(big.Int).Lsh(big.NewInt(1), 99)) != 0 {
		t.Fatalf("got %v", got)
	}
	if _, err := ToBig([]fr.Element{minusOne}, big2to100); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("r−1 with bound 2^100: got %v, want ErrOutOfRange", err)
	}
	if got, err := ToBig([]fr.Element{minusOne}, fr.Modulus()); err != nil || got[0].Cmp(new(big.Int).Sub(fr.Modulus(), big.NewInt(1))) != 0 {
		t.Fatalf("r−1 with bound r: got %v, %v", got, err)
	}
	for _, bound := range []*big.Int{nil, big.NewInt(0), big.NewInt(-1), new(big.Int).Add(fr.Modulus(), big.NewInt(1))} {
		if _, err := ToBig([]fr.Element{fr.NewElement(0)}, bound); err == nil {
			t.Errorf("bound %v accepted", bound)
		}
	}
}

func TestToSigned(t *testing.T) {
	var minusSeven fr.Element
	minusSeven.SetInt64(-7)
	bound := big.NewInt(1 << 20)
	got, err := ToSigned([]fr.Element{fr.NewElement(5), minusSeven, fr.NewElement(0)}, bound)
	if err != nil || got[0].Int64() != 5 || got[1].Int64() != -7 || got[2].Sign() != 0 {
		t.Fatalf("ToSigned = %v, %v; want [5 -7 0]", got, err)
	}
	var far fr.Element
	far.SetInt64(-(1 << 20))
	for name, e := range map[string]fr.Element{"at the bound": fr.NewElement(1 << 20), "at minus the bound": far} {
		if _, err := ToSigned([]fr.Element{e}, bound); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("%s: %v, want ErrOutOfRange", name, err)
		}
	}
	for _, b := range []*big.Int{nil, big.NewInt(0), fr.Modulus()} {
		if _, err := ToSigned([]fr.Element{fr.NewElement(0)}, b); err == nil {
			t.Errorf("bound %v accepted", b)
		}
	}
}

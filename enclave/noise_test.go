package enclave

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
)

func TestNoiseEncoding(t *testing.T) {
	z := []*big.Int{big.NewInt(0), big.NewInt(-1), big.NewInt(255), new(big.Int).Lsh(big.NewInt(-3), 100)}
	b, err := EncodeNoise(z)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeNoise(b, len(z))
	if err != nil {
		t.Fatal(err)
	}
	for i := range z {
		if got[i].Cmp(z[i]) != 0 {
			t.Errorf("value %d: %s, want %s", i, got[i], z[i])
		}
	}
	for name, bad := range map[string][]byte{
		"empty":          nil,
		"other count":    append([]byte{0, 0, 0, 5}, b[4:]...),
		"trailing":       append(bytes.Clone(b), 0),
		"cut":            b[:len(b)-1],
		"bad sign":       {0, 0, 0, 1, 2, 0, 0},
		"negative zero":  {0, 0, 0, 1, 1, 0, 0},
		"leading zero":   {0, 0, 0, 1, 0, 0, 2, 0, 1},
		"long magnitude": append([]byte{0, 0, 0, 1, 0, 0xff, 0xff}, make([]byte, 0xffff)...),
	} {
		if _, err := DecodeNoise(bad, len(z)); !errors.Is(err, ErrNoiseEncoding) {
			t.Errorf("%s: %v, want ErrNoiseEncoding", name, err)
		}
	}
	if _, err := EncodeNoise([]*big.Int{nil}); err == nil {
		t.Error("a missing value encoded")
	}
}

func FuzzDecodeNoise(f *testing.F) {
	b, _ := EncodeNoise([]*big.Int{big.NewInt(-7), big.NewInt(9)})
	f.Add(b, 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		z, err := DecodeNoise(b, n)
		if err != nil {
			return
		}
		again, err := EncodeNoise(z)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded noise re-encodes differently: %x vs %x (%v)", again, b, err)
		}
	})
}

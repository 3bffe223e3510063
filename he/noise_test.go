package he

import (
	"errors"
	"math/big"
	"testing"
)

// TestAddNoise: noise one party adds to its partial decryption shifts the
// combined plaintext by exactly that integer, mod t, negatives included;
// the other coordinates are unchanged.
func TestAddNoise(t *testing.T) {
	f := newDecryptFixture(t)
	p := f.p
	active := []int{0, 1}
	coords := []int{3, 7, 11}
	parts := make([]*PartialDecryption, 2)
	for k, i := range active {
		share, err := f.ck.keys[i].DecryptionShare(p, f.ct, active, f.budget, testRNG(uint64(40+i)))
		if err != nil {
			t.Fatal(err)
		}
		if parts[k], err = share.Reveal(coords); err != nil {
			t.Fatal(err)
		}
	}
	noise := []*big.Int{big.NewInt(-5), big.NewInt(0), big.NewInt(123456)}
	if err := parts[1].AddNoise(noise); err != nil {
		t.Fatal(err)
	}
	got, err := Combine(p, f.ct, parts, coords)
	if err != nil {
		t.Fatal(err)
	}
	tm := int64(p.T())
	for k, j := range coords {
		want := ((int64(f.m[j])+noise[k].Int64())%tm + tm) % tm
		if int64(got[k]) != want {
			t.Errorf("coordinate %d: %d, want %d (message %d, noise %v)", j, got[k], want, f.m[j], noise[k])
		}
	}
	// Encoded and decoded, the noise stays.
	b, err := parts[1].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	again, err := UnmarshalPartialDecryption(p, b)
	if err != nil {
		t.Fatal(err)
	}
	if got2, err := Combine(p, f.ct, []*PartialDecryption{parts[0], again}, coords); err != nil || got2[2] != got[2] {
		t.Fatalf("after a round trip: %v, %v", got2, err)
	}
	if err := parts[0].AddNoise(noise[:1]); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("noise of the wrong length: %v", err)
	}
	if err := parts[0].AddNoise([]*big.Int{nil, nil, nil}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil noise: %v", err)
	}
}

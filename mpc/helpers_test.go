package mpc

import (
	"io"
	"math/rand/v2"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/wire/wiretest"
)

// testRand returns a deterministic randomness source for tests only.
func testRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// randomVector returns m random integers below 2^bits.
func randomVector(rng *rand.Rand, m int, bits uint) []uint64 {
	v := make([]uint64, m)
	for i := range v {
		v[i] = rng.Uint64() >> (64 - bits)
	}
	return v
}

func elementsOf(v []uint64) []fr.Element {
	out := make([]fr.Element, len(v))
	for i, x := range v {
		out[i].SetUint64(x)
	}
	return out
}

func equalElements(a, b []fr.Element) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(&b[i]) {
			return false
		}
	}
	return true
}

func equalShares(a, b Share) bool {
	return a.Node == b.Node && a.Blind.Equal(&b.Blind) && equalElements(a.Values, b.Values)
}

// roundTrip checks a wire type with wiretest.RoundTrip and that the value
// decodes to what was encoded.
func roundTrip[T any](t *testing.T, v T, marshal func(T) ([]byte, error), unmarshal func([]byte) (T, error), equal func(a, b T) bool) {
	t.Helper()
	wiretest.RoundTrip(t, v, marshal, unmarshal)
	data, err := marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	got, err := unmarshal(data)
	if err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !equal(v, got) {
		t.Fatalf("round trip changed the value")
	}
}

// modulusBytes is r, big-endian: the smallest non-canonical element encoding.
func modulusBytes() [fr.Bytes]byte {
	var b [fr.Bytes]byte
	fr.Modulus().FillBytes(b[:])
	return b
}

// fixedKey returns a deterministic node key for tests.
func fixedKey(t testing.TB, seed byte) *seal.PrivateKey {
	t.Helper()
	b := make([]byte, 33)
	b[0] = byte(seal.DefaultSuite)
	for i := 1; i < len(b); i++ {
		b[i] = seed + byte(i)
	}
	k, err := seal.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

package mpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cohort-dev/cohort/seal"
)

var testAAD = []byte("digest of the proof's public inputs")

// sealedFixture is one record split among three nodes, with each share sealed
// to its node's key.
type sealedFixture struct {
	keys   []*seal.PrivateKey
	shares []Share
	sealed [][]byte
	m      int
}

func newSealedFixture(t testing.TB, m int) sealedFixture {
	t.Helper()
	const k = 3
	v := randomVector(rand.New(rand.NewPCG(uint64(m), 9)), m, 32)
	shares, err := Split(v, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx := sealedFixture{shares: shares, m: m}
	for j := range k {
		key := fixedKey(t, byte(10*j))
		sealed, err := SealShare(key.Public(), shares[j], testAAD)
		if err != nil {
			t.Fatal(err)
		}
		fx.keys = append(fx.keys, key)
		fx.sealed = append(fx.sealed, sealed)
	}
	return fx
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, m := range []int{1, 25, 153} {
		t.Run(fmt.Sprintf("m=%d", m), func(t *testing.T) {
			fx := newSealedFixture(t, m)
			for j, key := range fx.keys {
				want, err := SealedSize(key.Suite(), m)
				if err != nil {
					t.Fatal(err)
				}
				if len(fx.sealed[j]) != want {
					t.Fatalf("sealed %d bytes, SealedSize says %d", len(fx.sealed[j]), want)
				}
				got, err := OpenShare(key, j, m, fx.sealed[j], testAAD)
				if err != nil {
					t.Fatal(err)
				}
				if !equalShares(got, fx.shares[j]) {
					t.Fatalf("node %d opened another share", j)
				}
				if err := got.CheckCommitment(fx.shares[j].Commitment()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// Sealing is randomized: the same share seals differently twice.
	fx := newSealedFixture(t, 2)
	again, err := SealShare(fx.keys[0].Public(), fx.shares[0], testAAD)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again, fx.sealed[0]) {
		t.Fatal("two seals of one share are equal")
	}
	// Empty and nil associated data are the same, and work.
	sealed, err := SealShare(fx.keys[1].Public(), fx.shares[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShare(fx.keys[1], 1, 2, sealed, []byte{}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenShareRefuses(t *testing.T) {
	const m = 3
	fx := newSealedFixture(t, m)
	good := fx.sealed[1]
	key := fx.keys[1]
	stranger, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    *seal.PrivateKey
		node   int
		m      int
		sealed []byte
		aad    []byte
		is     error
	}{
		{"wrong key (another node's)", fx.keys[2], 1, m, good, testAAD, ErrOpen},
		{"wrong key (a stranger's)", stranger, 1, m, good, testAAD, ErrOpen},
		{"wrong node index", key, 2, m, good, testAAD, ErrOpen},
		{"node index 0", key, 0, m, good, testAAD, ErrOpen},
		{"wrong aad", key, 1, m, good, []byte("digest of other public inputs"), ErrOpen},
		{"no aad", key, 1, m, good, nil, ErrOpen},
		{"aad with an extra byte", key, 1, m, good, append(bytes.Clone(testAAD), 0), ErrOpen},
		{"wrong length m", key, 1, m + 1, good, testAAD, ErrMalformed},
		{"smaller length m", key, 1, m - 1, good, testAAD, ErrMalformed},
		{"empty", key, 1, m, nil, testAAD, ErrMalformed},
		{"suite byte only", key, 1, m, good[:1], testAAD, ErrMalformed},
		{"truncated by one", key, 1, m, good[:len(good)-1], testAAD, ErrMalformed},
		{"truncated to the encapsulated key", key, 1, m, good[:1121], testAAD, ErrMalformed},
		{"extended by one", key, 1, m, append(bytes.Clone(good), 0), testAAD, ErrMalformed},
		{"unknown suite", key, 1, m, append([]byte{2}, good[1:]...), testAAD, ErrMalformed},
		{"suite 0", key, 1, m, append([]byte{0}, good[1:]...), testAAD, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenShare(tt.key, tt.node, tt.m, tt.sealed, tt.aad)
			if !errors.Is(err, tt.is) {
				t.Fatalf("got %v, want %v", err, tt.is)
			}
			if s.Values != nil || !s.Blind.IsZero() || s.Node != 0 {
				t.Fatal("a refused open returned share contents")
			}
		})
	}
	// Arguments out of range are refused before anything else.
	for _, tc := range []struct {
		key     *seal.PrivateKey
		node, m int
	}{{nil, 1, m}, {key, -1, m}, {key, MaxNodes, m}, {key, 1, 0}, {key, 1, MaxLen + 1}} {
		if _, err := OpenShare(tc.key, tc.node, tc.m, good, testAAD); err == nil {
			t.Errorf("OpenShare(key=%v, node=%d, m=%d) accepted", tc.key != nil, tc.node, tc.m)
		}
	}
}

// TestOpenShareFlippedByte flips one bit in every byte of a sealed share (a
// sample of them in -short mode): the suite byte is refused as malformed,
// every other byte makes the open fail.
func TestOpenShareFlippedByte(t *testing.T) {
	fx := newSealedFixture(t, 3)
	good := fx.sealed[0]
	step := 1
	if testing.Short() {
		step = 17
	}
	positions := []int{0, 1, 1120, 1121, len(good) - 17, len(good) - 1}
	for i := 0; i < len(good); i += step {
		positions = append(positions, i)
	}
	for _, i := range positions {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(good)
			bad[i] ^= bit
			_, err := OpenShare(fx.keys[0], 0, 3, bad, testAAD)
			want := ErrOpen
			if i == 0 {
				want = ErrMalformed
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d ^ %#x: got %v, want %v", i, bit, err, want)
			}
		}
	}
}

// TestOpenShareBadPlaintext seals plaintexts that SealShare would never
// produce; the authenticated decryption succeeds and the decoder must refuse.
func TestOpenShareBadPlaintext(t *testing.T) {
	const m = 2
	key := fixedKey(t, 1)
	good, err := MarshalShare(Share{Node: 1, Values: elementsOf([]uint64{3, 4})})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	rb := modulusBytes()
	tests := []struct {
		name string
		pt   []byte
	}{
		{"non-canonical value", edit(func(b []byte) { copy(b[shareHeaderSize+32:], rb[:]) })},
		{"non-canonical blinding", edit(func(b []byte) { copy(b[7:], rb[:]) })},
		{"names another node", edit(func(b []byte) { binary.BigEndian.PutUint16(b[1:], 2) })},
		{"header length disagrees", edit(func(b []byte) { binary.BigEndian.PutUint32(b[3:], 1) })},
		{"unknown version", edit(func(b []byte) { b[0] = 9 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := seal.Seal(key.Public(), sealInfo(1), tt.pt, testAAD)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := OpenShare(key, 1, m, sealed, testAAD); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	// The untouched plaintext opens: the refusals above are the decoder's.
	sealed, err := seal.Seal(key.Public(), sealInfo(1), good, testAAD)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShare(key, 1, m, sealed, testAAD); err != nil {
		t.Fatal(err)
	}
}

func TestSealShareRefuses(t *testing.T) {
	key := fixedKey(t, 1)
	if _, err := SealShare(nil, Share{Values: elementsOf([]uint64{1})}, nil); err == nil {
		t.Error("nil public key accepted")
	}
	for _, s := range []Share{{Node: -1, Values: elementsOf([]uint64{1})}, {Node: MaxNodes, Values: elementsOf([]uint64{1})}, {Node: 0}} {
		if _, err := SealShare(key.Public(), s, nil); err == nil {
			t.Errorf("share with node %d and length %d accepted", s.Node, len(s.Values))
		}
	}
}

func TestSealedSize(t *testing.T) {
	got, err := SealedSize(seal.SuiteXWingSHA256AES256GCM, 153)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 1120 + 39 + 32*153 + 16; got != want {
		t.Fatalf("got %d, want %d", got, want)
	}
	if _, err := SealedSize(seal.Suite(0), 1); !errors.Is(err, ErrMalformed) {
		t.Errorf("suite 0: got %v", err)
	}
	if _, err := SealedSize(seal.DefaultSuite, 0); err == nil {
		t.Error("m = 0 accepted")
	}
}

func FuzzOpenShare(f *testing.F) {
	key := fixedKey(f, 1)
	shares, err := Split([]uint64{1, 2}, 2, testRand(2))
	if err != nil {
		f.Fatal(err)
	}
	good, err := SealShare(key.Public(), shares[1], []byte("aad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("aad"), uint16(1), uint8(1))
	f.Add(good, []byte("aad"), uint16(0), uint8(1))
	f.Add(good[:1200], []byte("aad"), uint16(1), uint8(1))
	f.Add(append([]byte{0}, good[1:]...), []byte{}, uint16(1), uint8(1))
	f.Add([]byte{}, []byte{}, uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, sealed, aad []byte, node uint16, mb uint8) {
		m := int(mb%8) + 1
		s, err := OpenShare(key, int(node), m, sealed, aad)
		if err != nil {
			if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v wraps neither ErrOpen nor ErrMalformed", err)
			}
			return
		}
		if s.Node != int(node) || len(s.Values) != m {
			t.Fatalf("opened node %d length %d, asked node %d length %d", s.Node, len(s.Values), node, m)
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	key := fixedKey(b, 1)
	for _, m := range []int{25, 153} {
		shares, err := Split(make([]uint64, m), 3, nil)
		if err != nil {
			b.Fatal(err)
		}
		share := shares[2]
		sealed, err := SealShare(key.Public(), share, testAAD)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("m=%d/seal", m), func(b *testing.B) {
			b.SetBytes(int64(len(sealed)))
			for b.Loop() {
				if _, err := SealShare(key.Public(), share, testAAD); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("m=%d/open", m), func(b *testing.B) {
			b.SetBytes(int64(len(sealed)))
			for b.Loop() {
				if _, err := OpenShare(key, 2, m, sealed, testAAD); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

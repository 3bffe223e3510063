package mpc

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

func TestSplitReconstruct(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 2; k <= 5; k++ {
		for _, m := range []int{1, 2, 25, 153} {
			t.Run(fmt.Sprintf("k=%d/m=%d", k, m), func(t *testing.T) {
				v := randomVector(rng, m, 63)
				shares, err := Split(v, k, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(shares) != k {
					t.Fatalf("%d shares, want %d", len(shares), k)
				}
				vals := make([][]fr.Element, k)
				for j, s := range shares {
					if s.Node != j {
						t.Fatalf("share %d names node %d", j, s.Node)
					}
					if len(s.Values) != m {
						t.Fatalf("share %d has length %d, want %d", j, len(s.Values), m)
					}
					vals[j] = s.Values
				}
				sum, err := Reconstruct(vals...)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ToUint64(sum, 1<<63)
				if err != nil {
					t.Fatal(err)
				}
				for i := range v {
					if got[i] != v[i] {
						t.Fatalf("coordinate %d: got %d, want %d", i, got[i], v[i])
					}
				}
				if !equalElements(sum, elementsOf(v)) {
					t.Fatal("reconstruction differs from v")
				}
				// Fewer than k shares give something else.
				if part, _ := Reconstruct(vals[:k-1]...); k > 2 && equalElements(part, elementsOf(v)) {
					t.Fatal("k-1 shares reconstruct v")
				}
			})
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	tests := []struct {
		name string
		v    []uint64
		k    int
	}{
		{"one node", []uint64{1}, 1},
		{"zero nodes", []uint64{1}, 0},
		{"negative nodes", []uint64{1}, -3},
		{"too many nodes", []uint64{1}, MaxNodes + 1},
		{"empty vector", nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if shares, err := Split(tt.v, tt.k, nil); err == nil {
				t.Fatalf("Split accepted, returned %d shares", len(shares))
			}
		})
	}
}

func TestSplitsDiffer(t *testing.T) {
	v := []uint64{1, 2, 3, 0, 1 << 40}
	a, err := Split(v, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Split(v, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := elementsOf(v)
	for j := range a {
		if equalElements(a[j].Values, b[j].Values) {
			t.Errorf("share %d is the same in two splits of v", j)
		}
		if a[j].Blind.Equal(&b[j].Blind) {
			t.Errorf("blinding %d is the same in two splits of v", j)
		}
		for i := range want {
			if a[j].Values[i].Equal(&want[i]) {
				t.Errorf("share %d coordinate %d equals v's", j, i)
			}
		}
	}
}

// TestRandomSharesIndependentOfV checks the structure that makes any k−1
// shares independent of v: with the same random stream, two different
// records get the same first k−1 shares (and blindings); only the last differs.
func TestRandomSharesIndependentOfV(t *testing.T) {
	const k = 4
	a, err := Split([]uint64{0, 0, 0}, k, testRand(7))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Split([]uint64{5, 1 << 50, 9}, k, testRand(7))
	if err != nil {
		t.Fatal(err)
	}
	for j := range k - 1 {
		if !equalShares(a[j], b[j]) {
			t.Fatalf("share %d depends on v", j)
		}
	}
	if equalElements(a[k-1].Values, b[k-1].Values) {
		t.Fatal("last share does not depend on v")
	}
}

// TestSharesLookUniform checks, for each share of a fixed v, that each of
// the 64 low bits of its coordinates is set about half the time (a uniform
// element of Fr has these bits balanced up to 2^-190).
func TestSharesLookUniform(t *testing.T) {
	const (
		k      = 3
		m      = 64
		splits = 200
		n      = m * splits // samples per bit position and share
	)
	v := make([]uint64, m)
	for i := range v {
		v[i] = 1
	}
	var ones [k][64]int
	rnd := testRand(3)
	for range splits {
		shares, err := Split(v, k, rnd)
		if err != nil {
			t.Fatal(err)
		}
		for j, s := range shares {
			for i := range s.Values {
				low := s.Values[i].Bits()[0]
				for b := range 64 {
					ones[j][b] += int(low >> b & 1)
				}
			}
		}
	}
	// 6 standard deviations of a binomial(n, 1/2).
	tol := 6 * 0.5 * math.Sqrt(n)
	for j := range k {
		for b := range 64 {
			if d := float64(ones[j][b]) - n/2; d > tol || d < -tol {
				t.Errorf("share %d bit %d set %d times in %d, far from half", j, b, ones[j][b], n)
			}
		}
	}
}

// scriptedReader returns its chunks in order, then EOF.
type scriptedReader struct{ chunks [][]byte }

func (r *scriptedReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestSamplerRejects(t *testing.T) {
	rb := modulusBytes()
	var top [32]byte // 2^254 − 1 after masking: above r
	for i := range top {
		top[i] = 0xff
	}
	var seven [32]byte
	seven[31] = 7
	// r itself, then ≥ r after masking, then 7: only 7 may come out.
	s := newSampler(&scriptedReader{chunks: [][]byte{rb[:], top[:], seven[:]}})
	e, err := s.element()
	if err != nil {
		t.Fatal(err)
	}
	if want := fr.NewElement(7); !e.Equal(&want) {
		t.Fatalf("got %v, want 7: a candidate ≥ r was reduced instead of rejected", e.String())
	}
	// The batched path of fill rejects the same way.
	dst := make([]fr.Element, 2)
	s = newSampler(&scriptedReader{chunks: [][]byte{seven[:], rb[:], top[:], seven[:]}})
	if err := s.fill(dst); err != nil {
		t.Fatal(err)
	}
	if want := fr.NewElement(7); !dst[0].Equal(&want) || !dst[1].Equal(&want) {
		t.Fatalf("fill gave %v, %v; want 7, 7", dst[0].String(), dst[1].String())
	}
	// r − 1 is accepted as is.
	var rm1 [32]byte
	new(big.Int).Sub(fr.Modulus(), big.NewInt(1)).FillBytes(rm1[:])
	s = newSampler(&scriptedReader{chunks: [][]byte{rm1[:]}})
	e, err = s.element()
	if err != nil {
		t.Fatal(err)
	}
	var want fr.Element
	want.SetOne()
	want.Neg(&want)
	if !e.Equal(&want) {
		t.Fatalf("got %v, want r−1", e.String())
	}
}

type stuckReader struct{}

func (stuckReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xff
	}
	return len(p), nil
}

func TestSplitBrokenRandomness(t *testing.T) {
	if _, err := Split([]uint64{1, 2}, 2, stuckReader{}); err == nil || !strings.Contains(err.Error(), "modulus") {
		t.Fatalf("stuck source: got %v, want an error", err)
	}
	short := &scriptedReader{chunks: [][]byte{make([]byte, 40)}}
	if _, err := Split([]uint64{1, 2}, 2, short); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Fatalf("exhausted source: got %v, want EOF", err)
	}
}

func BenchmarkSplit(b *testing.B) {
	for _, m := range []int{25, 153} {
		for _, k := range []int{3, 5} {
			b.Run(fmt.Sprintf("m=%d/k=%d", m, k), func(b *testing.B) {
				v := randomVector(rand.New(rand.NewPCG(1, 1)), m, 32)
				for b.Loop() {
					if _, err := Split(v, k, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

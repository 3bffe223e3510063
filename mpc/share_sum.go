package mpc

import (
	"encoding/binary"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// A ShareSum sums chosen coordinates of encoded shares (MarshalShare) as a
// node reads them from its store, decoding only those: the partial that
// decoding each share (UnmarshalShare) and adding its values to a Partial
// gives, without turning every value into the field's Montgomery form on
// the way, one multiplication per value. Addition mod r is the same in
// either form, so the values are added as the integers they encode and
// the sum is turned once, by Partial (docs/design.md §7.7).
//
// A ShareSum is not safe for concurrent use.
type ShareSum struct {
	m      int
	coords []int
	// acc holds the sums mod r as plain integers in fr.Element's limbs,
	// least significant first: not in Montgomery form, so never an
	// operand of anything but Add.
	acc, next []fr.Element
	count     uint64
}

// NewShareSum returns an empty sum of the coordinates coords of shares of
// length m, in [1, MaxLen].
func NewShareSum(m int, coords []int) (*ShareSum, error) {
	if !checkLen(m) {
		return nil, fmt.Errorf("mpc: share sum: vector length %d, want 1 to %d", m, MaxLen)
	}
	for _, c := range coords {
		if c < 0 || c >= m {
			return nil, fmt.Errorf("mpc: share sum: coordinate %d out of range 0..%d", c, m-1)
		}
	}
	return &ShareSum{m: m, coords: coords, acc: make([]fr.Element, len(coords)), next: make([]fr.Element, len(coords))}, nil
}

// Add adds the values of one encoded share at the sum's coordinates and
// counts it. It checks the version, the length m and the exact size, and
// that each value it reads is canonical; the blinding and the other values
// are not read. A refused share wraps ErrMalformed and changes nothing.
func (s *ShareSum) Add(data []byte) error {
	values, err := shareValues(data, s.m)
	if err != nil {
		return err
	}
	for i, c := range s.coords {
		if !plainElement(values[c*fr.Bytes:(c+1)*fr.Bytes], &s.next[i]) {
			return fmt.Errorf("mpc: share: %w: value %d is not canonical", ErrMalformed, c)
		}
	}
	for i := range s.acc {
		s.acc[i].Add(&s.acc[i], &s.next[i])
	}
	s.count++
	return nil
}

// Count is the number of shares added.
func (s *ShareSum) Count() uint64 { return s.count }

// Partial returns the sum as a Partial over the sum's coordinates, with
// its count.
func (s *ShareSum) Partial() *Partial {
	p := &Partial{sum: make([]fr.Element, len(s.acc)), count: s.count}
	var b [fr.Bytes]byte
	for i, e := range s.acc {
		for j := range 4 {
			binary.BigEndian.PutUint64(b[24-8*j:32-8*j], e[j])
		}
		p.sum[i].SetBytes(b[:]) // canonical: Add keeps e below r
	}
	return p
}

// modulusLimbs is r in fr.Element's limbs, least significant first.
var modulusLimbs = func() (q fr.Element) {
	loadPlain(fr.Modulus().FillBytes(make([]byte, fr.Bytes)), &q)
	return q
}()

// loadPlain loads the 32-byte big-endian integer b into e's limbs as it
// is, not in Montgomery form.
func loadPlain(b []byte, e *fr.Element) {
	for j := range 4 {
		e[j] = binary.BigEndian.Uint64(b[24-8*j : 32-8*j])
	}
}

// plainElement is loadPlain, reporting whether the integer is below r.
func plainElement(b []byte, e *fr.Element) bool {
	loadPlain(b, e)
	for j := 3; j >= 0; j-- {
		if e[j] != modulusLimbs[j] {
			return e[j] < modulusLimbs[j]
		}
	}
	return false // e = r
}

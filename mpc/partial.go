package mpc

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/wire"
)

// A Partial is one node's running sum of the shares it holds for a set of
// records: its partial aggregate. The k nodes' partials over the same set of
// records sum (Reconstruct) to the sum of those records.
//
// A Partial is not safe for concurrent use; guard it or give each goroutine
// its own and merge them with Merge.
type Partial struct {
	sum   []fr.Element
	count uint64
}

// NewPartial returns an empty partial aggregate for vectors of length m, in
// [1, MaxLen].
func NewPartial(m int) (*Partial, error) {
	if !checkLen(m) {
		return nil, fmt.Errorf("mpc: partial: vector length %d, want 1 to %d", m, MaxLen)
	}
	return &Partial{sum: make([]fr.Element, m)}, nil
}

// Add adds one record's share to the partial and counts it.
func (p *Partial) Add(share []fr.Element) error {
	if err := Accumulate(p.sum, share); err != nil {
		return fmt.Errorf("mpc: partial: %w", err)
	}
	p.count++
	return nil
}

// Merge adds another partial (over a disjoint set of records) into p.
func (p *Partial) Merge(q *Partial) error {
	if err := Accumulate(p.sum, q.sum); err != nil {
		return fmt.Errorf("mpc: partial: merge: %w", err)
	}
	p.count += q.count
	return nil
}

// Len is the vector length m.
func (p *Partial) Len() int { return len(p.sum) }

// Count is the number of shares added.
func (p *Partial) Count() uint64 { return p.count }

// Sum returns a copy of the running sum.
func (p *Partial) Sum() []fr.Element {
	return append([]fr.Element(nil), p.sum...)
}

// Partial wire encoding: version (1 byte), count (uint64), m (uint32), then
// m canonical 32-byte big-endian field elements. All integers big-endian.
const (
	partialVersion    = 1
	partialHeaderSize = 1 + 8 + 4
)

// MarshalBinary encodes the partial.
func (p *Partial) MarshalBinary() ([]byte, error) {
	if !checkLen(len(p.sum)) {
		return nil, fmt.Errorf("mpc: partial: vector length %d, want 1 to %d", len(p.sum), MaxLen)
	}
	w := wire.NewWriter(wire.BigEndian, partialHeaderSize+fr.Bytes*len(p.sum))
	w.Uint8(partialVersion)
	w.Uint64(p.count)
	w.Uint32(uint32(len(p.sum)))
	out, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("mpc: partial: %w", err)
	}
	return appendElements(out, p.sum), nil
}

// UnmarshalPartial decodes a partial of at most maxLen coordinates
// (maxLen ≤ MaxLen). It checks the version, the exact length before
// allocating, and that every element is canonical; any failure wraps
// ErrMalformed.
func UnmarshalPartial(data []byte, maxLen int) (*Partial, error) {
	if maxLen < 1 || maxLen > MaxLen {
		return nil, fmt.Errorf("mpc: partial: maximum length %d, want 1 to %d", maxLen, MaxLen)
	}
	if len(data) < partialHeaderSize {
		return nil, fmt.Errorf("mpc: partial: %w: %d bytes, shorter than the header", ErrMalformed, len(data))
	}
	r := wire.NewReader(wire.BigEndian, data)
	if v := r.Uint8(); v != partialVersion {
		return nil, fmt.Errorf("mpc: partial: %w: version %d, want %d", ErrMalformed, v, partialVersion)
	}
	count := r.Uint64()
	m := r.Uint32()
	if m == 0 || uint64(m) > uint64(maxLen) {
		return nil, fmt.Errorf("mpc: partial: %w: length %d, want 1 to %d", ErrMalformed, m, maxLen)
	}
	if want := uint64(partialHeaderSize) + uint64(m)*fr.Bytes; uint64(len(data)) != want {
		return nil, fmt.Errorf("mpc: partial: %w: %d bytes, want %d", ErrMalformed, len(data), want)
	}
	sum, err := decodeElements(r.Fixed(r.Remaining()), int(m))
	if err != nil {
		return nil, fmt.Errorf("mpc: partial: %w", err)
	}
	return &Partial{sum: sum, count: count}, nil
}

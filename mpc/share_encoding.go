package mpc

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/wire"
)

// Share wire encoding, the plaintext inside a sealed share:
//
//	version  1 byte   (shareVersion)
//	node     uint16   big-endian
//	m        uint32   big-endian
//	ρ        32 bytes big-endian, canonical (< r)
//	values   m × 32 bytes big-endian, canonical
//
// Its size is 39 + 32·m bytes.
const (
	shareVersion    = 1
	shareHeaderSize = 1 + 2 + 4 + fr.Bytes
)

// shareSize is the encoded size of a share of length m.
func shareSize(m int) int { return shareHeaderSize + m*fr.Bytes }

// MarshalShare encodes s. Node must be in [0, MaxNodes) and len(Values) in
// [1, MaxLen]. The output holds the secret share: seal it, never store or
// send it as is.
func MarshalShare(s Share) ([]byte, error) {
	if !checkNode(s.Node) {
		return nil, fmt.Errorf("mpc: share: node index %d, want 0 to %d", s.Node, MaxNodes-1)
	}
	m := len(s.Values)
	if !checkLen(m) {
		return nil, fmt.Errorf("mpc: share: vector length %d, want 1 to %d", m, MaxLen)
	}
	w := wire.NewWriter(wire.BigEndian, shareSize(m))
	w.Uint8(shareVersion)
	w.Uint16(uint16(s.Node))
	w.Uint32(uint32(m))
	out, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("mpc: share: %w", err)
	}
	out = appendElements(out, []fr.Element{s.Blind})
	return appendElements(out, s.Values), nil
}

// UnmarshalShare decodes a share of at most maxLen coordinates (maxLen in
// [1, MaxLen]). It checks the version, that the data has exactly the length
// its header announces before allocating, and that the blinding and every
// value are canonical field elements. Any failure wraps ErrMalformed.
func UnmarshalShare(data []byte, maxLen int) (Share, error) {
	if maxLen < 1 || maxLen > MaxLen {
		return Share{}, fmt.Errorf("mpc: share: maximum length %d, want 1 to %d", maxLen, MaxLen)
	}
	if len(data) < shareHeaderSize {
		return Share{}, fmt.Errorf("mpc: share: %w: %d bytes, shorter than the header", ErrMalformed, len(data))
	}
	r := wire.NewReader(wire.BigEndian, data)
	if v := r.Uint8(); v != shareVersion {
		return Share{}, fmt.Errorf("mpc: share: %w: version %d, want %d", ErrMalformed, v, shareVersion)
	}
	node := int(r.Uint16())
	m := r.Uint32()
	if m == 0 || uint64(m) > uint64(maxLen) {
		return Share{}, fmt.Errorf("mpc: share: %w: length %d, want 1 to %d", ErrMalformed, m, maxLen)
	}
	if want := uint64(shareHeaderSize) + uint64(m)*fr.Bytes; uint64(len(data)) != want {
		return Share{}, fmt.Errorf("mpc: share: %w: %d bytes, want %d", ErrMalformed, len(data), want)
	}
	blind, err := fr.BigEndian.Element((*[fr.Bytes]byte)(r.Fixed(fr.Bytes)))
	if err != nil {
		return Share{}, fmt.Errorf("mpc: share: %w: blinding is not canonical", ErrMalformed)
	}
	values, err := decodeElements(r.Fixed(r.Remaining()), int(m))
	if err != nil {
		return Share{}, fmt.Errorf("mpc: share: %w", err)
	}
	return Share{Node: node, Blind: blind, Values: values}, nil
}

// shareValues checks the header and length of an encoded share of length
// m and returns its values' bytes, m × 32.
func shareValues(data []byte, m int) ([]byte, error) {
	if !checkLen(m) {
		return nil, fmt.Errorf("mpc: share: vector length %d, want 1 to %d", m, MaxLen)
	}
	if len(data) != shareSize(m) {
		return nil, fmt.Errorf("mpc: share: %w: %d bytes, want %d for %d coordinates", ErrMalformed, len(data), shareSize(m), m)
	}
	if data[0] != shareVersion {
		return nil, fmt.Errorf("mpc: share: %w: version %d, want %d", ErrMalformed, data[0], shareVersion)
	}
	if got := uint32(data[3])<<24 | uint32(data[4])<<16 | uint32(data[5])<<8 | uint32(data[6]); got != uint32(m) {
		return nil, fmt.Errorf("mpc: share: %w: length %d, want %d", ErrMalformed, got, m)
	}
	return data[shareHeaderSize:], nil
}

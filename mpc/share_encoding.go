package mpc

import (
	"encoding/binary"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
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
	out := make([]byte, 7, shareSize(m))
	out[0] = shareVersion
	binary.BigEndian.PutUint16(out[1:3], uint16(s.Node))
	binary.BigEndian.PutUint32(out[3:7], uint32(m))
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
	if data[0] != shareVersion {
		return Share{}, fmt.Errorf("mpc: share: %w: version %d, want %d", ErrMalformed, data[0], shareVersion)
	}
	node := int(binary.BigEndian.Uint16(data[1:3]))
	m := binary.BigEndian.Uint32(data[3:7])
	if m == 0 || uint64(m) > uint64(maxLen) {
		return Share{}, fmt.Errorf("mpc: share: %w: length %d, want 1 to %d", ErrMalformed, m, maxLen)
	}
	if want := uint64(shareHeaderSize) + uint64(m)*fr.Bytes; uint64(len(data)) != want {
		return Share{}, fmt.Errorf("mpc: share: %w: %d bytes, want %d", ErrMalformed, len(data), want)
	}
	blind, err := fr.BigEndian.Element((*[fr.Bytes]byte)(data[7:shareHeaderSize]))
	if err != nil {
		return Share{}, fmt.Errorf("mpc: share: %w: blinding is not canonical", ErrMalformed)
	}
	values, err := decodeElements(data[shareHeaderSize:], int(m))
	if err != nil {
		return Share{}, fmt.Errorf("mpc: share: %w", err)
	}
	return Share{Node: node, Blind: blind, Values: values}, nil
}

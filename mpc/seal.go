package mpc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cohort-dev/cohort/seal"
)

// sealInfoDomain is the fixed prefix of the HPKE info string. The node index
// follows it as a big-endian uint16, so a share sealed for node 1 can only be
// opened as node 1's share.
const sealInfoDomain = "cohort/v1/share-seal"

// sealInfo is the HPKE info for node j.
func sealInfo(j int) string {
	return string(binary.BigEndian.AppendUint16([]byte(sealInfoDomain), uint16(j)))
}

// SealShare encrypts share to node share.Node's public key with seal.Seal.
// The sealed share is
//
//	suite ID (1 byte) ‖ HPKE encapsulated key ‖ AEAD ciphertext of MarshalShare(share)
//
// under HPKE base mode with info = "cohort/v1/share-seal" ‖ uint16(share.Node)
// and the caller's aad as associated data (the digest of the proof's public
// inputs), so it opens only for that node, that key and that aad.
// Its size is SealedSize(suite, len(share.Values)).
func SealShare(pub *seal.PublicKey, share Share, aad []byte) ([]byte, error) {
	if pub == nil {
		return nil, fmt.Errorf("mpc: seal share: nil public key")
	}
	pt, err := MarshalShare(share)
	if err != nil {
		return nil, fmt.Errorf("mpc: seal share: %w", err)
	}
	defer clear(pt)
	sealed, err := seal.Seal(pub, sealInfo(share.Node), pt, aad)
	if err != nil {
		return nil, fmt.Errorf("mpc: seal share: %w", err)
	}
	return sealed, nil
}

// OpenShare decrypts a share sealed by SealShare for node `node`, which must
// hold a vector of length m, under the same aad. Before any decryption it
// checks that the suite ID is key's suite and that sealed is exactly
// SealedSize(suite, m) bytes; after decryption, that the share decodes with
// canonical field elements, names node `node` and has length m.
//
// A wrong length, unknown suite or invalid plaintext wraps ErrMalformed; a
// wrong key, node index or aad, or any modified byte of the ciphertext, wraps
// ErrOpen. OpenShare does not check the share's commitment: that is
// Share.CheckCommitment, against the commitment in the proof's public inputs.
func OpenShare(key *seal.PrivateKey, node int, m int, sealed, aad []byte) (Share, error) {
	if key == nil {
		return Share{}, fmt.Errorf("mpc: open share: nil key")
	}
	if !checkNode(node) {
		return Share{}, fmt.Errorf("mpc: open share: node index %d, want 0 to %d", node, MaxNodes-1)
	}
	if !checkLen(m) {
		return Share{}, fmt.Errorf("mpc: open share: vector length %d, want 1 to %d", m, MaxLen)
	}
	want, err := SealedSize(key.Suite(), m)
	if err != nil {
		return Share{}, fmt.Errorf("mpc: open share: %w", err)
	}
	if len(sealed) < 1 {
		return Share{}, fmt.Errorf("mpc: open share: %w: empty", ErrMalformed)
	}
	if s := seal.Suite(sealed[0]); s != key.Suite() {
		return Share{}, fmt.Errorf("mpc: open share: %w: suite %v, key is for %v", ErrMalformed, s, key.Suite())
	}
	if len(sealed) != want {
		return Share{}, fmt.Errorf("mpc: open share: %w: %d bytes, want %d", ErrMalformed, len(sealed), want)
	}
	pt, err := seal.Open(key, sealInfo(node), sealed, aad)
	switch {
	case errors.Is(err, seal.ErrOpen):
		return Share{}, fmt.Errorf("mpc: open share: %w", ErrOpen)
	case err != nil:
		return Share{}, fmt.Errorf("mpc: open share: %w: %w", ErrMalformed, err)
	}
	defer clear(pt)
	s, err := UnmarshalShare(pt, m)
	if err != nil {
		return Share{}, fmt.Errorf("mpc: open share: %w", err)
	}
	if s.Node != node || len(s.Values) != m {
		wipeShares([]Share{s})
		return Share{}, fmt.Errorf("mpc: open share: %w: share names node %d with length %d, want node %d with length %d",
			ErrMalformed, s.Node, len(s.Values), node, m)
	}
	return s, nil
}

// SealedSize is the size in bytes of a share of length m sealed under suite
// s, or an error if s is unknown or m is out of range.
func SealedSize(s seal.Suite, m int) (int, error) {
	overhead, err := s.Overhead()
	if err != nil {
		return 0, fmt.Errorf("mpc: %w: %w", ErrMalformed, err)
	}
	if !checkLen(m) {
		return 0, fmt.Errorf("mpc: vector length %d, want 1 to %d", m, MaxLen)
	}
	return overhead + shareSize(m), nil
}

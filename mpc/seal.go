package mpc

import (
	"crypto/hpke"
	"encoding/binary"
	"fmt"
)

// sealInfoDomain is the fixed prefix of the HPKE info string. The node index
// follows it as a big-endian uint16, so a share sealed for node 1 can only be
// opened as node 1's share.
const sealInfoDomain = "cohort/v1/share-seal"

// sealInfo is the HPKE info for node j.
func sealInfo(j int) []byte {
	return binary.BigEndian.AppendUint16([]byte(sealInfoDomain), uint16(j))
}

// SealShare encrypts share to node share.Node's public key. The sealed share
// is
//
//	suite ID (1 byte) ‖ HPKE encapsulated key ‖ AEAD ciphertext of MarshalShare(share)
//
// under HPKE base mode with info = "cohort/v1/share-seal" ‖ uint16(share.Node)
// and the caller's aad as associated data (the digest of the proof's public
// inputs), so it opens only for that node, that key and that aad.
// Its size is SealedSize(suite, len(share.Values)).
func SealShare(pub *NodePublicKey, share Share, aad []byte) ([]byte, error) {
	if pub == nil {
		return nil, fmt.Errorf("mpc: seal share: nil public key")
	}
	pt, err := MarshalShare(share)
	if err != nil {
		return nil, fmt.Errorf("mpc: seal share: %w", err)
	}
	defer clear(pt)
	sealed, err := sealPlaintext(pub, share.Node, pt, aad)
	if err != nil {
		return nil, fmt.Errorf("mpc: seal share: %w", err)
	}
	return sealed, nil
}

// sealPlaintext seals an encoded share for node j.
func sealPlaintext(pub *NodePublicKey, j int, pt, aad []byte) ([]byte, error) {
	p, err := pub.suite.params()
	if err != nil {
		return nil, err
	}
	enc, sender, err := hpke.NewSender(pub.pub, p.kdf, p.aead, sealInfo(j))
	if err != nil {
		return nil, err
	}
	ct, err := sender.Seal(aad, pt)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(enc)+len(ct))
	out = append(out, byte(pub.suite))
	out = append(out, enc...)
	return append(out, ct...), nil
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
func OpenShare(key *NodeKey, node int, m int, sealed, aad []byte) (Share, error) {
	if key == nil {
		return Share{}, fmt.Errorf("mpc: open share: nil key")
	}
	if !checkNode(node) {
		return Share{}, fmt.Errorf("mpc: open share: node index %d, want 0 to %d", node, MaxNodes-1)
	}
	if !checkLen(m) {
		return Share{}, fmt.Errorf("mpc: open share: vector length %d, want 1 to %d", m, MaxLen)
	}
	p, err := key.suite.params()
	if err != nil {
		return Share{}, fmt.Errorf("mpc: open share: %w", err)
	}
	if len(sealed) < 1 {
		return Share{}, fmt.Errorf("mpc: open share: %w: empty", ErrMalformed)
	}
	if Suite(sealed[0]) != key.suite {
		return Share{}, fmt.Errorf("mpc: open share: %w: suite %v, key is for %v", ErrMalformed, Suite(sealed[0]), key.suite)
	}
	if want := p.sealedSize(m); len(sealed) != want {
		return Share{}, fmt.Errorf("mpc: open share: %w: %d bytes, want %d", ErrMalformed, len(sealed), want)
	}
	enc, ct := sealed[1:1+p.encSize], sealed[1+p.encSize:]
	r, err := hpke.NewRecipient(enc, key.priv, p.kdf, p.aead, sealInfo(node))
	if err != nil {
		return Share{}, fmt.Errorf("mpc: open share: %w", ErrOpen)
	}
	pt, err := r.Open(aad, ct)
	if err != nil {
		return Share{}, fmt.Errorf("mpc: open share: %w", ErrOpen)
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

package client

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// element decodes a field element as it travels: 32 bytes, big-endian,
// canonical (< r).
func element(b []byte) (fr.Element, error) {
	var e fr.Element
	if len(b) != fr.Bytes {
		return e, fmt.Errorf("field element of %d bytes, want %d", len(b), fr.Bytes)
	}
	if err := e.SetBytesCanonical(b); err != nil {
		return e, fmt.Errorf("field element not canonical")
	}
	return e, nil
}

// digest32 copies a 32-byte digest or field element, refusing any other length.
func digest32(b []byte) ([32]byte, error) {
	var d [32]byte
	if len(b) != len(d) {
		return d, fmt.Errorf("%d bytes, want %d", len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}

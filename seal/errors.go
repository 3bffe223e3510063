package seal

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a valid key or sealed
	// encoding: an unknown suite, a wrong length, a key the KEM refuses.
	ErrMalformed = errors.New("seal: malformed encoding")

	// ErrOpen reports sealed bytes that do not decrypt: wrong key, wrong
	// info or associated data, or a modified ciphertext. It carries no
	// further detail on purpose.
	ErrOpen = errors.New("seal: sealed bytes do not open")
)

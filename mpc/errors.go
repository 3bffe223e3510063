package mpc

import "errors"

// Sentinel errors. Every error returned by this package that a caller may
// branch on wraps one of these; test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a valid encoding: wrong
	// version or suite, wrong length, a field element that is not canonical,
	// or a decrypted share whose header does not match what was expected.
	ErrMalformed = errors.New("malformed encoding")

	// ErrOpen reports a sealed share that does not decrypt: wrong key, wrong
	// node index, wrong associated data, or a modified ciphertext. It carries
	// no further detail on purpose.
	ErrOpen = errors.New("sealed share does not open")

	// ErrLengthMismatch reports vectors of different lengths combined
	// together, or a vector whose length is not the expected one.
	ErrLengthMismatch = errors.New("vector length mismatch")

	// ErrOutOfRange reports a reconstructed value at or above the bound the
	// caller stated for it.
	ErrOutOfRange = errors.New("value out of range")

	// ErrCommitment reports a share that does not match its published
	// commitment.
	ErrCommitment = errors.New("share does not match its commitment")
)

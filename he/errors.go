package he

import "errors"

// Sentinel errors. Every error returned by this package that a caller may
// branch on wraps one of these; test with errors.Is.
var (
	// ErrUnknownParamSet reports a parameter-set identifier that names no set
	// of this package.
	ErrUnknownParamSet = errors.New("unknown parameter set")

	// ErrInvalidArgument reports an argument outside its documented domain: a
	// committee or capacity out of range, a missing security parameter, a
	// party index or active set that is not allowed, a plaintext coefficient
	// at or above t.
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrMismatch reports objects that do not belong together: a ciphertext
	// of another parameter set, a share made under another CRS or for another
	// party, a budget checked for another committee, partial decryptions of
	// different ciphertexts or active sets.
	ErrMismatch = errors.New("objects do not match")

	// ErrMalformed reports bytes that are not a valid encoding: wrong length,
	// version, kind or parameter set, a coefficient not below its modulus, a
	// field out of range.
	ErrMalformed = errors.New("malformed encoding")

	// ErrDoesNotFit reports a capacity that the parameter set cannot carry:
	// the largest coordinate sum reaches t/2, or the worst-case decryption
	// noise (smudging included) reaches the decryption bound.
	ErrDoesNotFit = errors.New("capacity does not fit the parameter set")

	// ErrWitness reports an encryption witness that does not satisfy the
	// relation, or whose fields are out of their proven ranges.
	ErrWitness = errors.New("encryption witness does not satisfy the relation")

	// ErrState reports a protocol step called out of order or twice.
	ErrState = errors.New("protocol step out of order")
)

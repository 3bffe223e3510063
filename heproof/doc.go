// Package heproof builds and checks the payload a contributor uploads for
// one record of an HE dataset: the record encrypted under the dataset's
// collective BGV key (package he) and a Groth16 proof (package circuits,
// HEContribution) that the ciphertext encrypts a valid record of the
// schema, made by a registry member who consented to the stated terms.
//
// The proof's public inputs are the eight consent inputs and the
// ciphertext's 2N integer coefficients (he.Ciphertext.Coefficients): the
// proof is bound to the exact ciphertext bytes, so a ciphertext with one
// coefficient changed no longer verifies. A node therefore checks, in
// order: the payload's framing and sizes; the ciphertext's exact size and
// every coefficient below its modulus (he.UnmarshalCiphertext) before
// building any lattigo object; then the proof against the public vector
// recomputed from the ciphertext it holds.
//
// Encoding (all lengths big-endian uint32 prefixes):
//
//	version (1 byte, 1) ‖ public inputs ‖ proof ‖ ciphertext
//
// A payload is about EncodedSize(params) bytes: the ciphertext dominates
// (131 KiB at N = 4096 with two 55-bit primes).
package heproof

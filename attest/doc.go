// Package attest defines the statements Cohort's nodes sign and how their
// bytes are laid out, so that a node, a contributor checking its receipt and
// an auditor all sign and verify the same bytes.
//
// Every statement starts with its own domain tag (a NUL-terminated ASCII
// string such as "cohort/v1/contribution-ack"), so that a signature made for
// one kind of statement never verifies as another. Variable-length fields
// (dataset ids, ceremony ids, beacons) are preceded by their length as a
// big-endian uint32; fixed-size fields (32-byte digests and field elements,
// uint32 node indices, int64 times) are written as they are, big-endian.
// The encoding is injective: two different statements never give the same
// bytes.
//
// Signatures are Ed25519 (RFC 8032) over those bytes. The scheme is named in
// every signature (cohortv1.SignatureScheme) so that it can change later.
package attest

// Package wire writes and reads the binary encodings of Cohort's wire types:
// fixed-width integers, fixed-size fields and byte strings after their
// length, in the order a type's encoding lists them. It holds the framing
// only; what the fields mean, their versions and their canonical checks
// belong to each type's own package.
//
// Every encoding states its byte order (BigEndian for almost all of them;
// the HE package's are LittleEndian) and the width of each length prefix:
// Bytes8, Bytes16, Bytes32 and Bytes64 write a byte string after its length
// as an unsigned integer of 8, 16, 32 or 64 bits. A Writer refuses a string
// longer than its prefix can express rather than truncating the length.
//
// # Reading outside bytes
//
// A Reader is for bytes from anyone. Every length and count it reads is
// checked against a bound the caller gives and against the bytes that remain
// before the caller can allocate for it; no input makes it panic. The first
// failure sticks: every later read returns zero values, so a decoder reads
// all its fields and checks Err (or End, which also refuses trailing bytes)
// once. Failures are *Error values giving the byte offset and wrapping
// ErrTruncated, ErrTooLong or ErrTrailing, or the error the caller passed to
// Fail. Byte strings a Reader returns alias its input; a caller that keeps
// them beyond the input's lifetime copies them.
//
// Writers and Readers are not safe for concurrent use.
package wire

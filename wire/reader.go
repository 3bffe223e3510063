package wire

import (
	"fmt"
)

// A Reader consumes an encoding held in memory; see the package doc for
// what it checks. The zero Reader reads an empty big-endian input.
type Reader struct {
	order Order
	b     []byte
	off   int
	label string
	field string
	err   error
}

// NewReader returns a Reader over b.
func NewReader(o Order, b []byte) *Reader { return &Reader{order: o, b: b} }

// Label names the item read next, for errors ("record 3"), and clears
// the field name; "" clears both.
func (r *Reader) Label(s string) { r.label, r.field = s, "" }

// Field names the field read next, for errors ("proof"), until the next
// Field or Label, and returns r so that a read can follow:
// r.Field("proof").Bytes32(maxProof).
func (r *Reader) Field(name string) *Reader {
	r.field = name
	return r
}

// where is the label and field of a failure.
func (r *Reader) where() string {
	switch {
	case r.label == "":
		return r.field
	case r.field == "":
		return r.label
	}
	return r.label + ": " + r.field
}

// Offset is the number of bytes consumed.
func (r *Reader) Offset() int { return r.off }

// Remaining is the number of bytes left.
func (r *Reader) Remaining() int { return len(r.b) - r.off }

// Err returns the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records err as the Reader's failure, at the current offset, unless
// one is recorded already. Decoders use it for their own checks so that a
// decoding has one error path.
func (r *Reader) Fail(err error) {
	if r.err == nil && err != nil {
		r.err = &Error{Offset: r.off, Label: r.where(), Err: err}
	}
}

func (r *Reader) fail(sentinel error, format string, args ...any) {
	if r.err == nil {
		r.err = &Error{Offset: r.off, Label: r.where(), Err: sentinel, detail: fmt.Sprintf(format, args...)}
	}
}

// End returns the first failure or, if there is none, an ErrTrailing error
// when bytes are left.
func (r *Reader) End() error {
	if r.err == nil && r.Remaining() != 0 {
		r.Label("")
		r.fail(ErrTrailing, "%d trailing bytes", r.Remaining())
	}
	return r.err
}

// Fixed returns the next n bytes, aliasing the input (its capacity ends
// with them). After a failure, or if fewer than n bytes are left, it
// returns nil.
func (r *Reader) Fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.Remaining() {
		r.fail(ErrTruncated, "truncated: %d bytes needed, %d left", n, r.Remaining())
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

// Copy fills dst with the next len(dst) bytes; after a failure it leaves
// dst as it is.
func (r *Reader) Copy(dst []byte) {
	copy(dst, r.Fixed(len(dst)))
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	if b := r.Fixed(1); b != nil {
		return b[0]
	}
	return 0
}

// Uint16 reads a 2-byte integer.
func (r *Reader) Uint16() uint16 {
	if b := r.Fixed(2); b != nil {
		return r.order.binary().Uint16(b)
	}
	return 0
}

// Uint32 reads a 4-byte integer.
func (r *Reader) Uint32() uint32 {
	if b := r.Fixed(4); b != nil {
		return r.order.binary().Uint32(b)
	}
	return 0
}

// Uint64 reads an 8-byte integer.
func (r *Reader) Uint64() uint64 {
	if b := r.Fixed(8); b != nil {
		return r.order.binary().Uint64(b)
	}
	return 0
}

// Bytes8 reads a byte string after a one-byte length of at most max.
func (r *Reader) Bytes8(max int) []byte { return r.bytes(uint64(r.Uint8()), max) }

// Bytes16 reads a byte string after a uint16 length of at most max.
func (r *Reader) Bytes16(max int) []byte { return r.bytes(uint64(r.Uint16()), max) }

// Bytes32 reads a byte string after a uint32 length of at most max.
func (r *Reader) Bytes32(max int) []byte { return r.bytes(uint64(r.Uint32()), max) }

// Bytes64 reads a byte string after a uint64 length of at most max.
func (r *Reader) Bytes64(max int) []byte { return r.bytes(r.Uint64(), max) }

// String32 reads a string after a uint32 length of at most max.
func (r *Reader) String32(max int) string { return string(r.Bytes32(max)) }

// bytes checks a length just read against max and what is left, then
// returns that many bytes. An empty string is returned as a non-nil empty
// slice.
func (r *Reader) bytes(n uint64, limit int) []byte {
	if r.err != nil {
		return nil
	}
	if limit < 0 || n > uint64(limit) {
		r.fail(ErrTooLong, "length %d, at most %d", n, max(limit, 0))
		return nil
	}
	if n > uint64(r.Remaining()) {
		r.fail(ErrTruncated, "truncated: length %d, %d bytes left", n, r.Remaining())
		return nil
	}
	return r.Fixed(int(n))
}

// Count32 reads a uint32 number of entries, refusing more than max or more
// than the bytes left could hold at minSize bytes per entry (minSize ≥ 1
// for entries that take space), so that a slice of that many entries may be
// allocated. It returns 0 after a failure.
func (r *Reader) Count32(limit, minSize int) int {
	n := uint64(r.Uint32())
	switch {
	case r.err != nil:
		return 0
	case limit < 0 || n > uint64(limit):
		r.fail(ErrTooLong, "count %d, at most %d", n, max(limit, 0))
		return 0
	case minSize > 0 && n > uint64(r.Remaining())/uint64(minSize):
		r.fail(ErrTruncated, "truncated: %d entries need at least %d bytes each, %d left", n, minSize, r.Remaining())
		return 0
	}
	return int(n)
}

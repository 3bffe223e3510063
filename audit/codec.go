package audit

import (
	"encoding/binary"
	"fmt"
)

// writer appends the fields of an encoding: integers big-endian, byte
// strings after their length.
type writer struct{ b []byte }

func (w *writer) u8(v byte)        { w.b = append(w.b, v) }
func (w *writer) u32(v uint32)     { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)     { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) fixed(v []byte)   { w.b = append(w.b, v...) }
func (w *writer) str(s string)     { w.u32(uint32(len(s))); w.b = append(w.b, s...) }
func (w *writer) bytes32(v []byte) { w.u32(uint32(len(v))); w.b = append(w.b, v...) }
func (w *writer) bytes64(v []byte) { w.u64(uint64(len(v))); w.b = append(w.b, v...) }

// reader consumes an encoding. It records the first error, after which
// every read returns zero values; callers check err once at the end, and
// never allocate from a length or count before it has been checked against
// the bytes that are left.
type reader struct {
	b    []byte
	off  int
	err  error
	item string // what is being read, for errors: "record 3"
}

func (r *reader) fail(format string, args ...any) {
	if r.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if r.item != "" {
		msg = r.item + ": " + msg
	}
	r.err = fmt.Errorf("%w: at byte %d: %s", ErrMalformed, r.off, msg)
}

func (r *reader) left() uint64 { return uint64(len(r.b) - r.off) }

// take returns the next n bytes, aliasing the input.
func (r *reader) take(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > r.left() {
		r.fail("%s: %d bytes needed, %d left", what, n, r.left())
		return nil
	}
	s := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) u8(what string) byte {
	if b := r.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) digest(what string) (d [32]byte) {
	copy(d[:], r.take(32, what))
	return d
}

// fixedCopy returns a copy of the next n bytes.
func (r *reader) fixedCopy(n uint64, what string) []byte {
	b := r.take(n, what)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// bytes32 reads a byte string after a uint32 length of at most max and
// returns a copy.
func (r *reader) bytes32(max uint64, what string) []byte {
	n := uint64(r.u32(what + " length"))
	if r.err == nil && n > max {
		r.fail("%s: %d bytes, at most %d", what, n, max)
	}
	return r.fixedCopy(n, what)
}

// bytes64 reads a byte string after a uint64 length of at most max and
// returns a copy.
func (r *reader) bytes64(max uint64, what string) []byte {
	n := r.u64(what + " length")
	if r.err == nil && n > max {
		r.fail("%s: %d bytes, at most %d", what, n, max)
	}
	return r.fixedCopy(n, what)
}

func (r *reader) str(max uint64, what string) string {
	return string(r.bytes32(max, what))
}

// count reads a uint32 number of entries, refusing more than max or more
// than the bytes left could hold at minSize bytes per entry, so that a
// slice of that many entries may be allocated.
func (r *reader) count(max int, minSize uint64, what string) int {
	n := uint64(r.u32(what))
	switch {
	case r.err != nil:
		return 0
	case n > uint64(max):
		r.fail("%d %s, at most %d", n, what, max)
		return 0
	case n*minSize > r.left():
		r.fail("%d %s need at least %d bytes, %d left", n, what, n*minSize, r.left())
		return 0
	}
	return int(n)
}

// end refuses trailing bytes.
func (r *reader) end() {
	r.item = ""
	if r.err == nil && r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
	}
}

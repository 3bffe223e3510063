package wire

import (
	"fmt"
	"io"
	"math"
)

// A Writer appends the fields of an encoding, to memory (NewWriter) or to
// an io.Writer (NewStreamWriter). Its first failure (a byte string too long
// for its prefix, or the stream's error) sticks and later writes do nothing.
type Writer struct {
	order   Order
	buf     []byte
	stream  io.Writer
	scratch [8]byte
	err     error
}

// NewWriter returns a Writer that appends to a buffer of the given initial
// capacity.
func NewWriter(o Order, capacity int) *Writer {
	return &Writer{order: o, buf: make([]byte, 0, max(capacity, 0))}
}

// NewStreamWriter returns a Writer that writes every field to dst as it
// goes, so that a large encoding can be hashed or stored without being held
// twice.
func NewStreamWriter(o Order, dst io.Writer) *Writer {
	return &Writer{order: o, stream: dst}
}

func (w *Writer) write(p []byte) {
	switch {
	case w.err != nil:
	case w.stream == nil:
		w.buf = append(w.buf, p...)
	default:
		if _, err := w.stream.Write(p); err != nil {
			w.err = err
		}
	}
}

// Uint8 writes one byte.
func (w *Writer) Uint8(v uint8) { w.scratch[0] = v; w.write(w.scratch[:1]) }

// Uint16 writes v in 2 bytes.
func (w *Writer) Uint16(v uint16) { w.write(w.order.append().AppendUint16(w.scratch[:0], v)) }

// Uint32 writes v in 4 bytes.
func (w *Writer) Uint32(v uint32) { w.write(w.order.append().AppendUint32(w.scratch[:0], v)) }

// Uint64 writes v in 8 bytes.
func (w *Writer) Uint64(v uint64) { w.write(w.order.append().AppendUint64(w.scratch[:0], v)) }

// Raw writes b as is: a fixed-size field, or a field whose length the
// encoding gives elsewhere.
func (w *Writer) Raw(b []byte) { w.write(b) }

// Bytes8 writes b after its length as one byte.
func (w *Writer) Bytes8(b []byte) {
	if w.fits(len(b), math.MaxUint8) {
		w.Uint8(uint8(len(b)))
		w.write(b)
	}
}

// Bytes16 writes b after its length as a uint16.
func (w *Writer) Bytes16(b []byte) {
	if w.fits(len(b), math.MaxUint16) {
		w.Uint16(uint16(len(b)))
		w.write(b)
	}
}

// Bytes32 writes b after its length as a uint32.
func (w *Writer) Bytes32(b []byte) {
	if w.fits(len(b), math.MaxUint32) {
		w.Uint32(uint32(len(b)))
		w.write(b)
	}
}

// Bytes64 writes b after its length as a uint64.
func (w *Writer) Bytes64(b []byte) {
	w.Uint64(uint64(len(b)))
	w.write(b)
}

// String32 writes s after its length as a uint32.
func (w *Writer) String32(s string) {
	if w.fits(len(s), math.MaxUint32) {
		w.Uint32(uint32(len(s)))
		w.write([]byte(s))
	}
}

func (w *Writer) fits(n int, limit uint64) bool {
	if uint64(n) > limit && w.err == nil {
		w.err = fmt.Errorf("wire: byte string of %d bytes for a prefix of at most %d: %w", n, limit, ErrTooLong)
	}
	return w.err == nil
}

// Err returns the Writer's first failure, or nil.
func (w *Writer) Err() error { return w.err }

// Bytes returns what a memory Writer has written, or its first failure.
func (w *Writer) Bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

// Len is the number of bytes a memory Writer holds.
func (w *Writer) Len() int { return len(w.buf) }

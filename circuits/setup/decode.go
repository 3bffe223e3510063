package setup

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	curve "github.com/consensys/gnark-crypto/ecc/bn254"
)

// Sizes of compressed BN254 points, the only form this package accepts.
const (
	g1Size = curve.SizeOfG1AffineCompressed // 32
	g2Size = curve.SizeOfG2AffineCompressed // 64
)

// contain runs f and turns a panic inside it into an ErrMalformed error.
// gnark's decoders trust the sizes they read and are not documented as
// panic-free; this package bounds every size before calling them, and contain
// is the second line of defence. It cannot catch a panic in a goroutine that
// the decoder starts itself (gnark-crypto's parallel point decompression
// reports failures as errors, not panics).
func contain(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("setup: %s: %w: decoder panicked: %v", what, ErrMalformed, r)
		}
	}()
	return f()
}

// reader walks an encoding held in memory, so that every declared count can
// be checked against the bytes that are actually left before gnark allocates
// for it.
type reader struct {
	data []byte
	r    *bytes.Reader
	dec  *curve.Decoder // subgroup checks on (gnark-crypto's default)
}

func newReader(data []byte) *reader {
	r := bytes.NewReader(data)
	return &reader{data: data, r: r, dec: curve.NewDecoder(r)}
}

func (r *reader) offset() int    { return len(r.data) - r.r.Len() }
func (r *reader) remaining() int { return r.r.Len() }

// peekUint32 returns the big-endian uint32 at the current position without
// consuming it.
func (r *reader) peekUint32() (uint32, error) {
	off := r.offset()
	if len(r.data)-off < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	return binary.BigEndian.Uint32(r.data[off:]), nil
}

// peekUint64 returns the big-endian uint64 at the current position without
// consuming it.
func (r *reader) peekUint64() (uint64, error) {
	off := r.offset()
	if len(r.data)-off < 8 {
		return 0, io.ErrUnexpectedEOF
	}
	return binary.BigEndian.Uint64(r.data[off:]), nil
}

// slice decodes a gnark-encoded slice (uint32 count, then the elements) into
// v after checking that count elements of elemSize bytes fit in the input and
// that count ≤ limit.
func (r *reader) slice(v any, elemSize int, limit int) error {
	n, err := r.peekUint32()
	if err != nil {
		return err
	}
	if uint64(n) > uint64(limit) || uint64(n)*uint64(elemSize) > uint64(r.remaining()-4) {
		return fmt.Errorf("declared length %d exceeds the input", n)
	}
	return r.dec.Decode(v)
}

// end checks that the whole input was consumed.
func (r *reader) end() error {
	if r.remaining() != 0 {
		return fmt.Errorf("%d trailing bytes", r.remaining())
	}
	return nil
}

// matchWriter compares what is written to it with want, without buffering.
type matchWriter struct {
	want     []byte
	off      int
	mismatch bool
}

func (m *matchWriter) Write(p []byte) (int, error) {
	if !m.mismatch {
		if len(p) > len(m.want)-m.off || !bytes.Equal(p, m.want[m.off:m.off+len(p)]) {
			m.mismatch = true
		} else {
			m.off += len(p)
		}
	}
	return len(p), nil
}

// canonical reports whether v re-encodes to exactly data: the decoders accept
// one encoding per value (compressed points, canonical coordinates, minimal
// flags), so that a contribution's bytes and its hash are the same thing.
func canonical(v io.WriterTo, data []byte) error {
	m := matchWriter{want: data}
	if _, err := v.WriteTo(&m); err != nil {
		return err
	}
	if m.mismatch || m.off != len(data) {
		return fmt.Errorf("non-canonical encoding")
	}
	return nil
}

// encode serialises v into a fresh byte slice.
func encode(v io.WriterTo) ([]byte, error) {
	var b bytes.Buffer
	if _, err := v.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

package wire

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// sample writes one field of every kind.
func sample(w *Writer) {
	w.Uint8(0x01)
	w.Uint16(0x0203)
	w.Uint32(0x04050607)
	w.Uint64(0x08090a0b0c0d0e0f)
	w.Raw([]byte{0xaa, 0xbb})
	w.Bytes8([]byte("a"))
	w.Bytes16([]byte("bc"))
	w.Bytes32([]byte("def"))
	w.Bytes64([]byte{})
	w.String32("gh")
}

func TestWriterLayout(t *testing.T) {
	for _, tc := range []struct {
		order Order
		want  string
	}{
		{BigEndian, "01" + "0203" + "04050607" + "08090a0b0c0d0e0f" + "aabb" + "01" + "61" + "0002" + "6263" +
			"00000003" + "646566" + "0000000000000000" + "00000002" + "6768"},
		{LittleEndian, "01" + "0302" + "07060504" + "0f0e0d0c0b0a0908" + "aabb" + "01" + "61" + "0200" + "6263" +
			"03000000" + "646566" + "0000000000000000" + "02000000" + "6768"},
	} {
		w := NewWriter(tc.order, 0)
		sample(w)
		got, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if h := hexOf(got); h != tc.want {
			t.Errorf("order %d:\n got %s\nwant %s", tc.order, h, tc.want)
		}
		var stream bytes.Buffer
		sw := NewStreamWriter(tc.order, &stream)
		sample(sw)
		if sw.Err() != nil || !bytes.Equal(stream.Bytes(), got) {
			t.Errorf("order %d: stream writer wrote %x, %v", tc.order, stream.Bytes(), sw.Err())
		}
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, x := range b {
		s.WriteByte(digits[x>>4])
		s.WriteByte(digits[x&15])
	}
	return s.String()
}

func TestReaderReadsWhatWriterWrote(t *testing.T) {
	for _, o := range []Order{BigEndian, LittleEndian} {
		w := NewWriter(o, 64)
		sample(w)
		b, _ := w.Bytes()
		r := NewReader(o, b)
		if v := r.Uint8(); v != 0x01 {
			t.Errorf("uint8 %x", v)
		}
		if v := r.Uint16(); v != 0x0203 {
			t.Errorf("uint16 %x", v)
		}
		if v := r.Uint32(); v != 0x04050607 {
			t.Errorf("uint32 %x", v)
		}
		if v := r.Uint64(); v != 0x08090a0b0c0d0e0f {
			t.Errorf("uint64 %x", v)
		}
		var raw [2]byte
		r.Copy(raw[:])
		if raw != [2]byte{0xaa, 0xbb} {
			t.Errorf("raw %x", raw)
		}
		if v := r.Bytes8(1); string(v) != "a" {
			t.Errorf("bytes8 %q", v)
		}
		if v := r.Bytes16(2); string(v) != "bc" {
			t.Errorf("bytes16 %q", v)
		}
		if v := r.Bytes32(3); string(v) != "def" {
			t.Errorf("bytes32 %q", v)
		}
		if v := r.Bytes64(0); v == nil || len(v) != 0 {
			t.Errorf("bytes64 %v", v)
		}
		if v := r.String32(2); v != "gh" {
			t.Errorf("string32 %q", v)
		}
		if err := r.End(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReaderRefuses(t *testing.T) {
	be := func(f func(w *Writer)) []byte {
		w := NewWriter(BigEndian, 0)
		f(w)
		b, _ := w.Bytes()
		return b
	}
	for _, tc := range []struct {
		name  string
		in    []byte
		read  func(r *Reader)
		want  error
		offst int
	}{
		{"short integer", []byte{1, 2, 3}, func(r *Reader) { r.Uint32() }, ErrTruncated, 0},
		{"length over the bound", be(func(w *Writer) { w.Bytes32(make([]byte, 5)) }), func(r *Reader) { r.Bytes32(4) }, ErrTooLong, 4},
		{"length over the input", be(func(w *Writer) { w.Uint32(6); w.Raw(make([]byte, 5)) }), func(r *Reader) { r.Bytes32(100) }, ErrTruncated, 4},
		{"huge 64-bit length", be(func(w *Writer) { w.Uint64(math.MaxUint64) }), func(r *Reader) { r.Bytes64(math.MaxInt) }, ErrTooLong, 8},
		{"64-bit length over the input", be(func(w *Writer) { w.Uint64(1 << 40) }), func(r *Reader) { r.Bytes64(math.MaxInt) }, ErrTruncated, 8},
		{"negative bound", be(func(w *Writer) { w.Uint8(0) }), func(r *Reader) { r.Bytes8(-1) }, ErrTooLong, 1},
		{"negative fixed size", []byte{1}, func(r *Reader) { r.Fixed(-1) }, ErrTruncated, 0},
		{"count over the bound", be(func(w *Writer) { w.Uint32(3) }), func(r *Reader) { r.Count32(2, 0) }, ErrTooLong, 4},
		{"count over the input", be(func(w *Writer) { w.Uint32(3); w.Raw(make([]byte, 5)) }), func(r *Reader) { r.Count32(10, 2) }, ErrTruncated, 4},
		{"trailing", []byte{1, 2}, func(r *Reader) { r.Uint8() }, ErrTrailing, 1},
	} {
		r := NewReader(BigEndian, tc.in)
		tc.read(r)
		err := r.End()
		var we *Error
		if !errors.Is(err, tc.want) || !errors.As(err, &we) || we.Offset != tc.offst {
			t.Errorf("%s: %v, want %v at byte %d", tc.name, err, tc.want, tc.offst)
		}
	}
}

func TestReaderFirstFailureSticks(t *testing.T) {
	r := NewReader(BigEndian, []byte{0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8})
	r.Label("record 2")
	if b := r.Bytes32(4); b != nil {
		t.Fatalf("got %x", b)
	}
	if v := r.Uint32(); v != 0 {
		t.Fatalf("read %d after a failure", v)
	}
	custom := errors.New("custom")
	r.Fail(custom)
	err := r.End()
	if !errors.Is(err, ErrTooLong) || errors.Is(err, custom) {
		t.Fatalf("%v", err)
	}
	if got := err.Error(); got != "at byte 4: record 2: length 9, at most 4" {
		t.Fatalf("message %q", got)
	}
	r = NewReader(BigEndian, []byte{0, 9})
	r.Label("record 2")
	r.Field("version").Uint8()
	r.Field("count").Uint16()
	if err := r.End(); err == nil || err.Error() != "at byte 1: record 2: count: truncated: 2 bytes needed, 1 left" {
		t.Fatalf("%v", err)
	}
	r = NewReader(BigEndian, []byte{1})
	r.Fail(custom)
	if err := r.End(); !errors.Is(err, custom) {
		t.Fatalf("%v", err)
	}
}

func TestCountAllowsAllocation(t *testing.T) {
	r := NewReader(BigEndian, []byte{0, 0, 0, 2, 1, 2, 3, 4})
	if n := r.Count32(2, 2); n != 2 || r.Err() != nil {
		t.Fatalf("count %d, %v", n, r.Err())
	}
}

func TestWriterRefusesOverlongString(t *testing.T) {
	w := NewWriter(BigEndian, 0)
	w.Uint8(7)
	w.Bytes8(make([]byte, 256))
	w.Uint8(8)
	if b, err := w.Bytes(); !errors.Is(err, ErrTooLong) || b != nil {
		t.Fatalf("%x, %v", b, err)
	}
	w = NewWriter(BigEndian, 0)
	w.Bytes16(make([]byte, 1<<16))
	if !errors.Is(w.Err(), ErrTooLong) {
		t.Fatalf("%v", w.Err())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestStreamWriterKeepsFirstError(t *testing.T) {
	w := NewStreamWriter(BigEndian, failingWriter{})
	w.Uint32(1)
	w.Bytes32([]byte("x"))
	if w.Err() == nil || w.Err().Error() != "disk full" {
		t.Fatalf("%v", w.Err())
	}
}

func TestFixedAliasesWithCappedCapacity(t *testing.T) {
	in := []byte{1, 2, 3, 4}
	r := NewReader(BigEndian, in)
	b := r.Fixed(2)
	if cap(b) != 2 {
		t.Fatalf("capacity %d", cap(b))
	}
	_ = append(b, 9)
	if in[2] != 3 {
		t.Fatal("append through a field overwrote the input")
	}
}

package wire

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReader decodes arbitrary bytes as a sequence of every kind of field
// under small bounds. It must never panic, must never return a field longer
// than its bound or than the input, and whatever decodes in full must
// re-encode to the same bytes.
func FuzzReader(f *testing.F) {
	w := NewWriter(BigEndian, 0)
	w.Uint8(1)
	w.Uint16(2)
	w.Bytes8([]byte("ab"))
	w.Bytes16([]byte("cd"))
	w.Uint32(2)
	w.Bytes32([]byte("e"))
	w.Bytes32([]byte("f"))
	w.Bytes64([]byte("gh"))
	w.Uint64(7)
	seed, _ := w.Bytes()
	f.Add(seed, false)
	f.Add(seed[:len(seed)-1], true)
	f.Add([]byte{}, false)
	f.Add(bytes.Repeat([]byte{0xff}, 40), false)
	f.Fuzz(func(t *testing.T, data []byte, little bool) {
		o := BigEndian
		if little {
			o = LittleEndian
		}
		const bound = 16
		r := NewReader(o, data)
		a := r.Uint8()
		b := r.Uint16()
		s8 := r.Bytes8(bound)
		s16 := r.Bytes16(bound)
		n := r.Count32(4, 4)
		list := make([][]byte, n)
		for i := range list {
			list[i] = r.Bytes32(bound)
		}
		s64 := r.Bytes64(bound)
		c := r.Uint64()
		for _, s := range append([][]byte{s8, s16, s64}, list...) {
			if len(s) > bound {
				t.Fatalf("field of %d bytes past the bound", len(s))
			}
		}
		if r.Offset() > len(data) || r.Remaining() < 0 {
			t.Fatalf("offset %d of %d", r.Offset(), len(data))
		}
		err := r.End()
		if err != nil {
			var we *Error
			if !errors.As(err, &we) || !(errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLong) || errors.Is(err, ErrTrailing)) {
				t.Fatalf("error %v is not a wire failure", err)
			}
			return
		}
		w := NewWriter(o, len(data))
		w.Uint8(a)
		w.Uint16(b)
		w.Bytes8(s8)
		w.Bytes16(s16)
		w.Uint32(uint32(n))
		for _, s := range list {
			w.Bytes32(s)
		}
		w.Bytes64(s64)
		w.Uint64(c)
		again, werr := w.Bytes()
		if werr != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoding %x differs from %x (%v)", again, data, werr)
		}
	})
}

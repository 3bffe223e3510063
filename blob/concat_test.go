package blob

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// TestConcat: a concatenation of parts of every size, empty ones among
// them, reads as the joined bytes at every offset and length, with io.EOF
// exactly when a read runs past the end.
func TestConcat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		var parts []*io.SectionReader
		var whole []byte
		for range rng.IntN(6) {
			b := make([]byte, rng.IntN(3)*rng.IntN(40))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			parts = append(parts, Bytes(b))
			whole = append(whole, b...)
		}
		c := NewConcat(parts...)
		if c.Size() != int64(len(whole)) {
			t.Fatalf("trial %d: size %d, want %d", trial, c.Size(), len(whole))
		}
		if got, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size())); err != nil || !bytes.Equal(got, whole) {
			t.Fatalf("trial %d: read %x, %v; want %x", trial, got, err, whole)
		}
		for off := 0; off <= len(whole)+1; off++ {
			for _, size := range []int{0, 1, 7, len(whole) - off, len(whole) - off + 1} {
				if size < 0 {
					continue
				}
				p := make([]byte, size)
				n, err := c.ReadAt(p, int64(off))
				end := min(len(whole), max(off, 0)+size)
				want := whole[min(off, len(whole)):end]
				if n != len(want) || !bytes.Equal(p[:n], want) {
					t.Fatalf("trial %d: ReadAt(%d bytes, %d) = %d %x, want %x", trial, size, off, n, p[:n], want)
				}
				if past := size > 0 && off+size > len(whole); past != errors.Is(err, io.EOF) || (!past && err != nil) {
					t.Fatalf("trial %d: ReadAt(%d bytes, %d) error %v", trial, size, off, err)
				}
			}
		}
	}
	if _, err := NewConcat(Bytes([]byte("x"))).ReadAt(make([]byte, 1), -1); err == nil {
		t.Fatal("a negative offset was read")
	}
}

// shortReaderAt holds fewer bytes than the part made of it says.
type shortReaderAt struct{}

func (shortReaderAt) ReadAt(p []byte, off int64) (int, error) { return 0, io.EOF }

// TestConcatShortPart: a part that holds fewer bytes than its size is an
// error, not the end.
func TestConcatShortPart(t *testing.T) {
	c := NewConcat(Bytes([]byte("ab")), io.NewSectionReader(shortReaderAt{}, 0, 4), Bytes([]byte("cd")))
	p := make([]byte, 8)
	if n, err := c.ReadAt(p, 0); n != 2 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadAt over a short part: %d, %v; want 2, io.ErrUnexpectedEOF", n, err)
	}
}

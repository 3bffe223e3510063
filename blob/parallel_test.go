package blob

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// TestParallelWriter checks that every writer receives every byte, in
// order, as io.MultiWriter would give them.
func TestParallelWriter(t *testing.T) {
	src := make([]byte, 3<<20+17)
	for i := range src {
		src[i] = byte(i * 31)
	}
	var a, b bytes.Buffer
	h := sha256.New()
	pw := NewParallelWriter(&a, h, &b)
	n, err := io.CopyBuffer(pw, bytes.NewReader(src), make([]byte, 64<<10))
	if err != nil || n != int64(len(src)) {
		t.Fatalf("copy = %d, %v; want %d, nil", n, err, len(src))
	}
	if !bytes.Equal(a.Bytes(), src) || !bytes.Equal(b.Bytes(), src) {
		t.Fatal("a writer received other bytes than were written")
	}
	if want := sha256.Sum256(src); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the hash of the bytes written differs")
	}
	if n, err := NewParallelWriter().Write(src[:5]); n != 5 || err != nil {
		t.Fatalf("no writers: Write = %d, %v; want 5, nil", n, err)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write(p []byte) (int, error) { return 0, f.err }

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// TestParallelWriterErrors checks that a writer's failure is the write's,
// the first writer's (in the order given) when several fail, and that a
// writer that writes less than it was given without an error fails the
// write too.
func TestParallelWriterErrors(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	var ok bytes.Buffer
	cases := []struct {
		name string
		ws   []io.Writer
		want error
	}{
		{"first fails", []io.Writer{failingWriter{errA}, &ok}, errA},
		{"later fails", []io.Writer{&ok, failingWriter{errB}}, errB},
		{"both fail", []io.Writer{&ok, failingWriter{errA}, failingWriter{errB}}, errA},
		{"short write", []io.Writer{&ok, shortWriter{}}, io.ErrShortWrite},
	}
	for _, c := range cases {
		n, err := NewParallelWriter(c.ws...).Write([]byte("records"))
		if !errors.Is(err, c.want) || n != 0 {
			t.Errorf("%s: Write = %d, %v; want 0, %v", c.name, n, err, c.want)
		}
	}
}

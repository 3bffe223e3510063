// Package dptest gives the tests of package dp a deterministic source of
// randomness, so that a statistical test draws the same samples on every
// run. It refuses to run outside a test binary: a deterministic source in
// a release mechanism would let anyone who knows the seed subtract the
// noise.
package dptest

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"
)

// Reader returns a deterministic stream of bytes fixed by seed: SHA-256 in
// counter mode over the seed and a block counter. It panics when called
// outside a test binary.
func Reader(tb testing.TB, seed uint64) io.Reader {
	tb.Helper()
	if !testing.Testing() {
		panic("dptest: outside a test binary")
	}
	r := &reader{}
	binary.BigEndian.PutUint64(r.key[:8], seed)
	copy(r.key[8:], "cohort dp test stream")
	return r
}

type reader struct {
	key     [32]byte
	counter uint64
	block   [sha256.Size]byte
	left    int // unread bytes at the end of block
}

func (r *reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.left == 0 {
			var in [40]byte
			copy(in[:32], r.key[:])
			binary.BigEndian.PutUint64(in[32:], r.counter)
			r.counter++
			r.block = sha256.Sum256(in[:])
			r.left = len(r.block)
		}
		c := copy(p[n:], r.block[len(r.block)-r.left:])
		r.left -= c
		n += c
	}
	return n, nil
}

// FailingReader returns a reader that yields n bytes of the stream of seed
// and then fails with err, for tests of how a sampler handles a source
// that breaks.
func FailingReader(tb testing.TB, seed uint64, n int, err error) io.Reader {
	tb.Helper()
	return &failing{r: io.LimitReader(Reader(tb, seed), int64(n)), err: err}
}

type failing struct {
	r   io.Reader
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

package client

import (
	"crypto/sha256"
	"fmt"
	"hash"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// MaxChunkSize is the largest chunk of a blob stream (chunk.proto).
const MaxChunkSize = 1 << 20

// initialBlobCap bounds what a header alone makes the receiver allocate; the
// buffer grows with the bytes that actually arrive.
const initialBlobCap = 64 << 20

// blobReceiver reassembles a blob from a header and its chunks: the header
// is checked against a limit before any chunk is read, each chunk must start
// where the previous one ended, carry 1 B..MaxChunkSize and stay within the
// declared size, and finish checks the size and the SHA-256.
type blobReceiver struct {
	total uint64
	want  [32]byte
	buf   []byte
	h     hash.Hash
}

func newBlobReceiver(hd *cohortv1.BlobHeader, limit uint64) (*blobReceiver, error) {
	if hd == nil {
		return nil, fmt.Errorf("stream does not start with a header")
	}
	if hd.GetTotalSize() == 0 || hd.GetTotalSize() > limit {
		return nil, fmt.Errorf("header declares %d bytes, want 1..%d", hd.GetTotalSize(), limit)
	}
	want, err := digest32(hd.GetSha256())
	if err != nil {
		return nil, fmt.Errorf("header SHA-256: %v", err)
	}
	return &blobReceiver{
		total: hd.GetTotalSize(),
		want:  want,
		buf:   make([]byte, 0, min(hd.GetTotalSize(), initialBlobCap)),
		h:     sha256.New(),
	}, nil
}

// received is the number of bytes received so far.
func (r *blobReceiver) received() uint64 { return uint64(len(r.buf)) }

func (r *blobReceiver) add(c *cohortv1.Chunk) error {
	if c == nil {
		return fmt.Errorf("a second header or an empty message after %d bytes", r.received())
	}
	n := uint64(len(c.GetData()))
	switch {
	case c.GetOffset() != r.received():
		return fmt.Errorf("chunk at offset %d, want %d", c.GetOffset(), r.received())
	case n == 0 || n > MaxChunkSize:
		return fmt.Errorf("chunk of %d bytes, want 1..%d", n, MaxChunkSize)
	case n > r.total-r.received():
		return fmt.Errorf("chunk of %d bytes at offset %d runs past the declared %d", n, c.GetOffset(), r.total)
	}
	r.buf = append(r.buf, c.GetData()...)
	r.h.Write(c.GetData())
	return nil
}

// finish returns the blob once it is complete and hashes to the header's
// SHA-256.
func (r *blobReceiver) finish() ([]byte, error) {
	if r.received() != r.total {
		return nil, fmt.Errorf("stream ended after %d of %d bytes", r.received(), r.total)
	}
	var got [32]byte
	r.h.Sum(got[:0])
	if got != r.want {
		return nil, fmt.Errorf("SHA-256 %x differs from the header's %x", got, r.want)
	}
	return r.buf, nil
}

// Package blob moves large byte strings (proving keys, ceremony states and
// transcripts) over gRPC streams as a header (size and SHA-256) followed by
// in-order chunks of at most MaxChunkSize bytes (cohort.v1.BlobHeader and
// Chunk). A Receiver checks the declared size against a limit before any
// chunk is read (ErrTooLarge above it), refuses chunks out of order, empty,
// oversize or past the declared size, and checks the size and the SHA-256
// at the end; it never allocates more than the bytes that actually arrived
// beyond an initial buffer of InitialCap bytes, whatever the header claims.
package blob

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// MaxChunkSize is the largest chunk of a blob stream (chunk.proto).
const MaxChunkSize = 1 << 20

// InitialCap bounds what a header alone makes the receiver allocate (one
// chunk); the buffer grows with the bytes that actually arrive, so a header
// declaring a large size costs nothing until its bytes are sent.
const InitialCap = MaxChunkSize

var (
	// ErrMalformed is wrapped by every error about the stream's contents
	// (as opposed to the transport's errors, which Receive passes on
	// unchanged).
	ErrMalformed = errors.New("blob: malformed stream")
	// ErrTooLarge is wrapped, with ErrMalformed, when a header declares
	// more bytes than the receiver's limit.
	ErrTooLarge = errors.New("blob: larger than the limit")
)

// Header describes b for a stream.
func Header(b []byte) *cohortv1.BlobHeader {
	h := sha256.Sum256(b)
	return &cohortv1.BlobHeader{TotalSize: uint64(len(b)), Sha256: h[:]}
}

// Send cuts b into chunks and passes them to send in order.
func Send(b []byte, send func(*cohortv1.Chunk) error) error {
	for off := 0; off < len(b); off += MaxChunkSize {
		end := min(off+MaxChunkSize, len(b))
		if err := send(&cohortv1.Chunk{Offset: uint64(off), Data: b[off:end]}); err != nil {
			return err
		}
	}
	return nil
}

// Receiver reassembles a blob from a header and its chunks.
type Receiver struct {
	total uint64
	want  [32]byte
	buf   []byte
	h     hash.Hash
}

// NewReceiver checks a header against limit (bytes) and prepares to receive
// its chunks.
func NewReceiver(hd *cohortv1.BlobHeader, limit uint64) (*Receiver, error) {
	if hd == nil {
		return nil, fmt.Errorf("%w: stream does not start with a header", ErrMalformed)
	}
	if hd.GetTotalSize() == 0 {
		return nil, fmt.Errorf("%w: header declares an empty blob", ErrMalformed)
	}
	if hd.GetTotalSize() > limit {
		return nil, fmt.Errorf("%w: %w: header declares %d bytes, want at most %d", ErrMalformed, ErrTooLarge, hd.GetTotalSize(), limit)
	}
	if len(hd.GetSha256()) != sha256.Size {
		return nil, fmt.Errorf("%w: header SHA-256 of %d bytes, want %d", ErrMalformed, len(hd.GetSha256()), sha256.Size)
	}
	return &Receiver{
		total: hd.GetTotalSize(),
		want:  [32]byte(hd.GetSha256()),
		buf:   make([]byte, 0, min(hd.GetTotalSize(), InitialCap)),
		h:     sha256.New(),
	}, nil
}

// Total is the size the header declared.
func (r *Receiver) Total() uint64 { return r.total }

// Sum is the SHA-256 the header declared.
func (r *Receiver) Sum() [32]byte { return r.want }

// Received is the number of bytes received so far.
func (r *Receiver) Received() uint64 { return uint64(len(r.buf)) }

// Add appends the next chunk.
func (r *Receiver) Add(c *cohortv1.Chunk) error {
	if c == nil {
		return fmt.Errorf("%w: a second header or an empty message after %d bytes", ErrMalformed, r.Received())
	}
	n := uint64(len(c.GetData()))
	switch {
	case c.GetOffset() != r.Received():
		return fmt.Errorf("%w: chunk at offset %d, want %d", ErrMalformed, c.GetOffset(), r.Received())
	case n == 0 || n > MaxChunkSize:
		return fmt.Errorf("%w: chunk of %d bytes, want 1..%d", ErrMalformed, n, MaxChunkSize)
	case n > r.total-r.Received():
		return fmt.Errorf("%w: chunk of %d bytes at offset %d runs past the declared %d", ErrMalformed, n, c.GetOffset(), r.total)
	}
	r.buf = append(r.buf, c.GetData()...)
	r.h.Write(c.GetData())
	return nil
}

// Finish returns the blob once it is complete and hashes to the header's
// SHA-256.
func (r *Receiver) Finish() ([]byte, error) {
	if r.Received() != r.total {
		return nil, fmt.Errorf("%w: stream ended after %d of %d bytes", ErrMalformed, r.Received(), r.total)
	}
	var got [32]byte
	r.h.Sum(got[:0])
	if got != r.want {
		return nil, fmt.Errorf("%w: SHA-256 %x differs from the header's %x", ErrMalformed, got, r.want)
	}
	return r.buf, nil
}

// Receive reads a whole blob: the header already read, then chunks from
// next until it returns io.EOF. An error of next other than io.EOF is
// returned as it is; a malformed stream wraps ErrMalformed.
func Receive(hd *cohortv1.BlobHeader, limit uint64, next func() (*cohortv1.Chunk, error)) ([]byte, error) {
	r, err := NewReceiver(hd, limit)
	if err != nil {
		return nil, err
	}
	for {
		c, err := next()
		if errors.Is(err, io.EOF) {
			return r.Finish()
		}
		if err != nil {
			return nil, err
		}
		if err := r.Add(c); err != nil {
			return nil, err
		}
	}
}

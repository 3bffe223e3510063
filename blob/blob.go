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
	if err := checkHeader(hd, limit); err != nil {
		return nil, err
	}
	return &Receiver{
		total: hd.GetTotalSize(),
		want:  [32]byte(hd.GetSha256()),
		buf:   make([]byte, 0, min(hd.GetTotalSize(), InitialCap)),
		h:     sha256.New(),
	}, nil
}

// CheckHeader checks a header against limit (bytes) as NewReceiver and
// NewReader do, for a blob whose bytes come another way: ErrMalformed,
// with ErrTooLarge above the limit.
func CheckHeader(hd *cohortv1.BlobHeader, limit uint64) error { return checkHeader(hd, limit) }

// checkHeader checks a stream's header against limit (bytes).
func checkHeader(hd *cohortv1.BlobHeader, limit uint64) error {
	switch {
	case hd == nil:
		return fmt.Errorf("%w: stream does not start with a header", ErrMalformed)
	case hd.GetTotalSize() == 0:
		return fmt.Errorf("%w: header declares an empty blob", ErrMalformed)
	case hd.GetTotalSize() > limit:
		return fmt.Errorf("%w: %w: header declares %d bytes, want at most %d", ErrMalformed, ErrTooLarge, hd.GetTotalSize(), limit)
	case len(hd.GetSha256()) != sha256.Size:
		return fmt.Errorf("%w: header SHA-256 of %d bytes, want %d", ErrMalformed, len(hd.GetSha256()), sha256.Size)
	}
	return nil
}

// Total is the size the header declared.
func (r *Receiver) Total() uint64 { return r.total }

// Sum is the SHA-256 the header declared.
func (r *Receiver) Sum() [32]byte { return r.want }

// Received is the number of bytes received so far.
func (r *Receiver) Received() uint64 { return uint64(len(r.buf)) }

// Add appends the next chunk.
func (r *Receiver) Add(c *cohortv1.Chunk) error {
	if err := checkChunk(c, r.Received(), r.total); err != nil {
		return err
	}
	r.buf = append(r.buf, c.GetData()...)
	r.h.Write(c.GetData())
	return nil
}

// checkChunk checks the next chunk c of a blob of total bytes of which got
// have arrived: in order, not empty, at most MaxChunkSize, not past the end.
func checkChunk(c *cohortv1.Chunk, got, total uint64) error {
	if c == nil {
		return fmt.Errorf("%w: a second header or an empty message after %d bytes", ErrMalformed, got)
	}
	n := uint64(len(c.GetData()))
	switch {
	case c.GetOffset() != got:
		return fmt.Errorf("%w: chunk at offset %d, want %d", ErrMalformed, c.GetOffset(), got)
	case n == 0 || n > MaxChunkSize:
		return fmt.Errorf("%w: chunk of %d bytes, want 1..%d", ErrMalformed, n, MaxChunkSize)
	case n > total-got:
		return fmt.Errorf("%w: chunk of %d bytes at offset %d runs past the declared %d", ErrMalformed, n, c.GetOffset(), total)
	}
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

// HeaderOf describes a blob of size bytes whose SHA-256 is sum, for a
// stream whose bytes are not in memory (SendFrom).
func HeaderOf(size uint64, sum [32]byte) *cohortv1.BlobHeader {
	return &cohortv1.BlobHeader{TotalSize: size, Sha256: sum[:]}
}

// SendFrom reads src to its end in chunks of at most MaxChunkSize bytes
// and passes them to send in order, offsets counted from 0. It returns
// the number of bytes sent. The chunk passed to send is reused for the
// next one once send returns.
func SendFrom(src io.Reader, send func(*cohortv1.Chunk) error) (uint64, error) {
	return SendFromAt(src, 0, send)
}

// SendFromAt is SendFrom for bytes that sit at offset start of the blob:
// the chunks' offsets count from there, and it returns the offset after
// the last byte sent. A stream that leaves a range of the blob out sends
// the bytes on either side of it this way.
func SendFromAt(src io.Reader, start uint64, send func(*cohortv1.Chunk) error) (uint64, error) {
	buf := make([]byte, MaxChunkSize)
	off := start
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			if serr := send(&cohortv1.Chunk{Offset: off, Data: buf[:n]}); serr != nil {
				return off, serr
			}
			off += uint64(n)
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return off, nil
		case err != nil:
			return off, err
		}
	}
}

// Reader reads a blob's bytes as its chunks arrive, holding one chunk at
// a time: the stream's checks are Receiver's, the size and SHA-256 at
// the end, so a Read returns io.EOF only once every byte arrived and
// hashed to the header's SHA-256 (an error wrapping ErrMalformed
// otherwise). What a consumer made of the bytes before that must not be
// acted on until the Reader has returned io.EOF.
type Reader struct {
	total, got uint64
	want       [32]byte
	h          hash.Hash
	next       func() (*cohortv1.Chunk, error)
	cur        []byte
	err        error
}

// NewReader checks a header against limit, as NewReceiver does, and
// returns a Reader of the chunks next yields until io.EOF.
func NewReader(hd *cohortv1.BlobHeader, limit uint64, next func() (*cohortv1.Chunk, error)) (*Reader, error) {
	if err := checkHeader(hd, limit); err != nil {
		return nil, err
	}
	return &Reader{total: hd.GetTotalSize(), want: [32]byte(hd.GetSha256()), h: sha256.New(), next: next}, nil
}

// Total is the size the header declared.
func (r *Reader) Total() uint64 { return r.total }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.fill()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// fill reads the next chunk into cur, or returns the end of the stream:
// io.EOF when it is complete and hashes right.
func (r *Reader) fill() error {
	c, err := r.next()
	if errors.Is(err, io.EOF) {
		if r.got != r.total {
			return fmt.Errorf("%w: stream ended after %d of %d bytes", ErrMalformed, r.got, r.total)
		}
		var got [32]byte
		r.h.Sum(got[:0])
		if got != r.want {
			return fmt.Errorf("%w: SHA-256 %x differs from the header's %x", ErrMalformed, got, r.want)
		}
		return io.EOF
	}
	if err != nil {
		return err
	}
	if err := checkChunk(c, r.got, r.total); err != nil {
		return err
	}
	r.h.Write(c.GetData())
	r.got += uint64(len(c.GetData()))
	r.cur = c.GetData()
	return nil
}

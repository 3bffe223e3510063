package node

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// chunkSize is the size of the pieces large blobs travel in.
const chunkSize = 1 << 20

// header describes b for a stream.
func header(b []byte) *cohortv1.BlobHeader {
	h := sha256.Sum256(b)
	return &cohortv1.BlobHeader{TotalSize: uint64(len(b)), Sha256: h[:]}
}

// chunks cuts b into stream chunks.
func chunks(b []byte, send func(*cohortv1.Chunk) error) error {
	for off := 0; off < len(b); off += chunkSize {
		end := min(off+chunkSize, len(b))
		if err := send(&cohortv1.Chunk{Offset: uint64(off), Data: b[off:end]}); err != nil {
			return err
		}
	}
	return nil
}

// assembler rebuilds a blob from a header and in-order chunks.
type assembler struct {
	h   *cohortv1.BlobHeader
	buf []byte
}

func newAssembler(h *cohortv1.BlobHeader, limit uint64) (*assembler, error) {
	if h == nil || len(h.GetSha256()) != sha256.Size {
		return nil, fmt.Errorf("blob header missing or without a 32-byte SHA-256")
	}
	if h.GetTotalSize() == 0 || h.GetTotalSize() > limit {
		return nil, fmt.Errorf("blob of %d bytes: want 1..%d", h.GetTotalSize(), limit)
	}
	return &assembler{h: h, buf: make([]byte, 0, min(h.GetTotalSize(), 64<<20))}, nil
}

func (a *assembler) add(c *cohortv1.Chunk) error {
	if c == nil || len(c.GetData()) == 0 || len(c.GetData()) > chunkSize {
		return fmt.Errorf("chunk of %d bytes: want 1..%d", len(c.GetData()), chunkSize)
	}
	if c.GetOffset() != uint64(len(a.buf)) {
		return fmt.Errorf("chunk at offset %d, want %d", c.GetOffset(), len(a.buf))
	}
	if uint64(len(a.buf))+uint64(len(c.GetData())) > a.h.GetTotalSize() {
		return fmt.Errorf("chunks run past the announced %d bytes", a.h.GetTotalSize())
	}
	a.buf = append(a.buf, c.GetData()...)
	return nil
}

func (a *assembler) done() ([]byte, error) {
	if uint64(len(a.buf)) != a.h.GetTotalSize() {
		return nil, fmt.Errorf("blob ended at %d of %d bytes", len(a.buf), a.h.GetTotalSize())
	}
	h := sha256.Sum256(a.buf)
	if !bytes.Equal(h[:], a.h.GetSha256()) {
		return nil, fmt.Errorf("blob SHA-256 does not match its header")
	}
	return a.buf, nil
}

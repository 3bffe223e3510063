package blob

import (
	"bytes"
	"errors"
	"io"
	"sort"
)

// Concat reads sized parts one after another as one, at any offset. A peer
// that kept the transcript it signed, as the bytes around its own records
// section in one file and the section in another, reads the job's bundle
// as its encoded head, those files and its encoded tail, without copying
// any of it into a file of its own (docs/design.md §7.7). Each part is read
// at its own offsets, so a Concat is safe for concurrent use when its
// parts are (files, byte slices).
type Concat struct {
	parts []*io.SectionReader
	ends  []int64 // ends[i] is the offset just past part i
}

// NewConcat returns the concatenation of parts, in order.
func NewConcat(parts ...*io.SectionReader) *Concat {
	c := &Concat{parts: parts, ends: make([]int64, len(parts))}
	var end int64
	for i, p := range parts {
		end += p.Size()
		c.ends[i] = end
	}
	return c
}

// Bytes is b as a part of a Concat.
func Bytes(b []byte) *io.SectionReader {
	return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))
}

// Size is the bytes of all the parts.
func (c *Concat) Size() int64 {
	if len(c.ends) == 0 {
		return 0
	}
	return c.ends[len(c.ends)-1]
}

// ReadAt reads len(p) bytes from offset off, fewer only at the end (with
// io.EOF) or when a part holds fewer bytes than its size says
// (io.ErrUnexpectedEOF, or the part's error).
func (c *Concat) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob: concat: negative offset")
	}
	n := 0
	for n < len(p) {
		i := sort.Search(len(c.ends), func(i int) bool { return c.ends[i] > off })
		if i == len(c.parts) {
			return n, io.EOF
		}
		start := c.ends[i] - c.parts[i].Size()
		want := int(min(int64(len(p)-n), c.ends[i]-off))
		k, err := c.parts[i].ReadAt(p[n:n+want], off-start)
		n += k
		off += int64(k)
		if k < want {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}

package audit

import (
	"bufio"
	"fmt"
	"io"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/wire"
)

// Bundles as streams (docs/design.md §7.6): a node writes, stores, sends
// and receives a bundle without holding its transcript's records. The
// encoding is MarshalBinary's, byte for byte.

// SetRoots gives the writer the transcript's registry roots
// (Transcript.Roots), which the encoding puts after the records: the
// writer of a cohort learns which roots its records use from the records
// themselves. Call it before Close; the roots are checked as MarshalBinary
// checks them (ErrInvalid).
func (tw *TranscriptWriter) SetRoots(roots []Root) error {
	if tw.err != nil {
		return tw.err
	}
	t := tw.t
	t.Roots = roots
	if err := t.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	tw.t.Roots = roots
	return nil
}

// WriteBundle writes a bundle's encoding to dst with its transcript's
// encoding read from src, tlen bytes (a TranscriptWriter's output): hdr
// is that transcript without its records (the header and tail its writer
// was given), against which the signatures are checked as NewBundle
// checks them. It returns the offset of the ceremony's length field (see
// StreamedBundle.CeremonyOffset).
func WriteBundle(dst io.Writer, hdr *Transcript, src io.Reader, tlen int64, signatures [][]byte, desc *cohortv1.DatasetDescriptor, ceremony []byte) (int64, error) {
	if hdr == nil || hdr.Records != nil {
		return 0, fmt.Errorf("%w: a streamed bundle takes its transcript's records from the stream", ErrInvalid)
	}
	b, err := NewBundle(hdr, signatures, desc, ceremony)
	if err != nil {
		return 0, err
	}
	buf := bufio.NewWriterSize(dst, 64<<10)
	w := wire.NewStreamWriter(wire.BigEndian, buf)
	w.Raw([]byte(bundleMagic))
	w.Uint8(BundleVersion)
	w.Uint64(uint64(tlen))
	if err := w.Err(); err != nil {
		return 0, fmt.Errorf("audit: write bundle: %w", err)
	}
	if n, err := io.Copy(buf, src); err != nil || n != tlen {
		return 0, fmt.Errorf("audit: write bundle: copied %d of the transcript's %d bytes: %v", n, tlen, err)
	}
	w.Uint32(uint32(len(b.Signatures)))
	for _, s := range b.Signatures {
		w.Raw(s)
	}
	w.Bytes64(b.Descriptor)
	w.Bytes64(b.VerifyingKey)
	w.Bytes64(b.Ceremony)
	if err := w.Err(); err != nil {
		return 0, fmt.Errorf("audit: write bundle: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return 0, fmt.Errorf("audit: write bundle: %w", err)
	}
	sb := StreamedBundle{Bundle: b, TranscriptLen: tlen}
	return sb.CeremonyOffset(), nil
}

// StreamedBundle is a bundle read as a stream (ReadBundleStream): the
// bundle with a transcript without its records, and what the records
// gave.
type StreamedBundle struct {
	// Bundle has a transcript whose Records are nil.
	Bundle *Bundle
	// Records is the number of records of the transcript.
	Records int
	// Digest is the transcript's digest (Transcript.Digest).
	Digest [32]byte
	// TranscriptLen is the length of the transcript's encoding.
	TranscriptLen int64
}

// CeremonyOffset is the offset in the bundle's encoding of the ceremony's
// length field, its last field: the bundle without its ceremony
// (WithoutCeremony) is the bytes before that offset and a zero length.
func (s *StreamedBundle) CeremonyOffset() int64 {
	b := s.Bundle
	return int64(bundleHeaderSize) + s.TranscriptLen + 4 + int64(len(b.Signatures))*SignatureSize +
		8 + int64(len(b.Descriptor)) + 8 + int64(len(b.VerifyingKey))
}

// ReadBundleStream decodes the bundle of size bytes r holds (a file, say)
// with its transcript read one record at a time: it accepts what
// UnmarshalBundle accepts within lim, holding no record beyond the one
// read. Nothing cryptographic is checked. Errors wrap ErrMalformed.
func ReadBundleStream(r io.ReaderAt, size int64, lim Limits) (*StreamedBundle, error) {
	b, n, digest, tlen, err := readStreamedBundle(r, size, lim)
	if err != nil {
		return nil, err
	}
	return &StreamedBundle{Bundle: b, Records: n, Digest: digest, TranscriptLen: tlen}, nil
}

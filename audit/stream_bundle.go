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

// NewStreamedBundle assembles the bundle of a transcript written as a
// stream (TranscriptWriter): hdr is the transcript without its records
// (the header and tail its writer was given, with the claim root and
// roots it computed), tlen the length of its encoding; the signatures,
// descriptor and ceremony are NewBundle's, checked as NewBundle checks
// them. Write then writes the bundle around the transcript's encoding.
func NewStreamedBundle(hdr *Transcript, tlen int64, signatures [][]byte, desc *cohortv1.DatasetDescriptor, ceremony []byte) (*StreamedBundle, error) {
	if hdr == nil || hdr.Records != nil {
		return nil, fmt.Errorf("%w: a streamed bundle takes its transcript's records from the stream", ErrInvalid)
	}
	if tlen <= 0 {
		return nil, fmt.Errorf("%w: a transcript of %d bytes", ErrInvalid, tlen)
	}
	b, err := NewBundle(hdr, signatures, desc, ceremony)
	if err != nil {
		return nil, err
	}
	return &StreamedBundle{Bundle: b, TranscriptLen: tlen}, nil
}

// Write writes the bundle's encoding (MarshalBinary's) to dst, with the
// transcript's encoding read from src: exactly TranscriptLen bytes, or
// an error.
func (s *StreamedBundle) Write(dst io.Writer, src io.Reader) error {
	buf := bufio.NewWriterSize(dst, 64<<10)
	w := wire.NewStreamWriter(wire.BigEndian, buf)
	w.Raw([]byte(bundleMagic))
	w.Uint8(BundleVersion)
	w.Uint64(uint64(s.TranscriptLen))
	if err := w.Err(); err != nil {
		return fmt.Errorf("audit: write bundle: %w", err)
	}
	if n, err := io.Copy(buf, io.LimitReader(src, s.TranscriptLen)); err != nil || n != s.TranscriptLen {
		return fmt.Errorf("audit: write bundle: copied %d of the transcript's %d bytes: %v", n, s.TranscriptLen, err)
	}
	s.Bundle.encodeTail(w)
	if err := w.Err(); err != nil {
		return fmt.Errorf("audit: write bundle: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("audit: write bundle: %w", err)
	}
	return nil
}

// StreamedBundle is a bundle whose transcript is a stream: read
// (ReadBundleStream), the bundle with a transcript without its records
// and what the records gave; to be written (NewStreamedBundle), the
// bundle and the transcript's length.
type StreamedBundle struct {
	// Bundle has a transcript whose Records are nil.
	Bundle *Bundle
	// Records is the number of records of the transcript, and Digest its
	// digest (Transcript.Digest); set by ReadBundleStream.
	Records int
	Digest  [32]byte
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
	return readBundleStream(r, size, lim, nil)
}

// ReadVouchedBundleStream is ReadBundleStream for a node that built the
// bundle around a transcript it checked itself, whose records section
// its own RecordsWriter wrote (recs): the records pass into the
// transcript's digest undecoded (TranscriptReader.SkipRecords), and the
// rest is read and checked as ReadBundleStream does. An audit, which
// vouches for nothing, uses ReadBundleStream.
func ReadVouchedBundleStream(r io.ReaderAt, size int64, lim Limits, recs Records) (*StreamedBundle, error) {
	return readBundleStream(r, size, lim, &recs)
}

func readBundleStream(r io.ReaderAt, size int64, lim Limits, vouched *Records) (*StreamedBundle, error) {
	b, n, digest, tlen, err := readStreamedBundle(r, size, lim, vouched)
	if err != nil {
		return nil, err
	}
	return &StreamedBundle{Bundle: b, Records: n, Digest: digest, TranscriptLen: tlen}, nil
}

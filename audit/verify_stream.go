package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/wire"
)

// bundleHeaderSize is the bytes of a bundle before its transcript: the
// magic, the version and the transcript's length.
const bundleHeaderSize = len(bundleMagic) + 1 + 8

// VerifyStream verifies the bundle of size bytes that r holds (a file, say)
// as Verify does, without holding its records (docs/design.md §9.3). The
// transcript is read twice, one record at a time: first to check its
// encoding and take its digest and the fields after the records, then,
// once the descriptor, verifying key and ceremony that follow it in the
// bundle are checked, to run the record checks, verifying the proofs in
// batches. What it holds besides the dataset's setup (verifying key,
// compiled circuit, ceremony transcript) is one batch of records and the
// digests, roots and counts the checks compare: bounded whatever the
// number of records: on HE too, whose record pass checks each ciphertext
// and adds it to a running sum for the aggregate check as it reads it.
// The report is Verify's for the same bundle. If the bytes change between
// the two reads the record checks fail.
func VerifyStream(r io.ReaderAt, size int64, lim Limits, opts ...Option) *Report {
	undecoded := func(err error) *Report {
		return &Report{Checks: []Check{{Name: CheckTranscript, Status: Fail, Detail: "the bundle does not decode", Failures: []string{err.Error()}}}}
	}
	b, n, digest, tlen, err := readStreamedBundle(r, size, lim, nil)
	if err != nil {
		return undecoded(err)
	}
	v := &verification{b: b, t: b.Transcript, n: n, streamed: &digest, report: &Report{}}
	for _, o := range opts {
		o(&v.o)
	}
	v.records = func(size int, fn func(base int, recs []Record) error) error {
		return streamRecords(io.NewSectionReader(r, int64(bundleHeaderSize), tlen), lim, n, digest, size, fn)
	}
	return v.verify()
}

// readStreamedBundle decodes the bundle r holds with its transcript read
// as a stream: the bundle with a transcript without records, the number
// of records, the transcript's digest and its length. It checks what
// UnmarshalBundle checks. Errors wrap ErrMalformed.
func readStreamedBundle(r io.ReaderAt, size int64, lim Limits, vouched *Records) (b *Bundle, n int, digest [32]byte, tlen int64, err error) {
	malformed := func(err error) (*Bundle, int, [32]byte, int64, error) {
		return nil, 0, [32]byte{}, 0, fmt.Errorf("audit: bundle: %w: %w", ErrMalformed, err)
	}
	if size > lim.MaxBytes {
		return malformed(fmt.Errorf("%d bytes, limit %d", size, lim.MaxBytes))
	}
	var head [bundleHeaderSize]byte
	if size < int64(len(head)) {
		return malformed(fmt.Errorf("truncated: %d bytes", size))
	}
	if err := readAt(r, head[:], 0); err != nil {
		return malformed(fmt.Errorf("read: %w", err))
	}
	if m := string(head[:len(bundleMagic)]); m != bundleMagic {
		return malformed(fmt.Errorf("not a transcript bundle (magic %q)", m))
	}
	if v := head[len(bundleMagic)]; v != BundleVersion {
		return malformed(fmt.Errorf("version %d, want %d", v, BundleVersion))
	}
	tlen64 := binary.BigEndian.Uint64(head[len(bundleMagic)+1:])
	if tlen64 > uint64(size-int64(len(head))) {
		return malformed(fmt.Errorf("transcript: truncated: length %d, %d bytes left", tlen64, size-int64(len(head))))
	}
	tlen = int64(tlen64)
	// The reader's errors wrap ErrMalformed and name the transcript.
	fromReader := func(err error) (*Bundle, int, [32]byte, int64, error) {
		return nil, 0, [32]byte{}, 0, fmt.Errorf("audit: bundle: %w", err)
	}
	tr, err := NewTranscriptReader(io.NewSectionReader(r, int64(len(head)), tlen), lim)
	if err != nil {
		return fromReader(err)
	}
	if vouched != nil {
		if err := tr.SkipRecords(*vouched); err != nil {
			return fromReader(err)
		}
	}
	for vouched == nil {
		if _, err := tr.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fromReader(err)
		}
	}
	t, digest, err := tr.Tail()
	if err != nil {
		return fromReader(err)
	}
	rest := make([]byte, size-int64(len(head))-tlen)
	if err := readAt(r, rest, int64(len(head))+tlen); err != nil {
		return malformed(fmt.Errorf("read: %w", err))
	}
	wr := wire.NewReader(wire.BigEndian, rest)
	b = &Bundle{Transcript: t}
	if k := wr.Field("transcript signatures").Count32(len(t.Nodes), SignatureSize); k > 0 {
		b.Signatures = make([][]byte, k)
		for i := range b.Signatures {
			b.Signatures[i] = copyOf(wr.Field(fmt.Sprintf("transcript signature %d", i)).Fixed(SignatureSize))
		}
	}
	b.Descriptor = copyOf(wr.Field("descriptor").Bytes64(MaxDescriptorBytes))
	b.VerifyingKey = copyOf(wr.Field("verifying key").Bytes64(setup.MaxVerifyingKeySize))
	b.Ceremony = copyOf(wr.Field("ceremony transcript").Bytes64(int(lim.MaxBytes)))
	if err := wr.End(); err != nil {
		return malformed(err)
	}
	if err := b.validate(); err != nil {
		return malformed(err)
	}
	return b, tr.Len(), digest, tlen, nil
}

// streamRecords reads the transcript src holds again and gives its n
// records to fn in order, in chunks of at most size; an error if they
// are not the transcript whose digest the first read took.
func streamRecords(src io.Reader, lim Limits, n int, digest [32]byte, size int, fn func(base int, recs []Record) error) error {
	changed := errors.New("the bundle changed while it was read")
	tr, err := NewTranscriptReader(src, lim)
	if err != nil {
		return fmt.Errorf("%w: %w", changed, err)
	}
	if tr.Len() != n {
		return changed
	}
	chunk := make([]Record, 0, min(size, n))
	base := 0
	for {
		rec, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", changed, err)
		}
		if chunk = append(chunk, *rec); len(chunk) == size {
			if err := fn(base, chunk); err != nil {
				return err
			}
			base, chunk = base+len(chunk), chunk[:0]
		}
	}
	if len(chunk) > 0 {
		if err := fn(base, chunk); err != nil {
			return err
		}
	}
	if _, d, err := tr.Tail(); err != nil || d != digest {
		return changed
	}
	return nil
}

// readAt fills p from r at off: an io.EOF with p full is no error.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	_, err := io.ReadFull(io.NewSectionReader(r, off, int64(len(p))), p)
	return err
}

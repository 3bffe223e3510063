package audit

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/wire"
)

// Bundles from their parts (docs/design.md §9.1): a node that kept the
// encoding of a transcript it signed, and holds the dataset's descriptor
// and ceremony transcript, writes the bundle its coordinator stored from
// the signatures alone, byte for byte, reading the transcript as a stream.

// BundleParts are a bundle's fields after its transcript.
type BundleParts struct {
	// Signatures, Descriptor, VerifyingKey and Ceremony are Bundle's.
	Signatures   [][]byte
	Descriptor   []byte
	VerifyingKey []byte
	Ceremony     []byte
}

// NewBundleParts takes the parts as NewBundle does: the signatures over
// the transcript's digest in the order of its nodes, the dataset's
// descriptor (encoded deterministically; the verifying key is its) and its
// ceremony transcript (nil for an INSECURE_DEV dataset). It checks what
// it can without the transcript: at most dataset.MaxNodes signatures of
// SignatureSize bytes, the descriptor's and verifying key's sizes
// (ErrInvalid).
func NewBundleParts(signatures [][]byte, desc *cohortv1.DatasetDescriptor, ceremony []byte) (*BundleParts, error) {
	if desc == nil {
		return nil, fmt.Errorf("%w: no descriptor", ErrInvalid)
	}
	d, err := deterministic.Marshal(desc)
	if err != nil {
		return nil, fmt.Errorf("%w: encode descriptor: %w", ErrInvalid, err)
	}
	p := &BundleParts{Signatures: signatures, Descriptor: d, VerifyingKey: desc.GetVerifyingKey(), Ceremony: ceremony}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return p, nil
}

func (p *BundleParts) validate() error {
	if len(p.Signatures) == 0 || len(p.Signatures) > dataset.MaxNodes {
		return fmt.Errorf("%d transcript signatures, want 1..%d", len(p.Signatures), dataset.MaxNodes)
	}
	for j, s := range p.Signatures {
		if len(s) != SignatureSize {
			return fmt.Errorf("transcript signature %d of %d bytes, want %d", j, len(s), SignatureSize)
		}
	}
	return checkKeySizes(p.Descriptor, p.VerifyingKey)
}

// Size is the length of the encoding of the bundle of a transcript whose
// encoding is tlen bytes, with these parts.
func (p *BundleParts) Size(tlen int64) int64 {
	return int64(bundleHeaderSize) + tlen + 4 + int64(len(p.Signatures))*SignatureSize +
		8 + int64(len(p.Descriptor)) + 8 + int64(len(p.VerifyingKey)) + 8 + int64(len(p.Ceremony))
}

// Write writes to dst the encoding of the bundle (MarshalBinary's) of the
// transcript whose encoding, tlen bytes, is read from src as it is
// written: exactly tlen bytes, or an error. Nothing of the transcript is
// decoded: the bytes are a bundle only if src holds a transcript that
// lists as many nodes as there are signatures, which ReadBundleStream
// checks when it reads them back.
func (p *BundleParts) Write(dst io.Writer, src io.Reader, tlen int64) error {
	head, tail, err := p.around(tlen)
	if err != nil {
		return err
	}
	buf := bufio.NewWriterSize(dst, 64<<10)
	if _, err := buf.Write(head); err != nil {
		return fmt.Errorf("audit: write bundle: %w", err)
	}
	if n, err := io.Copy(buf, io.LimitReader(src, tlen)); err != nil || n != tlen {
		return fmt.Errorf("audit: write bundle: copied %d of the transcript's %d bytes: %v", n, tlen, err)
	}
	if _, err := buf.Write(tail); err != nil {
		return fmt.Errorf("audit: write bundle: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("audit: write bundle: %w", err)
	}
	return nil
}

// Encoding is the encoding Write writes, as a reader at any offset of
// Size(src.Size()) bytes: the bundle's head and tail, encoded now, around
// the transcript's encoding, read from src when its bytes are asked for.
// Nothing of the transcript is read or decoded here.
func (p *BundleParts) Encoding(src *io.SectionReader) (*blob.Concat, error) {
	head, tail, err := p.around(src.Size())
	if err != nil {
		return nil, err
	}
	return blob.NewConcat(blob.Bytes(head), src, blob.Bytes(tail)), nil
}

// around encodes what comes before and after a transcript of tlen bytes
// in its bundle.
func (p *BundleParts) around(tlen int64) (head, tail []byte, err error) {
	if err := p.validate(); err != nil {
		return nil, nil, fmt.Errorf("audit: write bundle: %w: %w", ErrInvalid, err)
	}
	if tlen <= 0 {
		return nil, nil, fmt.Errorf("audit: write bundle: %w: a transcript of %d bytes", ErrInvalid, tlen)
	}
	w := wire.NewWriter(wire.BigEndian, bundleHeaderSize)
	w.Raw([]byte(bundleMagic))
	w.Uint8(BundleVersion)
	w.Uint64(uint64(tlen))
	if head, err = w.Bytes(); err != nil {
		return nil, nil, fmt.Errorf("audit: write bundle: %w", err)
	}
	b := &Bundle{Signatures: p.Signatures, Descriptor: p.Descriptor, VerifyingKey: p.VerifyingKey, Ceremony: p.Ceremony}
	w = wire.NewWriter(wire.BigEndian, int(p.Size(tlen)-int64(bundleHeaderSize)-tlen))
	b.encodeTail(w)
	if tail, err = w.Bytes(); err != nil {
		return nil, nil, fmt.Errorf("audit: write bundle: %w", err)
	}
	return head, tail, nil
}

// ReadBundleSignatures reads a bundle's encoding from r up to the end of
// its signatures, skipping its transcript undecoded (at most lim.MaxBytes
// of it), and returns the signatures: what a coordinator that stored the
// bundle sends a peer that kept the transcript (SignedTranscript). Nothing
// is checked beyond the framing and dataset.MaxNodes signatures. Errors
// wrap ErrMalformed.
func ReadBundleSignatures(r io.Reader, lim Limits) ([][]byte, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("audit: bundle signatures: %w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	var head [bundleHeaderSize]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fail("header: %v", err)
	}
	if m := string(head[:len(bundleMagic)]); m != bundleMagic {
		return nil, fail("not a transcript bundle (magic %q)", m)
	}
	if v := head[len(bundleMagic)]; v != BundleVersion {
		return nil, fail("version %d, want %d", v, BundleVersion)
	}
	tlen := binary.BigEndian.Uint64(head[len(bundleMagic)+1:])
	if tlen == 0 || tlen > uint64(max(lim.MaxBytes, 0)) {
		return nil, fail("a transcript of %d bytes, limit %d", tlen, lim.MaxBytes)
	}
	if n, err := io.CopyN(io.Discard, r, int64(tlen)); err != nil {
		return nil, fail("transcript: %d of its %d bytes: %v", n, tlen, err)
	}
	var k [4]byte
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return nil, fail("signature count: %v", err)
	}
	count := binary.BigEndian.Uint32(k[:])
	if count == 0 || count > dataset.MaxNodes {
		return nil, fail("%d transcript signatures, want 1..%d", count, dataset.MaxNodes)
	}
	sigs := make([][]byte, count)
	for i := range sigs {
		sigs[i] = make([]byte, SignatureSize)
		if _, err := io.ReadFull(r, sigs[i]); err != nil {
			return nil, fail("transcript signature %d: %v", i, err)
		}
	}
	return sigs, nil
}

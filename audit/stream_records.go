package audit

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/wire"
)

// A transcript's records sit between its header and its tail, and the
// header holds the job's result, which exists only once every node's
// partial is in. A coordinator reads its cohort's rows before that, to sum
// its own shares: RecordsWriter lets the same scan write the records
// section then (docs/design.md §7.6), and TranscriptWriter.CopyRecords
// puts it between the header and the tail once they are known, so the
// coordinator reads its rows once per job.

// RecordsWriter writes a transcript's records section — the records,
// encoded as TranscriptWriter.Record encodes them — to a stream, ahead of
// the rest of the transcript. It checks each record as Record does but
// for what depends on the header (whether the job is HE, the aggregate's
// size: CopyRecords checks those), and computes the claim root as the
// records go. It is not safe for concurrent use.
type RecordsWriter struct {
	buf  *bufio.Writer
	sha  hash.Hash
	cnt  countingWriter
	recs recordStream
	// ciphertext is the records' ciphertext size: the first record's,
	// which every other must have.
	ciphertext int
	err        error
}

// Records is what RecordsWriter.Close says of the section it wrote,
// which CopyRecords takes with the section's bytes.
type Records struct {
	Count      int
	Size       int64    // bytes of the section
	SHA256     [32]byte // of the section's bytes
	ClaimRoot  [32]byte // of the records' nullifiers, in order
	Ciphertext int      // each record's ciphertext size (0: none)
}

// NewRecordsWriter starts a records section on dst.
func NewRecordsWriter(dst io.Writer) *RecordsWriter {
	rw := &RecordsWriter{sha: sha256.New()}
	rw.cnt.w = io.MultiWriter(dst, rw.sha)
	rw.buf = bufio.NewWriterSize(&rw.cnt, 64<<10)
	rw.recs.w = wire.NewStreamWriter(wire.BigEndian, rw.buf)
	return rw
}

// CacheSubtrees has the writer take claim subtrees from c and keep
// those it hashes there (ClaimRootHasher.Subtrees); before the first
// Record.
func (rw *RecordsWriter) CacheSubtrees(c *ClaimSubtrees) { rw.recs.claim.Subtrees = c }

// Record writes the next record, with its claim leaf when the writer has
// it hashed already (as TranscriptWriter.RecordLeaf; zero: hashed here).
// Records come in strictly ascending nullifier order, each with the
// sizes a transcript allows and every one with a ciphertext of the same
// size or none (ErrInvalid otherwise: the writer is then unusable). r is
// not retained.
func (rw *RecordsWriter) Record(r *Record, leaf [32]byte) error {
	if rw.err != nil {
		return rw.err
	}
	switch {
	case rw.recs.n == circuits.MaxClaimLeaves:
		rw.err = fmt.Errorf("%w: more than %d records", ErrInvalid, circuits.MaxClaimLeaves)
		return rw.err
	case rw.recs.n == 0:
		rw.ciphertext = len(r.Ciphertext)
	}
	rw.err = rw.recs.add(r, leaf, rw.ciphertext > 0, rw.ciphertext)
	return rw.err
}

// Close flushes the section to its stream (which it does not close) and
// says what it holds.
func (rw *RecordsWriter) Close() (Records, error) {
	if rw.err != nil {
		return Records{}, rw.err
	}
	if err := rw.buf.Flush(); err != nil {
		rw.err = fmt.Errorf("audit: write records: %w", err)
		return Records{}, rw.err
	}
	rw.err = errors.New("audit: records writer closed")
	return Records{Count: rw.recs.n, Size: rw.cnt.n, SHA256: [32]byte(rw.sha.Sum(nil)), ClaimRoot: rw.recs.claim.Root(),
		Ciphertext: rw.ciphertext}, nil
}

// copyChunk is the size of CopyRecords' reads: large enough that the
// goroutines of a ParallelWriter cost nothing beside the hashing.
const copyChunk = 256 << 10

// CopyRecords writes, in place of the records, a section RecordsWriter
// wrote: recs says what it holds, src reads its bytes. The section must
// hold the records the writer declared, with the ciphertexts its header
// calls for (one of the aggregate's size per record on HE, none on MPC);
// its bytes are checked against recs.SHA256 as they are copied, and a
// section that does not match leaves the writer unusable (ErrInvalid).
// Nothing else may be written to the records: CopyRecords comes after
// NewTranscriptWriter (and SetRoots) and before Close.
func (tw *TranscriptWriter) CopyRecords(src io.Reader, recs Records) error {
	if tw.err != nil {
		return tw.err
	}
	heJob := tw.t.hasDecryptionSet()
	switch {
	case tw.recs.n != 0:
		tw.err = fmt.Errorf("%w: records were written before the section", ErrInvalid)
	case recs.Count != tw.n:
		tw.err = fmt.Errorf("%w: a section of %d records, %d declared", ErrInvalid, recs.Count, tw.n)
	case recs.Count > 0 && !heJob && recs.Ciphertext != 0:
		tw.err = fmt.Errorf("%w: records with ciphertexts in a transcript without a decryption set (MPC)", ErrInvalid)
	case recs.Count > 0 && heJob && recs.Ciphertext != len(tw.t.Aggregate):
		tw.err = fmt.Errorf("%w: ciphertexts of %d bytes, the aggregate has %d", ErrInvalid, recs.Ciphertext, len(tw.t.Aggregate))
	}
	if tw.err != nil {
		return tw.err
	}
	// The check of the section's bytes and the transcript's own passes
	// over them (its digest, its destination's) run at once.
	sha := sha256.New()
	n, err := io.CopyBuffer(blob.NewParallelWriter(tw.buf, sha), io.LimitReader(src, recs.Size), make([]byte, copyChunk))
	switch {
	case err != nil:
		tw.err = fmt.Errorf("audit: copy records: %w", err)
	case n != recs.Size || [32]byte(sha.Sum(nil)) != recs.SHA256:
		tw.err = fmt.Errorf("%w: the records section read back is not the one written", ErrInvalid)
	}
	if tw.err != nil {
		return tw.err
	}
	tw.claimRoot = &recs.ClaimRoot
	tw.recs.n = tw.n
	return nil
}

// WriteTo writes the record's encoding as a transcript's records section
// holds it (a section is its records' encodings, one after another), so
// that records read from a transcript can be hashed as the section that
// RecordsWriter wrote of them, without a claim root.
func (r *Record) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	ww := wire.NewStreamWriter(wire.BigEndian, cw)
	encodeRecord(ww, r)
	return cw.n, ww.Err()
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	return k, err
}

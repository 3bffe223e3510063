package audit

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/wire"
)

// Streaming transcripts (docs/design.md §7.6): the encoding of §9.1 puts
// the records between a header and a tail whose sizes do not depend on
// the cohort, so a transcript can be written and read one record at a
// time. TranscriptWriter writes the same bytes as MarshalBinary and
// computes the digest as it goes; TranscriptReader decodes what
// UnmarshalTranscript accepts, holding one record at a time.

// TranscriptWriter writes a transcript's canonical encoding to a stream:
// the header and the record count when it is created, each record as
// Record is called, the tail at Close. It computes the digest and the
// claim root (ClaimRootOf) as the records go; nothing of a record is kept
// but its nullifier until the next one. It is not safe for concurrent use.
type TranscriptWriter struct {
	buf  *bufio.Writer
	w    *wire.Writer
	h    hash.Hash
	t    Transcript // everything but the records; ClaimRoot set at Close
	n    int        // records declared
	recs recordStream
	// claimRoot is the root of records copied whole (CopyRecords), nil
	// when they were written one at a time.
	claimRoot *[32]byte
	// recordsAt is the offset of the records section in the encoding.
	recordsAt int64
	err       error
}

// recordStream writes a transcript's records one at a time, each checked
// against the one before it (validateRecord), its claim leaf added to the
// claim root and its encoding written: TranscriptWriter and RecordsWriter
// write their records through it.
type recordStream struct {
	w     *wire.Writer
	n     int // records written
	prev  [32]byte
	claim ClaimRootHasher
}

// add writes r with its claim leaf (ClaimRootHasher.AddLeaf: zero when
// it is to be hashed here); heJob and ciphertextLen are what
// validateRecord checks its ciphertext against. An error leaves the
// stream unusable.
func (s *recordStream) add(r *Record, leaf [32]byte, heJob bool, ciphertextLen int) error {
	var prev *[32]byte
	if s.n > 0 {
		prev = &s.prev
	}
	if err := validateRecord(s.n, r, prev, heJob, ciphertextLen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := s.claim.AddLeaf(r.Nullifier, leaf); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, recordName(s.n, r.Nullifier), err)
	}
	encodeRecord(s.w, r)
	if err := s.w.Err(); err != nil {
		return fmt.Errorf("audit: write records: %w", err)
	}
	s.prev, s.n = r.Nullifier, s.n+1
	return nil
}

// NewTranscriptWriter starts writing t with n records to dst: t holds
// every field but the records (Records must be nil, ClaimRoot zero: the
// writer computes it from the records). It checks t as MarshalBinary does
// (ErrInvalid) and writes the header and the record count. t is not
// modified and is not retained.
func NewTranscriptWriter(dst io.Writer, t *Transcript, n int) (*TranscriptWriter, error) {
	switch {
	case t == nil:
		return nil, fmt.Errorf("%w: no transcript", ErrInvalid)
	case t.Records != nil:
		return nil, fmt.Errorf("%w: a streamed transcript takes its records from Record, not from Records", ErrInvalid)
	case t.ClaimRoot != [32]byte{}:
		return nil, fmt.Errorf("%w: a streamed transcript's claim root is computed from its records", ErrInvalid)
	case n < 0 || n > circuits.MaxClaimLeaves:
		return nil, fmt.Errorf("%w: %d records, want 0..%d", ErrInvalid, n, circuits.MaxClaimLeaves)
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	h := newTranscriptHash()
	// The digest is computed beside the write, not after it: on a job's
	// critical path the two passes over the bytes run at once.
	cnt := &countingWriter{w: blob.NewParallelWriter(dst, h)}
	buf := bufio.NewWriterSize(cnt, 64<<10)
	tw := &TranscriptWriter{buf: buf, w: wire.NewStreamWriter(wire.BigEndian, buf), h: h, t: *t, n: n}
	tw.recs.w = tw.w
	tw.t.encodeHeader(tw.w)
	tw.w.Uint32(uint32(n))
	if err := tw.w.Err(); err != nil {
		tw.err = fmt.Errorf("audit: write transcript: %w", err)
		return nil, tw.err
	}
	tw.recordsAt = cnt.n + int64(buf.Buffered())
	return tw, nil
}

// RecordsOffset is where the records section starts in the encoding: the
// size of the header and the record count. The section a RecordsWriter
// writes of the same records is the encoding's bytes from there.
func (tw *TranscriptWriter) RecordsOffset() int64 { return tw.recordsAt }

// CacheSubtrees has the writer take claim subtrees from c and keep those
// it hashes there (ClaimRootHasher.Subtrees); before the first record.
func (tw *TranscriptWriter) CacheSubtrees(c *ClaimSubtrees) { tw.recs.claim.Subtrees = c }

// Record writes the next record. Records come in strictly ascending
// nullifier order, each as validate requires (ErrInvalid otherwise: the
// stream is then unusable). r is not retained.
func (tw *TranscriptWriter) Record(r *Record) error { return tw.RecordLeaf(r, [32]byte{}) }

// RecordLeaf is Record for a writer that has the record's claim leaf
// (circuits.ClaimLeaf of its nullifier) already hashed and vouches for
// it, as ClaimRootHasher.AddLeaf; a zero leaf is hashed here.
func (tw *TranscriptWriter) RecordLeaf(r *Record, leaf [32]byte) error {
	if tw.err != nil {
		return tw.err
	}
	if tw.recs.n == tw.n {
		tw.err = fmt.Errorf("%w: more than the %d records declared", ErrInvalid, tw.n)
		return tw.err
	}
	tw.err = tw.recs.add(r, leaf, tw.t.hasDecryptionSet(), len(tw.t.Aggregate))
	return tw.err
}

// Close writes the tail once every declared record is written and returns
// the transcript's digest (Transcript.Digest) and claim root. Writes to
// dst are buffered (64 KiB) until Close, which does not close dst.
func (tw *TranscriptWriter) Close() (digest, claimRoot [32]byte, err error) {
	if tw.err != nil {
		return digest, claimRoot, tw.err
	}
	if tw.recs.n != tw.n {
		tw.err = fmt.Errorf("%w: %d records written, %d declared", ErrInvalid, tw.recs.n, tw.n)
		return digest, claimRoot, tw.err
	}
	if tw.claimRoot != nil {
		tw.t.ClaimRoot = *tw.claimRoot
	} else {
		tw.t.ClaimRoot = tw.recs.claim.Root()
	}
	tw.t.encodeTail(tw.w)
	err = tw.w.Err()
	if err == nil {
		err = tw.buf.Flush()
	}
	if err != nil {
		tw.err = fmt.Errorf("audit: write transcript: %w", err)
		return digest, claimRoot, tw.err
	}
	tw.err = errors.New("audit: transcript writer closed")
	return [32]byte(tw.h.Sum(nil)), tw.t.ClaimRoot, nil
}

// TranscriptReader decodes a transcript from a stream that holds it and
// nothing else: Header after the header and the record count, Next for
// each record, Tail for the rest and the digest. It accepts exactly what
// UnmarshalTranscript accepts within the same Limits, with the same
// checks before anything is allocated, and holds one record at a time
// besides what it is given to buffer (64 KiB). Errors wrap ErrMalformed;
// after one, every call returns it. It is not safe for concurrent use.
type TranscriptReader struct {
	src   *bufio.Reader
	h     hash.Hash
	lim   Limits
	left  int64 // bytes the limits still allow
	t     *Transcript
	n, i  int
	prev  [32]byte
	ctLen int // the records' ciphertext size, once one is read
	buf   []byte
	err   error
}

// NewTranscriptReader reads a transcript's header and record count from r.
func NewTranscriptReader(r io.Reader, lim Limits) (*TranscriptReader, error) {
	h := newTranscriptHash()
	tr := &TranscriptReader{src: bufio.NewReaderSize(io.TeeReader(r, h), 64<<10), h: h, lim: lim, left: lim.MaxBytes, ctLen: -1}
	tr.fixed("magic and version", len(transcriptMagic)+1)
	tr.prefixed("job id", MaxIDLen)
	tr.prefixed("dataset id", MaxIDLen)
	tr.prefixed("buyer", MaxBuyerIDLen)
	tr.fixed("coordinator", 4)
	tr.prefixed("submitting buyer", MaxBuyerIDLen)
	tr.prefixed("request id", MaxIDLen)
	tr.fixed("submission", 8+32+SignatureSize)
	tr.prefixed("spec", MaxSpecBytes)
	tr.fixed("job terms", 8+32+8)
	tr.fixed("records", 4)
	if tr.err != nil {
		return nil, tr.err
	}
	wr := wire.NewReader(wire.BigEndian, tr.buf)
	tr.t = new(Transcript)
	tr.t.decodeHeader(wr)
	n := wr.Field("records").Count32(lim.MaxRecords, 0)
	if err := wr.End(); err != nil {
		return nil, tr.fail(err)
	}
	if int64(n) > tr.left/minRecordSize {
		return nil, tr.fail(fmt.Errorf("records: %d records need at least %d bytes each, the limit leaves %d", n, minRecordSize, tr.left))
	}
	tr.n = n
	return tr, nil
}

// Header returns the transcript's fields before the records; the fields
// after them are zero until Tail. It is the reader's: do not modify it.
func (tr *TranscriptReader) Header() *Transcript { return tr.t }

// Len is the number of records the transcript declares.
func (tr *TranscriptReader) Len() int { return tr.n }

// Next returns the next record, checked as validate checks it against the
// previous one, or io.EOF after the last. The record is the caller's.
func (tr *TranscriptReader) Next() (*Record, error) {
	if tr.err != nil {
		return nil, tr.err
	}
	if tr.i == tr.n {
		return nil, io.EOF
	}
	tr.buf = tr.buf[:0]
	tr.fixed("nullifier and payload digest", 64)
	tr.prefixed("public inputs", MaxPublicBytes)
	tr.prefixed("proof", MaxProofBytes)
	tr.prefixed("ciphertext", int(tr.lim.ciphertextBytes()))
	if tr.err != nil {
		return nil, tr.err
	}
	rec := new(Record)
	wr := wire.NewReader(wire.BigEndian, tr.buf)
	decodeRecord(wr, tr.i, rec, tr.lim)
	if err := wr.End(); err != nil {
		return nil, tr.fail(err)
	}
	if tr.ctLen < 0 {
		tr.ctLen = len(rec.Ciphertext)
	}
	var prev *[32]byte
	if tr.i > 0 {
		prev = &tr.prev
	}
	if err := validateRecord(tr.i, rec, prev, tr.ctLen > 0, tr.ctLen); err != nil {
		return nil, tr.fail(err)
	}
	tr.prev, tr.i = rec.Nullifier, tr.i+1
	return rec, nil
}

// SkipRecords passes over all the transcript's records without decoding
// them, for a caller that wrote this very records section itself
// (RecordsWriter) and vouches for its bytes: recs is what its writer
// gave. The bytes still go into the transcript's digest. It must come
// before any Next; a recs that does not fit the transcript (another
// count, more bytes than the limits leave) is ErrMalformed. An audit,
// which vouches for nothing, reads every record with Next.
func (tr *TranscriptReader) SkipRecords(recs Records) error {
	switch {
	case tr.err != nil:
		return tr.err
	case tr.i != 0:
		return tr.fail(fmt.Errorf("records: %d read before they are skipped", tr.i))
	case recs.Count != tr.n:
		return tr.fail(fmt.Errorf("records: a section of %d records for a transcript of %d", recs.Count, tr.n))
	case recs.Size < int64(recs.Count)*minRecordSize || recs.Size > tr.left:
		return tr.fail(fmt.Errorf("records: a section of %d bytes for %d records, with %d bytes left", recs.Size, recs.Count, tr.left))
	}
	if _, err := io.CopyN(io.Discard, tr.src, recs.Size); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return tr.fail(fmt.Errorf("records: truncated: %w", err))
	}
	tr.left -= recs.Size
	tr.i = tr.n
	if recs.Count > 0 {
		tr.ctLen = recs.Ciphertext
	}
	return nil
}

// Tail reads the rest of the stream once every record is read: the
// transcript's fields after the records, checked with the header as
// UnmarshalTranscript checks them, and the transcript's digest. The
// transcript returned has no records.
func (tr *TranscriptReader) Tail() (*Transcript, [32]byte, error) {
	if tr.err != nil {
		return nil, [32]byte{}, tr.err
	}
	if tr.i != tr.n {
		return nil, [32]byte{}, fmt.Errorf("audit: transcript: %d of its %d records not read", tr.n-tr.i, tr.n)
	}
	bound := min(tr.left, tailBound(tr.lim))
	rest, err := io.ReadAll(io.LimitReader(tr.src, bound+1))
	switch {
	case err != nil:
		return nil, [32]byte{}, tr.fail(fmt.Errorf("read: %w", err))
	case int64(len(rest)) > bound:
		return nil, [32]byte{}, tr.fail(fmt.Errorf("more than %d bytes after the records", bound))
	}
	wr := wire.NewReader(wire.BigEndian, rest)
	tr.t.decodeTail(wr, tr.lim)
	if err := wr.End(); err != nil {
		return nil, [32]byte{}, tr.fail(err)
	}
	if err := tr.t.validate(); err != nil {
		return nil, [32]byte{}, tr.fail(err)
	}
	if tr.n > 0 {
		heJob := tr.t.hasDecryptionSet()
		switch {
		case !heJob && tr.ctLen != 0:
			return nil, [32]byte{}, tr.fail(errors.New("records carry ciphertexts in a transcript without a decryption set (MPC)"))
		case heJob && tr.ctLen != len(tr.t.Aggregate):
			return nil, [32]byte{}, tr.fail(fmt.Errorf("records' ciphertexts of %d bytes, the aggregate has %d", tr.ctLen, len(tr.t.Aggregate)))
		}
	}
	tr.err = errors.New("audit: transcript: read to its end")
	return tr.t, [32]byte(tr.h.Sum(nil)), nil
}

// fail makes err the reader's sticky error, wrapping ErrMalformed.
func (tr *TranscriptReader) fail(err error) error {
	if tr.err == nil {
		tr.err = fmt.Errorf("audit: transcript: %w: %w", ErrMalformed, err)
	}
	return tr.err
}

// fixed appends the next n bytes of the stream to the buffer.
func (tr *TranscriptReader) fixed(field string, n int) {
	if tr.err != nil {
		return
	}
	if int64(n) > tr.left {
		tr.fail(fmt.Errorf("%s: the transcript is longer than the limit of %d bytes", field, tr.lim.MaxBytes))
		return
	}
	start := len(tr.buf)
	tr.buf = append(tr.buf, make([]byte, n)...)
	if _, err := io.ReadFull(tr.src, tr.buf[start:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		tr.fail(fmt.Errorf("%s: truncated: %w", field, err))
		return
	}
	tr.left -= int64(n)
}

// prefixed appends a uint32 length and the byte string after it, of at
// most limit bytes, checking the length before reading the bytes.
func (tr *TranscriptReader) prefixed(field string, limit int) {
	tr.fixed(field, 4)
	if tr.err != nil {
		return
	}
	n := binary.BigEndian.Uint32(tr.buf[len(tr.buf)-4:])
	if uint64(n) > uint64(max(limit, 0)) {
		tr.fail(fmt.Errorf("%s: length %d, at most %d", field, n, max(limit, 0)))
		return
	}
	tr.fixed(field, int(n))
}

// tailBound bounds the bytes after a transcript's records under lim.
func tailBound(lim Limits) int64 {
	debit := 1 + 4 + MaxBuyerIDLen + 4 + MaxAmountLen + 4 + enclave.MaxJobEpochs*(8+6*(4+MaxAmountLen)) + SignatureSize
	node := minNodeSize + maxPartialBytes + SignatureSize + debit
	return int64(4+dataset.MaxNodes*node+4+4*dataset.MaxNodes+4) + int64(lim.ciphertextBytes()) +
		int64(4+MaxCoordinates*(minSumSize+MaxSumBytes)+4+MaxResultBytes+4) + int64(max(lim.MaxRoots, 0))*rootSize + 32 + 8
}

// newTranscriptHash returns a hash that has taken the transcript digest's
// domain tag: the encoding written to it gives Transcript.Digest.
func newTranscriptHash() hash.Hash {
	h := sha256.New()
	h.Write([]byte(TagTranscript))
	h.Write([]byte{0})
	return h
}

// ClaimRootHasher computes the root of a nullifier tree
// (circuits.NewNullifierTree) from its nullifiers in order, holding one
// node per level of the tree and one batch of leaves. Its zero value is
// an empty tree. The caller sees that no nullifier is added twice (a
// transcript's records are in strictly ascending nullifier order).
//
// Leaves are hashed a batch of claimBatch at a time: a full batch is an
// aligned subtree, whose root the CPUs compute in parallel (a part of
// the batch each, docs/design.md §7.6) before it joins the running
// nodes at its level. The root is the same as one leaf at a time.
type ClaimRootHasher struct {
	pending [circuits.ClaimDepth]fr.Element // a left node waiting for its sibling, by level
	has     [circuits.ClaimDepth]bool
	full    fr.Element   // the root once the tree is full
	batch   []fr.Element // leaves not yet hashed into a subtree, fewer than claimBatch
	// raw marks the entries of batch that are nullifiers whose leaf is
	// still to hash (Add), the others being leaves given whole (AddLeaf).
	raw []bool
	n   int
	// Subtrees, when set before the first Add, gives the roots of full
	// batches it holds and keeps those hashed here (claim_subtrees.go).
	Subtrees *ClaimSubtrees
}

// claimBatchLevel is the level of a batch's subtree: claimBatch =
// 2^claimBatchLevel leaves.
const (
	claimBatchLevel = 10
	claimBatch      = 1 << claimBatchLevel
)

// Add appends nf, which must be a canonical field element, as the next
// leaf; at most circuits.MaxClaimLeaves are accepted.
func (h *ClaimRootHasher) Add(nf [32]byte) error { return h.add(nf, true) }

// AddLeaf is Add for a caller that has nf's leaf (circuits.ClaimLeaf of
// nf) hashed already and vouches for it: a node hashes each record's leaf
// once, when it stores the record (docs/design.md §7.6). The leaf must be
// a canonical field element; a zero leaf means none, and nf is hashed as
// Add hashes it. The root is the one Add of nf would give. An audit,
// which vouches for nothing, uses Add.
func (h *ClaimRootHasher) AddLeaf(nf, leaf [32]byte) error {
	if leaf == ([32]byte{}) {
		return h.Add(nf)
	}
	return h.add(leaf, false)
}

func (h *ClaimRootHasher) add(b [32]byte, raw bool) error {
	if h.n == circuits.MaxClaimLeaves {
		return fmt.Errorf("%w: more than %d nullifiers", circuits.ErrClaimTree, circuits.MaxClaimLeaves)
	}
	var e fr.Element
	if err := e.SetBytesCanonical(b[:]); err != nil {
		return errors.New("not a canonical field element")
	}
	if h.batch == nil {
		h.batch, h.raw = make([]fr.Element, 0, claimBatch), make([]bool, 0, claimBatch)
	}
	h.batch, h.raw = append(h.batch, e), append(h.raw, raw)
	h.n++
	if len(h.batch) == claimBatch {
		if h.Subtrees != nil {
			h.push(h.Subtrees.root(h.batch, h.raw), claimBatchLevel)
		} else {
			h.push(subtreeRoot(h.batch, h.raw), claimBatchLevel)
		}
		h.batch, h.raw = h.batch[:0], h.raw[:0]
	}
	return nil
}

// push joins node, the root of the next aligned subtree at level l, to
// the running nodes.
func (h *ClaimRootHasher) push(node fr.Element, l int) {
	for ; ; l++ {
		if l == circuits.ClaimDepth { // the tree is full: node is its root
			h.full = node
			return
		}
		if !h.has[l] {
			h.pending[l], h.has[l] = node, true
			return
		}
		node, h.has[l] = merkle.Node(h.pending[l], node), false
	}
}

// subtreeRoot is the root of the subtree whose leaves are batch (a power
// of two of them; raw[i] when batch[i] is a nullifier whose leaf is still
// to hash), its parts hashed in parallel.
func subtreeRoot(batch []fr.Element, raw []bool) fr.Element {
	parts := 1
	for parts < runtime.GOMAXPROCS(0) && parts < 8 && len(batch)/(2*parts) >= 64 {
		parts *= 2
	}
	roots := make([]fr.Element, parts)
	var wg sync.WaitGroup
	size := len(batch) / parts
	for p := range parts {
		wg.Go(func() { roots[p] = hashLevel(batch[p*size:(p+1)*size], raw[p*size:(p+1)*size])[0] })
	}
	wg.Wait()
	return hashLevel(roots, nil)[0]
}

// hashLevel hashes nodes up to one root: a power of two of them, the
// leaf of each nullifier marked in raw (nil: none) hashed first.
func hashLevel(nodes []fr.Element, raw []bool) []fr.Element {
	level := make([]fr.Element, len(nodes))
	for i, e := range nodes {
		if raw != nil && raw[i] {
			level[i] = circuits.ClaimLeaf(e)
		} else {
			level[i] = e
		}
	}
	for len(level) > 1 {
		for i := range len(level) / 2 {
			level[i] = merkle.Node(level[2*i], level[2*i+1])
		}
		level = level[:len(level)/2]
	}
	return level
}

// Len is the number of nullifiers added.
func (h *ClaimRootHasher) Len() int { return h.n }

// Root returns the tree's root over the nullifiers added so far.
func (h *ClaimRootHasher) Root() [32]byte {
	if h.n == circuits.MaxClaimLeaves {
		return h.full.Bytes()
	}
	// The leaves of a partial batch join one at a time, on a copy, so
	// that Add may go on after Root.
	c := *h
	c.batch, c.raw = nil, nil
	for i, e := range h.batch {
		if h.raw[i] {
			e = circuits.ClaimLeaf(e)
		}
		c.push(e, 0)
	}
	h = &c
	zeros := merkle.Zeros(circuits.ClaimDepth)
	var carry fr.Element
	haveCarry := false
	for l := range circuits.ClaimDepth {
		switch {
		case h.has[l] && haveCarry:
			carry = merkle.Node(h.pending[l], carry)
		case h.has[l]:
			carry, haveCarry = merkle.Node(h.pending[l], zeros[l]), true
		case haveCarry:
			carry = merkle.Node(carry, zeros[l])
		}
	}
	if !haveCarry {
		return zeros[circuits.ClaimDepth].Bytes()
	}
	return carry.Bytes()
}

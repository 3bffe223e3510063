package node

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// Transcripts as streams (docs/design.md §7.6). A job's transcript holds
// every counted record's public inputs and proof (and ciphertext on HE):
// about 500 bytes a record on MPC, 131 KB on HE. No node holds it in
// memory. The coordinator writes it with audit.TranscriptWriter to a
// spool file as it reads the cohort in one scan, and sends the file to
// each peer; a peer reads it with audit.TranscriptReader as its chunks
// arrive and checks each record against its own row of the same scan
// order; the bundle is written around the spool file into the store's
// chunks, and published and served from them.

// spoolFile is a temporary file under the node's TempDir whose name is
// removed at once: it lives as long as it is open, and nothing is left
// behind by a crash.
func (n *Node) spoolFile(prefix string) (*os.File, error) {
	f, err := os.CreateTemp(n.opts.TempDir, prefix)
	if err != nil {
		return nil, n.internal("spool file", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, n.internal("spool file", err)
	}
	return f, nil
}

// builtTranscript is a job's transcript as its coordinator wrote it.
type builtTranscript struct {
	hdr    *audit.Transcript // every field but the records
	count  int               // its records
	digest [32]byte          // audit.Transcript.Digest
	file   *os.File          // its encoding, but for a section kept apart
	size   int64
	sha    [32]byte // SHA-256 of the encoding, for the blob header
	// recs is the records section, at recordsAt in the encoding, when it
	// was taken whole from the scan's spool file (nil: written a record at
	// a time). That file is then section: file has a hole in its place,
	// of recs.Size bytes, which are not written twice.
	recs      *audit.Records
	recordsAt int64
	section   *os.File
}

// reader reads the transcript's encoding from its start.
func (b *builtTranscript) reader() io.Reader {
	if b.section == nil {
		return io.NewSectionReader(b.file, 0, b.size)
	}
	// The file has a hole where the section is: what follows it is at the
	// same offset in the file as in the encoding.
	end := b.recordsAt + b.recs.Size
	return io.MultiReader(io.NewSectionReader(b.file, 0, b.recordsAt), io.NewSectionReader(b.section, 0, b.recs.Size),
		io.NewSectionReader(b.file, end, b.size-end))
}

func (b *builtTranscript) close() {
	if b == nil {
		return
	}
	if b.file != nil {
		b.file.Close()
	}
	if b.section != nil {
		b.section.Close()
	}
}

// holeWriter writes to a file but for the bytes from offset from to
// offset to, which it seeks over: they are left a hole, to be read from
// elsewhere.
type holeWriter struct {
	f        *os.File
	pos      int64
	from, to int64
}

func (h *holeWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		var k int64
		switch {
		case h.pos < h.from:
			k = min(int64(len(p)), h.from-h.pos)
			if _, err := h.f.Write(p[:k]); err != nil {
				return n - len(p), err
			}
		case h.pos < h.to:
			k = min(int64(len(p)), h.to-h.pos)
			if _, err := h.f.Seek(k, io.SeekCurrent); err != nil {
				return n - len(p), err
			}
		default:
			if _, err := h.f.Write(p); err != nil {
				return n - len(p), err
			}
			k = int64(len(p))
		}
		h.pos += k
		p = p[k:]
	}
	return n, nil
}

// writeTranscript writes the transcript whose every field but the records
// and their roots is hdr: the records of this node's cohort s and the
// registry roots they were proved against, looked up once each. The
// records are the section the scan that summed s wrote (recordSpool), or,
// when there is none, read in one scan now. hdr is completed with the
// roots and the claim root.
func (n *Node) writeTranscript(ctx context.Context, hdr *audit.Transcript, s *selected, published func(stored []byte) []byte) (*builtTranscript, error) {
	sp := s.takeRecords()
	defer sp.close()
	f, err := n.spoolFile("transcript-" + hdr.JobID + "-")
	if err != nil {
		return nil, err
	}
	b := &builtTranscript{hdr: hdr, count: len(s.sel.Records), file: f}
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	sha := sha256.New()
	out := &holeWriter{f: f}
	tw, err := audit.NewTranscriptWriter(blob.NewParallelWriter(out, sha), hdr, b.count)
	if err != nil {
		return nil, fmt.Errorf("write transcript: %w", err)
	}
	tw.CacheSubtrees(n.subtrees)
	var roots *recordRoots
	if sp != nil && sp.recs.Count == b.count {
		// The section is hashed into the transcript from the scan's spool
		// file, and read from there after: the transcript's file leaves
		// its place empty.
		b.recordsAt = tw.RecordsOffset()
		out.from, out.to = b.recordsAt, b.recordsAt+sp.recs.Size
		if err := tw.CopyRecords(io.NewSectionReader(sp.file, 0, sp.recs.Size), sp.recs); err != nil {
			return nil, fmt.Errorf("write transcript: %w", err)
		}
		roots, b.recs = sp.roots, &sp.recs
		b.section, sp.file = sp.file, nil
	} else if roots, err = n.scanTranscriptRecords(ctx, tw, s, published); err != nil {
		return nil, err
	}
	entries, err := n.rootEntries(ctx, roots.m)
	if err != nil {
		return nil, err
	}
	if err := tw.SetRoots(entries); err != nil {
		return nil, fmt.Errorf("write transcript: %w", err)
	}
	if b.digest, hdr.ClaimRoot, err = tw.Close(); err != nil {
		return nil, fmt.Errorf("write transcript: %w", err)
	}
	hdr.Roots = entries
	// The file was written from its start, in order: its offset is its size.
	if b.size, err = f.Seek(0, io.SeekCurrent); err != nil {
		return nil, n.internal("spool file", err)
	}
	b.sha = [32]byte(sha.Sum(nil))
	ok = true
	return b, nil
}

// scanTranscriptRecords writes the records of cohort s to tw in one scan
// of their rows, and returns the registry roots they use.
func (n *Node) scanTranscriptRecords(ctx context.Context, tw *audit.TranscriptWriter, s *selected, published func(stored []byte) []byte) (*recordRoots, error) {
	fields := store.WithProof | store.WithClaimLeaf
	// A backend that publishes nothing of a stored value (MPC) gives nil
	// for any: its shares are then not read.
	if published([]byte{0}) != nil {
		fields |= store.WithShare
	}
	roots := newRecordRoots()
	err := n.eachCohortRecord(ctx, s, fields, func(c *store.Contribution) error {
		if err := roots.add(c.Public); err != nil {
			return fmt.Errorf("stored public inputs of %x…: %w", c.Nullifier[:4], err)
		}
		rec := audit.Record{Nullifier: c.Nullifier, PayloadDigest: c.PayloadDigest, Public: c.Public, Proof: c.Proof}
		if c.Share != nil {
			rec.Ciphertext = published(c.Share)
		}
		return tw.RecordLeaf(&rec, c.ClaimLeaf)
	})
	if err != nil {
		return nil, fmt.Errorf("write the cohort's records: %w", err)
	}
	return roots, nil
}

// recordSpool is a coordinator's records section of a job's transcript,
// written by the scan that summed its own cohort (docs/design.md §7.6)
// to a spool file, with the registry roots its records use, until the
// transcript is written around it.
type recordSpool struct {
	file  *os.File
	recs  audit.Records
	roots *recordRoots
}

// recordSpooler writes a recordSpool as a scan passes the cohort's rows.
type recordSpooler struct {
	file  *os.File
	w     *audit.RecordsWriter
	roots *recordRoots
}

// newRecordSpooler starts a records section.
func (n *Node) newRecordSpooler() (*recordSpooler, error) {
	f, err := n.spoolFile("records-")
	if err != nil {
		return nil, err
	}
	w := audit.NewRecordsWriter(f)
	w.CacheSubtrees(n.subtrees)
	return &recordSpooler{file: f, w: w, roots: newRecordRoots()}, nil
}

// add writes stored record c, read with its proof and claim leaf.
func (sp *recordSpooler) add(c *store.Contribution) error {
	if err := sp.roots.add(c.Public); err != nil {
		return fmt.Errorf("stored public inputs of %x…: %w", c.Nullifier[:4], err)
	}
	return sp.w.Record(&audit.Record{Nullifier: c.Nullifier, PayloadDigest: c.PayloadDigest, Public: c.Public, Proof: c.Proof}, c.ClaimLeaf)
}

// finish closes the section; the spooler is not used after.
func (sp *recordSpooler) finish() (*recordSpool, error) {
	recs, err := sp.w.Close()
	if err != nil {
		sp.file.Close()
		return nil, err
	}
	return &recordSpool{file: sp.file, recs: recs, roots: sp.roots}, nil
}

// discard drops an unfinished section.
func (sp *recordSpooler) discard() {
	if sp != nil {
		sp.file.Close()
	}
}

func (sp *recordSpool) close() {
	if sp != nil && sp.file != nil {
		sp.file.Close()
	}
}

// recordRoots collects the registry roots records were proved against,
// read from their public inputs.
type recordRoots struct {
	m map[[32]byte]bool
}

func newRecordRoots() *recordRoots { return &recordRoots{m: map[[32]byte]bool{}} }

// add notes the root of a record whose public inputs are public.
func (r *recordRoots) add(public []byte) error {
	root, err := circuits.RootOf(public)
	if err != nil {
		return err
	}
	r.m[root] = true
	return nil
}

// rootEntries returns the registry history entries of roots, by version:
// the transcript carries those its records were proved against.
func (n *Node) rootEntries(ctx context.Context, roots map[[32]byte]bool) ([]audit.Root, error) {
	out := make([]audit.Root, 0, len(roots))
	for root := range roots {
		rr, err := n.store.FindRoot(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("root %x of a cohort record: %w", root[:4], err)
		}
		ar := audit.Root{Root: rr.Root, Version: rr.Version, SeenAt: rr.SeenAt.Unix()}
		if !rr.Current() {
			ar.SupersededAt = rr.SupersededAt.Unix()
		}
		out = append(out, ar)
	}
	slices.SortFunc(out, func(a, b audit.Root) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// header is the blob header of the transcript's encoding.
func (b *builtTranscript) header() *cohortv1.BlobHeader { return blob.HeaderOf(uint64(b.size), b.sha) }

// signTranscript sends a transcript's encoding, read from src as it is
// sent (the spool file), to a peer for its signature; hd is its blob
// header.
func signTranscript(ctx context.Context, c cohortv1.PeerServiceClient, hd *cohortv1.BlobHeader, src io.Reader) (*cohortv1.SignTranscriptResponse, error) {
	st, err := c.SignTranscript(ctx)
	if err != nil {
		return nil, err
	}
	err = st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Header{Header: hd}})
	if err == nil {
		_, err = blob.SendFrom(src, func(ch *cohortv1.Chunk) error {
			return st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Chunk{Chunk: ch}})
		})
	}
	return closeSign(st, err)
}

// transcriptCheck is a peer's check of a transcript read as a stream
// (SignTranscript): what it holds between the records it reads is what
// the checks after them compare, never a record.
type transcriptCheck struct {
	n    *Node
	hdr  *audit.Transcript
	ds   *dataset.Dataset
	be   backend.Backend
	spec *cohortv1.JobSpec
	sd   [32]byte           // the spec's digest
	set  *enclave.SetHasher // hashes the records' set as they are read
	// setDigest is the digest of the records' set when they were not read
	// (a spliced section, its witness's; set is then nil); nil when set
	// hashed them.
	setDigest *[32]byte
	claim     audit.ClaimRootHasher
	sum       backend.Sum  // the published ciphertexts, summed (HE)
	roots     *recordRoots // the registry roots the records use
	// claimRoot is the root of the records' nullifier tree, once read.
	claimRoot [32]byte
	digest    [32]byte
	// spliced is the witness whose records section the stream carries in
	// place of the coordinator's (RecordsSplice), for job splicedJob.
	spliced    *cohortWitness
	splicedJob string
}

// refuse is the error of a transcript this node will not sign.
func (c *transcriptCheck) refuse(format string, args ...any) error {
	return status.Errorf(codes.FailedPrecondition, "node %d will not sign the transcript of %s: %s", c.n.opts.Index, c.hdr.JobID, fmt.Sprintf(format, args...))
}

// checkTranscript reads the transcript tr streams and checks everything
// in it that is this node's: its own signed statements, unchanged; the
// records listed, which must be the ones it holds with the same payloads
// and form the cohort whose digest it signed; the dataset's descriptor;
// and the registry roots, which must be in its own history. The released
// sums and outputs are the auditor's to recompute from the partials. It
// returns the transcript without its records and its digest.
func (n *Node) checkTranscript(ctx context.Context, tr *audit.TranscriptReader, sp *splicer) (*audit.Transcript, *transcriptCheck, error) {
	c := &transcriptCheck{n: n, hdr: tr.Header(), roots: newRecordRoots()}
	c.claim.Subtrees = n.subtrees
	if sp != nil {
		c.spliced, c.splicedJob = sp.w, sp.jobID
	}
	if err := c.header(ctx); err != nil {
		return nil, nil, err
	}
	if err := c.records(ctx, tr); err != nil {
		return nil, nil, err
	}
	t, digest, err := tr.Tail()
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "transcript: %v", err)
	}
	c.hdr, c.digest = t, digest
	if err := c.tail(ctx, uint64(tr.Len())); err != nil {
		return nil, nil, err
	}
	return t, c, nil
}

// header checks the fields before the records: the dataset's descriptor,
// the spec, the buyer's submission.
func (c *transcriptCheck) header(ctx context.Context) error {
	n, h := c.n, c.hdr
	var err error
	if c.ds, err = n.jobDataset(ctx, h.DatasetID); err != nil {
		return err
	}
	dd, err := audit.DescriptorDigest(c.ds.Desc)
	if err != nil {
		return n.internal("descriptor digest", err)
	}
	if dd != h.DescriptorDigest {
		return c.refuse("its dataset descriptor is not this node's")
	}
	c.spec = new(cohortv1.JobSpec)
	if err := proto.Unmarshal(h.Spec, c.spec); err != nil {
		return c.refuse("the spec does not decode: %v", err)
	}
	if c.sd, err = audit.SpecDigest(c.spec); err != nil {
		return c.refuse("%v", err)
	}
	if err := n.checkTranscriptSubmission(ctx, h, c.sd); err != nil {
		return c.refuse("%s", err)
	}
	if c.be, err = backend.For(c.ds); err != nil {
		return n.internal("dataset backend", err)
	}
	if c.be.Published([]byte{0}) != nil {
		if c.sum, err = c.be.NewSum(nil); err != nil {
			return n.internal("sum the transcript's ciphertexts", err)
		}
	}
	return nil
}

// records reads the transcript's records and matches each against this
// node's row of the same nullifier, in one scan of the job's epochs in
// nullifier order (the transcript's order too): same payload digest,
// public inputs, proof and published value. It digests the set, builds
// the claim root and sums the published ciphertexts as they go.
func (c *transcriptCheck) records(ctx context.Context, tr *audit.TranscriptReader) error {
	n, h := c.n, c.hdr
	if c.spliced != nil {
		if c.splicedJob != h.JobID {
			return status.Errorf(codes.InvalidArgument, "transcript of job %s with the records section of job %s", h.JobID, c.splicedJob)
		}
		return c.ownSection(tr, c.spliced)
	}
	c.set = enclave.NewSetHasher(h.JobID, h.DatasetID, uint64(tr.Len()))
	if w := n.witness.get(h.JobID); w != nil && c.sum == nil {
		return c.witnessed(tr, w)
	}
	defer func() { c.claimRoot = c.claim.Root() }()
	next, err := nextRecord(tr)
	if err != nil {
		return err
	}
	fields := store.WithProof | store.WithClaimLeaf
	if c.be.Published([]byte{0}) != nil {
		fields |= store.WithShare
	}
	err = n.store.ScanContributions(ctx, h.DatasetID, c.spec.GetEpochFrom(), c.spec.GetEpochTo(), fields, func(row *store.Contribution) error {
		if next == nil {
			return errScanDone
		}
		switch bytes.Compare(next.Nullifier[:], row.Nullifier[:]) {
		case -1:
			return c.refuse("record %x… is not stored here", next.Nullifier[:4])
		case 1:
			return nil // a row the cohort does not count
		}
		published := c.be.Published(row.Share)
		if row.PayloadDigest != next.PayloadDigest || !bytes.Equal(row.Public, next.Public) || !bytes.Equal(row.Proof, next.Proof) ||
			!bytes.Equal(published, next.Ciphertext) {
			return c.refuse("record %x… differs from the one stored here", next.Nullifier[:4])
		}
		if err := c.roots.add(row.Public); err != nil {
			return n.internal("stored public inputs", err)
		}
		if err := c.set.Add(enclave.Member{Nullifier: next.Nullifier, PayloadDigest: next.PayloadDigest}); err != nil {
			return c.refuse("%v", err)
		}
		if err := c.claim.AddLeaf(row.Nullifier, row.ClaimLeaf); err != nil {
			return c.refuse("%v", err)
		}
		if published != nil {
			if err := c.sum.Add(published); err != nil {
				return c.refuse("%v", err)
			}
		}
		next, err = nextRecord(tr)
		return err
	})
	switch {
	case errors.Is(err, errScanDone):
	case err != nil:
		if _, ok := status.FromError(err); ok {
			return err
		}
		return n.internal("read contributions", err)
	case next != nil:
		return c.refuse("record %x… is not stored here", next.Nullifier[:4])
	}
	return nil
}

// ownSection takes the records of a stream whose section is the
// witness w's own (spliced): its bytes, written from this node's rows of
// the cohort it agreed to (w.setDigest), go into the digest it signs
// unread (audit.TranscriptReader.SkipRecords), with the claim root and
// registry roots the witness took of them. No row is read.
func (c *transcriptCheck) ownSection(tr *audit.TranscriptReader, w *cohortWitness) error {
	if err := tr.SkipRecords(w.recs); err != nil {
		return c.refuse("its records are not the ones this node summed: %v", err)
	}
	c.setDigest = &w.setDigest
	c.claimRoot, c.roots = w.recs.ClaimRoot, w.roots
	return nil
}

// witnessed checks the records against the witness this node took of
// its cohort when it summed it: the records, hashed as they stream past
// as a records section, must be exactly the section it wrote then (same
// ids, payloads, public inputs and proofs, in order), whose claim root
// and registry roots it took then. No row is read.
func (c *transcriptCheck) witnessed(tr *audit.TranscriptReader, w *cohortWitness) error {
	h := sha256.New()
	count := 0
	for {
		rec, err := nextRecord(tr)
		if err != nil {
			return err
		}
		if rec == nil {
			break
		}
		if err := c.set.Add(enclave.Member{Nullifier: rec.Nullifier, PayloadDigest: rec.PayloadDigest}); err != nil {
			return c.refuse("%v", err)
		}
		if _, err := rec.WriteTo(h); err != nil {
			return c.n.internal("hash records", err)
		}
		count++
	}
	if count != w.recs.Count || [32]byte(h.Sum(nil)) != w.recs.SHA256 {
		return c.refuse("its records are not the ones this node summed (%d records listed, %d summed)", count, w.recs.Count)
	}
	c.claimRoot, c.roots = w.recs.ClaimRoot, w.roots
	return nil
}

// errScanDone ends a scan early.
var errScanDone = errors.New("scan done")

// nextRecord is the transcript's next record, nil after the last; a
// malformed record is InvalidArgument.
func nextRecord(tr *audit.TranscriptReader) (*audit.Record, error) {
	rec, err := tr.Next()
	switch {
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, status.Errorf(codes.InvalidArgument, "transcript: %v", err)
	}
	return rec, nil
}

// tail checks the fields after the records against this node's own
// statements and against what the records gave (count of them).
func (c *transcriptCheck) tail(ctx context.Context, count uint64) error {
	n, t := c.n, c.hdr
	i := int(n.opts.Index)
	pos := slices.IndexFunc(t.Nodes, func(e audit.NodeEvidence) bool { return e.Index == n.opts.Index })
	if pos < 0 {
		return c.refuse("it lacks this node's evidence")
	}
	mine := t.Nodes[pos]
	set := attest.JobEligibleSet{JobID: t.JobID, DatasetID: t.DatasetID, SpecDigest: c.sd, JobTime: t.JobTime,
		Cohort: mine.Cohort, SetDigest: mine.SetDigest, Node: n.opts.Index}
	if attest.Verify(n.opts.Members[i].Signing, set, mine.SetSignature) != nil {
		return c.refuse("this node's eligible-set statement is not the one it signed")
	}
	coords := make([]int, len(t.Sums))
	for k, sum := range t.Sums {
		coords[k] = int(sum.Coordinate)
	}
	partialSet, err := c.be.CheckPartialSet(t.DecryptionSet)
	if err != nil {
		return c.refuse("its backend is not the dataset's")
	}
	if slices.Contains(partialSet, n.opts.Index) && len(mine.Partial) == 0 {
		return c.refuse("it lacks this node's %s", c.be.Quorum().Partial)
	}
	if len(mine.Partial) > 0 {
		part := enclave.PartialStatement(t.JobID, mine.SetDigest, coords, mine.Partial, n.opts.Index)
		if attest.Verify(n.opts.Members[i].Signing, part, mine.PartialSignature) != nil {
			return c.refuse("this node's partial-sum statement is not the one it signed")
		}
	}
	var digest [32]byte
	if c.setDigest != nil {
		digest = *c.setDigest
	} else {
		digest, err = c.set.Sum()
	}
	if err != nil || count != mine.Cohort || digest != mine.SetDigest {
		return c.refuse("its records are not the cohort this node selected")
	}
	agg, err := c.be.AggregateOf(c.sum)
	if err != nil {
		return c.refuse("%v", err)
	}
	if !bytes.Equal(agg, t.Aggregate) {
		return c.refuse("its aggregate ciphertext is not the sum of its records")
	}
	if c.claimRoot != t.ClaimRoot {
		return c.refuse("its claim root is not the root of its records' nullifier tree")
	}
	if want := audit.RewardOf(c.ds.Desc, t.Buyer); t.RewardPerRecord != want {
		return c.refuse("its reward of %d per record is not this node's price %d", t.RewardPerRecord, want)
	}
	listed := map[[32]byte]bool{}
	for _, root := range t.Roots {
		rr, err := n.store.FindRoot(ctx, root.Root)
		if err != nil || rr.Version != root.Version {
			return c.refuse("root %x… is not in this node's registry history at version %d", root.Root[:4], root.Version)
		}
		listed[root.Root] = true
	}
	for root := range c.roots.m {
		if !listed[root] {
			return c.refuse("root %x… of a record is not among its registry roots", root[:4])
		}
	}
	return nil
}

// checkTranscriptSubmission checks the transcript's buyer submission as
// this node checked it before preparing the job: under the key it stores
// for the buyer, over the transcript's spec and descriptor, naming the
// transcript's job.
func (n *Node) checkTranscriptSubmission(ctx context.Context, t *audit.Transcript, specDigest [32]byte) error {
	s := t.Submission
	b, err := n.store.GetBuyer(ctx, s.Buyer)
	if err != nil || !bytes.Equal(b.PublicKey, s.PublicKey[:]) {
		return fmt.Errorf("buyer %q's key in it is not the one this node stores", s.Buyer)
	}
	st := attest.JobSubmission{Buyer: s.Buyer, RequestID: s.RequestID, DatasetID: t.DatasetID, DescriptorDigest: t.DescriptorDigest,
		SpecDigest: specDigest, SubmittedAt: s.SubmittedAt}
	if attest.Verify(b.PublicKey, st, s.Signature) != nil || st.JobID() != t.JobID {
		return fmt.Errorf("the job is not the one buyer %q signed", s.Buyer)
	}
	return nil
}

// sendStoredBundle streams a stored bundle through send: the header, then
// its chunks from the store. Without its ceremony (light), the bundle is
// the bytes before the ceremony's length field and a zero length.
func (n *Node) sendStoredBundle(ctx context.Context, t store.Transcript, light bool, header func(*cohortv1.BlobHeader) error, send func(*cohortv1.Chunk) error) error {
	if t.BundleSize == 0 { // stored whole, before chunks
		b := t.Bundle
		if light {
			var err error
			if b, err = audit.WithoutCeremony(b, audit.DefaultLimits()); err != nil {
				return n.internal("read transcript", err)
			}
		}
		if err := header(blob.Header(b)); err != nil {
			return err
		}
		return blob.Send(b, send)
	}
	size, sum, limit := t.BundleSize, t.BundleSHA256, uint64(0)
	if light {
		size, sum, limit = t.CeremonyOffset+8, t.LightSHA256, t.CeremonyOffset
	}
	if err := header(blob.HeaderOf(size, sum)); err != nil {
		return err
	}
	var off uint64
	err := n.store.ReadTranscriptBundle(ctx, t.ID, limit, func(chunk []byte) error {
		if err := send(&cohortv1.Chunk{Offset: off, Data: chunk}); err != nil {
			return err
		}
		off += uint64(len(chunk))
		return nil
	})
	if err != nil {
		return err
	}
	if light {
		return send(&cohortv1.Chunk{Offset: off, Data: make([]byte, 8)})
	}
	return nil
}

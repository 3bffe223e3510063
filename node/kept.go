package node

import (
	"errors"
	"io"
	"os"
	"sync"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
)

// Kept transcripts (docs/design.md §9.1): a peer that signs a job's
// transcript keeps the bytes it read and checked, in a spool file, so
// that the coordinator can later publish the bundle by its signatures
// alone (SignedTranscript) instead of sending the transcript again. The
// table is small and lives in memory only: a transcript dropped from it,
// or lost to a restart, is published whole, as before.

// maxKept bounds the transcripts a node keeps (each a spool file as
// large as the transcript: about 1 KB a record on MPC); the oldest goes
// first.
const maxKept = 4

// keptTranscript is the encoding of a transcript this node signed.
type keptTranscript struct {
	jobID       string
	datasetID   string
	coordinator uint32
	digest      [32]byte // audit.Transcript.Digest
	file        *os.File // the encoding, from offset 0, but for the section
	size        int64    // the encoding's, section included
	// section, when the transcript was signed spliced (splice.go), is the
	// records section this node wrote itself, at sectionAt in the
	// encoding: the file holds only the bytes around it, and done ends
	// this read of the witness's section.
	section     *os.File
	sectionAt   int64
	sectionRecs audit.Records // the section's, as its writer gave them
	done        func()
	// Under the table's lock: busy while a publish reads it; dropped once
	// out of the table while busy, for the publish to close.
	busy, dropped bool
}

// encoding is the transcript's encoding, read from the kept files where
// its bytes lie.
func (k *keptTranscript) encoding() *io.SectionReader {
	if k.section == nil {
		return io.NewSectionReader(k.file, 0, k.size)
	}
	// The file holds the bytes around the section one after the other:
	// what follows the section is at its offset in the file.
	after := k.size - k.sectionAt - k.sectionRecs.Size
	c := blob.NewConcat(io.NewSectionReader(k.file, 0, k.sectionAt), io.NewSectionReader(k.section, 0, k.sectionRecs.Size),
		io.NewSectionReader(k.file, k.sectionAt, after))
	return io.NewSectionReader(c, 0, c.Size())
}

func (k *keptTranscript) close() {
	if k != nil {
		k.file.Close()
		if k.done != nil {
			k.done()
		}
	}
}

// keptTranscripts holds the transcripts this node signed and keeps, by
// job id and digest, until a publish stores their bundle or newer ones
// push them out. It is safe for concurrent use.
type keptTranscripts struct {
	mu     sync.Mutex
	list   []*keptTranscript // oldest first
	closed bool              // the node stopped: nothing more is kept
}

func newKeptTranscripts() *keptTranscripts { return &keptTranscripts{} }

// put keeps k, in place of any other transcript of its job, dropping the
// oldest beyond maxKept; the table owns k from then on.
func (ks *keptTranscripts) put(k *keptTranscript) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		k.close()
		return
	}
	for i, o := range ks.list {
		if o.jobID == k.jobID {
			ks.remove(i)
			break
		}
	}
	ks.list = append(ks.list, k)
	for len(ks.list) > maxKept {
		ks.remove(0)
	}
}

// remove takes entry i out of the list: closed, or, while a publish reads
// it, left for that publish to close.
func (ks *keptTranscripts) remove(i int) {
	k := ks.list[i]
	ks.list = append(ks.list[:i], ks.list[i+1:]...)
	if k.busy {
		k.dropped = true
	} else {
		k.close()
	}
}

// take returns the transcript of jobID with digest for a publish to read,
// until it hands it back (release); nil when none is kept, and busy when
// another publish is reading it.
func (ks *keptTranscripts) take(jobID string, digest [32]byte) (k *keptTranscript, busy bool) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for _, k := range ks.list {
		if k.jobID == jobID && k.digest == digest {
			if k.busy {
				return nil, true
			}
			k.busy = true
			return k, false
		}
	}
	return nil, false
}

// release hands back a transcript take gave: forgotten once its bundle is
// stored, kept for another publish otherwise (unless it left the table
// meanwhile).
func (ks *keptTranscripts) release(k *keptTranscript, stored bool) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	k.busy = false
	if k.dropped {
		k.close()
		return
	}
	if stored {
		for i, o := range ks.list {
			if o == k {
				ks.remove(i)
				return
			}
		}
	}
}

// drop forgets a job's transcript: its bundle is then published whole,
// as after a restart.
func (ks *keptTranscripts) drop(jobID string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for i, k := range ks.list {
		if k.jobID == jobID {
			ks.remove(i)
			return
		}
	}
}

// close drops every transcript kept, and closes any put after.
func (ks *keptTranscripts) close() {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for len(ks.list) > 0 {
		ks.remove(0)
	}
	ks.closed = true
}

// transcriptTee copies a transcript's encoding, as SignTranscript reads
// it, into a spool file. Keeping is best effort: a spool file that cannot
// be made or written leaves the transcript unkept, never the read failed.
type transcriptTee struct {
	src  io.Reader
	file *os.File // nil once keeping failed
	size int64
	end  bool // src reported io.EOF: every byte arrived and was checked
	// sp, when the stream is spliced, is whose records section it carries:
	// those bytes are this node's already and are not copied.
	sp *splicer
}

// teeTranscript returns a tee of src, the blob reader of a whole
// transcript's encoding, spliced by sp (nil: sent whole).
func (n *Node) teeTranscript(src io.Reader, sp *splicer) *transcriptTee {
	f, err := n.spoolFile("signed-")
	if err != nil {
		n.log.Warn("transcript not kept", "error", err)
	}
	return &transcriptTee{src: src, file: f, sp: sp}
}

func (t *transcriptTee) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	if n > 0 && t.file != nil {
		if werr := t.copy(p[:n]); werr != nil {
			t.file.Close()
			t.file = nil
		}
	}
	t.size += int64(n)
	if errors.Is(err, io.EOF) {
		t.end = true
	}
	return n, err
}

// copy writes b, the bytes at t.size, but for those of a spliced
// records section.
func (t *transcriptTee) copy(b []byte) error {
	if t.sp != nil {
		from, to := int64(t.sp.at), int64(t.sp.at)+t.sp.w.recs.Size
		lo, hi := max(from, t.size), min(to, t.size+int64(len(b)))
		if lo < hi { // b overlaps the section: write what is around it
			if _, err := t.file.Write(b[:lo-t.size]); err != nil {
				return err
			}
			b = b[hi-t.size:]
		}
	}
	_, err := t.file.Write(b)
	return err
}

// keep hands the copy to the node's table as the transcript of jobID
// with digest, coordinated by coordinator, once src has been read to its
// end (a blob reader reports it only once the SHA-256 matched).
func (t *transcriptTee) keep(n *Node, jobID, datasetID string, coordinator uint32, digest [32]byte) {
	if t.file == nil || !t.end {
		return
	}
	k := &keptTranscript{jobID: jobID, datasetID: datasetID, coordinator: coordinator, digest: digest, file: t.file, size: t.size}
	if t.sp != nil {
		f, done, ok := t.sp.w.section.open()
		if !ok {
			return // the section is gone: the transcript is not kept
		}
		k.section, k.sectionAt, k.sectionRecs, k.done = f, int64(t.sp.at), t.sp.w.recs, done
	}
	n.kept.put(k)
	t.file = nil
}

// discard closes a copy that was not kept.
func (t *transcriptTee) discard() {
	if t.file != nil {
		t.file.Close()
		t.file = nil
	}
}

package node

import (
	"os"
	"slices"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Cohort witnesses (docs/design.md §7.6): a peer that sums its cohort at
// ComputePartial reads the same rows a transcript of the job lists, so it
// writes there, in the same scan, the transcript's records section as it
// must read (audit.RecordsWriter) to a spool file, with the claim root of
// their nullifiers and the registry roots they use. It tells the
// coordinator the section's size and SHA-256; a coordinator whose
// transcript holds the same section leaves it out of SignTranscript, and
// the peer puts its own back (RecordsSplice). A transcript sent whole has
// its records hashed as they stream past and compared with the section's
// SHA-256. Either way no row is read again. A node without the witness
// (restarted since, or it did not sum) checks the records against its
// rows in a scan instead; the answer is the same.

// cohortWitness is what a peer took of its cohort's rows at
// ComputePartial for checking the job's transcript.
type cohortWitness struct {
	setDigest [32]byte      // the cohort it summed, as agreed
	recs      audit.Records // the records section it wrote of them
	roots     *recordRoots  // the registry roots the records use
	section   *keptSection  // the section's bytes, while kept
}

// recordsProto is the wire form of the witness's section while its bytes
// are kept, nil once they are not.
func (w *cohortWitness) recordsProto() *cohortv1.TranscriptRecords {
	if w == nil || !w.section.kept() || w.recs.Count == 0 {
		return nil
	}
	return &cohortv1.TranscriptRecords{Count: uint64(w.recs.Count), Size: uint64(w.recs.Size), Sha256: w.recs.SHA256[:]}
}

// keptSection is the spool file of a witness's records section. It is
// closed once it is dropped and no splice reads it.
type keptSection struct {
	mu      sync.Mutex
	file    *os.File
	readers int
	dropped bool
}

// kept reports whether the section's bytes are still kept.
func (k *keptSection) kept() bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.dropped
}

// open returns the file for reading and the function that ends the read,
// or false once the section is dropped.
func (k *keptSection) open() (*os.File, func(), bool) {
	if k == nil {
		return nil, nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dropped {
		return nil, nil, false
	}
	k.readers++
	return k.file, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.readers--; k.readers == 0 && k.dropped {
			k.file.Close()
		}
	}, true
}

// drop lets the file go: at once, or when its last read ends.
func (k *keptSection) drop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.dropped && k.readers == 0 {
		k.file.Close()
	}
	k.dropped = true
}

// witnessOf ends the records section a peer's scan of its cohort wrote
// (a recordSpooler, not used after) and makes it the cohort's witness.
func witnessOf(sp *recordSpooler, setDigest [32]byte) (*cohortWitness, error) {
	spool, err := sp.finish()
	if err != nil {
		return nil, err
	}
	return &cohortWitness{setDigest: setDigest, recs: spool.recs, roots: spool.roots, section: &keptSection{file: spool.file}}, nil
}

// claimLeaf is the leaf of nullifier nf in a job's claim tree, stored
// with the record (store.Contribution.ClaimLeaf).
func claimLeaf(nf fr.Element) [32]byte {
	leaf := circuits.ClaimLeaf(nf)
	return leaf.Bytes()
}

// maxClaimSubtrees bounds the claim subtrees a node keeps the roots of:
// 16,384 subtrees of 1,024 records, a few megabytes, stand for sixteen
// million records' worth of hashing.
const maxClaimSubtrees = 1 << 14

// maxWitnesses bounds the witnesses a node keeps (each a few hundred
// bytes and its records' distinct roots); the oldest goes first. Only
// the newest maxKeptSections keep their section's bytes (a spool file of
// about 1 KB a record): an older witness still checks a transcript sent
// whole.
const (
	maxWitnesses    = 256
	maxKeptSections = 4
)

// witnesses holds the witnesses of the jobs this node summed, by job id,
// until their transcripts are checked. It is safe for concurrent use.
type witnesses struct {
	mu    sync.Mutex
	m     map[string]*cohortWitness
	order []string
}

func newWitnesses() *witnesses { return &witnesses{m: map[string]*cohortWitness{}} }

func (ws *witnesses) put(jobID string, w *cohortWitness) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if old, ok := ws.m[jobID]; ok {
		old.section.drop()
		ws.order = slices.DeleteFunc(ws.order, func(id string) bool { return id == jobID })
	}
	ws.order = append(ws.order, jobID)
	ws.m[jobID] = w
	for len(ws.order) > maxWitnesses {
		ws.m[ws.order[0]].section.drop()
		delete(ws.m, ws.order[0])
		ws.order = ws.order[1:]
	}
	for _, id := range ws.order[:max(0, len(ws.order)-maxKeptSections)] {
		ws.m[id].section.drop()
	}
}

func (ws *witnesses) get(jobID string) *cohortWitness {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.m[jobID]
}

// drop forgets a job's witness: its transcript is then checked against
// the rows, as after a restart.
func (ws *witnesses) drop(jobID string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w, ok := ws.m[jobID]; ok {
		w.section.drop()
		delete(ws.m, jobID)
		ws.order = slices.DeleteFunc(ws.order, func(id string) bool { return id == jobID })
	}
}

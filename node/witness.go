package node

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/store"
)

// Cohort witnesses (docs/design.md §7.6): a peer that sums its cohort at
// ComputePartial reads the same rows a transcript of the job lists, so it
// takes there, in the same scan, what checking the transcript needs of
// them — a digest of every record as the transcript must list it, the
// claim root of their nullifiers and the registry roots they use. When
// the transcript arrives, its records are hashed as they stream past and
// compared with the witness, without reading a row again. A node without
// the witness (restarted since, or it did not sum) checks the records
// against its rows in a scan instead; the answer is the same.

// witnessTag separates a witness's records digest from every other hash.
const witnessTag = "cohort/v1/node/cohort-witness"

// recordsHasher digests records as a transcript lists them: nullifier,
// payload digest, public inputs, proof and published value, each length
// prefixed.
type recordsHasher struct {
	h hash.Hash
	n uint64
}

func newRecordsHasher() *recordsHasher {
	h := sha256.New()
	h.Write([]byte(witnessTag))
	return &recordsHasher{h: h}
}

func (r *recordsHasher) add(nf, payloadDigest [32]byte, public, proof, published []byte) {
	r.h.Write(nf[:])
	r.h.Write(payloadDigest[:])
	var u [4]byte
	for _, b := range [][]byte{public, proof, published} {
		binary.BigEndian.PutUint32(u[:], uint32(len(b)))
		r.h.Write(u[:])
		r.h.Write(b)
	}
	r.n++
}

func (r *recordsHasher) sum() [32]byte { return [32]byte(r.h.Sum(nil)) }

// cohortWitness is what a peer took of its cohort's rows at
// ComputePartial for checking the job's transcript.
type cohortWitness struct {
	setDigest [32]byte // the cohort it summed, as agreed
	count     uint64
	records   [32]byte // recordsHasher's digest of the cohort
	claimRoot [32]byte
	roots     *recordRoots // the registry roots the records use
}

// witnessBuilder builds a cohortWitness as a scan passes the cohort's
// rows, in nullifier order.
type witnessBuilder struct {
	rh    *recordsHasher
	claim audit.ClaimRootHasher
	roots *recordRoots
}

func newWitnessBuilder() *witnessBuilder {
	return &witnessBuilder{rh: newRecordsHasher(), roots: newRecordRoots()}
}

// add takes one record of the cohort, read with its proof and public
// inputs (published is what a transcript lists of its stored value).
func (w *witnessBuilder) add(c *store.Contribution, published []byte) error {
	if err := w.roots.add(c.Public); err != nil {
		return err
	}
	if err := w.claim.AddLeaf(c.Nullifier, c.ClaimLeaf); err != nil {
		return err
	}
	w.rh.add(c.Nullifier, c.PayloadDigest, c.Public, c.Proof, published)
	return nil
}

// claimLeaf is the leaf of nullifier nf in a job's claim tree, stored
// with the record (store.Contribution.ClaimLeaf).
func claimLeaf(nf fr.Element) [32]byte {
	leaf := circuits.ClaimLeaf(nf)
	return leaf.Bytes()
}

func (w *witnessBuilder) witness(setDigest [32]byte) *cohortWitness {
	return &cohortWitness{setDigest: setDigest, count: w.rh.n, records: w.rh.sum(), claimRoot: w.claim.Root(), roots: w.roots}
}

// maxWitnesses bounds the witnesses a node keeps (each a few hundred
// bytes and its records' distinct roots); the oldest goes first.
const maxWitnesses = 256

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
	if _, ok := ws.m[jobID]; !ok {
		ws.order = append(ws.order, jobID)
	}
	ws.m[jobID] = w
	for len(ws.order) > maxWitnesses {
		delete(ws.m, ws.order[0])
		ws.order = ws.order[1:]
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
	delete(ws.m, jobID)
}

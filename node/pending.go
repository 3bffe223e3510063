package node

import (
	"errors"
	"sync"
	"time"
)

// This file holds the records a peer may still roll back (docs/design.md
// §2.2). A peer that stored a forwarded record
// deletes it again on AbortContribution only when all of these hold:
//
//   - the caller is the node that forwarded the record to it;
//   - the record is pending: stored by this process less than
//     PendingWindow ago, which covers the forwarder's rollback and its
//     retries (rollbackAttempts), and
//   - no job has selected a cohort from the record's dataset on this node
//     since the record was stored, whatever its epochs (stricter than
//     "no job counted it", and decided without reading any job).
//
// The node that received the record from the contributor rolls its own row
// back by the same rule, as its own forwarder, so that a record a job may
// have counted stays on every node that holds it.
//
// Anything else is refused and nothing is deleted: a node cannot remove a
// record another node forwarded, nor one a job may have counted, so it
// cannot run a job again without a record and difference the two results.
// The state is in memory: after a restart no record is pending, and a
// rollback still due leaves the record in place (it passed every check of
// this node, and a retry of the same payload completes it everywhere).
// A peer cannot tell whether the forwarder already answered the contributor
// with a receipt; within the window the forwarder can still drop a record it
// received itself, as it could by never forwarding it.

// PendingWindow is how long after storing a forwarded record a peer accepts
// its rollback from the forwarder: longer than the forwarder's rollback
// retries (under 18 minutes of back-off, plus one peer timeout per attempt).
const PendingWindow = time.Hour

// maxPending bounds the records a peer tracks as pending; beyond it a newly
// forwarded record is not tracked and cannot be rolled back.
const maxPending = 1 << 16

// Refusals of a rollback.
var (
	errNotForwarder = errors.New("only the node that forwarded a record may roll it back")
	errNotPending   = errors.New("the record is not pending on this node: it was received here directly, its rollback window ended, or this node restarted since storing it")
	errSelected     = errors.New("a job selected a cohort from the record's dataset since it was stored")
)

type pendingKey struct {
	dataset string
	nf      [32]byte
}

type pendingRecord struct {
	from     uint32
	storedAt time.Time
	settled  bool // a cohort was selected from the dataset since
}

// pendingRecords is the set of forwarded records a peer may still roll
// back. Safe for concurrent use; its lock orders every rollback against
// every cohort selection, so a selection either sees a record that can no
// longer be rolled back, or does not see it.
type pendingRecords struct {
	mu    sync.Mutex
	gen   map[string]uint64 // dataset → cohort selections begun
	recs  map[pendingKey]pendingRecord
	order []pendingKey // keys in the order added, some since removed
}

func newPendingRecords() *pendingRecords {
	return &pendingRecords{gen: map[string]uint64{}, recs: map[pendingKey]pendingRecord{}}
}

// generation is read before a forwarded record is stored and given back to
// add, which so learns whether a selection ran in between.
func (p *pendingRecords) generation(dataset string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen[dataset]
}

// add records that from forwarded the record (dataset, nf), just stored at
// now. A record a selection may have seen since gen was read is settled
// from the start.
func (p *pendingRecords) add(dataset string, nf [32]byte, from uint32, gen uint64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	if len(p.recs) >= maxPending {
		return
	}
	k := pendingKey{dataset, nf}
	p.recs[k] = pendingRecord{from: from, storedAt: now, settled: p.gen[dataset] != gen}
	p.order = append(p.order, k)
}

// expire drops the records older than PendingWindow, oldest first, and the
// keys of records already removed. Called with mu held.
func (p *pendingRecords) expire(now time.Time) {
	drop := 0
	for _, k := range p.order {
		r, ok := p.recs[k]
		if ok && now.Sub(r.storedAt) < PendingWindow {
			break
		}
		if ok {
			delete(p.recs, k)
		}
		drop++
	}
	p.order = p.order[drop:]
	if len(p.order) > 2*len(p.recs)+64 {
		// Mostly rolled-back keys: keep only the tracked ones.
		kept := make([]pendingKey, 0, len(p.recs))
		for _, k := range p.order {
			if _, ok := p.recs[k]; ok {
				kept = append(kept, k)
			}
		}
		p.order = kept
	}
}

// settle is called before a cohort is selected from dataset: none of its
// records stored so far can be rolled back any more.
func (p *pendingRecords) settle(dataset string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen[dataset]++
	for k, r := range p.recs {
		if k.dataset == dataset && !r.settled {
			r.settled = true
			p.recs[k] = r
		}
	}
}

// rollback runs del, the deletion of (dataset, nf), if from may roll the
// record back at now, and forgets the record once del succeeds. It returns
// whether the record was tracked, and errNotForwarder, errNotPending or
// errSelected without calling del. del runs under the lock, so no
// selection starts meanwhile.
func (p *pendingRecords) rollback(dataset string, nf [32]byte, from uint32, now time.Time, del func() error) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := pendingKey{dataset, nf}
	r, ok := p.recs[k]
	switch {
	case !ok:
		return false, nil
	case r.from != from:
		return true, errNotForwarder
	case r.settled:
		return true, errSelected
	case now.Sub(r.storedAt) >= PendingWindow:
		return true, errNotPending
	}
	if err := del(); err != nil {
		return true, err
	}
	delete(p.recs, k)
	return true, nil
}

package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// This file holds the state of a record through ingest (docs/design.md
// §7.5), kept in the store with the record itself:
//
//	(absent) ──store──▶ pending(forwarder) ──commit──▶ committed
//	                          │      │
//	                          │      └──commit, one node down──▶ incomplete ──it caught up──▶ committed
//	                          │                                      │
//	                          └──roll back (only the forwarder)──▶ (absent) ◀──it refused──┘
//
// The forwarder is the node the contributor sent the record to: it alone
// decides the record's outcome, and its own row is the decision. It writes
// its row pending before forwarding; committed once every node acknowledged
// (before it answers with the receipt); deleted together with a rollback
// owed to each peer (store.Rollback) when any node refused or did not
// answer, or when it restarts and finds an ingest of its own undecided. The
// rollbacks are sent by rollbackLoop until each peer confirms, across
// restarts. A peer learns a commit from the forwarder asking for its
// acknowledgment (GetContributionAck from the forwarder commits the row),
// or by asking the forwarder itself (resolveLoop) after a crash or a lost
// call.
//
// Jobs count committed records only (store.ListContributions), so a
// record a job may have counted is committed on that node, and a committed
// record is never rolled back: a node cannot remove a record another node
// forwarded, nor one a job may have counted, so it cannot run a job again
// without a record and difference the two results (docs/design.md §2.2).

// Refusals of a rollback.
var (
	errNotForwarder = errors.New("only the node that forwarded a record may roll it back")
	errCommitted    = errors.New("the record is committed: every node acknowledged it and a job may count it")
)

// mayRollBack says whether node from may roll back row on this node:
// errNotForwarder, errCommitted, or nil. A record committed Incomplete,
// counted by no job, is rolled back like a pending one (its missing node
// refused it when it caught up).
func mayRollBack(row store.Contribution, from uint32) error {
	switch {
	case row.Forwarder != from:
		return errNotForwarder
	case !row.Pending && !row.Incomplete:
		return errCommitted
	}
	return nil
}

// Timing of the durable ingest state.
const (
	// pendingWait bounds how long an ingest waits for another node's
	// pending record with the same nullifier to be decided.
	pendingWait = 10 * time.Second
	// pendingPoll is how often it looks.
	pendingPoll = 20 * time.Millisecond
	// resolveAge is how old a peer's pending record must be before the
	// peer asks its forwarder about it: older than an ingest in progress.
	resolveAge = 2 * time.Second
	// stateInterval is how often the rollbacks owed and the payloads held
	// for nodes that were down (catchup.go) are sent again and the
	// pending records of other forwarders are looked up.
	stateInterval = time.Second
)

type recordKey struct {
	dataset string
	nf      [32]byte
}

// recordLocks serializes, per record, what the forwarder sends its peers:
// an ingest of the record and the sending of a rollback owed for it, so
// that a rollback of an earlier attempt never reaches a peer after a later
// attempt stored the record there again. It is the process's half of the
// record's lock; the store's half excludes the other replicas of this node
// (recordhold.go).
type recordLocks struct {
	mu sync.Mutex
	m  map[recordKey]*recordLock
	// beforeDecide, when set (tests only), is called by an ingest of this
	// node's own once its peers answered, before it decides.
	beforeDecide func(k recordKey)
}

type recordLock struct {
	ch   chan struct{}
	refs int
}

func newRecordLocks() *recordLocks { return &recordLocks{m: map[recordKey]*recordLock{}} }

// lock takes the record's lock, or fails when ctx ends first; the returned
// function releases it.
func (l *recordLocks) lock(ctx context.Context, k recordKey) (func(), error) {
	rl, release := l.ref(k)
	select {
	case rl.ch <- struct{}{}:
		return func() { <-rl.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// tryLock takes the record's lock if it is free; the returned function
// releases it, nil when it is held.
func (l *recordLocks) tryLock(k recordKey) func() {
	rl, release := l.ref(k)
	select {
	case rl.ch <- struct{}{}:
		return func() { <-rl.ch; release() }
	default:
		release()
		return nil
	}
}

// ref finds or makes the record's lock and counts a user of it; the
// returned function uncounts it.
func (l *recordLocks) ref(k recordKey) (*recordLock, func()) {
	l.mu.Lock()
	rl, ok := l.m[k]
	if !ok {
		rl = &recordLock{ch: make(chan struct{}, 1)}
		l.m[k] = rl
	}
	rl.refs++
	l.mu.Unlock()
	return rl, func() {
		l.mu.Lock()
		if rl.refs--; rl.refs == 0 {
			delete(l.m, k)
		}
		l.mu.Unlock()
	}
}

// abandon decides the rollback of this node's ingest of (datasetID, nf),
// under h: in one transaction its own pending row goes and a rollback is
// owed to every peer in peers. Nothing is sent. errLockLost, nothing
// written, if another replica took the record over.
func (n *Node) abandon(ctx context.Context, h *heldRecord, datasetID string, nf [32]byte, peers []uint32, reason string) error {
	reason = truncate(reason, store.MaxRollbackReasonLen)
	now := n.now()
	return h.inTx(ctx, func(tx store.Tx) error {
		// A committed record, Incomplete or not, was acknowledged: it is
		// never abandoned (an Incomplete one is rolled back only when its
		// missing node refuses it, catchup.go).
		if row, err := tx.GetContribution(ctx, datasetID, nf); err == nil && !row.Pending && row.Forwarder == n.opts.Index {
			return errCommitted
		}
		err := tx.RollBackContribution(ctx, datasetID, nf, n.opts.Index, time.Time{})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, p := range peers {
			if err := tx.PutRollback(ctx, store.Rollback{DatasetID: datasetID, Nullifier: nf, Peer: p, Reason: reason, CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
}

// sendRollback sends a rollback owed to a peer, within sctx (from
// h.renewForSend), and forgets it once the peer confirmed it, or refused
// it for good, if h still holds the record. It reports whether the
// rollback is settled.
func (n *Node) sendRollback(ctx, sctx context.Context, h *heldRecord, r store.Rollback) bool {
	_, err := call(sctx, n, r.Peer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.AbortContributionResponse, error) {
		return c.AbortContribution(ctx, &cohortv1.AbortContributionRequest{DatasetId: r.DatasetID, Nullifier: r.Nullifier[:], Reason: r.Reason})
	})
	switch code := status.Code(err); {
	case err == nil:
	case code == codes.PermissionDenied || code == codes.FailedPrecondition:
		// The peer holds the record from another forwarder, or committed:
		// retrying cannot change its answer.
		n.log.Error("rollback refused: a peer keeps the record", "peer", r.Peer, "nullifier", fmt.Sprintf("%x", r.Nullifier), "error", err)
	default:
		return false
	}
	err = h.inTx(ctx, func(tx store.Tx) error { return tx.DeleteRollback(ctx, r.DatasetID, r.Nullifier, r.Peer) })
	if err != nil {
		n.log.Error("rollback: forget a confirmed rollback", "error", err)
		return false
	}
	return true
}

// rollBack sends now the rollbacks of (datasetID, nf) owed to peers, under
// h; those not confirmed stay owed for rollbackLoop.
func (n *Node) rollBack(ctx context.Context, h *heldRecord, datasetID string, nf [32]byte, peers []uint32, reason string) {
	sctx, cancel, err := h.renewForSend(ctx)
	if err != nil {
		n.log.Warn("rollback: not sent now", "nullifier", fmt.Sprintf("%x", nf), "error", err)
		return
	}
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			n.sendRollback(ctx, sctx, h, store.Rollback{DatasetID: datasetID, Nullifier: nf, Peer: p, Reason: truncate(reason, store.MaxRollbackReasonLen)})
		})
	}
	wg.Wait()
}

// Reasons of the rollback of an ingest whose forwarding replica stopped.
const (
	restartedReason = "the forwarding node restarted during the ingest"
	orphanedReason  = "the forwarding replica of the node stopped during the ingest"
)

// recoverIngests decides, at start, every ingest this replica was
// coordinating when it stopped (its replica id's earlier process), and
// those of replicas whose heartbeat stopped (docs/design.md §3.4): none
// answered its contributor with a receipt (its row would be committed),
// so each is rolled back everywhere. Another live replica's ingests are
// left to it.
func (n *Node) recoverIngests(ctx context.Context) error {
	decided, err := n.settleOrphanedIngests(ctx, n.opts.ReplicaID)
	if err != nil {
		return fmt.Errorf("recover ingests: %w", err)
	}
	if decided > 0 {
		n.log.Warn("ingests interrupted by a restart rolled back", "records", decided)
	}
	return nil
}

// settleOrphanedIngests rolls back everywhere this node's pending ingests
// whose replica has not beaten its heartbeat for a job lease, or is
// previous (this replica id's earlier process, at start; "" for none), or
// is not recorded (ingests stored before replicas were). The rollbacks
// owed are sent by stateLoop. An ingest sent again meanwhile (its pending
// state renewed, by a retry through another replica) is left alone. It
// reports how many it rolled back.
func (n *Node) settleOrphanedIngests(ctx context.Context, previous string) (int, error) {
	reason := orphanedReason
	if previous != "" {
		reason = restartedReason
	}
	var (
		after   recordKey
		decided int
	)
	for {
		page, err := n.store.OrphanedPending(ctx, n.opts.Index, previous, n.now().Add(-n.opts.Limits.JobLease),
			after.dataset, after.nf, store.MaxPageSize)
		if err != nil {
			return decided, err
		}
		for _, row := range page {
			if row.Replica == n.opts.ReplicaID && previous == "" {
				continue // in flight here
			}
			ok, err := n.abandonOrphan(ctx, row, reason)
			if err != nil {
				return decided, err
			}
			if ok {
				decided++
				n.log.Warn("ingest of a stopped replica rolled back", "replica", row.Replica, "nullifier", fmt.Sprintf("%x", row.Nullifier))
			}
		}
		if len(page) < store.MaxPageSize {
			return decided, nil
		}
		last := page[len(page)-1]
		after = recordKey{last.DatasetID, last.Nullifier}
	}
}

// abandonOrphan decides the rollback of row, this node's pending ingest
// whose replica stopped, as abandon does, under the record's lock, unless
// the row changed since it was read (decided, or sent again by another
// replica) or another replica holds the lock. It reports whether it
// decided.
func (n *Node) abandonOrphan(ctx context.Context, row store.Contribution, reason string) (bool, error) {
	h, err := n.holdRecord(ctx, recordKey{row.DatasetID, row.Nullifier}, 0)
	if status.Code(err) == codes.Aborted {
		return false, nil // held by a live replica: not orphaned
	}
	if err != nil {
		return false, err
	}
	defer h.release()
	now := n.now()
	errGone := errors.New("decided or sent again meanwhile")
	err = h.inTx(ctx, func(tx store.Tx) error {
		err := tx.RollBackContribution(ctx, row.DatasetID, row.Nullifier, n.opts.Index, row.PendingSince)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return errGone
		}
		if err != nil {
			return err
		}
		for _, p := range n.others() {
			if err := tx.PutRollback(ctx, store.Rollback{DatasetID: row.DatasetID, Nullifier: row.Nullifier, Peer: p, Reason: reason, CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errGone) || errors.Is(err, errLockLost) {
		return false, nil
	}
	return err == nil, err
}

// stateLoop sends the rollbacks owed, settles the records other
// forwarders left pending here, offers the payloads held to the nodes
// that were down (catchup.go) and sends what ended jobs owe the other
// nodes (notices.go), until the node stops.
func (n *Node) stateLoop() {
	t := time.NewTicker(stateInterval)
	defer t.Stop()
	for {
		n.sendRollbacksOwed(n.ctx)
		n.resolvePending(n.ctx)
		n.sendCatchUps(n.ctx)
		n.sendJobNoticesOwed(n.ctx)
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sendRollbacksOwed sends every rollback owed once.
func (n *Node) sendRollbacksOwed(ctx context.Context) {
	owed, err := n.store.ListRollbacks(ctx, store.MaxPageSize)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Error("rollbacks owed", "error", err)
		}
		return
	}
	down := map[uint32]bool{} // peers that did not confirm in this pass
	for _, r := range owed {
		if down[r.Peer] {
			continue
		}
		h, err := n.holdRecord(ctx, recordKey{r.DatasetID, r.Nullifier}, 0)
		if status.Code(err) == codes.Aborted {
			continue // another replica ingests the record, or sends it
		}
		if err != nil {
			return
		}
		// A later ingest of the record may have taken over meanwhile.
		if ok, err := n.store.HasRollback(ctx, r.DatasetID, r.Nullifier, r.Peer); err == nil && ok {
			if sctx, cancel, err := h.renewForSend(ctx); err != nil {
				down[r.Peer] = true
			} else {
				if n.sendRollback(ctx, sctx, h, r) {
					n.log.Info("rollback confirmed", "peer", r.Peer, "nullifier", fmt.Sprintf("%x", r.Nullifier))
				} else {
					down[r.Peer] = true
				}
				cancel()
			}
		}
		h.release()
	}
}

// resolvePending asks the forwarder of every record pending here for some
// time what it decided: committed (it answers with its acknowledgment of
// the same payload) or rolled back (it holds no such record).
func (n *Node) resolvePending(ctx context.Context) {
	var after recordKey
	down := map[uint32]bool{} // forwarders that did not answer in this pass
	for {
		page, err := n.store.ListPending(ctx, after.dataset, after.nf, store.MaxPageSize)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Error("pending records", "error", err)
			}
			return
		}
		for _, row := range page {
			if row.Forwarder == n.opts.Index || down[row.Forwarder] || n.now().Sub(row.PendingSince) < resolveAge {
				continue
			}
			if !n.resolve(ctx, row) {
				down[row.Forwarder] = true
			}
		}
		if len(page) < store.MaxPageSize {
			return
		}
		last := page[len(page)-1]
		after = recordKey{last.DatasetID, last.Nullifier}
	}
}

// maxSettleAtSelect bounds the pending records a cohort selection asks
// about, and settleTimeout each question.
const (
	maxSettleAtSelect = 256
	settleTimeout     = 2 * time.Second
)

// settleBeforeSelect asks the forwarders of the dataset's records pending
// here what they decided, so that a cohort selected during the recovery
// from a crash counts what was committed meanwhile (docs/design.md §7.5).
// Records still undecided stay out of the cohort on every node.
func (n *Node) settleBeforeSelect(ctx context.Context, datasetID string) {
	page, err := n.store.ListPending(ctx, datasetID, [32]byte{}, maxSettleAtSelect)
	if err != nil {
		n.log.Warn("pending records before a selection", "error", err)
		return
	}
	down := map[uint32]bool{}
	for _, row := range page {
		if row.DatasetID != datasetID {
			break
		}
		if row.Forwarder == n.opts.Index || down[row.Forwarder] {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, settleTimeout)
		if !n.resolve(rctx, row) {
			down[row.Forwarder] = true
		}
		cancel()
	}
}

// resolve settles one record another node forwarded, if its forwarder has
// decided. It reports whether the forwarder answered.
func (n *Node) resolve(ctx context.Context, row store.Contribution) bool {
	resp, err := call(ctx, n, row.Forwarder, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.GetContributionAckResponse, error) {
		return c.GetContributionAck(ctx, &cohortv1.GetContributionAckRequest{DatasetId: row.DatasetID, Nullifier: row.Nullifier[:]})
	})
	nf := fmt.Sprintf("%x", row.Nullifier)
	switch {
	case err == nil && bytes.Equal(resp.GetAck().GetPayloadDigest(), row.PayloadDigest[:]):
		if err := n.checkAck(row.Forwarder, row.DatasetID, row.Nullifier, row.PayloadDigest, resp.GetAck()); err != nil {
			n.log.Error("pending record: the forwarder's acknowledgment does not verify", "forwarder", row.Forwarder, "nullifier", nf, "error", err)
			return true
		}
		missing := resp.GetMissingNodes()
		if len(missing) > 1 || (len(missing) == 1 && int(missing[0]) >= len(n.opts.Members)) {
			n.log.Error("pending record: the forwarder names nodes the record cannot await", "forwarder", row.Forwarder, "missing", missing)
			return true
		}
		if err := n.commitAs(ctx, row, missing); err != nil {
			n.log.Error("pending record: commit", "error", err)
			return true
		}
		n.log.Info("pending record committed by its forwarder", "forwarder", row.Forwarder, "nullifier", nf)
	case err == nil || status.Code(err) == codes.NotFound:
		// The forwarder holds no record, or another payload: it rolled
		// this one back. Unless the forwarder sent it again meanwhile.
		err := n.store.RollBackContribution(ctx, row.DatasetID, row.Nullifier, row.Forwarder, row.PendingSince)
		switch {
		case err == nil:
			n.metrics.contributions.WithLabelValues("peer", "rolled_back").Inc()
			n.log.Info("pending record rolled back by its forwarder", "forwarder", row.Forwarder, "nullifier", nf)
		case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict):
			n.log.Error("pending record: roll back", "error", err)
		}
	default:
		// Undecided there (FailedPrecondition), or no answer: ask again
		// later.
		return status.Code(err) == codes.FailedPrecondition
	}
	return true
}

// awaitDecision reads the record (datasetID, nf) again while wait says so,
// for at most pendingWait or until ctx ends, and returns the row last read
// and whether there was one.
func (n *Node) awaitDecision(ctx context.Context, datasetID string, nf [32]byte, wait func(row store.Contribution, found bool) bool) (store.Contribution, bool, error) {
	deadline := time.Now().Add(pendingWait)
	for {
		row, err := n.store.GetContribution(ctx, datasetID, nf)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Contribution{}, false, n.internal("read contribution", err)
		}
		if !wait(row, found) || time.Now().After(deadline) {
			return row, found, nil
		}
		select {
		case <-ctx.Done():
			return row, found, nil
		case <-time.After(pendingPoll):
		}
	}
}

// precedes orders two pending ingests of one nullifier: the one with the
// smaller payload digest wins, and for the same payload the one forwarded
// by the node of smaller index. Every node applies the same order, so of
// two concurrent uploads exactly one is refused everywhere it meets the
// other, and the other waits for its rollback.
func precedes(digest [32]byte, forwarder uint32, row store.Contribution) bool {
	if c := bytes.Compare(digest[:], row.PayloadDigest[:]); c != 0 {
		return c < 0
	}
	return forwarder < row.Forwarder
}

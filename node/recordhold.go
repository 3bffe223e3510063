package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/store"
)

// This file holds the ingest's per-record lock among the replicas of this
// node (docs/design.md §3.4). A replica ingesting a record, deciding its
// rollback or sending a rollback owed for it first takes the record's lock
// in this process (recordLocks), then in the store (store.LockRecord): a
// row naming the replica, a random token and an expiry one job lease
// away. Every decision it then writes runs in a transaction that begins
// with store.HoldRecord — the lock's token still matches, and its expiry
// moves a lease on — so of the holder's decision and another replica's
// takeover of an expired lock exactly one wins: a replica paused past its
// lock finds another token and writes nothing, and is told errLockLost.
//
// What the store cannot fence is a message already on its way to a peer:
// a rollback the holder sends (AbortContribution) would remove a later
// ingest's row there. So a rollback is sent only right after a renewal of
// the lock, with a deadline of half a lease (rollbackCallTimeout): a peer
// that has not acted on it by then abandons it (gRPC carries the deadline),
// before any other replica may take the lock. This bound assumes the
// replicas' clocks agree within half a lease.

// errLockLost: another replica of this node took the record's lock over
// (this one was paused past its expiry); this replica's decision was not
// written.
var errLockLost = errors.New("another replica of this node took the record over; this attempt changed nothing")

// heldRecord is this replica's hold on a record: the process's lock and
// the store's.
type heldRecord struct {
	n      *Node
	lock   store.RecordLock
	stored bool   // the store's lock is held (not released with a commit)
	unlock func() // releases the process's lock
}

// lockPoll is how often a replica waiting for another's lock on a record
// looks again.
const lockPoll = 50 * time.Millisecond

// holdRecord takes the lock of record k, waiting at most wait (and until
// ctx ends) while another replica holds it: Aborted then. With wait 0 it
// waits for nothing, not even for this process's lock (for the loops that
// must not stall, such as the lease loop).
func (n *Node) holdRecord(ctx context.Context, k recordKey, wait time.Duration) (*heldRecord, error) {
	var unlock func()
	if wait == 0 {
		if unlock = n.records.tryLock(k); unlock == nil {
			return nil, status.Errorf(codes.Aborted, "record %x is busy in this replica", k.nf)
		}
	} else {
		var err error
		if unlock, err = n.records.lock(ctx, k); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(wait)
	for {
		now := n.now()
		l, err := n.store.LockRecord(ctx, k.dataset, k.nf, n.opts.ReplicaID, now, now.Add(n.opts.Limits.JobLease))
		if err == nil {
			return &heldRecord{n: n, lock: l, stored: true, unlock: unlock}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			unlock()
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			return nil, n.internal("lock record", err)
		}
		if time.Now().After(deadline) {
			unlock()
			return nil, status.Errorf(codes.Aborted, "record %x is being stored through another replica of node %d; retry later", k.nf, n.opts.Index)
		}
		select {
		case <-ctx.Done():
			unlock()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-time.After(lockPoll):
		}
	}
}

// inTx runs fn in a transaction conditional on the lock (store.HoldRecord
// first, which renews it): errLockLost, nothing written, if another
// replica took it.
func (h *heldRecord) inTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return h.n.store.InTx(ctx, func(tx store.Tx) error {
		if err := h.hold(ctx, tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// hold renews the lock through tx.
func (h *heldRecord) hold(ctx context.Context, tx store.Tx) error {
	if !h.stored {
		return errLockLost
	}
	err := tx.HoldRecord(ctx, h.lock, h.n.now().Add(h.n.opts.Limits.JobLease))
	if errors.Is(err, store.ErrConflict) {
		return errLockLost
	}
	return err
}

// commitAndUnlock runs fn in a transaction conditional on the lock that
// also releases the store's lock: the decision is final, nothing the
// holder sends afterwards can undo it.
func (h *heldRecord) commitAndUnlock(ctx context.Context, fn func(tx store.Tx) error) error {
	err := h.inTx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return tx.UnlockRecord(ctx, h.lock)
	})
	if err == nil {
		h.stored = false
	}
	return err
}

// rollbackCallTimeout bounds a rollback's call to a peer: sent just after
// a renewal of the lock, it ends well before another replica may take the
// lock.
func (n *Node) rollbackCallTimeout() time.Duration {
	return min(n.opts.Limits.PeerTimeout, n.opts.Limits.JobLease/2)
}

// renewForSend renews the lock before rollbacks are sent under it and
// returns a context for the sends, ending in rollbackCallTimeout.
func (h *heldRecord) renewForSend(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := h.hold(ctx, h.n.store); err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, h.n.rollbackCallTimeout())
	return sctx, cancel, nil
}

// release releases the store's lock (unless a commit did) and the
// process's.
func (h *heldRecord) release() {
	if h.stored {
		if err := h.n.store.UnlockRecord(context.WithoutCancel(h.n.ctx), h.lock); err != nil {
			h.n.log.Warn("record lock: release; it expires in a lease", "nullifier", fmt.Sprintf("%x", h.lock.Nullifier), "error", err)
		}
		h.stored = false
	}
	h.unlock()
}

// lostStatus is the contributor's status for an ingest whose lock another
// replica took.
func lostStatus(nf [32]byte) error {
	return status.Errorf(codes.Aborted, "record %x: %v; retry for its receipt", nf, errLockLost)
}

package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// This file holds ingest while one node is down (docs/design.md §7.5).
// When every peer but one acknowledged a record and that one did not
// answer, the forwarder commits its own row Incomplete (awaiting that
// node) and, in the same transaction, holds the payload for it
// (store.CatchUp). The live peers commit theirs Incomplete too when the
// forwarder asks for their acknowledgment; no job counts an Incomplete
// record. catchUpLoop sends each held payload to its node until the node
// answers: it verifies the proof and opens its share as on any ingest,
// then the forwarder completes the record on every node and on its own
// row, and forgets the payload. A node that refuses it has the record
// rolled back everywhere through the rollbacks owed (pending.go): an
// Incomplete record was counted by no job, so its removal leaks nothing.

// down reports whether a peer's answer means it could not be reached, as
// opposed to a refusal or a failure it reported.
func down(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// loneMissing reports the one peer whose failure an ingest may go on
// without: exactly one peer failed, it could not be reached, and the
// federation has at least three nodes, so that at least two nodes verified
// and hold the record; never when the backlog is configured off.
func (n *Node) loneMissing(errs map[uint32]error) (uint32, bool) {
	if len(errs) != 1 || len(n.opts.Members) < 3 || n.opts.Limits.MaxCatchUpBacklog < 0 {
		return 0, false
	}
	for i, err := range errs {
		return i, down(err)
	}
	return 0, false
}

// errBacklogFull refuses an upload that a down node cannot acknowledge
// when this node already holds MaxCatchUpBacklog payloads for it.
type errBacklogFull struct{ peer uint32 }

func (e errBacklogFull) Error() string {
	return fmt.Sprintf("node %d is down and its backlog is full", e.peer)
}

// commitWithout commits this node's own pending row Incomplete, awaiting
// missing, and holds raw for it, in one transaction conditional on h
// that releases the store's lock: the forwarder's decision and the payload
// the missing node needs survive a crash together. errBacklogFull if the
// backlog for missing is full, errLockLost if another replica took the
// record over; nothing is written then.
func (n *Node) commitWithout(ctx context.Context, h *heldRecord, datasetID string, nf [32]byte, raw []byte, missing uint32) error {
	return h.commitAndUnlock(ctx, func(tx store.Tx) error {
		held, err := tx.CountCatchUps(ctx, missing)
		if err != nil {
			return err
		}
		if held >= uint64(n.opts.Limits.MaxCatchUpBacklog) {
			return errBacklogFull{missing}
		}
		if err := tx.CommitIncomplete(ctx, datasetID, nf, missing); err != nil {
			return err
		}
		return tx.PutCatchUp(ctx, store.CatchUp{DatasetID: datasetID, Nullifier: nf, Peer: missing, Payload: raw, CreatedAt: n.now()})
	})
}

// missingOf is the list of nodes row awaits, as GetContributionAck
// carries it.
func missingOf(row store.Contribution) []uint32 {
	if !row.Incomplete {
		return nil
	}
	return []uint32{row.Missing}
}

// commitAs commits a row pending here as its forwarder decided: Incomplete
// when the forwarder names a node the record awaits.
func (n *Node) commitAs(ctx context.Context, row store.Contribution, missing []uint32) error {
	if len(missing) == 0 {
		return n.store.CommitContribution(ctx, row.DatasetID, row.Nullifier)
	}
	return n.store.CommitIncomplete(ctx, row.DatasetID, row.Nullifier, missing[0])
}

// checkMissing validates the nodes a forwarder says a record awaits: at
// most one, a member, not the forwarder. It may be this node, asked before
// it caught up: it commits the record Incomplete, and the forwarder
// completes it.
func (n *Node) checkMissing(from uint32, missing []uint32) error {
	switch {
	case len(missing) == 0:
		return nil
	case len(missing) > 1:
		return status.Errorf(codes.InvalidArgument, "missing_nodes names %d nodes; a record may await one", len(missing))
	case int(missing[0]) >= len(n.opts.Members) || missing[0] == from:
		return status.Errorf(codes.InvalidArgument, "missing_nodes names node %d, which cannot be awaited here", missing[0])
	}
	return nil
}

// checkCatchUpTerms is checkTerms for a record sent by catchUp: the
// terms that change with time were checked by the live nodes at upload;
// the root must be one this node knows, and while its registry lags behind
// the federation's the forwarder is told to send the record again later.
func (n *Node) checkCatchUpTerms(ctx context.Context, c *checked) error {
	_, err := n.store.FindRoot(ctx, c.pub.Root.Bytes())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.Unavailable, "unknown registry root: this node's registry is not caught up yet; retry later")
	case err != nil:
		return n.internal("find root", err)
	}
	return nil
}

// sendCatchUps offers every payload held to its node once.
func (n *Node) sendCatchUps(ctx context.Context) {
	held, err := n.store.ListCatchUps(ctx, store.MaxPageSize)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Error("payloads held for peers", "error", err)
		}
		return
	}
	downs := map[uint32]bool{}
	for _, cu := range held {
		if downs[cu.Peer] {
			continue
		}
		h, err := n.holdRecord(ctx, recordKey{cu.DatasetID, cu.Nullifier}, 0)
		if status.Code(err) == codes.Aborted {
			continue // another replica holds the record
		}
		if err != nil {
			return
		}
		if !n.catchUp(ctx, h, cu) {
			downs[cu.Peer] = true
		}
		h.release()
	}
}

// catchUp offers one held payload to its node and settles the record by
// the answer: completed on every node, or rolled back everywhere. It
// reports false when the node could not be reached or did not settle
// (try again later). The caller holds the record, h.
func (n *Node) catchUp(ctx context.Context, h *heldRecord, cu store.CatchUp) bool {
	nfx := fmt.Sprintf("%x", cu.Nullifier)
	row, err := n.store.GetContribution(ctx, cu.DatasetID, cu.Nullifier)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !row.Incomplete):
		// Settled already (a crash between the two writes cannot happen:
		// they commit together; this is a retry after a concurrent pass).
		if err := n.store.DeleteCatchUp(ctx, cu.DatasetID, cu.Nullifier, cu.Peer); err != nil {
			n.log.Error("catch-up: forget a settled payload", "error", err)
		}
		return true
	case err != nil:
		n.log.Error("catch-up: read record", "error", err)
		return false
	}
	resp, err := call(ctx, n, cu.Peer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ForwardContributionResponse, error) {
		return c.ForwardContribution(ctx, &cohortv1.ForwardContributionRequest{DatasetId: cu.DatasetID, Payload: cu.Payload, CatchUp: true})
	})
	if err == nil {
		err = n.checkAck(cu.Peer, cu.DatasetID, cu.Nullifier, row.PayloadDigest, resp.GetAck())
		if err != nil {
			n.log.Error("catch-up: the acknowledgment does not verify", "peer", cu.Peer, "nullifier", nfx, "error", err)
			return false
		}
	}
	switch code := status.Code(err); {
	case err == nil:
	case code == codes.InvalidArgument || code == codes.AlreadyExists:
		// The proof or the node's share does not hold, or the node holds
		// another payload of the nullifier: it will never acknowledge it.
		n.refusedOnCatchUp(ctx, h, cu, err)
		return true
	default:
		// Down, busy with another ingest of the nullifier (Aborted), or
		// failing: offer it again later.
		return false
	}
	// Every node holds it: the one that caught up first (its row is pending
	// from this node, or committed already), then the others, then this
	// node's own row, so that a record is complete here only once it is
	// everywhere.
	others := make([]uint32, 0, len(n.opts.Members)-1)
	others = append(others, cu.Peer)
	for _, i := range n.others() {
		if i != cu.Peer {
			others = append(others, i)
		}
	}
	for _, i := range others {
		_, err := call(ctx, n, i, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.GetContributionAckResponse, error) {
			return c.GetContributionAck(ctx, &cohortv1.GetContributionAckRequest{DatasetId: cu.DatasetID, Nullifier: cu.Nullifier[:]})
		})
		if err != nil {
			n.log.Warn("catch-up: completion not confirmed; retried", "peer", i, "nullifier", nfx, "error", err)
			return false
		}
	}
	err = h.inTx(ctx, func(tx store.Tx) error {
		if err := tx.CompleteContribution(ctx, cu.DatasetID, cu.Nullifier); err != nil {
			return err
		}
		return tx.DeleteCatchUp(ctx, cu.DatasetID, cu.Nullifier, cu.Peer)
	})
	if err != nil {
		n.log.Error("catch-up: complete the record", "error", err)
		return false
	}
	n.metrics.contributions.WithLabelValues("coordinator", "caught_up").Inc()
	n.log.Info("record caught up by a node that was down", "peer", cu.Peer, "nullifier", nfx)
	return true
}

// refusedOnCatchUp rolls back everywhere a record the node that was down
// refused: this node's row and the payload held go, in one transaction
// with a rollback owed to every peer, which sendRollback delivers (an
// Incomplete record is rolled back by its forwarder like a pending one).
func (n *Node) refusedOnCatchUp(ctx context.Context, h *heldRecord, cu store.CatchUp, refusal error) {
	reason := truncate(fmt.Sprintf("node %d refused the record when it caught up: %s", cu.Peer, status.Convert(refusal).Message()), store.MaxRollbackReasonLen)
	now := n.now()
	err := h.inTx(ctx, func(tx store.Tx) error {
		err := tx.RollBackContribution(ctx, cu.DatasetID, cu.Nullifier, n.opts.Index, time.Time{})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.DeleteCatchUp(ctx, cu.DatasetID, cu.Nullifier, cu.Peer); err != nil {
			return err
		}
		for _, p := range n.others() {
			if err := tx.PutRollback(ctx, store.Rollback{DatasetID: cu.DatasetID, Nullifier: cu.Nullifier, Peer: p, Reason: reason, CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Error("catch-up: roll back a refused record", "error", err)
		return
	}
	n.metrics.contributions.WithLabelValues("coordinator", "refused_on_catch_up").Inc()
	n.log.Warn("record refused by a node catching up: rolled back everywhere", "peer", cu.Peer, "nullifier", fmt.Sprintf("%x", cu.Nullifier), "reason", reason)
	n.rollBack(ctx, h, cu.DatasetID, cu.Nullifier, n.others(), reason)
}

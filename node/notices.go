package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// What a job's coordinator owes the other nodes once the job ended
// (docs/design.md §7.5): a job that ended without a release owes every
// node — this one included, for its own record of the round — the abort,
// so that each releases nothing more and refunds its escrow; a released
// job owes every other node its transcript. Each is written as a
// store.JobNotice in the transaction that writes the job's final state,
// sent at once, and sent again every second, across restarts, until the
// node confirms it: a restart of the coordinator loses neither an abort
// (an escrow held for ever) nor a transcript (a released job a node
// cannot serve).

// putJobNotices records, inside tx, what the end of job jobID in st owes:
// the abort to every node, or the transcript to every other node.
func (n *env) putJobNotices(ctx context.Context, tx store.Tx, jobID string, st cohortv1.JobState) error {
	peers := n.others()
	if st != cohortv1.JobState_JOB_STATE_DONE {
		peers = append(peers, n.opts.Index)
	}
	at := n.now()
	for _, p := range peers {
		if err := tx.PutJobNotice(ctx, store.JobNotice{JobID: jobID, Peer: p, State: int32(st), CreatedAt: at}); err != nil {
			return fmt.Errorf("record what job %s owes node %d: %w", jobID, p, err)
		}
	}
	return nil
}

// jobNotices is what putJobNotices recorded for the job, for sending at
// once.
func (n *env) jobNotices(jobID string, st cohortv1.JobState) []store.JobNotice {
	peers := n.others()
	if st != cohortv1.JobState_JOB_STATE_DONE {
		peers = append(peers, n.opts.Index)
	}
	out := make([]store.JobNotice, len(peers))
	for i, p := range peers {
		out[i] = store.JobNotice{JobID: jobID, Peer: p, State: int32(st), CreatedAt: n.now()}
	}
	return out
}

// sendJobNotices sends notices in parallel, with the released
// transcript's signatures when the caller holds them, as a release does,
// for a publish by signatures (nil: they are read from the stored bundle).
func (n *Node) sendJobNotices(ctx context.Context, owed []store.JobNotice, sigs [][]byte) {
	var wg sync.WaitGroup
	for _, jn := range owed {
		wg.Go(func() { n.sendJobNotice(ctx, jn, sigs) })
	}
	wg.Wait()
}

// sendJobNotice sends one notice, with the signatures of a released
// transcript when the caller holds them (nil: read from the stored
// bundle), and forgets it once the node confirmed it, or refused it for
// good. It reports whether the notice is settled.
func (n *Node) sendJobNotice(ctx context.Context, jn store.JobNotice, sigs [][]byte) bool {
	// The retry loop leaves a notice to a send of it under way (the one
	// right after the job ended, say): not settled yet.
	key := noticeKey{jn.JobID, jn.Peer}
	if _, busy := n.sendingNotices.LoadOrStore(key, struct{}{}); busy {
		return false
	}
	defer n.sendingNotices.Delete(key)
	st := cohortv1.JobState(jn.State)
	var err error
	switch {
	case st == cohortv1.JobState_JOB_STATE_DONE:
		// The bundle is read from the store's chunks as it is sent.
		t, gerr := n.store.GetTranscriptInfo(ctx, jn.JobID)
		if gerr != nil {
			n.log.Error("job: read the transcript to publish", "job", jn.JobID, "error", gerr)
			return false
		}
		_, err = call(ctx, n, jn.Peer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.PublishTranscriptResponse, error) {
			return n.publishTranscript(ctx, c, t, sigs)
		})
	case jn.Peer == n.opts.Index:
		err = n.abortPeerJob(ctx, n.opts.Index, jn.JobID, st)
	default:
		_, err = call(ctx, n, jn.Peer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.AbortJobResponse, error) {
			return c.AbortJob(ctx, &cohortv1.AbortJobRequest{JobId: jn.JobID, State: st})
		})
	}
	switch code := status.Code(err); {
	case err == nil:
		if st == cohortv1.JobState_JOB_STATE_DONE {
			n.log.Info("transcript published", "job", jn.JobID, "peer", jn.Peer)
		}
	case code == codes.NotFound && st != cohortv1.JobState_JOB_STATE_DONE:
		// The node has no record of the job: it never prepared it, or a
		// prepare sent before the end has not committed yet. Once the peer
		// timeout has passed since the end, any such prepare ended.
		if n.now().Before(jn.CreatedAt.Add(n.opts.Limits.PeerTimeout + time.Second)) {
			return false
		}
	case code == codes.Unavailable || code == codes.DeadlineExceeded || code == codes.Aborted || code == codes.Canceled ||
		code == codes.ResourceExhausted || code == codes.Internal || code == codes.Unknown:
		return false
	default:
		// The node refuses for good (it did not prepare the job for this
		// node, holds another transcript of it): retrying cannot change
		// its answer.
		n.log.Error("job notice refused", "job", jn.JobID, "peer", jn.Peer, "state", st.String(), "error", status.Convert(err).Message())
	}
	if err := n.store.DeleteJobNotice(ctx, jn.JobID, jn.Peer); err != nil {
		if ctx.Err() == nil {
			n.log.Error("job: forget a confirmed notice", "job", jn.JobID, "error", err)
		}
		return false
	}
	return true
}

// sendJobNoticesOwed sends every notice owed once, skipping for the rest
// of the pass a node that did not confirm one.
func (n *Node) sendJobNoticesOwed(ctx context.Context) {
	owed, err := n.store.ListJobNotices(ctx, store.MaxPageSize)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Error("job notices owed", "error", err)
		}
		return
	}
	down := map[uint32]bool{}
	for _, jn := range owed {
		if down[jn.Peer] || ctx.Err() != nil {
			continue
		}
		if !n.sendJobNotice(ctx, jn, nil) {
			down[jn.Peer] = true
		}
	}
}

// noticeKey names a notice: what a job owes a node.
type noticeKey struct {
	jobID string
	peer  uint32
}

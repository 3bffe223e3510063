package node

import (
	"context"
	"time"

	"sync"

	"github.com/cohort-dev/cohort/circuits"
)

// proofBatcher gathers the proofs of concurrent uploads to one dataset into
// batches for circuits.BatchVerifier (docs/design.md §5.6). The first proof
// of a batch waits at most wait for others; a batch that reaches max goes at
// once. Each batch takes one slot of the node's ingest semaphore while it is
// verified, so batches and share openings together never exceed
// Limits.IngestConcurrency. No goroutine outlives a call: the caller whose
// proof opened a batch verifies it and answers the others.
type proofBatcher struct {
	v    circuits.BatchVerifier
	max  int
	wait time.Duration
	sem  chan struct{}

	mu  sync.Mutex
	cur *proofBatch // open for more proofs, nil if none
}

type proofBatch struct {
	reqs []*proofRequest
	full chan struct{} // closed when reqs reaches max
}

type proofRequest struct {
	st   circuits.Statement
	done chan error // buffered: the verifying caller never blocks on it
}

func newProofBatcher(v circuits.BatchVerifier, l Limits, sem chan struct{}) *proofBatcher {
	return &proofBatcher{v: v, max: l.IngestBatch, wait: l.IngestBatchWait, sem: sem}
}

// verify checks one statement, batched with those of concurrent callers. It
// returns the statement's error from the batch verifier, or the context's
// if ctx ends first (the batch is still verified for the others).
func (b *proofBatcher) verify(ctx context.Context, st circuits.Statement) error {
	if b.max <= 1 {
		select {
		case b.sem <- struct{}{}:
			defer func() { <-b.sem }()
		case <-ctx.Done():
			return ctx.Err()
		}
		return b.v.VerifyBatch([]circuits.Statement{st})[0]
	}
	r := &proofRequest{st: st, done: make(chan error, 1)}
	b.mu.Lock()
	leader := b.cur == nil
	if leader {
		b.cur = &proofBatch{full: make(chan struct{})}
	}
	pb := b.cur
	pb.reqs = append(pb.reqs, r)
	if len(pb.reqs) >= b.max {
		close(pb.full)
		b.cur = nil
	}
	b.mu.Unlock()

	if leader {
		t := time.NewTimer(b.wait)
		select {
		case <-pb.full:
		case <-t.C:
		}
		t.Stop()
		b.mu.Lock()
		if b.cur == pb {
			b.cur = nil
		}
		reqs := pb.reqs
		b.mu.Unlock()
		b.run(reqs)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run verifies a closed batch and answers each of its callers.
func (b *proofBatcher) run(reqs []*proofRequest) {
	stmts := make([]circuits.Statement, len(reqs))
	for i, r := range reqs {
		stmts[i] = r.st
	}
	b.sem <- struct{}{}
	errs := b.v.VerifyBatch(stmts)
	<-b.sem
	for i, r := range reqs {
		r.done <- errs[i]
	}
}

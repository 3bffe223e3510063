package node

import (
	"context"
	"sync"

	"github.com/cohort-dev/cohort/circuits"
)

// proofBatcher verifies the proofs of concurrent uploads to one dataset in
// batches (circuits.BatchVerifier, docs/design.md §5.6), as a database
// commits a group: a proof that arrives while none of the dataset's
// batches is being verified starts one at once, alone; proofs that arrive
// while a batch is verified queue and go together, at most max at a time,
// as soon as it ends. An idle node adds no latency; a busy one adds at most
// the verification of the batch ahead, and verifies its queue at the batch
// rate. Each batch takes one slot of the node's ingest semaphore while it
// is verified, so batches and share openings together never exceed
// Limits.IngestConcurrency. The goroutine that verifies a dataset's
// batches exists only while its queue is not empty.
type proofBatcher struct {
	v   circuits.BatchVerifier
	max int
	sem chan struct{}

	mu      sync.Mutex
	queue   []*proofRequest
	running bool // a goroutine is draining queue
}

type proofRequest struct {
	st   circuits.Statement
	done chan error // buffered: the verifying goroutine never blocks on it
}

func newProofBatcher(v circuits.BatchVerifier, l Limits, sem chan struct{}) *proofBatcher {
	return &proofBatcher{v: v, max: l.IngestBatch, sem: sem}
}

// verify checks one statement, batched with those of concurrent callers. It
// returns the statement's error from the batch verifier, or the context's
// if ctx ends first (the statement is still verified with its batch).
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
	b.queue = append(b.queue, r)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.drain()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain verifies the queue batch by batch until it is empty.
func (b *proofBatcher) drain() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), b.max)
		reqs := b.queue[:n:n]
		b.queue = append([]*proofRequest(nil), b.queue[n:]...)
		b.mu.Unlock()

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
}

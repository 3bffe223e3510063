package node

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cohort-dev/cohort/circuits"
)

// proofBatcher verifies the proofs of concurrent uploads to one dataset in
// batches (circuits.BatchVerifier, docs/design.md §5.6), as a database
// commits a group: a proof that arrives while none of the dataset's
// batches is being verified starts one at once, alone; proofs that arrive
// while a batch is verified queue and go together, at most max at a time,
// as soon as it ends. A batch that follows another waits besides, up to
// linger, for its queue to fill to max: the node is busy, so more proofs
// are on their way, and a larger batch costs less a proof. An idle node
// adds no latency; a busy one adds at most the verification of the batch
// ahead and the linger, and verifies its queue at the batch rate. Each
// batch takes one slot of the node's ingest semaphore while it is
// verified, taken before the batch is cut so that proofs arriving while
// it waits for the slot go with it; batches and share openings together
// never exceed Limits.IngestConcurrency. The goroutine that verifies a
// dataset's batches exists only while its queue is not empty.
type proofBatcher struct {
	v      circuits.BatchVerifier
	max    int
	linger time.Duration
	sem    chan struct{}
	sizes  prometheus.Observer // each batch's size

	mu      sync.Mutex
	queue   []*proofRequest
	running bool          // a goroutine is draining queue
	full    chan struct{} // signalled (without blocking) when queue reaches max
}

type proofRequest struct {
	st   circuits.Statement
	done chan error // buffered: the verifying goroutine never blocks on it
}

func newProofBatcher(v circuits.BatchVerifier, l Limits, sem chan struct{}, sizes prometheus.Observer) *proofBatcher {
	return &proofBatcher{v: v, max: l.IngestBatch, linger: max(l.IngestLinger, 0), sem: sem, sizes: sizes, full: make(chan struct{}, 1)}
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
		b.sizes.Observe(1)
		return b.v.VerifyBatch([]circuits.Statement{st})[0]
	}
	r := &proofRequest{st: st, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	if len(b.queue) >= b.max {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
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
	for first := true; ; first = false {
		if !first {
			b.fill()
		}
		b.sem <- struct{}{}
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.mu.Unlock()
			<-b.sem
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
		b.sizes.Observe(float64(len(stmts)))
		errs := b.v.VerifyBatch(stmts)
		<-b.sem
		for i, r := range reqs {
			r.done <- errs[i]
		}
	}
}

// fill waits, up to the linger, for the queue to hold a full batch; it
// returns at once when the queue is empty (the drain ends) or full.
func (b *proofBatcher) fill() {
	if b.linger <= 0 {
		return
	}
	b.mu.Lock()
	wait := len(b.queue) > 0 && len(b.queue) < b.max
	b.mu.Unlock()
	if !wait {
		return
	}
	t := time.NewTimer(b.linger)
	defer t.Stop()
	for {
		select {
		case <-b.full:
		case <-t.C:
			return
		}
		b.mu.Lock()
		full := len(b.queue) >= b.max
		b.mu.Unlock()
		if full {
			return
		}
	}
}

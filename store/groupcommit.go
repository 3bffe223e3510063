package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxGroup bounds how many write transactions one SQLite commit carries.
const maxGroup = 64

// groupCommitter runs the write transactions of an SQLite store as a
// database commits a group (docs/design.md §7.3, §7.7): a transaction that
// arrives while no commit is under way begins one at once, alone; those
// that arrive meanwhile queue, and the next commit runs them one after the
// other, each under a savepoint of its own, in one SQLite transaction with
// one fsync of the WAL. SQLite has one writer connection, so concurrent
// write transactions ran one after the other anyway; grouped, they run in
// the same order and pay the commit's fsync once.
//
// Each caller sees what it saw alone: its function runs after every
// earlier one in the group and sees their writes, as it would have after
// their commits; a function that fails (or panics) has its writes rolled
// back to its savepoint and changes nothing, without affecting the others;
// and a caller returns only once the commit that holds its writes is
// durable (synchronous=FULL), or with that commit's error. An acknowledged
// write is never in a commit that has not reached the disk.
type groupCommitter struct {
	s *sqlStore

	mu      sync.Mutex
	queue   []*groupTx
	running bool // a goroutine is draining queue
}

type groupTx struct {
	ctx  context.Context
	op   string
	fn   func(tx *sql.Tx) error
	done chan groupResult // buffered: the committing goroutine never blocks on it
}

type groupResult struct {
	err      error
	panicked bool
	panicVal any
}

// run runs fn in a write transaction, grouped with those of concurrent
// callers, and returns once it has committed or failed.
func (g *groupCommitter) run(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	r := &groupTx{ctx: ctx, op: op, fn: fn, done: make(chan groupResult, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	start := !g.running
	g.running = true
	g.mu.Unlock()
	if start {
		go g.drain()
	}
	// The caller waits for the commit even if ctx ends: its function may
	// be running, and what it wrote is settled only by the commit.
	res := <-r.done
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}

// drain commits the queue group by group until it is empty.
func (g *groupCommitter) drain() {
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		n := min(len(g.queue), maxGroup)
		group := g.queue[:n:n]
		g.queue = append([]*groupTx(nil), g.queue[n:]...)
		g.mu.Unlock()
		g.commit(group)
	}
}

// commit runs one group in one transaction.
func (g *groupCommitter) commit(group []*groupTx) {
	results := make([]groupResult, len(group))
	finish := func() {
		for i, r := range group {
			r.done <- results[i]
		}
	}
	failAll := func(err error) {
		for i := range results {
			if results[i].err == nil && !results[i].panicked {
				results[i].err = err
			}
		}
		finish()
	}
	// The transaction is the group's, not one caller's: a caller whose
	// context ends only loses its own part.
	ctx := context.Background()
	// The writer connection is free: the statements first run in earlier
	// transactions are prepared on it now (sqlStore.execInTx).
	g.s.stmts.prepareWanted(ctx)
	tx, err := g.s.w.BeginTx(ctx, g.s.d.txOptions)
	if err != nil {
		failAll(fmt.Errorf("store: %s: begin: %w", group[0].op, err))
		return
	}
	if len(group) == 1 {
		// Alone in its commit, a function needs no savepoint: if it fails,
		// the whole transaction is rolled back.
		if results[0] = runAlone(tx, group[0]); results[0].err != nil || results[0].panicked {
			_ = tx.Rollback()
			finish()
			return
		}
	} else {
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				results[i].err = fmt.Errorf("store: %s: %w", r.op, err)
				continue
			}
			res, broken := g.runSavepoint(tx, r)
			results[i] = res
			if broken != nil {
				// The savepoint could not be rolled back: the transaction is
				// in an unknown state, so none of the group commits.
				_ = tx.Rollback()
				failAll(broken)
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		failAll(fmt.Errorf("store: %s: commit: %w", group[0].op, err))
		return
	}
	g.s.checkpoints.committed()
	finish()
}

// runAlone runs r's function, the only one of its transaction, if r's
// context has not ended.
func runAlone(tx *sql.Tx, r *groupTx) (res groupResult) {
	if err := r.ctx.Err(); err != nil {
		return groupResult{err: fmt.Errorf("store: %s: %w", r.op, err)}
	}
	defer func() {
		if p := recover(); p != nil {
			res = groupResult{panicked: true, panicVal: p}
		}
	}()
	return groupResult{err: r.fn(tx)}
}

// runSavepoint runs r's function under a savepoint of tx. A function that
// fails or panics has its writes rolled back to the savepoint; broken is
// set when that rollback fails.
func (g *groupCommitter) runSavepoint(tx *sql.Tx, r *groupTx) (res groupResult, broken error) {
	ctx := context.Background()
	if _, err := g.s.execInTx(ctx, tx, `SAVEPOINT cohort_group`); err != nil {
		err = fmt.Errorf("store: %s: savepoint: %w", r.op, err)
		return groupResult{err: err}, err
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				res = groupResult{panicked: true, panicVal: p}
			}
		}()
		res.err = r.fn(tx)
	}()
	if res.err != nil || res.panicked {
		if _, err := g.s.execInTx(ctx, tx, `ROLLBACK TO SAVEPOINT cohort_group`); err != nil {
			broken = fmt.Errorf("store: %s: rollback to savepoint: %w", r.op, err)
			res.err = errors.Join(res.err, broken)
			return res, broken
		}
	}
	if _, err := g.s.execInTx(ctx, tx, `RELEASE SAVEPOINT cohort_group`); err != nil {
		broken = fmt.Errorf("store: %s: release savepoint: %w", r.op, err)
		res.err = errors.Join(res.err, broken)
		return res, broken
	}
	return res, nil
}

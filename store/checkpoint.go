package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// WAL checkpoints beside the writer (docs/design.md §7.7). SQLite's
// default copies the WAL back into the database file in the commit that
// grows it past 1,000 pages, on the committing connection: the commit that
// stores a job's bundle (52 MB at 100,000 records) then also copies it and
// syncs the database file before it returns, and every other writer waits
// on the one write connection meanwhile. And that checkpoint is passive:
// it copies nothing past the snapshot of a reader that is reading at that
// moment, and nothing tries again until the next commit. A peer's last
// write of a job is the bundle it stores, so its WAL kept the whole
// bundle until its next job, whose every page read searched it first.
//
// So the writer connection does not checkpoint (wal_autocheckpoint=0),
// and a connection of its own does: a passive checkpoint after commits, at
// most one an interval, and again an interval later for as long as one
// leaves frames behind, until the WAL is copied whole. Durability is
// unchanged: a commit is durable once its WAL frames are synced, as
// before; a checkpoint only moves them into the database file.

// checkpointInterval is the least time between two checkpoints: under a
// stream of commits, one a second, where SQLite's default would run one
// each 1,000 pages of WAL.
const checkpointInterval = time.Second

// walCheckpointer runs an SQLite store's checkpoints on its own connection.
type walCheckpointer struct {
	db       *sql.DB
	interval time.Duration
	wake     chan struct{} // a commit since the last checkpoint; buffered, one
	stop     chan struct{}
	wg       sync.WaitGroup
	closed   sync.Once
	closeErr error
}

// startCheckpointer starts checkpointing through db, a pool of one
// connection to the database, which it closes when it stops. It runs a
// first checkpoint at once, for the writes of the migrations.
func startCheckpointer(db *sql.DB, interval time.Duration) *walCheckpointer {
	c := &walCheckpointer{db: db, interval: interval, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.wake <- struct{}{}
	c.wg.Add(1)
	go c.loop()
	return c
}

// committed tells the checkpointer that a write transaction committed.
// It never blocks.
func (c *walCheckpointer) committed() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *walCheckpointer) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		for complete := false; !complete; {
			complete = c.checkpoint()
			select {
			case <-c.stop:
				return
			case <-time.After(c.interval):
			}
		}
	}
}

// checkpoint runs one passive checkpoint, which copies from the WAL what
// no reader still needs and waits for no one, and reports whether it
// copied the whole WAL. One that fails is tried again like one that
// could not copy everything.
func (c *walCheckpointer) checkpoint() bool {
	var busy, frames, copied int64
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	return err == nil && busy == 0 && copied == frames
}

// close stops the checkpoints and closes their connection; closing again
// does nothing.
func (c *walCheckpointer) close() error {
	if c == nil {
		return nil
	}
	c.closed.Do(func() {
		close(c.stop)
		c.wg.Wait()
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// A job's scan of its epochs (ScanContributions outside a transaction) on
// SQLite runs on connections of its own, driven through SQLite's C API as
// modernc.org/sqlite transpiles it, not through database/sql
// (docs/design.md §7.7). At a million records a scan reads some twelve
// columns of a million rows, and through database/sql each column of each
// row cost the driver a type query and a copy, each under the connection's
// mutex (the driver opens every connection SQLITE_OPEN_FULLMUTEX), and a
// fresh allocation for every byte column: nearly as much CPU as SQLite's
// own execution of the query. A scan connection is opened SQLITE_OPEN_NOMUTEX —
// one goroutine uses it at a time, which the pool below guarantees, as
// database/sql does for its connections — reads each column once, and
// copies byte columns into buffers it reuses from row to row. The query,
// its plan and its snapshot are those of the database/sql path, which
// transactions and PostgreSQL keep.

// sqliteTransient is SQLITE_TRANSIENT: SQLite copies a bound value before
// the bind call returns.
const sqliteTransient = ^uintptr(0)

// scanConns is the pool of scan connections of one SQLite database: at
// most cap(sem) open, each used by one scan at a time.
type scanConns struct {
	path string
	sem  chan struct{} // a token for each connection in use

	mu     sync.Mutex
	idle   []*scanConn
	open   int // connections open, idle or in use
	closed bool
}

func newScanConns(path string, most int) *scanConns {
	return &scanConns{path: path, sem: make(chan struct{}, most)}
}

// get waits for a token, then returns an idle connection or opens one.
func (p *scanConns) get(ctx context.Context) (*scanConn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, errors.New("sqlite: scan on a closed store")
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.open++
	p.mu.Unlock()
	c, err := openScanConn(p.path)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		<-p.sem
		return nil, err
	}
	return c, nil
}

// put gives c back with its token; a connection whose statement could not
// be prepared, or of a closed pool, is closed instead.
func (p *scanConns) put(c *scanConn, broken bool) {
	p.mu.Lock()
	if p.closed || broken {
		p.open--
		p.mu.Unlock()
		c.close()
	} else {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	<-p.sem
}

// close closes the idle connections; one in use is closed when put back.
func (p *scanConns) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.open -= len(idle)
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// scanConn is one scan connection and its prepared statements.
type scanConn struct {
	tls   *libc.TLS
	db    uintptr
	stmts map[string]uintptr
}

// openScanConn opens path with the read pool's pragmas: sqlitePragmas, then
// query_only.
func openScanConn(path string) (*scanConn, error) {
	c := &scanConn{tls: libc.NewTLS(), stmts: map[string]uintptr{}}
	name, err := libc.CString(path)
	if err != nil {
		c.tls.Close()
		return nil, err
	}
	defer libc.Xfree(c.tls, name)
	pdb := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	c.db = *(*uintptr)(unsafe.Add(nil, pdb))
	if rc != sqlite3.SQLITE_OK {
		err := c.errorf("open", rc)
		c.close()
		return nil, err
	}
	for _, pragma := range append(slices.Clone(sqlitePragmas), "query_only(1)") {
		if err := c.exec("PRAGMA " + pragma); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *scanConn) exec(query string) error {
	q, err := libc.CString(query)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, q)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, q, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.errorf(query, rc)
	}
	return nil
}

// prepare returns query prepared on c, preparing it on first use.
func (c *scanConn) prepare(query string) (uintptr, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	q, err := libc.CString(query)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, q)
	pst := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, q, -1, pst, 0); rc != sqlite3.SQLITE_OK {
		return 0, c.errorf("prepare", rc)
	}
	st := *(*uintptr)(unsafe.Add(nil, pst))
	c.stmts[query] = st
	return st, nil
}

// interruptOnDone interrupts c's statement when ctx is done, so that a
// step that runs long before its first row (a range of epochs sorted)
// stops too; the function it returns, called once the statement is reset,
// ends the watch, after which nothing interrupts c. sqlite3_interrupt is
// safe from another goroutine; it is called on a TLS of its own, as
// the driver does.
func (c *scanConn) interruptOnDone(ctx context.Context) func() {
	var (
		mu   sync.Mutex
		done bool
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			tls := libc.NewTLS()
			sqlite3.Xsqlite3_interrupt(tls, c.db)
			tls.Close()
		}
	})
	return func() {
		stop()
		mu.Lock()
		done = true
		mu.Unlock()
	}
}

func (c *scanConn) close() {
	for _, st := range c.stmts {
		sqlite3.Xsqlite3_finalize(c.tls, st)
	}
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	}
	c.tls.Close()
}

// errorf is SQLite's error for rc from what, with the connection's message.
func (c *scanConn) errorf(what string, rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	return fmt.Errorf("sqlite: %s: %s (%d)", what, msg, rc)
}

// bindText binds s to parameter i (1-based) of st, copied by SQLite.
func (c *scanConn) bindText(st uintptr, i int, s string) error {
	p, err := libc.CString(s)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, p)
	if rc := sqlite3.Xsqlite3_bind_text(c.tls, st, int32(i), p, int32(len(s)), sqliteTransient); rc != sqlite3.SQLITE_OK {
		return c.errorf("bind", rc)
	}
	return nil
}

func (c *scanConn) bindInt64(st uintptr, i int, v int64) error {
	if rc := sqlite3.Xsqlite3_bind_int64(c.tls, st, int32(i), v); rc != sqlite3.SQLITE_OK {
		return c.errorf("bind", rc)
	}
	return nil
}

// blob copies column i of st's current row into buf's room, reallocating
// it if too small, and returns the bytes; nil for NULL.
func (c *scanConn) blob(st uintptr, i int, buf *[]byte) []byte {
	p := sqlite3.Xsqlite3_column_blob(c.tls, st, int32(i))
	if p == 0 {
		return nil
	}
	n := int(sqlite3.Xsqlite3_column_bytes(c.tls, st, int32(i)))
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	copy(b, unsafe.Slice((*byte)(unsafe.Add(nil, p)), n))
	return b
}

func (c *scanConn) int64(st uintptr, i int) int64 {
	return sqlite3.Xsqlite3_column_int64(c.tls, st, int32(i))
}

func (c *scanConn) isNull(st uintptr, i int) bool {
	return sqlite3.Xsqlite3_column_type(c.tls, st, int32(i)) == sqlite3.SQLITE_NULL
}

// scanCheckRows is how often, in rows, a scan checks its context.
const scanCheckRows = 1024

// scan runs ScanContributions' query with args ($1: the dataset's id, then
// epochs) on a scan connection and calls fn with each row, decoded as
// database/sql's path decodes it (scannedRow.fill). fn's error is returned
// as it is, the scan's own wrapped as ScanContributions wraps them.
func (p *scanConns) scan(ctx context.Context, query string, args []any, fields ContributionFields, datasetID string,
	fn func(*Contribution) error) error {
	var fnErr error
	err := p.rows(ctx, query, args, fields, datasetID, func(c *Contribution) error {
		fnErr = fn(c)
		return fnErr
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("store: scan contributions: %w", err)
	}
	return err
}

// rows is scan, its errors not wrapped.
func (p *scanConns) rows(ctx context.Context, query string, args []any, fields ContributionFields, datasetID string,
	fn func(*Contribution) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	broken := false
	defer func() { p.put(c, broken) }()
	st, err := c.prepare(query)
	if err != nil {
		broken = true
		return err
	}
	defer func() {
		sqlite3.Xsqlite3_reset(c.tls, st)
		sqlite3.Xsqlite3_clear_bindings(c.tls, st)
	}()
	defer c.interruptOnDone(ctx)()
	for i, a := range args {
		switch v := a.(type) {
		case string:
			err = c.bindText(st, i+1, v)
		case int64:
			err = c.bindInt64(st, i+1, v)
		default:
			err = fmt.Errorf("scan argument %d of type %T", i+1, a)
		}
		if err != nil {
			return err
		}
	}
	var (
		r            scannedRow
		_, valueDest = r.valueColumns(fields)
		bufs         [3][]byte                        // the eligibility columns' bytes
		valueBufs    = make([][]byte, len(valueDest)) // the value columns'
		out          = Contribution{DatasetID: datasetID}
	)
	for n := 0; ; n++ {
		if n%scanCheckRows == scanCheckRows-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		switch rc := sqlite3.Xsqlite3_step(c.tls, st); rc {
		case sqlite3.SQLITE_ROW:
		case sqlite3.SQLITE_DONE:
			return nil
		case sqlite3.SQLITE_INTERRUPT:
			if err := ctx.Err(); err != nil {
				return err
			}
			return c.errorf("step", rc)
		default:
			return c.errorf("step", rc)
		}
		r.nullifier = c.blob(st, 0, &bufs[0])
		r.epoch = c.int64(st, 1)
		r.digest = c.blob(st, 2, &bufs[1])
		r.purposes = c.int64(st, 3)
		r.expiry = c.int64(st, 4)
		r.minCohort = c.int64(st, 5)
		r.revocation = c.blob(st, 6, &bufs[2])
		r.revoked = sql.NullInt64{Int64: c.int64(st, 7), Valid: !c.isNull(st, 7)}
		for k, d := range valueDest {
			*d = c.blob(st, 8+k, &valueBufs[k])
		}
		if err := r.fill(&out); err != nil {
			return err
		}
		if err := fn(&out); err != nil {
			return err
		}
	}
}

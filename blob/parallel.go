package blob

import (
	"io"
	"sync"
)

// ParallelWriter is io.MultiWriter with its writers run at once: a
// transcript is hashed two or three ways (its digest, its blob SHA-256,
// the check of a section copied into it) as it is written to a file, and
// each pass over tens of megabytes is CPU-bound. Run one after another on
// a job's critical path, they leave the machine's other cores idle
// (docs/design.md §7.7).
//
// Each Write hands p to every writer but the first in a goroutine of its
// own, writes it to the first itself and returns once all have: no
// goroutine outlives the call, so there is nothing to close, and p is
// only read. It suits writes of tens of kilobytes (a bufio.Writer's
// flushes); for small writes the goroutines cost more than they save.
// A ParallelWriter is not safe for concurrent use, nor are its writers
// shared with anything writing at the same time.
type ParallelWriter struct {
	ws   []io.Writer
	errs []error
}

// NewParallelWriter returns a writer that writes to every one of ws at
// once.
func NewParallelWriter(ws ...io.Writer) *ParallelWriter {
	return &ParallelWriter{ws: ws, errs: make([]error, len(ws))}
}

// Write writes p to every writer; it returns the error of the first writer
// (in the order given) that failed, io.ErrShortWrite for a writer that
// wrote less than p without saying why.
func (pw *ParallelWriter) Write(p []byte) (int, error) {
	if len(pw.ws) == 0 {
		return len(p), nil
	}
	var wg sync.WaitGroup
	for i, w := range pw.ws[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw.errs[i+1] = writeAll(w, p)
		}()
	}
	pw.errs[0] = writeAll(pw.ws[0], p)
	wg.Wait()
	for _, err := range pw.errs {
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func writeAll(w io.Writer, p []byte) error {
	n, err := w.Write(p)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	return err
}

package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by a Reader's failures; test with errors.Is.
var (
	// ErrTruncated reports an input that ends before a field does.
	ErrTruncated = errors.New("truncated")
	// ErrTooLong reports a length or count above the caller's bound, or a
	// byte string too long for its length prefix when writing.
	ErrTooLong = errors.New("over its bound")
	// ErrTrailing reports bytes left after the last field.
	ErrTrailing = errors.New("trailing bytes")
)

// An Error is a Reader's failure: where it happened, what was being read
// (the Reader's label, if any) and why.
type Error struct {
	Offset int    // bytes consumed before the failing field
	Label  string // the Reader's label and field when it failed, or ""
	Err    error  // a sentinel of this package or the caller's error
	detail string
}

func (e *Error) Error() string {
	msg := e.detail
	if msg == "" {
		msg = e.Err.Error()
	}
	if e.Label != "" {
		return fmt.Sprintf("at byte %d: %s: %s", e.Offset, e.Label, msg)
	}
	return fmt.Sprintf("at byte %d: %s", e.Offset, msg)
}

func (e *Error) Unwrap() error { return e.Err }

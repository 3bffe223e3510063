package schema

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers branch with errors.Is; record errors additionally wrap
// ErrInvalidRecord.
var (
	// ErrInvalidSchema is wrapped by every error of Parse and Validate, and
	// by Load's errors about the file's contents (not its I/O errors).
	ErrInvalidSchema = errors.New("invalid schema")

	// ErrInvalidRecord is wrapped by every error about a record's contents.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrUnknownField: a record names a field the schema does not have.
	ErrUnknownField = fmt.Errorf("%w: unknown field", ErrInvalidRecord)
	// ErrMissingField: a record lacks a field of the schema.
	ErrMissingField = fmt.Errorf("%w: missing field", ErrInvalidRecord)
	// ErrWrongType: a value's kind does not match its field's type.
	ErrWrongType = fmt.Errorf("%w: wrong type", ErrInvalidRecord)
	// ErrOutOfRange: a numeric value lies outside [min, max].
	ErrOutOfRange = fmt.Errorf("%w: out of range", ErrInvalidRecord)
	// ErrTooManyDecimals: a number is not representable at its field's scale.
	ErrTooManyDecimals = fmt.Errorf("%w: too many decimals", ErrInvalidRecord)
	// ErrUnknownCategory: a category value is not among the field's values.
	ErrUnknownCategory = fmt.Errorf("%w: unknown category", ErrInvalidRecord)

	// ErrUnknownPurpose: a purpose name or mask bit is not in the schema.
	ErrUnknownPurpose = errors.New("unknown purpose")
	// ErrDoesNotFit: the largest coordinate sum does not fit the modulus.
	ErrDoesNotFit = errors.New("coordinate sums do not fit the modulus")
	// ErrInvalidSums: Decode was given sums no cohort of valid records yields.
	ErrInvalidSums = errors.New("invalid sums")
)

// FieldError is the error returned for a schema key or a record field that
// is wrong. Its message always names the field (and, for YAML input, the line).
type FieldError struct {
	// Field names what is wrong: a field name ("age"), a top-level key
	// ("min_cohort"), or a position ("fields[3]", "moments[1]").
	Field string
	// Line is the 1-based line of the YAML input, 0 when not known.
	Line int
	// Err is the sentinel this error wraps (ErrInvalidSchema or one of the
	// record sentinels).
	Err error
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string {
	prefix := "schema: "
	if errors.Is(e.Err, ErrInvalidRecord) {
		prefix = "schema: record: "
	}
	if e.Line > 0 {
		prefix += fmt.Sprintf("line %d: ", e.Line)
	}
	return prefix + e.Field + ": " + e.Msg
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

func recordErr(sentinel error, field, format string, args ...any) error {
	return &FieldError{Field: field, Err: sentinel, Msg: fmt.Sprintf(format, args...)}
}

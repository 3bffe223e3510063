package stats

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (or schema.ErrInvalidSums), so callers branch with errors.Is.
var (
	// ErrUnknownField: a field named by the caller is not in the sums.
	ErrUnknownField = errors.New("unknown field")
	// ErrNotNumeric: a statistic of numbers was asked of a category field.
	ErrNotNumeric = errors.New("field is not numeric")
	// ErrNotCategory: a histogram was asked of a numeric field.
	ErrNotCategory = errors.New("field is not a category")
	// ErrNotBinary: the target of a logistic regression is not 0/1 valued.
	ErrNotBinary = errors.New("target is not a bool field")
	// ErrMissingMoment: a product Σ a·b the statistic needs was not
	// collected (a or b is not listed in the schema's moments).
	ErrMissingMoment = errors.New("moment not collected")
	// ErrTooFew: the cohort is too small for the statistic.
	ErrTooFew = errors.New("too few records")
	// ErrZeroVariance: a field the statistic divides by the spread of is
	// constant over the cohort.
	ErrZeroVariance = errors.New("zero variance")
	// ErrSingular: the normal equations of a regression have no unique,
	// numerically stable solution (a constant or collinear feature).
	ErrSingular = errors.New("singular normal equations")
	// ErrInvalidRidge: the ridge penalty is negative, infinite or NaN.
	ErrInvalidRidge = errors.New("invalid ridge penalty")
)

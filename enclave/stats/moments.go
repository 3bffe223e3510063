package stats

import (
	"fmt"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// count returns n, the number of records (0 for nil sums).
func count(s *schema.Sums) *big.Int {
	if s == nil || s.Count == nil {
		return new(big.Int)
	}
	return s.Count
}

// atLeast refuses a cohort of fewer than min records.
func atLeast(s *schema.Sums, min int64, what string) error {
	if n := count(s); n.Cmp(big.NewInt(min)) < 0 {
		return fmt.Errorf("stats: %s: %w: n = %s, need at least %d", what, ErrTooFew, n, min)
	}
	return nil
}

// sum returns Σ field, checking that the field is numeric. The result is
// the sums' own value and must not be modified.
func sum(s *schema.Sums, field string) (*big.Rat, error) {
	if s != nil {
		if r := s.Sum[field]; r != nil {
			return r, nil
		}
		if _, ok := s.Counts[field]; ok {
			return nil, fmt.Errorf("stats: field %q: %w", field, ErrNotNumeric)
		}
	}
	return nil, fmt.Errorf("stats: field %q: %w", field, ErrUnknownField)
}

// cross returns Σ a·b, checking that both fields are numeric and that the
// pair was collected. The result must not be modified.
func cross(s *schema.Sums, a, b string) (*big.Rat, error) {
	if _, err := sum(s, a); err != nil {
		return nil, err
	}
	if _, err := sum(s, b); err != nil {
		return nil, err
	}
	if r, ok := s.CrossOf(a, b); ok && r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("stats: %w: Σ %s·%s (list both fields in moments)", ErrMissingMoment, a, b)
}

// centered returns the exact centered cross-product
//
//	C_ab = Σ (a − ā)(b − b̄) = Σ a·b − (Σ a)(Σ b)/n
//
// (an error wrapping ErrTooFew for n = 0).
func centered(s *schema.Sums, a, b string) (*big.Rat, error) {
	ab, err := cross(s, a, b)
	if err != nil {
		return nil, err
	}
	if err := atLeast(s, 1, "centered moment"); err != nil {
		return nil, err
	}
	sa, _ := sum(s, a) // checked by cross
	sb, _ := sum(s, b)
	c := new(big.Rat).Mul(sa, sb)
	c.Quo(c, new(big.Rat).SetInt(count(s)))
	return c.Sub(ab, c), nil
}

// float returns the float64 nearest to x.
func float(x *big.Rat) float64 {
	f, _ := x.Float64()
	return f
}

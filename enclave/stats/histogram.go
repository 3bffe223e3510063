package stats

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cohort-dev/cohort/schema"
)

// Bucket is the number of records with one value of a category field.
type Bucket struct {
	Value string
	Count uint64
}

// Histogram returns the count of every value of a category field, values
// included when their count is 0, sorted by value (schema.Sums does not keep
// the schema's order of values; a caller that has the schema may reorder).
// The counts add up to n.
func Histogram(s *schema.Sums, field string) ([]Bucket, error) {
	if s == nil {
		return nil, fmt.Errorf("stats: field %q: %w", field, ErrUnknownField)
	}
	counts, ok := s.Counts[field]
	if !ok {
		if _, numeric := s.Sum[field]; numeric {
			return nil, fmt.Errorf("stats: histogram of %q: %w", field, ErrNotCategory)
		}
		return nil, fmt.Errorf("stats: field %q: %w", field, ErrUnknownField)
	}
	out := make([]Bucket, 0, len(counts))
	for v, c := range counts {
		b := Bucket{Value: v}
		switch {
		case c == nil || !c.IsUint64():
			return nil, fmt.Errorf("stats: histogram of %q: %w: count of %q is missing, negative or too large", field, schema.ErrInvalidSums, v)
		default:
			b.Count = c.Uint64()
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Bucket) int { return strings.Compare(a.Value, b.Value) })
	return out, nil
}

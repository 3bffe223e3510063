package schema

import (
	"fmt"
	"math/rand/v2"
)

// Synthetic returns a valid schema "synthetic-<numeric>" with numeric int
// fields f0 … f{numeric−1}, whose spans grow from 100 to 60000 and whose
// minimums vary in sign, the purposes of the demo schema, weekly epochs and
// min_cohort 1; with allMoments every field is a moment. It is meant for
// tests and benchmarks of the layers above, and panics when numeric is
// outside 1..MaxFields (1..MaxMoments with allMoments), as that is a
// programming error.
func Synthetic(numeric int, allMoments bool) *Schema {
	limit := MaxFields
	if allMoments {
		limit = MaxMoments
	}
	if numeric < 1 || numeric > limit {
		panic(fmt.Sprintf("schema: Synthetic(%d, %v): numeric must be in 1..%d", numeric, allMoments, limit))
	}
	s := &Schema{
		ID:        fmt.Sprintf("synthetic-%d", numeric),
		Purposes:  []string{"public-health", "academic-research", "commercial-training"},
		Epoch:     Weekly,
		MinCohort: 1,
		MaxCohort: DefaultMaxCohort,
	}
	for i := range numeric {
		span := int64(100)
		if numeric > 1 {
			span += int64(i) * (60000 - 100) / int64(numeric-1)
		}
		minimum := int64(i%5-2) * 50
		name := fmt.Sprintf("f%d", i)
		s.Fields = append(s.Fields, Field{Name: name, Type: Int, Min: minimum, Max: minimum + span})
		if allMoments {
			s.Moments = append(s.Moments, name)
		}
	}
	return s
}

// RandomRecord returns a record of s with every value drawn uniformly from
// its field's range (or values). It is for synthetic data only — tests,
// benchmarks, demo generators — never for anything secret: math/rand/v2 is
// not a cryptographic generator.
func (s *Schema) RandomRecord(r *rand.Rand) Record {
	rec := make(Record, len(s.Fields))
	for _, f := range s.Fields {
		switch f.Type {
		case Int, Fixed:
			x := f.Min + int64(r.Uint64N(f.span()+1))
			rec[f.Name] = ScaledValue(x, f.Decimals)
		case Bool:
			rec[f.Name] = BoolValue(r.IntN(2) == 1)
		case Category:
			rec[f.Name] = CategoryValue(f.Values[r.IntN(len(f.Values))])
		}
	}
	return rec
}

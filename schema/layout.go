package schema

import (
	"math/bits"
	"strconv"
)

// Layout says what each coordinate of an encoded vector v holds. Coordinate
// 0 is the constant 1; then one coordinate per int, fixed or bool field in
// schema order; then the one-hot block of each category field in schema
// order; then one product per pair i ≤ j of moments, in the order
// (0,0), (0,1), …, (0,n−1), (1,1), …, (n−1,n−1).
type Layout struct {
	Len        int              // len(v)
	Values     []ValueCoord     // one per int/fixed/bool field, schema order
	Categories []CategoryCoords // one per category field, schema order
	Products   []ProductCoord   // one per moment pair i ≤ j
}

// ValueCoord is the coordinate of one int, fixed or bool field. It holds
// x = value·10^Decimals − Offset, an integer in [0, Span].
type ValueCoord struct {
	Index    int
	Field    string
	Type     FieldType
	Offset   int64  // Min in scaled units (0 for bool)
	Span     uint64 // Max−Min in scaled units (1 for bool)
	Bits     int    // bits.Len64(Span): x fits in Bits bits
	Decimals int    // x is in units of 10^-Decimals (0 for int and bool)
}

// CategoryCoords is the one-hot block of a category field: coordinate
// Start+k is 1 when the value is Values[k], else 0.
type CategoryCoords struct {
	Field  string
	Start  int
	Values []string
}

// ProductCoord is the coordinate holding x_A·x_B, the product of the shifted
// values at coordinates A and B (A ≤ B; A = B for a square).
type ProductCoord struct {
	Index          int
	A, B           int // coordinate indices of the factors (ValueCoord.Index)
	FieldA, FieldB string
	Max            uint64 // Span_A·Span_B, the largest value of the coordinate
}

// Layout returns the layout of s's encoded vectors.
func (s *Schema) Layout() Layout {
	l := Layout{Len: 1}
	for _, f := range s.Fields {
		if f.Type.Numeric() {
			span := f.span()
			l.Values = append(l.Values, ValueCoord{
				Index: l.Len, Field: f.Name, Type: f.Type, Offset: f.offset(),
				Span: span, Bits: bits.Len64(span), Decimals: f.Decimals,
			})
			l.Len++
		}
	}
	for _, f := range s.Fields {
		if f.Type == Category {
			l.Categories = append(l.Categories, CategoryCoords{Field: f.Name, Start: l.Len, Values: f.Values})
			l.Len += len(f.Values)
		}
	}
	moments := make([]ValueCoord, 0, len(s.Moments))
	for _, m := range s.Moments {
		if vc, ok := l.value(m); ok {
			moments = append(moments, vc)
		}
	}
	for i, a := range moments {
		for _, b := range moments[i:] {
			l.Products = append(l.Products, ProductCoord{
				Index: l.Len, A: a.Index, B: b.Index, FieldA: a.Field, FieldB: b.Field,
				Max: a.Span * b.Span, // ≤ (2^32−1)^2 < 2^64 by the span rule
			})
			l.Len++
		}
	}
	return l
}

// value returns the value coordinate of a field.
func (l Layout) value(field string) (ValueCoord, bool) {
	for _, vc := range l.Values {
		if vc.Field == field {
			return vc, true
		}
	}
	return ValueCoord{}, false
}

// SumName names what the sum of coordinate i over a cohort is, for
// messages: "count", "sum of age", "sum of region=north", "sum of
// age*steps"; "no such coordinate" outside the layout.
func (l Layout) SumName(i int) string {
	switch n := l.Name(i); {
	case i == 0:
		return "count"
	case n == "":
		return "no such coordinate"
	default:
		return "sum of " + n
	}
}

// Name returns the human name of coordinate i: "1" for the constant, the
// field name for a value, "field=value" for a category indicator and
// "a*b" for a product. It returns "" when i is out of range.
func (l Layout) Name(i int) string {
	switch {
	case i == 0:
		return "1"
	case i < 0 || i >= l.Len:
		return ""
	case i <= len(l.Values):
		return l.Values[i-1].Field
	}
	for _, c := range l.Categories {
		if i >= c.Start && i < c.Start+len(c.Values) {
			return c.Field + "=" + c.Values[i-c.Start]
		}
	}
	if len(l.Products) > 0 {
		if k := i - l.Products[0].Index; k >= 0 && k < len(l.Products) {
			return l.Products[k].FieldA + "*" + l.Products[k].FieldB
		}
	}
	return "#" + strconv.Itoa(i) // not reached for a layout made by Schema.Layout
}

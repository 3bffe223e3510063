package circuits

import (
	"github.com/consensys/gnark/frontend"

	"github.com/cohort-dev/cohort/schema"
)

// assertValid constrains v to be the encoding of a valid record of layout l:
// the leading coordinate is 1; each numeric value x satisfies 0 ≤ x ≤ span
// (two range checks of Bits bits: x and span−x; a bool is 0 or 1); each
// category is one-hot (bits summing to 1); each product coordinate equals the
// product of its two range-checked factors.
func assertValid(api frontend.API, rc frontend.Rangechecker, l schema.Layout, v []frontend.Variable) {
	api.AssertIsEqual(v[0], 1)
	for _, c := range l.Values {
		x := v[c.Index]
		if c.Type == schema.Bool {
			api.AssertIsBoolean(x)
			continue
		}
		rc.Check(x, c.Bits)
		rc.Check(api.Sub(c.Span, x), c.Bits)
	}
	for _, cat := range l.Categories {
		var sum frontend.Variable = 0
		for i := range cat.Values {
			b := v[cat.Start+i]
			api.AssertIsBoolean(b)
			sum = api.Add(sum, b)
		}
		api.AssertIsEqual(sum, 1)
	}
	for _, p := range l.Products {
		api.AssertIsEqual(v[p.Index], api.Mul(v[p.A], v[p.B]))
	}
}

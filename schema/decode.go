package schema

import (
	"fmt"
	"math/big"
)

// Sums are the sufficient statistics of a cohort in original units, decoded
// exactly from the coordinate-wise sum of its encoded vectors.
//
// Sums from Decode hold every entry the layout defines. Sums from
// DecodePartial hold only those whose coordinates were reconstructed: a
// field, pair or category whose coordinates were not is absent from its map,
// never present with a made-up value.
type Sums struct {
	// Count is the number of records n (coordinate 0).
	Count *big.Int
	// Sum maps each int, fixed and bool field to Σ value (bool: the number
	// of true values).
	Sum map[string]*big.Rat
	// Cross maps each moment pair {a, b}, a ≤ b in moments order, to Σ a·b;
	// {a, a} holds Σ a². CrossOf looks pairs up in either order.
	Cross map[[2]string]*big.Rat
	// Counts maps each category field and value to the number of records
	// with that value.
	Counts map[string]map[string]*big.Int
}

// CrossOf returns Σ a·b for a moment pair given in either order.
func (s *Sums) CrossOf(a, b string) (*big.Rat, bool) {
	if r, ok := s.Cross[[2]string{a, b}]; ok {
		return r, true
	}
	r, ok := s.Cross[[2]string{b, a}]
	return r, ok
}

// Decode turns the coordinate-wise sum S = Σ v over a cohort (len(S) must be
// l.Len) into sums in original units, exactly. With n = S[0], for a value
// coordinate x of a field with offset o and d decimals,
//
//	Σ value = (S[x] + n·o) / 10^d,
//
// and for a product coordinate of fields a, b (offsets o_a, o_b, decimals
// d_a, d_b, value coordinates A, B),
//
//	Σ a·b = (S[a*b] + o_b·S[A] + o_a·S[B] + n·o_a·o_b) / 10^(d_a+d_b).
//
// Decode refuses, with an error wrapping ErrInvalidSums, sums that no
// cohort of valid records produces: a nil or negative coordinate, a
// coordinate above n times its bound, or a category whose counts do not add
// up to n. The inputs are not retained or modified.
func (l Layout) Decode(S []*big.Int) (*Sums, error) {
	return l.decode(S, false, true)
}

// DecodePartial is Decode for a sum of which only some coordinates were
// reconstructed: S still has l.Len entries, and S[i] == nil means that
// coordinate i is unknown. The count S[0] must be present. A value
// coordinate that is absent leaves its field out of Sum; a category block
// must be wholly present (its counts then add up to n) or wholly absent
// (the field is left out of Counts); a product that is absent is left out
// of Cross, and a product that is present needs both its factors' value
// coordinates, without which it cannot be decoded. Whatever is present is
// checked as by Decode. Every refusal wraps ErrInvalidSums. With every
// coordinate present, DecodePartial equals Decode.
func (l Layout) DecodePartial(S []*big.Int) (*Sums, error) {
	return l.decode(S, true, true)
}

// DecodeNoisy is DecodePartial for sums released with noise on every
// coordinate but the count: the same formulas, applied to sums that need
// not come from any cohort. A coordinate may be negative or above n times
// its bound, and a category's counts need not add up to n; those values
// are decoded as they are (a negative count stays negative). Only the
// shape is checked: S has l.Len entries, the count is present and not
// negative, a category block is wholly present or wholly absent, and a
// present product has its factors. The caller post-processes the result
// (package enclave clamps and projects it, docs/design.md §6.7).
func (l Layout) DecodeNoisy(S []*big.Int) (*Sums, error) {
	return l.decode(S, true, false)
}

// decode implements Decode (partial false: every coordinate must be
// present), DecodePartial (partial true: nil marks an unknown coordinate)
// and DecodeNoisy (checked false: no value is checked against a cohort).
func (l Layout) decode(S []*big.Int, partial, checked bool) (*Sums, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("schema: decode: %w: %s", ErrInvalidSums, fmt.Sprintf(format, args...))
	}
	if len(S) != l.Len || l.Len < 1 {
		return nil, bad("got %d coordinates, want %d", len(S), l.Len)
	}
	for i, x := range S {
		switch {
		case x == nil && (!partial || i == 0):
			return nil, bad("coordinate %d (%s) is missing", i, l.Name(i))
		case x != nil && x.Sign() < 0 && (checked || i == 0):
			return nil, bad("coordinate %d (%s) is negative", i, l.Name(i))
		}
	}
	n := S[0]
	inRange := func(i int) bool { return i >= 1 && i < l.Len }
	atMost := func(i int, bound uint64) error {
		if !checked {
			return nil
		}
		limit := new(big.Int).Mul(n, new(big.Int).SetUint64(bound))
		if S[i].Cmp(limit) > 0 {
			return bad("coordinate %d (%s) = %s exceeds count %s × bound %d", i, l.Name(i), S[i], n, bound)
		}
		return nil
	}

	out := &Sums{
		Count:  new(big.Int).Set(n),
		Sum:    make(map[string]*big.Rat, len(l.Values)),
		Cross:  make(map[[2]string]*big.Rat, len(l.Products)),
		Counts: make(map[string]map[string]*big.Int, len(l.Categories)),
	}
	values := make(map[int]ValueCoord, len(l.Values))
	for _, vc := range l.Values {
		if !inRange(vc.Index) || vc.Decimals < 0 || vc.Decimals > MaxDecimals {
			return nil, bad("layout: value coordinate %d of %q is malformed", vc.Index, vc.Field)
		}
		values[vc.Index] = vc
		if S[vc.Index] == nil {
			continue
		}
		if err := atMost(vc.Index, vc.Span); err != nil {
			return nil, err
		}
		sum := new(big.Int).Mul(n, big.NewInt(vc.Offset))
		sum.Add(sum, S[vc.Index])
		out.Sum[vc.Field] = new(big.Rat).SetFrac(sum, pow10(vc.Decimals))
	}
	for _, c := range l.Categories {
		if c.Start < 1 || c.Start+len(c.Values) > l.Len {
			return nil, bad("layout: category %q out of range", c.Field)
		}
		present := 0
		for k := range c.Values {
			if S[c.Start+k] != nil {
				present++
			}
		}
		switch present {
		case 0:
			continue
		case len(c.Values):
		default:
			return nil, bad("only %d of the %d counts of category %q are present", present, len(c.Values), c.Field)
		}
		total := new(big.Int)
		counts := make(map[string]*big.Int, len(c.Values))
		for k, v := range c.Values {
			x := S[c.Start+k]
			total.Add(total, x)
			counts[v] = new(big.Int).Set(x)
		}
		if checked && total.Cmp(n) != 0 {
			return nil, bad("counts of category %q add up to %s, not the count %s", c.Field, total, n)
		}
		out.Counts[c.Field] = counts
	}
	for _, p := range l.Products {
		a, okA := values[p.A]
		b, okB := values[p.B]
		if !inRange(p.Index) || !okA || !okB {
			return nil, bad("layout: product coordinate %d out of range", p.Index)
		}
		if S[p.Index] == nil {
			continue
		}
		if S[p.A] == nil || S[p.B] == nil {
			return nil, bad("coordinate %d (%s) is present without its factors' coordinates %d and %d", p.Index, l.Name(p.Index), p.A, p.B)
		}
		if err := atMost(p.Index, p.Max); err != nil {
			return nil, err
		}
		oa, ob := big.NewInt(a.Offset), big.NewInt(b.Offset)
		sum := new(big.Int).Set(S[p.Index])
		sum.Add(sum, new(big.Int).Mul(ob, S[p.A]))
		sum.Add(sum, new(big.Int).Mul(oa, S[p.B]))
		sum.Add(sum, new(big.Int).Mul(n, new(big.Int).Mul(oa, ob)))
		out.Cross[[2]string{p.FieldA, p.FieldB}] = new(big.Rat).SetFrac(sum, pow10(a.Decimals+b.Decimals))
	}
	return out, nil
}

func pow10(d int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)
}

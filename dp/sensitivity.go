package dp

import (
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/cohort-dev/cohort/schema"
)

// ErrCoordinates: released coordinates that are not a set of coordinates
// of the layout, or a layout that does not bound them.
var ErrCoordinates = errors.New("dp: invalid coordinates")

// Unit is a group of released coordinates whose change, when one
// person's records change, is bounded as one: a single coordinate, or the
// released part of one category's one-hot block.
type Unit struct {
	// Coords are the unit's coordinates (indices of the encoded vector),
	// increasing.
	Coords []int
	// Bound is the largest squared L2 norm of the unit's change when one
	// record changes: max_c² for a single coordinate c (Span² for a value,
	// (Span_a·Span_b)² for a product); for a category block, 2 when two or
	// more of its indicators are released (one indicator turns off,
	// another on) and 1 when one is.
	Bound *big.Int
}

// Units groups the released coordinates coords of records encoded by l
// into units (docs/design.md §1.3, §6.6): each value and each product
// alone, each category's released indicators together, in the order of
// their first coordinate. It refuses, with ErrCoordinates, an empty set, a
// repeated coordinate, one outside the layout, a layout that gives a
// coordinate no bound or a bound of 0, and the count (coordinate 0): the
// cohort's membership is public (a transcript lists the nullifiers it
// counted), so its size is released exactly and has no sensitivity to one
// person's values.
func Units(l schema.Layout, coords []int) ([]Unit, error) {
	if len(coords) == 0 {
		return nil, fmt.Errorf("%w: no coordinates", ErrCoordinates)
	}
	sorted := slices.Clone(coords)
	slices.Sort(sorted)
	for i, c := range sorted {
		if c < 0 || c >= l.Len {
			return nil, fmt.Errorf("%w: coordinate %d is outside the layout's %d", ErrCoordinates, c, l.Len)
		}
		if i > 0 && sorted[i-1] == c {
			return nil, fmt.Errorf("%w: coordinate %d is repeated", ErrCoordinates, c)
		}
	}
	single := func(c int, max uint64) (Unit, error) {
		if max == 0 {
			return Unit{}, fmt.Errorf("%w: coordinate %d (%s) has bound 0", ErrCoordinates, c, l.Name(c))
		}
		b := new(big.Int).SetUint64(max)
		return Unit{Coords: []int{c}, Bound: b.Mul(b, b)}, nil
	}
	var units []Unit
	block := map[string]int{} // category field → its unit's index
	for _, c := range sorted {
		var (
			u   Unit
			err error
			cat string
		)
		switch {
		case c == 0:
			err = fmt.Errorf("%w: the count (coordinate 0) is public and takes no noise", ErrCoordinates)
		case c <= len(l.Values) && l.Values[c-1].Index == c:
			u, err = single(c, l.Values[c-1].Span)
		default:
			for _, cc := range l.Categories {
				if c >= cc.Start && c < cc.Start+len(cc.Values) {
					cat = cc.Field
				}
			}
			if cat != "" {
				break
			}
			err = fmt.Errorf("%w: coordinate %d has no bound in the layout", ErrCoordinates, c)
			for _, p := range l.Products {
				if p.Index == c {
					u, err = single(c, p.Max)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if cat != "" {
			if k, ok := block[cat]; ok {
				units[k].Coords = append(units[k].Coords, c)
				units[k].Bound = big.NewInt(2)
				continue
			}
			block[cat] = len(units)
			u = Unit{Coords: []int{c}, Bound: big.NewInt(1)}
		}
		units = append(units, u)
	}
	return units, nil
}

// SquaredSensitivity returns Δ², the largest squared L2 distance between
// the released sums (at coords) of two cohorts that differ in one person's
// records, over a job of epochs epochs in which a person has at most one
// record per epoch: Δ² = epochs² · Σ_units Bound. Neighbouring cohorts
// have the same members (membership is public, see Units) and differ in
// the values of one person's records (docs/design.md §6.6). A person's
// records change a single coordinate c by at most epochs·max_c; in a
// category block each of them moves one count from one value to another,
// a change d with Σ|d_k| ≤ 2·epochs and so Σ d_k² ≤ 2·epochs². It refuses
// epochs = 0 with ErrSensitivity and bad coordinates as Units does.
func SquaredSensitivity(l schema.Layout, coords []int, epochs uint64) (*big.Int, error) {
	units, err := Units(l, coords)
	if err != nil {
		return nil, err
	}
	e2, err := epochsSquared(epochs)
	if err != nil {
		return nil, err
	}
	sum := new(big.Int)
	for _, u := range units {
		sum.Add(sum, u.Bound)
	}
	return sum.Mul(sum, e2), nil
}

func epochsSquared(epochs uint64) (*big.Int, error) {
	if epochs == 0 {
		return nil, fmt.Errorf("%w: a job spans at least one epoch", ErrSensitivity)
	}
	e := new(big.Int).SetUint64(epochs)
	return e.Mul(e, e), nil
}

package backend

import (
	"fmt"

	"github.com/cohort-dev/cohort/schema"
)

// The audit's way of naming things in messages, for the backends' checks.

// coordinateName names a coordinate of the encoded vector.
func coordinateName(l schema.Layout, c int) string {
	switch n := l.Name(c); {
	case c == 0:
		return "count"
	case n == "":
		return "no such coordinate"
	default:
		return "sum of " + n
	}
}

// plural says "1 problem", "3 problems".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// prefix returns the first 4 bytes of b (fewer if it is shorter), to show
// a digest.
func prefix(b []byte) []byte { return b[:min(len(b), 4)] }

// firstDifference returns the index of the first byte where a and b differ.
func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// releasedCoordinates returns the released sums' coordinates, as the
// nodes sign them and as package he takes them.
func releasedCoordinates(sums []AuditSum) ([]uint32, []int) {
	cs, is := make([]uint32, len(sums)), make([]int, len(sums))
	for i, s := range sums {
		cs[i], is[i] = s.Coordinate, int(s.Coordinate)
	}
	return cs, is
}

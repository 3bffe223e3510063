package backend

import (
	"fmt"
)

// The audit's way of naming things in messages, for the backends' checks.

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

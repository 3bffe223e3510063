package dp

import (
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/cohort-dev/cohort/schema"
)

const smallSchema = `
id: dp-small
fields:
  - {name: age,    type: int, min: 18, max: 100}
  - {name: hours,  type: fixed, min: 0, max: 16, decimals: 1}
  - {name: smoker, type: bool}
  - {name: region, type: category, values: [north, south, east]}
moments: [age, hours]
purposes: [research]
epoch: weekly
min_cohort: 2
`

// smallLayout: 0 count; 1 age (span 82); 2 hours (span 160); 3 smoker
// (span 1); 4–6 region; 7 age*age (82²), 8 age*hours (82·160), 9
// hours*hours (160²).
func smallLayout(t *testing.T) schema.Layout {
	t.Helper()
	s, err := schema.Parse([]byte(smallSchema))
	if err != nil {
		t.Fatal(err)
	}
	l := s.Layout()
	if l.Len != 10 || l.Name(8) != "age*hours" || l.Name(5) != "region=south" {
		t.Fatalf("unexpected layout of %d coordinates", l.Len)
	}
	return l
}

func TestSquaredSensitivity(t *testing.T) {
	l := smallLayout(t)
	for _, c := range []struct {
		coords []int
		epochs uint64
		want   int64
	}{
		{[]int{1}, 1, 82 * 82},
		{[]int{1}, 4, 16 * 82 * 82},
		{[]int{2, 1}, 3, 9 * (160*160 + 82*82)},
		{[]int{3}, 2, 4 * 1},
		{[]int{4, 5, 6}, 1, 2},     // a block counts once: one value off, one on
		{[]int{5, 6}, 2, 4 * 2},    // part of a block too
		{[]int{5}, 2, 4 * 1},       // one indicator alone moves by one per epoch
		{[]int{3, 4, 6}, 1, 1 + 2}, // a bool and a block
		{[]int{1, 2, 7, 8, 9}, 1, 82*82 + 160*160 + 82*82*82*82 + 82*160*82*160 + 160*160*160*160},
	} {
		got, err := SquaredSensitivity(l, c.coords, c.epochs)
		if err != nil {
			t.Fatalf("%v over %d epochs: %v", c.coords, c.epochs, err)
		}
		if got.Cmp(big.NewInt(c.want)) != 0 {
			t.Errorf("Δ²(%v, %d epochs) = %s, want %d", c.coords, c.epochs, got, c.want)
		}
	}
	// Without categories, Δ² = e²·Σ max_c² against schema.Bounds.
	b := func() schema.Bounds { s, _ := schema.Parse([]byte(smallSchema)); return s.Bounds() }()
	coords := []int{1, 2, 3, 7, 8, 9}
	want := new(big.Int)
	for _, c := range coords {
		m := new(big.Int).SetUint64(b.CoordMax[c])
		want.Add(want, m.Mul(m, m))
	}
	want.Mul(want, big.NewInt(25))
	if got, err := SquaredSensitivity(l, coords, 5); err != nil || got.Cmp(want) != 0 {
		t.Errorf("Δ² = %v, %v, want 25·Σ max_c² = %s", got, err, want)
	}

	for _, c := range []struct {
		coords []int
		err    error
	}{
		{nil, ErrCoordinates},
		{[]int{0}, ErrCoordinates}, // the count is public
		{[]int{1, 0}, ErrCoordinates},
		{[]int{1, 1}, ErrCoordinates},
		{[]int{-1}, ErrCoordinates},
		{[]int{10}, ErrCoordinates},
	} {
		if _, err := SquaredSensitivity(l, c.coords, 1); !errors.Is(err, c.err) {
			t.Errorf("%v: %v, want %v", c.coords, err, c.err)
		}
	}
	if _, err := SquaredSensitivity(l, []int{1}, 0); !errors.Is(err, ErrSensitivity) {
		t.Errorf("0 epochs: %v, want ErrSensitivity", err)
	}
	broken := l
	broken.Products = slices.Clone(l.Products)
	broken.Products[0].Max = 0
	if _, err := SquaredSensitivity(broken, []int{7}, 1); !errors.Is(err, ErrCoordinates) {
		t.Errorf("a bound of 0: %v, want ErrCoordinates", err)
	}
	broken.Products = nil
	if _, err := SquaredSensitivity(broken, []int{7}, 1); !errors.Is(err, ErrCoordinates) {
		t.Errorf("a coordinate without a bound: %v, want ErrCoordinates", err)
	}
}

func TestUnits(t *testing.T) {
	l := smallLayout(t)
	units, err := Units(l, []int{8, 6, 5, 4, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []Unit{
		{Coords: []int{1}, Bound: big.NewInt(82 * 82)},
		{Coords: []int{4, 5, 6}, Bound: big.NewInt(2)},
		{Coords: []int{8}, Bound: big.NewInt(82 * 160 * 82 * 160)},
	}
	if len(units) != len(want) {
		t.Fatalf("%d units, want %d", len(units), len(want))
	}
	for i := range want {
		if !slices.Equal(units[i].Coords, want[i].Coords) || units[i].Bound.Cmp(want[i].Bound) != 0 {
			t.Errorf("unit %d = %v %s, want %v %s", i, units[i].Coords, units[i].Bound, want[i].Coords, want[i].Bound)
		}
	}
}

func TestCalibrate(t *testing.T) {
	l := smallLayout(t)
	coords := []int{1, 4, 5, 6, 7} // age, region, age*age: 3 units
	rho := mustRho(t, "1/2")
	eq, err := Calibrate(l, coords, 3, rho, EqualShares)
	if err != nil {
		t.Fatal(err)
	}
	// σ² = u·e²·B/(2ρ) = 3·9·B: B = 82² for age, 2 for the region block.
	for i, want := range []int64{27 * 82 * 82, 54, 54, 54, 27 * 82 * 82 * 82 * 82} {
		if eq[i].Rat().Cmp(big.NewRat(want, 1)) != 0 {
			t.Errorf("EqualShares: coordinate %d gets σ² = %s, want %d", coords[i], eq[i], want)
		}
	}
	one, err := Calibrate(l, coords, 3, rho, OneVariance)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := SquaredSensitivity(l, coords, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range one {
		if v.Rat().Cmp(new(big.Rat).SetInt(d2)) != 0 { // Δ²/(2·1/2)
			t.Errorf("OneVariance: coordinate %d gets σ² = %s, want %s", coords[i], v, d2)
		}
	}
	for _, vs := range [][]Variance{eq, one} {
		got, err := LossOf(l, coords, 3, vs)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cmp(rho) != 0 {
			t.Errorf("LossOf(Calibrate(ρ = %s)) = %s", rho, got)
		}
	}
	// A block pays for its least noisy indicator.
	uneven := slices.Clone(eq)
	uneven[2] = mustVariance(t, 27, 1) // region=south: 54 → 27
	got, err := LossOf(l, coords, 3, uneven)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustRho(t, "1/2").Add(mustRho(t, "1/6")); got.Cmp(want) != 0 { // 9·2/(2·27) − 9·2/(2·54) more
		t.Errorf("LossOf with a less noisy indicator = %s, want %s", got, want)
	}

	if _, err := Calibrate(l, coords, 3, Rho{}, EqualShares); !errors.Is(err, ErrRho) {
		t.Errorf("ρ = 0: %v, want ErrRho", err)
	}
	for _, a := range []Allocation{0, 3} {
		if _, err := Calibrate(l, coords, 3, rho, a); !errors.Is(err, ErrAllocation) {
			t.Errorf("allocation %v: %v, want ErrAllocation", a, err)
		}
	}
	if _, err := Calibrate(l, []int{1, 1}, 3, rho, EqualShares); !errors.Is(err, ErrCoordinates) {
		t.Errorf("repeated coordinate: %v, want ErrCoordinates", err)
	}
	if _, err := Calibrate(l, coords, 0, rho, EqualShares); !errors.Is(err, ErrSensitivity) {
		t.Errorf("0 epochs: %v, want ErrSensitivity", err)
	}
	if _, err := LossOf(l, coords, 3, eq[:2]); !errors.Is(err, ErrCoordinates) {
		t.Errorf("too few variances: %v, want ErrCoordinates", err)
	}
	uneven[0] = Variance{}
	if _, err := LossOf(l, coords, 3, uneven); !errors.Is(err, ErrParameter) {
		t.Errorf("a zero variance: %v, want ErrParameter", err)
	}
	if EqualShares.String() != "equal-shares" || OneVariance.String() != "one-variance" || Allocation(0).String() != "Allocation(0)" {
		t.Error("Allocation names")
	}
}

func TestNodeVariance(t *testing.T) {
	v := mustVariance(t, 50, 3)
	got, err := NodeVariance(v, 1)
	if err != nil || got.Rat().Cmp(v.Rat()) != 0 {
		t.Fatalf("NodeVariance(h = 1) = %v, %v, want the full variance", got, err)
	}
	for _, h := range []int{0, -1, 2, 5} {
		if _, err := NodeVariance(v, h); !errors.Is(err, ErrHonestNodes) {
			t.Errorf("NodeVariance(h = %d) = %v, want ErrHonestNodes", h, err)
		}
	}
	if _, err := NodeVariance(Variance{}, 1); !errors.Is(err, ErrParameter) {
		t.Errorf("NodeVariance(zero) = %v, want ErrParameter", err)
	}
}

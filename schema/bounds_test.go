package schema

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestBoundsDefault(t *testing.T) {
	b := Default().Bounds()
	if b.MaxCoord != 60000*60000 || b.MaxCoordBits != 32 {
		t.Errorf("MaxCoord = %d (%d bits), want 3.6e9 (32 bits)", b.MaxCoord, b.MaxCoordBits)
	}
	if len(b.CoordMax) != 25 || b.CoordMax[0] != 1 || b.CoordMax[1] != 82 || b.CoordMax[8] != 1 || b.CoordMax[11] != 82*60000 || b.CoordMax[24] != 1 {
		t.Errorf("CoordMax = %v", b.CoordMax)
	}
	if got := b.SumBits(1_000_000); got != 52 { // 3.6e15 < 2^52
		t.Errorf("SumBits(1e6) = %d, want 52", got)
	}
}

func TestSumBits(t *testing.T) {
	for _, tc := range []struct {
		maxCoord, n uint64
	}{
		{1, 1}, {3600000000, 1_000_000}, {MaxSpan * MaxSpan, 1 << 40}, {MaxSpan * MaxSpan, ^uint64(0)}, {7, 0},
	} {
		want := new(big.Int).Mul(new(big.Int).SetUint64(tc.maxCoord), new(big.Int).SetUint64(tc.n)).BitLen()
		if got := (Bounds{MaxCoord: tc.maxCoord}).SumBits(tc.n); got != want {
			t.Errorf("SumBits(%d) with max %d = %d, want %d", tc.n, tc.maxCoord, got, want)
		}
	}
}

func TestCheckFits(t *testing.T) {
	s := Default()
	const n = 1000
	largest := new(big.Int).SetUint64(n * 60000 * 60000) // n · MaxCoord
	twice := new(big.Int).Lsh(largest, 1)
	tests := []struct {
		name    string
		modulus *big.Int
		fits    bool
	}{
		{"modulus = 2·largest", twice, false},
		{"modulus = 2·largest − 1", new(big.Int).Sub(twice, big.NewInt(1)), false},
		{"modulus = 2·largest + 1", new(big.Int).Add(twice, big.NewInt(1)), true},
		{"BGV t = 65537", big.NewInt(65537), false},
		{"BN254 r", bn254R(), true},
	}
	for _, tc := range tests {
		err := s.CheckFits(n, tc.modulus)
		if tc.fits && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.fits && !errors.Is(err, ErrDoesNotFit) {
			t.Errorf("%s: error = %v, want ErrDoesNotFit", tc.name, err)
		}
	}
	err := s.CheckFits(n, twice)
	if err == nil || !strings.Contains(err.Error(), `"steps*steps"`) || !strings.Contains(err.Error(), "fitness-2026") {
		t.Errorf("error %q does not name the dataset and the largest coordinate", err)
	}

	// A plaintext modulus of 2^40 fits at most 152 records of the demo schema:
	// 152·3.6e9 < 2^39 ≤ 153·3.6e9.
	t40 := new(big.Int).Lsh(big.NewInt(1), 40)
	if err := s.CheckFits(152, t40); err != nil {
		t.Errorf("152 records: %v", err)
	}
	if err := s.CheckFits(153, t40); !errors.Is(err, ErrDoesNotFit) {
		t.Errorf("153 records: %v", err)
	}

	for _, bad := range []struct {
		n uint64
		m *big.Int
	}{{0, bn254R()}, {1, nil}, {1, big.NewInt(1)}, {1, big.NewInt(-7)}} {
		if err := s.CheckFits(bad.n, bad.m); err == nil || errors.Is(err, ErrDoesNotFit) {
			t.Errorf("CheckFits(%d, %v) = %v, want an argument error", bad.n, bad.m, err)
		}
	}
}

func bn254R() *big.Int {
	r, _ := new(big.Int).SetString("21888242871839275222246405745257275088548364400416034343698204186575808495617", 10)
	return r
}

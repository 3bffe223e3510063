package he

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

func TestSmudgingValidate(t *testing.T) {
	for _, tc := range []struct {
		bits int
		ok   bool
	}{{0, false}, {19, false}, {20, true}, {40, true}, {80, true}, {81, false}, {-40, false}} {
		err := Smudging{StatisticalBits: tc.bits}.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("Smudging{%d}.Validate() = %v", tc.bits, err)
		}
	}
}

func TestCheck(t *testing.T) {
	sm40 := Smudging{StatisticalBits: 40}
	cases := []struct {
		name   string
		id     ParamSetID
		c      Capacity
		want   error
		record int // expected RecordNoiseBits when it fits
	}{
		// B_rec = 4096·3·19 + 32 + 32·4096·3 = 626720: 20 bits.
		{"n12 small cohort", BGVN12Q109, Capacity{3, 2, 100, 1, sm40}, nil, 20},
		{"n12 cohort 1e4 at 40 bits", BGVN12Q109, Capacity{3, 2, 10_000, 1, sm40}, ErrDoesNotFit, 0},
		{"n12 cohort 1e4 at 30 bits", BGVN12Q109, Capacity{3, 2, 10_000, 1, Smudging{30}}, nil, 20},
		{"n12 sum reaches t/2", BGVN12Q109, Capacity{3, 2, 1 << 20, 1 << 19, Smudging{20}}, ErrDoesNotFit, 0},
		{"n12 sum just below t/2", BGVN12Q109, Capacity{3, 2, 1, (0xfffffdc001 - 1) / 2, Smudging{20}}, nil, 20},
		{"n12 sum at t/2", BGVN12Q109, Capacity{3, 2, 1, (0xfffffdc001-1)/2 + 1, Smudging{20}}, ErrDoesNotFit, 0},
		// B_rec = 8192·3·51 + 32 = 1253408: 21 bits.
		{"n13 cohort 1e6", BGVN13Q218, Capacity{3, 2, 1_000_000, 1 << 20, Smudging{80}}, nil, 21},
		{"n13 16 nodes", BGVN13Q218, Capacity{16, 9, 1_000_000, 1 << 20, sm40}, nil, 23},
		// The demo schema's largest coordinate, steps² = 60,000².
		{"q132 demo schema 1e4", BGVN13Q132, Capacity{3, 2, 10_000, 3_600_000_000, sm40}, nil, 21},
		{"q132 demo schema 4e4: sum reaches t/2", BGVN13Q132, Capacity{3, 2, 40_000, 3_600_000_000, sm40}, ErrDoesNotFit, 0},
		{"q132 cohort 1e6 at 40 bits", BGVN13Q132, Capacity{3, 2, 1_000_000, 1, sm40}, nil, 21},
		{"q132 cohort 1e6 at 80 bits: noise", BGVN13Q132, Capacity{3, 2, 1_000_000, 1, Smudging{80}}, ErrDoesNotFit, 0},
		{"n13 sum too large", BGVN13Q218, Capacity{3, 2, 1 << 40, 1 << 20, sm40}, ErrDoesNotFit, 0},
		{"no smudging", BGVN12Q109, Capacity{3, 2, 100, 1, Smudging{}}, ErrInvalidArgument, 0},
		{"one node", BGVN12Q109, Capacity{1, 1, 100, 1, sm40}, ErrInvalidArgument, 0},
		{"threshold above nodes", BGVN12Q109, Capacity{3, 4, 100, 1, sm40}, ErrInvalidArgument, 0},
		{"17 nodes", BGVN12Q109, Capacity{17, 2, 100, 1, sm40}, ErrInvalidArgument, 0},
		{"empty cohort", BGVN12Q109, Capacity{3, 2, 0, 1, sm40}, ErrInvalidArgument, 0},
		{"zero coordinate bound", BGVN12Q109, Capacity{3, 2, 10, 0, sm40}, ErrInvalidArgument, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParams(t, tc.id)
			b, err := p.Check(tc.c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if err != nil {
				if b != nil {
					t.Error("budget returned beside an error")
				}
				return
			}
			if b.RecordNoiseBits != tc.record {
				t.Errorf("RecordNoiseBits = %d, want %d", b.RecordNoiseBits, tc.record)
			}
			if b.Margin < 0 || b.SumMargin < 0 || b.Params != tc.id || b.Capacity != tc.c {
				t.Errorf("budget %v", b)
			}
			if b.SmudgingBits != b.AggregateNoiseBits+tc.c.Smudging.StatisticalBits {
				t.Errorf("smudging %d bits, aggregate %d bits", b.SmudgingBits, b.AggregateNoiseBits)
			}
			// The bound handed to DecryptionShare is B_sm, and it is a copy.
			sm := b.SmudgingBound()
			want := new(big.Int).Mul(p.recordNoiseBound(tc.c.Nodes), new(big.Int).SetUint64(tc.c.MaxCohort))
			want.Lsh(want, uint(tc.c.Smudging.StatisticalBits))
			if sm.Cmp(want) != 0 {
				t.Errorf("smudging bound %v, want %v", sm, want)
			}
			sm.SetInt64(0)
			if b.SmudgingBound().Sign() == 0 {
				t.Error("SmudgingBound is mutable")
			}
		})
	}
}

// TestCheckBoundary finds the largest cohort Check accepts and verifies the
// inequality by hand on both sides of it.
func TestCheckBoundary(t *testing.T) {
	p := mustParams(t, BGVN12Q109)
	c := Capacity{Nodes: 3, Threshold: 2, MaxCoord: 1, Smudging: Smudging{StatisticalBits: 30}}
	largest := largestCohort(t, p, c)
	halfQ := new(big.Int).Rsh(p.Q(), 1)
	tBig := new(big.Int).SetUint64(p.T())
	for _, cohort := range []uint64{largest, largest + 1} {
		agg := new(big.Int).Mul(p.recordNoiseBound(3), new(big.Int).SetUint64(cohort))
		v := new(big.Int).Add(agg, new(big.Int).Lsh(agg, 31)) // B_agg + 2·2^30·B_agg
		need := new(big.Int).Add(new(big.Int).Mul(tBig, v), new(big.Int).Sub(tBig, big.NewInt(1)))
		fits := need.Cmp(halfQ) <= 0
		if fits != (cohort == largest) {
			t.Errorf("cohort %d: t·V + t − 1 ≤ (Q−1)/2 is %v", cohort, fits)
		}
	}
	c.MaxCohort = largest
	if b, _ := p.Check(c); b.Margin != 0 {
		t.Errorf("margin at the largest cohort is %d, want 0", b.Margin)
	}
}

// largestCohort returns the largest MaxCohort that p.Check accepts for c.
func largestCohort(t testing.TB, p *Params, c Capacity) uint64 {
	lo, hi := uint64(1), uint64(1)<<62
	c.MaxCohort = lo
	if _, err := p.Check(c); err != nil {
		t.Fatalf("cohort 1 does not fit: %v", err)
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		c.MaxCohort = mid
		if _, err := p.Check(c); err == nil {
			lo = mid
		} else if errors.Is(err, ErrDoesNotFit) {
			hi = mid
		} else {
			t.Fatal(err)
		}
	}
	return lo
}

func TestChoose(t *testing.T) {
	sm40 := Smudging{StatisticalBits: 40}
	cases := []struct {
		name     string
		c        Capacity
		insecure bool
		want     ParamSetID
		err      error
	}{
		{"small fits n12", Capacity{3, 2, 100, 100, sm40}, false, BGVN12Q109, nil},
		{"small, insecure allowed", Capacity{3, 2, 100, 100, sm40}, true, BGVTestN8, nil},
		{"large cohort needs n13", Capacity{3, 2, 100_000, 1 << 20, sm40}, false, BGVN13Q132, nil},
		{"large sum needs n13", Capacity{3, 2, 1 << 20, 1 << 25, Smudging{20}}, false, BGVN13Q132, nil},
		{"demo schema over 1e4 records", Capacity{3, 2, 10_000, 3_600_000_000, sm40}, false, BGVN13Q132, nil},
		{"sum beyond 2^47 needs t < 2^60", Capacity{3, 2, 1 << 20, 1 << 30, Smudging{20}}, false, BGVN13Q218, nil},
		{"noise beyond q132 needs n13-q218", Capacity{3, 2, 1_000_000, 1, Smudging{80}}, false, BGVN13Q218, nil},
		{"nothing fits", Capacity{3, 2, 1 << 40, 1 << 30, sm40}, false, "", ErrDoesNotFit},
		{"invalid", Capacity{3, 2, 100, 100, Smudging{}}, false, "", ErrInvalidArgument},
	}
	for _, tc := range cases {
		p, b, err := Choose(tc.c, tc.insecure, nil)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			if p != nil || b != nil {
				t.Errorf("%s: results beside an error", tc.name)
			}
			continue
		}
		if p.ID() != tc.want || b.Params != tc.want {
			t.Errorf("%s: chose %s", tc.name, p.ID())
		}
	}
}

// TestChooseFits checks that a set the caller's constraint refuses is
// passed over for the next that carries the capacity, and that when the
// constraint refuses every set that does, Choose fails with ErrDoesNotFit
// and the constraint's reason.
func TestChooseFits(t *testing.T) {
	c := Capacity{3, 2, 100, 100, Smudging{40}}
	notSmall := func(p *Params) error {
		if p.N() < 8192 {
			return errors.New("N below 8192")
		}
		return nil
	}
	p, b, err := Choose(c, false, notSmall)
	if err != nil || p.ID() != BGVN13Q132 || b.Params != BGVN13Q132 {
		t.Fatalf("Choose = %v, %v, %v; want %s", p, b, err, BGVN13Q132)
	}
	calls := 0
	none := func(p *Params) error { calls++; return fmt.Errorf("no circuit for %s", p.ID()) }
	p, b, err = Choose(c, false, none)
	if !errors.Is(err, ErrDoesNotFit) || p != nil || b != nil || !strings.Contains(err.Error(), "no circuit for "+string(BGVN13Q218)) {
		t.Fatalf("Choose = %v, %v, %v", p, b, err)
	}
	if calls != 3 { // every secure set carries c; the insecure one is not asked
		t.Errorf("the constraint was asked %d times, want 3", calls)
	}
}

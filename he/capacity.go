package he

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Bounds of Smudging.StatisticalBits.
const (
	MinStatisticalBits = 20
	MaxStatisticalBits = 80
)

// Smudging is the statistical security parameter λ of threshold decryption.
// Each party adds to its decryption share fresh noise uniform in [−B, B],
// B = 2^λ × the worst-case noise bound of the aggregate being decrypted, so
// that the revealed coefficients hide the aggregate's noise (which depends on
// the secret key) up to statistical distance 2^−λ per revealed coefficient.
// It has no default: the zero value is refused.
type Smudging struct{ StatisticalBits int }

// Validate refuses λ outside [MinStatisticalBits, MaxStatisticalBits].
func (s Smudging) Validate() error {
	if s.StatisticalBits < MinStatisticalBits || s.StatisticalBits > MaxStatisticalBits {
		return fmt.Errorf("he: smudging of %d statistical bits, want %d..%d: %w",
			s.StatisticalBits, MinStatisticalBits, MaxStatisticalBits, ErrInvalidArgument)
	}
	return nil
}

// Capacity is what a dataset asks of a parameter set: the committee holding
// the key, the largest cohort one aggregate may sum, the largest value of one
// coordinate of one record, and the smudging of decryption shares.
type Capacity struct {
	Nodes, Threshold int
	MaxCohort        uint64
	MaxCoord         uint64
	Smudging         Smudging
}

// Validate checks the committee, a cohort and coordinate bound of at least
// one, and the smudging parameter.
func (c Capacity) Validate() error {
	if err := (Committee{Nodes: c.Nodes, Threshold: c.Threshold}).Validate(); err != nil {
		return err
	}
	if c.MaxCohort == 0 || c.MaxCoord == 0 {
		return fmt.Errorf("he: capacity needs MaxCohort ≥ 1 and MaxCoord ≥ 1: %w", ErrInvalidArgument)
	}
	return c.Smudging.Validate()
}

// Budget is the outcome of Params.Check: how the worst-case noise of a
// capacity compares with what decryption tolerates, in bits (bit lengths of
// the bounds, rounded up). Only Check builds a usable Budget:
// DecryptionShare takes its smudging bound from one and refuses any other.
//
// The bounds, with N the ring degree, n = Nodes, b = ErrorBits, B_e the
// bound of one honest Gaussian error (19) and λ = StatisticalBits:
//
//	record     B_rec = N·n·B_e + 2^(b−1) + 2^(b−1)·N·n   (u·e_pk + e0 + e1·s)
//	aggregate  B_agg = MaxCohort · B_rec
//	smudging   B_sm  = 2^λ · B_agg                        (per party, uniform in [−B_sm, B_sm])
//	decryption V     = B_agg + Threshold · B_sm
//
// and the set fits when t·V + t − 1 ≤ (Q−1)/2 and 2·MaxCohort·MaxCoord < t.
type Budget struct {
	Params   ParamSetID
	Capacity Capacity

	// SumBits is the bit length of MaxCohort·MaxCoord, the largest
	// coordinate of a sum; SumMargin is ⌊log2(((t−1)/2) / (MaxCohort·MaxCoord))⌋,
	// the bits left below t/2 (negative when it does not fit).
	SumBits, SumMargin int
	// RecordNoiseBits, AggregateNoiseBits, SmudgingBits and
	// DecryptionNoiseBits are the bit lengths of B_rec, B_agg, B_sm and V.
	RecordNoiseBits, AggregateNoiseBits, SmudgingBits, DecryptionNoiseBits int
	// Margin is ⌊log2(((Q−1)/2) / (t·V + t − 1))⌋: how many doublings of the
	// decryption noise would still decrypt (negative when it does not fit).
	Margin int

	smudgingBound *big.Int // B_sm
}

// SmudgingBound returns a copy of B_sm, the bound of each party's flooding
// noise, or nil for a Budget not built by Check.
func (b *Budget) SmudgingBound() *big.Int {
	if b == nil || b.smudgingBound == nil {
		return nil
	}
	return new(big.Int).Set(b.smudgingBound)
}

func (b *Budget) String() string {
	return fmt.Sprintf("%s: sum %d bits (margin %d), noise record %d / aggregate %d / smudging %d / decryption %d bits, margin %d bits",
		b.Params, b.SumBits, b.SumMargin, b.RecordNoiseBits, b.AggregateNoiseBits, b.SmudgingBits, b.DecryptionNoiseBits, b.Margin)
}

// floorLog2Ratio returns ⌊log2(num/den)⌋ for num, den > 0.
func floorLog2Ratio(num, den *big.Int) int {
	d := num.BitLen() - den.BitLen()
	// den·2^d and num have the same bit length, so the ratio is in (1/2, 2).
	var a, b big.Int
	if d >= 0 {
		a.Set(num)
		b.Lsh(den, uint(d))
	} else {
		a.Lsh(num, uint(-d))
		b.Set(den)
	}
	if a.Cmp(&b) < 0 {
		d--
	}
	return d
}

// recordNoiseBound returns B_rec for a committee of nodes parties.
func (p *Params) recordNoiseBound(nodes int) *big.Int {
	n := big.NewInt(int64(p.n) * int64(nodes))
	eMax := big.NewInt(1 << (ErrorBits - 1))
	out := new(big.Int).Mul(n, big.NewInt(p.errorBound)) // ‖u‖₁·‖e_pk‖∞
	out.Add(out, eMax)                                   // ‖e0‖∞
	out.Add(out, new(big.Int).Mul(n, eMax))              // ‖e1‖∞·‖s‖₁
	return out
}

// Check computes the worst-case noise budget of c under p. It fails with
// ErrInvalidArgument for an invalid capacity and with ErrDoesNotFit, saying
// which bound fails by how many bits, when p cannot carry c.
func (p *Params) Check(c Capacity) (*Budget, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := &Budget{Params: p.id, Capacity: c}

	tBig := new(big.Int).SetUint64(p.t)
	sum := new(big.Int).Mul(new(big.Int).SetUint64(c.MaxCohort), new(big.Int).SetUint64(c.MaxCoord))
	halfT := new(big.Int).Rsh(new(big.Int).Sub(tBig, big.NewInt(1)), 1) // (t−1)/2: sum ≤ it ⟺ 2·sum < t
	b.SumBits = sum.BitLen()
	b.SumMargin = floorLog2Ratio(halfT, sum)

	rec := p.recordNoiseBound(c.Nodes)
	agg := new(big.Int).Mul(rec, new(big.Int).SetUint64(c.MaxCohort))
	sm := new(big.Int).Lsh(agg, uint(c.Smudging.StatisticalBits))
	v := new(big.Int).Mul(sm, big.NewInt(int64(c.Threshold)))
	v.Add(v, agg)
	b.RecordNoiseBits, b.AggregateNoiseBits, b.SmudgingBits, b.DecryptionNoiseBits = rec.BitLen(), agg.BitLen(), sm.BitLen(), v.BitLen()

	// Decryption computes y = t·(c0 + c1·s) = m + t·v (mod Q), centres it in
	// [−(Q−1)/2, (Q−1)/2] and reduces mod t: exact iff |m + t·v| ≤ (Q−1)/2,
	// which holds for all m ∈ [0, t) and |v| ≤ V iff t·V + t − 1 ≤ (Q−1)/2.
	need := new(big.Int).Mul(tBig, v)
	need.Add(need, tBig)
	need.Sub(need, big.NewInt(1))
	halfQ := new(big.Int).Rsh(new(big.Int).Sub(p.q, big.NewInt(1)), 1)
	b.Margin = floorLog2Ratio(halfQ, need)

	var short []string
	if sum.Cmp(halfT) > 0 {
		short = append(short, fmt.Sprintf("largest sum MaxCohort·MaxCoord = %v (%d bits) reaches t/2 (t = %d)", sum, b.SumBits, p.t))
	}
	if need.Cmp(halfQ) > 0 {
		short = append(short, fmt.Sprintf("worst-case decryption noise t·V needs %d bits, Q/2 has %d (%d bits short; record %d, aggregate %d, smudging %d bits)",
			need.BitLen(), halfQ.BitLen(), -b.Margin, b.RecordNoiseBits, b.AggregateNoiseBits, b.SmudgingBits))
	}
	if len(short) > 0 {
		return nil, fmt.Errorf("he: %s: %s: %w", p.id, strings.Join(short, "; "), ErrDoesNotFit)
	}
	b.smudgingBound = sm
	return b, nil
}

// Choose returns the smallest parameter set that carries c, with its budget.
// Insecure sets are considered only when allowInsecure is set. fits, when
// not nil, is a constraint of the caller's own that a set must meet too (a
// node's: that the set's HE circuit fits the proof system's field); a set
// it refuses is passed over as one that does not carry c. Choose fails with
// ErrDoesNotFit, giving the largest set's shortfall, when no set does.
func Choose(c Capacity, allowInsecure bool, fits func(*Params) error) (*Params, *Budget, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	var last error
	for _, id := range ParamSets() {
		p, err := Lookup(id)
		if err != nil {
			return nil, nil, err
		}
		if p.Insecure() && !allowInsecure {
			continue
		}
		b, err := p.Check(c)
		if err == nil && fits != nil {
			if ferr := fits(p); ferr != nil {
				b, err = nil, fmt.Errorf("he: %s: %w: %v", id, ErrDoesNotFit, ferr)
			}
		}
		if err == nil {
			return p, b, nil
		}
		if !errors.Is(err, ErrDoesNotFit) {
			return nil, nil, err
		}
		last = err
	}
	return nil, nil, fmt.Errorf("he: no parameter set fits: %w", last)
}

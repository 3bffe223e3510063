package he

import (
	"fmt"
	"math"
	"math/big"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

// ParamSetID names a parameter set. It travels in dataset descriptors,
// transcripts and every encoding of this package.
type ParamSetID string

// The parameter sets, smallest first. See the package documentation for the
// table of their sizes.
const (
	// BGVTestN8 is a toy set for fast tests: N = 256, far below 128-bit
	// security. Params.Insecure reports it; callers must refuse it unless an
	// explicit development setting allows it.
	BGVTestN8 ParamSetID = "bgv-test-n8-insecure"
	// BGVN12Q109 is N = 4096, Q < 2^109 (two primes), t < 2^40: the
	// HE-standard 128-bit bound for N = 4096 with ternary secrets.
	BGVN12Q109 ParamSetID = "bgv-n12-q109"
	// BGVN13Q132 is N = 8192, Q < 2^132 (three primes), t < 2^48: sums
	// up to 2^47, such as the demo schema's steps² over 10,000 records,
	// with an HE circuit that fits the BN254 scalar field (8·Q·N·(1 + max
	// coordinate) < r for coordinates below 2^100), at 128-bit security
	// (log2 Q well under the standard's 218 for N = 8192).
	BGVN13Q132 ParamSetID = "bgv-n13-q132"
	// BGVN13Q218 is N = 8192, Q < 2^218 (four primes), t < 2^60: the
	// HE-standard 128-bit bound for N = 8192 with ternary secrets.
	BGVN13Q218 ParamSetID = "bgv-n13-q218"
)

// ErrorBits is b: encryption errors e0, e1 lie in [−2^(b−1), 2^(b−1)), the
// range the validity proof checks.
const ErrorBits = 6

// Error and secret distributions, lattigo's defaults made explicit so that a
// change of default cannot change a parameter set.
var (
	errorDistribution  = ring.DiscreteGaussian{Sigma: 3.2, Bound: 19.2}
	secretDistribution = ring.Ternary{P: 2.0 / 3.0}
)

// heStandardMaxLogQ is the largest log2 Q of the HomomorphicEncryption.org
// standard (2018), 128-bit classical security, ternary secrets.
var heStandardMaxLogQ = map[int]int{12: 109, 13: 218, 14: 438, 15: 881}

// paramsLiteral is the unvalidated description of a parameter set.
type paramsLiteral struct {
	id       ParamSetID
	logN     int
	q        []uint64 // NTT-friendly primes, q_i ≡ 1 mod 2N
	t        uint64   // prime, t ≡ 1 mod 2N
	insecure bool
}

// literals lists the sets in size order. The primes are the largest
// NTT-friendly primes below the stated powers of two (lattigo's
// NTTFriendlyPrimesGenerator), fixed here so that a set can never change.
var literals = []paramsLiteral{
	{
		id:   BGVTestN8,
		logN: 8,
		// 2^55 − 511, 2^54 − 10751: ≡ 1 mod 512.
		q:        []uint64{0x7ffffffffffe01, 0x3fffffffffd601},
		t:        0xfffffdc001, // < 2^40, ≡ 1 mod 8192
		insecure: true,
	},
	{
		id:   BGVN12Q109,
		logN: 12,
		// < 2^55 and < 2^54, ≡ 1 mod 8192.
		q: []uint64{0x7ffffffffb4001, 0x3ffffffffd6001},
		t: 0xfffffdc001, // < 2^40, ≡ 1 mod 8192
	},
	{
		id:   BGVN13Q132,
		logN: 13,
		// < 2^50, < 2^41, < 2^41, ≡ 1 mod 16384. q_0 > t as lattigo requires.
		q: []uint64{0x3ffffffffc001, 0x1ffffff0001, 0x1fffffb0001},
		t: 0xffffffffc001, // < 2^48, ≡ 1 mod 16384
	},
	{
		id:   BGVN13Q218,
		logN: 13,
		// < 2^61, < 2^53, < 2^52, < 2^52, ≡ 1 mod 16384. q_0 > t as lattigo requires.
		q: []uint64{0x1ffffffffffa4001, 0x1ffffffffb4001, 0xffffffffc4001, 0xffffffff58001},
		t: 0xfffffffffffc001, // < 2^60, ≡ 1 mod 16384
	},
}

// Params is a validated, immutable parameter set: lattigo BGV parameters
// with no special modulus P, plus the integer views the proofs and the
// capacity check need. A *Params is obtained from Lookup only and is safe for
// concurrent use.
type Params struct {
	id       ParamSetID
	insecure bool
	bgv      bgv.Parameters
	ringQ    *ring.Ring
	n        int
	t        uint64
	q        *big.Int   // product of the q_i
	qs       []uint64   // the q_i
	qBig     []*big.Int // the q_i
	lazyAdds []int      // per q_i, how many values < q_i a value < q_i can take without a reduction
	delta    *big.Int   // t⁻¹ mod Q
	crtQ     *crtTable
	exact    *exactRing // for U·pk over Z[X]
	// errorBound is ⌊bound⌋ of the honest error distribution: every
	// coefficient of an honest error (public-key shares, encryption) is at
	// most this in absolute value.
	errorBound int64
}

var registry = struct {
	once   sync.Once
	byID   map[ParamSetID]*Params
	order  []ParamSetID
	errors map[ParamSetID]error
}{}

func loadRegistry() {
	registry.byID = make(map[ParamSetID]*Params, len(literals))
	registry.errors = make(map[ParamSetID]error)
	for _, lit := range literals {
		registry.order = append(registry.order, lit.id)
		p, err := newParams(lit)
		if err != nil {
			registry.errors[lit.id] = err
			continue
		}
		registry.byID[lit.id] = p
	}
}

// Lookup returns the parameter set named id. The same *Params is returned
// for every call.
func Lookup(id ParamSetID) (*Params, error) {
	registry.once.Do(loadRegistry)
	if p, ok := registry.byID[id]; ok {
		return p, nil
	}
	if err, ok := registry.errors[id]; ok {
		return nil, fmt.Errorf("he: parameter set %q: %w", id, err)
	}
	return nil, fmt.Errorf("he: %q: %w", id, ErrUnknownParamSet)
}

// ParamSets returns the identifiers of all parameter sets, smallest first,
// insecure ones included.
func ParamSets() []ParamSetID {
	out := make([]ParamSetID, len(literals))
	for i, lit := range literals {
		out[i] = lit.id
	}
	return out
}

func newParams(lit paramsLiteral) (*Params, error) {
	n := 1 << lit.logN
	bp, err := bgv.NewParametersFromLiteral(bgv.ParametersLiteral{
		LogN:             lit.logN,
		Q:                lit.q,
		Xe:               errorDistribution,
		Xs:               secretDistribution,
		PlaintextModulus: lit.t,
	})
	if err != nil {
		return nil, fmt.Errorf("bgv parameters: %w", err)
	}
	if bp.PCount() != 0 {
		return nil, fmt.Errorf("special modulus P must be empty")
	}
	tBig := new(big.Int).SetUint64(lit.t)
	if !tBig.ProbablyPrime(32) || lit.t%uint64(2*n) != 1 {
		return nil, fmt.Errorf("plaintext modulus %d is not a prime ≡ 1 mod 2N", lit.t)
	}
	if bp.RingT().N() != n {
		return nil, fmt.Errorf("plaintext ring has degree %d, want %d", bp.RingT().N(), n)
	}
	p := &Params{
		id:       lit.id,
		insecure: lit.insecure,
		bgv:      bp,
		ringQ:    bp.RingQ(),
		n:        n,
		t:        lit.t,
		q:        big.NewInt(1),
		qs:       bp.Q(),
	}
	for _, qi := range bp.Q() {
		b := new(big.Int).SetUint64(qi)
		p.qBig = append(p.qBig, b)
		p.q.Mul(p.q, b)
	}
	if len(p.qs) > 8 {
		return nil, fmt.Errorf("%d primes, at most 8", len(p.qs))
	}
	for _, qi := range p.qs {
		// (k+1)·(q−1) ≤ 2^64 − 1
		p.lazyAdds = append(p.lazyAdds, int(math.MaxUint64/(qi-1))-1)
	}
	if maxLogQ, ok := heStandardMaxLogQ[lit.logN]; !lit.insecure && (!ok || p.q.BitLen() > maxLogQ) {
		return nil, fmt.Errorf("log2 Q = %d exceeds the 128-bit bound for N = %d", p.q.BitLen(), n)
	}
	p.delta = new(big.Int).ModInverse(tBig, p.q)
	if p.delta == nil {
		return nil, fmt.Errorf("t is not invertible modulo Q")
	}
	p.errorBound = int64(math.Floor(errorDistribution.Bound))
	if p.errorBound >= 1<<(ErrorBits-1) {
		return nil, fmt.Errorf("error bound %d does not fit the proven range of %d bits", p.errorBound, ErrorBits)
	}
	if p.crtQ, err = newCRTTable(bp.Q()); err != nil {
		return nil, err
	}
	if p.exact, err = newExactRing(lit.logN, p.q.BitLen()); err != nil {
		return nil, err
	}
	return p, nil
}

// ID returns the identifier of the set.
func (p *Params) ID() ParamSetID { return p.id }

// Insecure reports a set below 128-bit security, for tests only.
func (p *Params) Insecure() bool { return p.insecure }

// N returns the ring degree: the number of plaintext coefficients.
func (p *Params) N() int { return p.n }

// Q returns a copy of the ciphertext modulus, the product of the q_i.
func (p *Params) Q() *big.Int { return new(big.Int).Set(p.q) }

// T returns the plaintext modulus t.
func (p *Params) T() uint64 { return p.t }

// Delta returns a copy of Δ = t⁻¹ mod Q, the factor by which lattigo's BGV
// encoder scales a plaintext.
func (p *Params) Delta() *big.Int { return new(big.Int).Set(p.delta) }

// ErrorBits returns b: encryption errors lie in [−2^(b−1), 2^(b−1)).
func (p *Params) ErrorBits() int { return ErrorBits }

// BGV returns the lattigo parameters (level = all primes, no P).
func (p *Params) BGV() bgv.Parameters { return p.bgv }

func (p *Params) rlwe() rlwe.Parameters { return p.bgv.Parameters }

// moduli returns the q_i.
func (p *Params) moduli() []uint64 { return p.qs }

// limbs returns the number of RNS limbs of a polynomial.
func (p *Params) limbs() int { return len(p.qBig) }

func (p *Params) same(o *Params) bool { return p != nil && o != nil && p.id == o.id }

// name is the set's id for messages; nil (a zero-value object) is named too.
func (p *Params) name() ParamSetID {
	if p == nil {
		return "<no parameter set>"
	}
	return p.id
}

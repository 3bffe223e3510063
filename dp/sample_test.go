package dp

import (
	"errors"
	"io"
	"math"
	"math/big"
	"testing"

	"github.com/cohort-dev/cohort/dp/dptest"
)

func newTestSampler(t testing.TB, seed uint64) *Sampler {
	t.Helper()
	s, err := NewSampler(dptest.Reader(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVariance(t testing.TB, num, den int64) Variance {
	t.Helper()
	v, err := NewVariance(big.NewRat(num, den))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewSamplerRefusesNil(t *testing.T) {
	if _, err := NewSampler(nil); !errors.Is(err, ErrNoRandomness) {
		t.Fatalf("NewSampler(nil) = %v, want ErrNoRandomness", err)
	}
}

func TestNewVarianceRefuses(t *testing.T) {
	for _, r := range []*big.Rat{nil, big.NewRat(0, 1), big.NewRat(-1, 3)} {
		if _, err := NewVariance(r); !errors.Is(err, ErrParameter) {
			t.Errorf("NewVariance(%v) = %v, want ErrParameter", r, err)
		}
	}
	s := newTestSampler(t, 1)
	if _, err := s.DiscreteGaussian(Variance{}); !errors.Is(err, ErrParameter) {
		t.Errorf("DiscreteGaussian(zero) = %v, want ErrParameter", err)
	}
	if _, err := s.Noise([]Variance{mustVariance(t, 1, 1), {}}); !errors.Is(err, ErrParameter) {
		t.Errorf("Noise with a zero variance = %v, want ErrParameter", err)
	}
	for _, r := range []*big.Rat{nil, big.NewRat(0, 1), big.NewRat(-2, 1)} {
		if _, err := NewLaplaceScale(r); !errors.Is(err, ErrParameter) {
			t.Errorf("NewLaplaceScale(%v) = %v, want ErrParameter", r, err)
		}
	}
	if _, err := s.DiscreteLaplace(LaplaceScale{}); !errors.Is(err, ErrParameter) {
		t.Errorf("DiscreteLaplace(zero) = %v, want ErrParameter", err)
	}
	for _, g := range []*big.Rat{nil, big.NewRat(-1, 2)} {
		if _, err := s.BernoulliExp(g); !errors.Is(err, ErrParameter) {
			t.Errorf("BernoulliExp(%v) = %v, want ErrParameter", g, err)
		}
	}
}

func TestVarianceIsCopied(t *testing.T) {
	r := big.NewRat(9, 4)
	v, err := NewVariance(r)
	if err != nil {
		t.Fatal(err)
	}
	r.SetInt64(1000)
	v.Rat().SetInt64(7)
	if got := v.String(); got != "9/4" {
		t.Fatalf("variance = %s after its input and output were changed, want 9/4", got)
	}
	if got := v.t.Int64(); got != 2 { // ⌊3/2⌋ + 1
		t.Fatalf("t = %d, want 2", got)
	}
}

func TestBernoulliExpZeroIsOne(t *testing.T) {
	s := newTestSampler(t, 2)
	for i := 0; i < 1000; i++ {
		b, err := s.BernoulliExp(new(big.Rat))
		if err != nil || !b {
			t.Fatalf("BernoulliExp(0) = %v, %v, want true", b, err)
		}
	}
	if s.reads != 0 {
		t.Fatalf("BernoulliExp(0) read the source %d times, want 0", s.reads)
	}
}

func TestBernoulliExpFrequencies(t *testing.T) {
	const n = 100_000
	s := newTestSampler(t, 3)
	for _, g := range []*big.Rat{big.NewRat(1, 1000), big.NewRat(1, 2), big.NewRat(1, 1), big.NewRat(3, 2), big.NewRat(7, 3), big.NewRat(5, 1)} {
		hits := 0
		for i := 0; i < n; i++ {
			b, err := s.BernoulliExp(g)
			if err != nil {
				t.Fatal(err)
			}
			if b {
				hits++
			}
		}
		gf, _ := g.Float64()
		p := math.Exp(-gf)
		tol := 5 * math.Sqrt(p*(1-p)/n)
		if got := float64(hits) / n; math.Abs(got-p) > tol {
			t.Errorf("BernoulliExp(%s): frequency %.5f, want %.5f ± %.5f", g.RatString(), got, p, tol)
		}
	}
}

// gaussianPMF is the pmf of N_Z(0, σ²) to float64 precision, with its
// normalising sum over a range wide enough that what is left out is below
// float64 precision.
func gaussianPMF(sigma2 float64) func(x int) float64 {
	w := int(40*math.Sqrt(sigma2)) + 40
	norm := 0.0
	for y := -w; y <= w; y++ {
		norm += math.Exp(-float64(y) * float64(y) / (2 * sigma2))
	}
	return func(x int) float64 { return math.Exp(-float64(x)*float64(x)/(2*sigma2)) / norm }
}

// chiSquare tests counts (of integers, in a map) against pmf: integers are
// grouped into consecutive bins of expected count ≥ 20, the tails into the
// end bins; it returns the statistic and the degrees of freedom.
func chiSquare(counts map[int64]int, n int, pmf func(int) float64, lo, hi int) (float64, int) {
	type bin struct {
		expected float64
		observed int
	}
	var bins []bin
	cur := bin{}
	var below, above int
	for x, c := range counts {
		if x < int64(lo) {
			below += c
		} else if x > int64(hi) {
			above += c
		}
	}
	tailLo, tailHi := 0.0, 0.0
	for x := lo - 1; ; x-- { // mass below lo
		p := pmf(x)
		tailLo += p
		if p < 1e-300 || x < lo-100000 {
			break
		}
	}
	for x := hi + 1; ; x++ {
		p := pmf(x)
		tailHi += p
		if p < 1e-300 || x > hi+100000 {
			break
		}
	}
	cur.expected, cur.observed = tailLo*float64(n), below
	for x := lo; x <= hi; x++ {
		cur.expected += pmf(x) * float64(n)
		cur.observed += counts[int64(x)]
		if cur.expected >= 20 {
			bins = append(bins, cur)
			cur = bin{}
		}
	}
	cur.expected += tailHi * float64(n)
	cur.observed += above
	if len(bins) > 0 {
		bins[len(bins)-1].expected += cur.expected
		bins[len(bins)-1].observed += cur.observed
	}
	stat := 0.0
	for _, b := range bins {
		d := float64(b.observed) - b.expected
		stat += d * d / b.expected
	}
	return stat, len(bins) - 1
}

// chiSquareCritical is the 1−10⁻⁴ quantile of χ²(k), by the
// Wilson–Hilferty approximation (z = 3.719).
func chiSquareCritical(k int) float64 {
	kf := float64(k)
	c := 1 - 2/(9*kf) + 3.719*math.Sqrt(2/(9*kf))
	return kf * c * c * c
}

func TestDiscreteGaussianDistribution(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	for i, v := range []*big.Rat{big.NewRat(1, 2), big.NewRat(2, 1), big.NewRat(100, 1), big.NewRat(10007, 3), big.NewRat(1_000_000, 1)} {
		t.Run(v.RatString(), func(t *testing.T) {
			variance, err := NewVariance(v)
			if err != nil {
				t.Fatal(err)
			}
			s := newTestSampler(t, 100+uint64(i))
			sigma2, _ := v.Float64()
			sigma := math.Sqrt(sigma2)
			pmf := gaussianPMF(sigma2)
			counts := map[int64]int{}
			var sum, sumSq float64
			for j := 0; j < n; j++ {
				x, err := s.DiscreteGaussian(variance)
				if err != nil {
					t.Fatal(err)
				}
				if !x.IsInt64() || math.Abs(float64(x.Int64())) > 12*sigma+1 {
					t.Fatalf("sample %s is beyond 12σ = %.1f", x, 12*sigma)
				}
				xi := x.Int64()
				counts[xi]++
				sum += float64(xi)
				sumSq += float64(xi) * float64(xi)
			}
			w := int(6*sigma) + 2
			stat, df := chiSquare(counts, n, pmf, -w, w)
			if crit := chiSquareCritical(df); stat > crit {
				t.Errorf("χ² = %.1f with %d degrees of freedom, above the 10⁻⁴ critical value %.1f", stat, df, crit)
			}

			// The exact variance of N_Z(0, σ²), which is below σ² and
			// within 10⁻⁹·σ² of it for σ ≥ 1 (CKS Corollary 9).
			exactVar := 0.0
			for x := -int(40*sigma) - 40; x <= int(40*sigma)+40; x++ {
				exactVar += float64(x) * float64(x) * pmf(x)
			}
			if exactVar > sigma2*(1+1e-12) || (sigma >= 1 && exactVar < sigma2*(1-1e-9)) {
				t.Errorf("exact variance %.6g against σ² = %.6g", exactVar, sigma2)
			}
			mean := sum / float64(n)
			if tol := 5 * math.Sqrt(exactVar/float64(n)); math.Abs(mean) > tol {
				t.Errorf("mean %.4g, want 0 ± %.4g", mean, tol)
			}
			// The sample variance's standard error is about σ²·√(2/n).
			variance2 := sumSq/float64(n) - mean*mean
			if tol := 5 * exactVar * math.Sqrt(2/float64(n)); math.Abs(variance2-exactVar) > tol {
				t.Errorf("variance %.4g, want %.4g ± %.4g", variance2, exactVar, tol)
			}

			// P[|X| ≥ k] for small k against the exact tail.
			for _, k := range []int{1, 2, 3, int(math.Ceil(sigma)), int(math.Ceil(2 * sigma)), int(math.Ceil(3 * sigma))} {
				p := 1.0
				for x := -k + 1; x <= k-1; x++ {
					p -= pmf(x)
				}
				got := 0
				for x, c := range counts {
					if x >= int64(k) || x <= -int64(k) {
						got += c
					}
				}
				tol := 5*math.Sqrt(p*(1-p)/float64(n)) + 1e-12
				if f := float64(got) / float64(n); math.Abs(f-p) > tol {
					t.Errorf("P[|X| ≥ %d] = %.5f, want %.5f ± %.5f", k, f, p, tol)
				}
			}
		})
	}
}

func TestDiscreteLaplaceDistribution(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	for i, b := range []*big.Rat{big.NewRat(1, 3), big.NewRat(3, 2), big.NewRat(10, 1)} {
		t.Run(b.RatString(), func(t *testing.T) {
			scale, err := NewLaplaceScale(b)
			if err != nil {
				t.Fatal(err)
			}
			s := newTestSampler(t, 200+uint64(i))
			bf, _ := b.Float64()
			norm := (math.Exp(1/bf) - 1) / (math.Exp(1/bf) + 1)
			pmf := func(x int) float64 { return norm * math.Exp(-math.Abs(float64(x))/bf) }
			counts := map[int64]int{}
			for j := 0; j < n; j++ {
				x, err := s.DiscreteLaplace(scale)
				if err != nil {
					t.Fatal(err)
				}
				counts[x.Int64()]++
			}
			w := int(8*bf) + 2
			stat, df := chiSquare(counts, n, pmf, -w, w)
			if crit := chiSquareCritical(df); stat > crit {
				t.Errorf("χ² = %.1f with %d degrees of freedom, above the 10⁻⁴ critical value %.1f", stat, df, crit)
			}
		})
	}
}

// The cost of a sample, in reads of the source (one per attempt at a
// uniform integer), is about the same for every σ (see DiscreteGaussian).
func TestDiscreteGaussianCost(t *testing.T) {
	const n = 20_000
	for _, v := range []*big.Rat{big.NewRat(100, 1), big.NewRat(1_000_000, 1), big.NewRat(1_000_000_000_000, 1)} {
		variance, err := NewVariance(v)
		if err != nil {
			t.Fatal(err)
		}
		s := newTestSampler(t, 7)
		for i := 0; i < n; i++ {
			if _, err := s.DiscreteGaussian(variance); err != nil {
				t.Fatal(err)
			}
		}
		per := float64(s.reads) / n
		t.Logf("σ² = %s: %.2f uniform attempts per sample", v.RatString(), per)
		if per > 25 {
			t.Errorf("σ² = %s: %.2f uniform attempts per sample, documented as about 15", v.RatString(), per)
		}
	}
}

func TestSamplerIsDeterministicForASeed(t *testing.T) {
	v := mustVariance(t, 1000, 7)
	a, b := newTestSampler(t, 9), newTestSampler(t, 9)
	xs, err := a.Noise([]Variance{v, v, v, v, v, v, v, v})
	if err != nil {
		t.Fatal(err)
	}
	ys, err := b.Noise([]Variance{v, v, v, v, v, v, v, v})
	if err != nil {
		t.Fatal(err)
	}
	for i := range xs {
		if xs[i].Cmp(ys[i]) != 0 {
			t.Fatalf("sample %d: %s and %s from the same seed", i, xs[i], ys[i])
		}
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestSamplerSourceErrors(t *testing.T) {
	boom := errors.New("entropy source unplugged")
	v := mustVariance(t, 1_000_000, 1)
	for _, after := range []int{0, 1, 7, 100, 1000} {
		s, err := NewSampler(dptest.FailingReader(t, 11, after, boom))
		if err != nil {
			t.Fatal(err)
		}
		var got error
		for i := 0; i < 10_000 && got == nil; i++ {
			x, err := s.DiscreteGaussian(v)
			if err != nil && x != nil {
				t.Fatalf("a sample %s beside the error %v", x, err)
			}
			got = err
		}
		if !errors.Is(got, ErrRandomness) || !errors.Is(got, boom) {
			t.Errorf("after %d bytes: %v, want ErrRandomness wrapping the source's error", after, got)
		}
		if _, err := s.BernoulliExp(big.NewRat(1, 2)); !errors.Is(err, ErrRandomness) {
			t.Errorf("BernoulliExp on a failed source: %v", err)
		}
		if _, err := s.Noise([]Variance{v}); !errors.Is(err, ErrRandomness) {
			t.Errorf("Noise on a failed source: %v", err)
		}
	}
	s, err := NewSampler(emptyReader{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DiscreteGaussian(v); !errors.Is(err, ErrRandomness) || !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("a source that yields nothing: %v, want ErrRandomness wrapping io.ErrNoProgress", err)
	}
}

// The χ² test has the power to notice a sampler that is slightly off:
// samples of N_Z(0, 100) fail against the pmf of N_Z(0, 104).
func TestChiSquareRejectsAWrongVariance(t *testing.T) {
	const n = 100_000
	s := newTestSampler(t, 12)
	v := mustVariance(t, 100, 1)
	counts := map[int64]int{}
	for i := 0; i < n; i++ {
		x, err := s.DiscreteGaussian(v)
		if err != nil {
			t.Fatal(err)
		}
		counts[x.Int64()]++
	}
	right, df := chiSquare(counts, n, gaussianPMF(100), -62, 62)
	if crit := chiSquareCritical(df); right > crit {
		t.Fatalf("χ² = %.1f against the right pmf, above %.1f", right, crit)
	}
	wrong, df := chiSquare(counts, n, gaussianPMF(104), -62, 62)
	if crit := chiSquareCritical(df); wrong <= crit {
		t.Fatalf("χ² = %.1f against N_Z(0, 104) is below the critical value %.1f: the test cannot tell", wrong, crit)
	}
}

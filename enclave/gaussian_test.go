package enclave

import (
	"math"
	"math/big"
	"testing"

	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/dp/dptest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// TestDifferencingAttack: two jobs whose cohorts differ in one person's
// record (the same members, the victim's values at one end of their range
// or the other), the released sums of each seen many times. With exact
// release the best distinguisher tells them apart every time; with the
// discrete Gaussian mechanism calibrated to ρ its advantage stays within
// what ρ-zCDP allows (total variation ≤ √(ρ/2), by Pinsker from KL ≤ ρ),
// even when the other nodes collude and subtract their own noise, leaving
// one honest node's.
func TestDifferencingAttack(t *testing.T) {
	l := schema.Default().Layout()
	spec := &cohortv1.JobSpec{EpochFrom: 3, EpochTo: 3, Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: "1/2"}},
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}}}}
	coords, err := Coordinates(l, spec.GetOutputs())
	if err != nil {
		t.Fatal(err)
	}
	policy := DefaultPolicy()
	policy.BuyerRho = "1"
	p, err := JobPrivacy(policy, spec, l, coords)
	if err != nil {
		t.Fatal(err)
	}
	rho, vs := p.Rho, p.Variances
	noised := []int{}
	var nvs []dp.Variance
	for i, c := range coords {
		if c != CountCoordinate {
			noised, nvs = append(noised, c), append(nvs, vs[i])
		}
	}
	if loss, err := dp.LossOf(l, noised, 1, nvs); err != nil || loss.Cmp(rho) != 0 {
		t.Fatalf("the calibrated variances cost %v (%v), want %v", loss, err, rho)
	}
	units, err := dp.Units(l, noised)
	if err != nil {
		t.Fatal(err)
	}
	// The victim's values go from one end of their range to the other:
	// the worst case the calibration covers. The count does not change.
	victim := map[int]int64{}
	for _, u := range units {
		victim[u.Coords[0]] = new(big.Int).Sqrt(u.Bound).Int64()
	}
	base := make([]*big.Int, len(coords))
	with := make([]*big.Int, len(coords))
	sigma2 := make([]float64, len(coords))
	for i, c := range coords {
		base[i] = big.NewInt(1000 + int64(i))
		with[i] = new(big.Int).Add(base[i], big.NewInt(victim[c]))
		sigma2[i], _ = vs[i].Rat().Float64()
	}
	// guess is the likelihood-ratio test: true for "the victim is in".
	guess := func(x []*big.Int) bool {
		llr := 0.0
		for i := range x {
			if sigma2[i] == 0 {
				continue // the count: the same in both worlds
			}
			xi, b, w := float64(x[i].Int64()), float64(base[i].Int64()), float64(with[i].Int64())
			llr += ((xi-b)*(xi-b) - (xi-w)*(xi-w)) / (2 * sigma2[i])
		}
		return llr > 0
	}
	advantage := func(m Mechanism) float64 {
		const trials = 3000
		hits, falseHits := 0, 0
		for range trials {
			for _, in := range []bool{true, false} {
				sums := base
				if in {
					sums = with
				}
				z, err := m.Noise(coords)
				if err != nil {
					t.Fatal(err)
				}
				noisy := make([]*big.Int, len(sums))
				for i := range sums {
					noisy[i] = new(big.Int).Set(sums[i])
					if z != nil {
						noisy[i].Add(noisy[i], z[i])
					}
				}
				out, err := m.Release(coords, noisy)
				if err != nil {
					t.Fatal(err)
				}
				if g := guess(out); g && in {
					hits++
				} else if g {
					falseHits++
				}
			}
		}
		return float64(hits-falseHits) / trials
	}
	if a := advantage(Exact{}); a != 1 {
		t.Fatalf("exact release: advantage %.3f, want 1", a)
	}
	g, err := p.Mechanism(dptest.Reader(t, 7))
	if err != nil {
		t.Fatal(err)
	}
	bound := math.Sqrt(0.5 / 2)
	a := advantage(g)
	t.Logf("discrete Gaussian at ρ = 1/2: advantage %.3f, bound %.3f", a, bound)
	// 3000 trials per world: a standard error of at most 0.013 each.
	if a > bound+0.05 {
		t.Fatalf("advantage %.3f exceeds the ρ-zCDP bound %.3f", a, bound)
	}
	if a < 0.2 {
		t.Fatalf("advantage %.3f: the attack should still see something at ρ = 1/2", a)
	}
}

func TestGaussianRefuses(t *testing.T) {
	v, err := dp.NewVariance(big.NewRat(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	src := dptest.Reader(t, 1)
	policy := DefaultPolicy()
	for name, p := range map[string]Privacy{
		"no coordinates":   {Policy: Policy{Mechanism: policy.GetMechanism()}},
		"missing variance": {Coords: []int{0, 1}, Variances: []dp.Variance{{}}},
		"zero variance":    {Coords: []int{0, 3}, Variances: []dp.Variance{{}, {}}},
		"a noised count":   {Coords: []int{0, 3}, Variances: []dp.Variance{v, v}},
	} {
		if _, err := newGaussian(p, src); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	p := Privacy{Coords: []int{0, 3}, Variances: []dp.Variance{{}, v}}
	if _, err := newGaussian(p, nil); err == nil {
		t.Error("no randomness: accepted")
	}
	g, err := newGaussian(p, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Noise([]int{0, 5}); err == nil {
		t.Error("noise for a coordinate without a variance")
	}
	if _, err := g.Release([]int{0, 3}, []*big.Int{big.NewInt(2)}); err == nil {
		t.Error("release of fewer sums than coordinates")
	}
	if _, err := g.Release([]int{0, 3}, []*big.Int{big.NewInt(-2), big.NewInt(9)}); err == nil {
		t.Error("release of a negative count")
	}
	out, err := g.Release([]int{0, 3}, []*big.Int{big.NewInt(2), big.NewInt(-9)})
	if err != nil || out[0].Int64() != 2 || out[1].Int64() != -9 {
		t.Errorf("noisy sums released as %v, %v; want them unchanged", out, err)
	}
	z, err := g.Noise([]int{0, 3})
	if err != nil || len(z) != 2 || z[0].Sign() != 0 {
		t.Fatalf("noise: %v, %v; want none on the count", z, err)
	}
	if g.Name() != "discrete-gaussian" {
		t.Errorf("name %q", g.Name())
	}
	if _, err := g.Outputs(schema.Default(), []int{0, 3}, out, nil, 0); err == nil {
		t.Error("outputs with no noising node")
	}
}

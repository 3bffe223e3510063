package enclave

import (
	"crypto/rand"
	"fmt"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// statisticsOutputs are the outputs of the demo's statistics job on s: the
// count; mean and variance of every numeric field; a histogram of every
// category and bool field; the correlation of the moment fields.
func statisticsOutputs(s *schema.Schema) []*cohortv1.Output {
	outs := []*cohortv1.Output{out(kCount)}
	for _, f := range s.Fields {
		if f.Type.Numeric() {
			outs = append(outs, out(kMean, f.Name), out(kVariance, f.Name))
		}
	}
	for _, f := range s.Fields {
		if f.Type == schema.Category || f.Type == schema.Bool {
			outs = append(outs, out(kHistogram, f.Name))
		}
	}
	return append(outs, out(kCorrelation, s.Moments...))
}

// BenchmarkJobNoise is one node's whole noise draw for the demo's
// statistics job (docs/design.md §6.6): the discrete Gaussian at every
// coordinate but the count, from crypto/rand, at the variances JobPrivacy
// calibrates for ρ under the default policy. It reports the time per
// noised coordinate beside the time per draw.
func BenchmarkJobNoise(b *testing.B) {
	s := schema.Default()
	outputs := statisticsOutputs(s)
	coords, err := Coordinates(s.Layout(), outputs)
	if err != nil {
		b.Fatal(err)
	}
	for _, rho := range []string{"1/10", "1/2"} {
		b.Run(fmt.Sprintf("rho=%s", rho), func(b *testing.B) {
			spec := &cohortv1.JobSpec{DatasetId: s.ID, EpochFrom: 7, EpochTo: 7, Purpose: "public-health", Outputs: outputs,
				Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: rho}}}
			p, err := JobPrivacy(DefaultPolicy(), spec, s.Layout(), coords)
			if err != nil {
				b.Fatal(err)
			}
			m, err := p.Mechanism(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			noised := 0
			for _, v := range p.Variances {
				if !v.IsZero() {
					noised++
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Noise(coords); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(noised), "coords")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(noised), "ns/coord")
		})
	}
}

// BenchmarkJobRelease is the coordinator's release of the demo's
// statistics job over 10,000 records from the combined sums: "exact" is
// Release, "noisy" ReleaseNoisy on the same sums with the noise model of 3
// nodes at ρ = 1/2 (clamping, projection, and the intervals' first-order
// recomputations).
func BenchmarkJobRelease(b *testing.B) {
	s := schema.Default()
	p := newPlain(b, s, 10_000, 3)
	outputs := statisticsOutputs(s)
	coords, sums := p.reconstruct(b, outputs)
	spec := &cohortv1.JobSpec{DatasetId: s.ID, EpochFrom: 7, EpochTo: 7, Purpose: "public-health", Outputs: outputs,
		Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: "1/2"}}}
	priv, err := JobPrivacy(DefaultPolicy(), spec, s.Layout(), coords)
	if err != nil {
		b.Fatal(err)
	}
	model := NoiseModel{StdDev: priv.NoiseStdDev(3), Confidence: Confidence}
	b.Run("exact", func(b *testing.B) {
		for b.Loop() {
			if _, err := Release(s, coords, sums, outputs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("noisy", func(b *testing.B) {
		for b.Loop() {
			if _, err := ReleaseNoisy(s, coords, sums, model, outputs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package circuits

import (
	"io"
	"math/rand/v2"
	"testing"

	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits/merkle"
)

// heBenchDegree is the ring degree of Cohort's HE parameter sets.
const heBenchDegree = 4096

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// BenchmarkHEContribution measures proving and verifying one HE
// contribution at N = 4096, the default schema and registry depth 20, with
// single-party keys (it measures the prover, not the ceremony). It reports
// the constraint count and the proving key's size (gnark's WriteTo,
// compressed points).
func BenchmarkHEContribution(b *testing.B) {
	rng := rand.New(rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'}))
	sh := heTestShape(b, heBenchDegree, merkle.DefaultDepth, rng)
	sys, err := CompileHE(sh)
	if err != nil {
		b.Fatal(err)
	}
	pk, vk, err := groth16.Setup(sys.CCS)
	if err != nil {
		b.Fatal(err)
	}
	var pkSize countingWriter
	if _, err := pk.WriteTo(&pkSize); err != nil {
		b.Fatal(err)
	}
	w := heTestWitness(b, sh, heTestRecord(b), rng)

	b.Run("prove", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := sys.Prove(pk, w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(sys.CCS.GetNbConstraints()), "constraints")
		b.ReportMetric(float64(pkSize.n), "pk-bytes")
	})
	b.Run("verify", func(b *testing.B) {
		proof, pub, err := sys.Prove(pk, w)
		if err != nil {
			b.Fatal(err)
		}
		v, err := NewVerifier(vk, sh.NumPublic())
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			vec, err := HEPublicVector(&pub, w.C0, w.C1, sh.Key.N)
			if err != nil {
				b.Fatal(err)
			}
			if err := v.Verify(Statement{Proof: proof, Public: vec}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHECompile measures compiling the HE contribution circuit at
// N = 4096, the default schema and registry depth 20.
func BenchmarkHECompile(b *testing.B) {
	sh := heTestShape(b, heBenchDegree, merkle.DefaultDepth, rand.New(rand.NewChaCha8([32]byte{'c'})))
	var constraints int
	for b.Loop() {
		sys, err := CompileHE(sh)
		if err != nil {
			b.Fatal(err)
		}
		constraints = sys.CCS.GetNbConstraints()
	}
	b.ReportMetric(float64(constraints), "constraints")
}

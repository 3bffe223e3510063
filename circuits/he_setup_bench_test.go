package circuits

import (
	"bytes"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
)

// BenchmarkHESetupSteps times each step of a one-participant ceremony for
// the HE contribution circuit at N = 4096, the default schema and registry
// depth 20: what a dataset's setup on bgv-n12-q109 costs the coordinator
// (compile, phase 1 contribution and seal, phase 2 initial state,
// contribution and seal) and each peer (compile, the transcript's replay).
//
//	go test ./circuits/ -run '^$' -bench 'BenchmarkHESetupSteps' -benchtime=1x
func BenchmarkHESetupSteps(b *testing.B) {
	sh := heTestShape(b, heBenchDegree, merkle.DefaultDepth, rand.New(rand.NewChaCha8([32]byte{'s'})))
	var sys *HESystem
	b.Run("compile", func(b *testing.B) {
		for b.Loop() {
			var err error
			if sys, err = CompileHE(sh); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(sys.CCS.GetNbConstraints()), "constraints")
	})
	domain, err := setup.DomainSize(sys.CCS)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("domain 2^%d", bits.Len64(domain)-1)
	beacon := setup.Beacon(bytes.Repeat([]byte{7}, 32))
	p0, err := setup.NewPhase1(domain)
	if err != nil {
		b.Fatal(err)
	}
	var p1 *setup.Phase1
	var srs *setup.SRS
	var q0, q1 *setup.Phase2
	var tr *setup.Transcript
	steps := []struct {
		name string
		run  func() error
	}{
		{"phase1-contribute", func() (err error) { p1, err = p0.Contribute(); return err }},
		{"phase1-verify", func() error { return setup.VerifyPhase1Step(p0, p1) }},
		{"phase1-seal", func() (err error) { srs, err = setup.SealPhase1(domain, beacon, p1); return err }},
		{"phase2-init", func() (err error) { q0, err = setup.NewPhase2(sys.CCS, srs); return err }},
		{"phase2-contribute", func() (err error) { q1, err = q0.Contribute(); return err }},
		{"phase2-verify", func() error { return setup.VerifyPhase2Step(q0, q1) }},
		{"phase2-seal", func() error { _, err := setup.SealPhase2(sys.CCS, srs, beacon, q1); return err }},
		{"ceremony-1", func() (err error) { _, tr, err = setup.RunLocalCeremony(sys.CCS, 1, beacon, beacon); return err }},
		{"transcript-derive", func() error { _, err := tr.DeriveKeys(sys.CCS); return err }},
	}
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				if err := s.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

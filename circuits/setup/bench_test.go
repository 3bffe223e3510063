package setup

import (
	"testing"
)

// The benchmark circuit: 64 16-bit range checks (one commitment) and 15000
// multiplications, 15339 constraints, domain 2^14.
const (
	benchInputs = 64
	benchMul    = 15000
)

// BenchmarkCeremony runs a whole 3-participant ceremony (phase 1 and phase
// 2, each contribution verified by the next participant, both sealed) for a
// circuit of about 2^14 constraints.
func BenchmarkCeremony(b *testing.B) {
	ccs := compileRange(b, benchInputs, benchMul)
	b.Logf("%d constraints", ccs.GetNbConstraints())
	var tr *Transcript
	for b.Loop() {
		var err error
		if _, tr, err = RunLocalCeremony(ccs, 3, beacon1, beacon2); err != nil {
			b.Fatal(err)
		}
	}
	enc, err := tr.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(tr.Phase1[0])), "phase1-B/contrib")
	b.ReportMetric(float64(len(tr.Phase2[0])), "phase2-B/contrib")
	b.ReportMetric(float64(len(enc)), "transcript-B")
}

// BenchmarkCeremonySteps times each step of the same ceremony on its own:
// what one node spends per step when the ceremony runs over the network.
func BenchmarkCeremonySteps(b *testing.B) {
	ccs := compileRange(b, benchInputs, benchMul)
	domain := circuitDomain(mustR1CS(b, ccs))
	p0, err := NewPhase1(domain)
	if err != nil {
		b.Fatal(err)
	}
	p1, err := p0.Contribute()
	if err != nil {
		b.Fatal(err)
	}
	enc1, _ := p1.MarshalBinary()
	srs, err := SealPhase1(domain, beacon1, p1)
	if err != nil {
		b.Fatal(err)
	}
	q0, err := NewPhase2(ccs, srs)
	if err != nil {
		b.Fatal(err)
	}
	q1, err := q0.Contribute()
	if err != nil {
		b.Fatal(err)
	}
	enc2, _ := q1.MarshalBinary()
	_, tr, err := RunLocalCeremony(ccs, 3, beacon1, beacon2)
	if err != nil {
		b.Fatal(err)
	}

	steps := []struct {
		name string
		run  func() error
	}{
		{"phase1/contribute", func() error { _, err := p0.Contribute(); return err }},
		{"phase1/decode", func() error { return new(Phase1).UnmarshalBinary(enc1) }},
		{"phase1/verify", func() error { return VerifyPhase1Step(p0, p1) }},
		{"phase1/seal", func() error { _, err := SealPhase1(domain, beacon1, p1); return err }},
		{"phase2/init", func() error { _, err := NewPhase2(ccs, srs); return err }},
		{"phase2/contribute", func() error { _, err := q0.Contribute(); return err }},
		{"phase2/decode", func() error { return new(Phase2).UnmarshalBinary(enc2) }},
		{"phase2/verify", func() error { return VerifyPhase2Step(q0, q1) }},
		{"phase2/seal", func() error { _, err := SealPhase2(ccs, srs, beacon2, q1); return err }},
		{"transcript/verify-3+3", func() error { _, err := tr.Verify(ccs); return err }},
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

package setup

import (
	"bytes"
	"sync"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"
	cs "github.com/consensys/gnark/constraint/bn254"
	"github.com/consensys/gnark/frontend"
)

// The default circuit: four 16-bit range checks (one commitment) and 200
// multiplications, 239 constraints, domain 2^8.
const (
	fixtureInputs = 4
	fixtureMul    = 200
)

var (
	beacon1 = Beacon(bytes.Repeat([]byte{0xb1}, 32))
	beacon2 = Beacon(bytes.Repeat([]byte{0xb2}, 32))

	fixtureCircuit = sync.OnceValue(func() constraint.ConstraintSystem { return mustCompile(fixtureInputs, fixtureMul) })
	// otherCircuit has one more input: same shape, another digest.
	otherCircuit = sync.OnceValue(func() constraint.ConstraintSystem { return mustCompile(fixtureInputs+1, fixtureMul) })
)

// ceremony is a finished 3-participant ceremony on the fixture circuit.
type ceremony struct {
	keys       *Keys
	transcript *Transcript
}

var (
	ceremonyOnce      = sync.OnceValues(func() (*ceremony, error) { return runFixture() })
	otherCeremonyOnce = sync.OnceValues(func() (*ceremony, error) { return runFixture() })
)

func runFixture() (*ceremony, error) {
	keys, tr, err := RunLocalCeremony(fixtureCircuit(), 3, beacon1, beacon2)
	if err != nil {
		return nil, err
	}
	return &ceremony{keys: keys, transcript: tr}, nil
}

// fixture returns the shared ceremony; other returns a second, independent
// one on the same circuit with the same beacons.
func fixture(tb testing.TB) *ceremony {
	tb.Helper()
	c, err := ceremonyOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func other(tb testing.TB) *ceremony {
	tb.Helper()
	c, err := otherCeremonyOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// cloneTranscript deep-copies a transcript so that a test can tamper with it.
func cloneTranscript(t *Transcript) *Transcript {
	c := *t
	c.Phase1 = make([][]byte, len(t.Phase1))
	for i := range t.Phase1 {
		c.Phase1[i] = bytes.Clone(t.Phase1[i])
	}
	c.Phase2 = make([][]byte, len(t.Phase2))
	for i := range t.Phase2 {
		c.Phase2[i] = bytes.Clone(t.Phase2[i])
	}
	c.Beacon1 = bytes.Clone(t.Beacon1)
	c.Beacon2 = bytes.Clone(t.Beacon2)
	c.VerifyingKey = bytes.Clone(t.VerifyingKey)
	return &c
}

// proveAndVerify proves the fixture circuit with xs (public sum = sum) and
// verifies the proof against the public input pubSum.
func proveAndVerify(tb testing.TB, ccs constraint.ConstraintSystem, pk groth16.ProvingKey, vk groth16.VerifyingKey, xs []uint64, pubSum uint64) error {
	tb.Helper()
	var sum uint64
	for _, x := range xs {
		sum += x
	}
	w, err := frontend.NewWitness(rangeAssignment(xs, sum), ecc.BN254.ScalarField())
	if err != nil {
		tb.Fatal(err)
	}
	proof, err := groth16.Prove(ccs, pk, w)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := frontend.NewWitness(rangeAssignment(make([]uint64, len(xs)), pubSum), ecc.BN254.ScalarField(), frontend.PublicOnly())
	if err != nil {
		tb.Fatal(err)
	}
	return groth16.Verify(proof, vk, pub)
}

func mustR1CS(tb testing.TB, ccs constraint.ConstraintSystem) *cs.R1CS {
	tb.Helper()
	r, err := bn254R1CS(ccs)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

package setup

import (
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/logger"
	"github.com/consensys/gnark/std/rangecheck"
)

func init() { logger.Disable() }

// rangeCircuit range-checks its private inputs to 16 bits with gnark's std
// rangecheck (which uses a Groth16 commitment, BSB22) and binds their sum
// to a public input; mul adds a chain of multiplications to size it.
type rangeCircuit struct {
	X   []frontend.Variable
	Sum frontend.Variable `gnark:",public"`
	mul int
}

func (c *rangeCircuit) Define(api frontend.API) error {
	rc := rangecheck.New(api)
	sum := frontend.Variable(0)
	for _, x := range c.X {
		rc.Check(x, 16)
		sum = api.Add(sum, x)
	}
	api.AssertIsEqual(sum, c.Sum)
	acc := frontend.Variable(1)
	for i := range c.mul {
		acc = api.Mul(acc, api.Add(c.X[i%len(c.X)], 1))
	}
	if c.mul > 0 {
		api.AssertIsDifferent(acc, 0)
	}
	return nil
}

func compileRange(tb testing.TB, nbInputs, mul int) constraint.ConstraintSystem {
	tb.Helper()
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder,
		&rangeCircuit{X: make([]frontend.Variable, nbInputs), mul: mul})
	if err != nil {
		tb.Fatal(err)
	}
	return ccs
}

// rangeAssignment returns an assignment of xs with sum as the public input.
func rangeAssignment(xs []uint64, sum uint64) *rangeCircuit {
	a := &rangeCircuit{X: make([]frontend.Variable, len(xs)), Sum: sum}
	for i, x := range xs {
		a.X[i] = x
	}
	return a
}

func mustCompile(nbInputs, mul int) constraint.ConstraintSystem {
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder,
		&rangeCircuit{X: make([]frontend.Variable, nbInputs), mul: mul})
	if err != nil {
		panic(err)
	}
	return ccs
}

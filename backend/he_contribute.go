package backend

import (
	"fmt"

	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/heproof"
)

func (b *heBackend) Prove(pk groth16.ProvingKey, c circuits.Contribution) (circuits.Statement, []byte, error) {
	sys, err := b.ds.CompileHE()
	if err != nil {
		return circuits.Statement{}, nil, err
	}
	prover, err := heproof.NewProver(sys, pk, b.ds.HE.Params, b.ds.HE.Key)
	if err != nil {
		return circuits.Statement{}, nil, err
	}
	p, err := prover.Build(c, nil)
	if err != nil {
		return circuits.Statement{}, nil, fmt.Errorf("proving: %w", err)
	}
	st, err := p.Statement(b.ds.HE.Params)
	if err != nil {
		return circuits.Statement{}, nil, err
	}
	enc, err := p.MarshalBinary()
	if err != nil {
		return circuits.Statement{}, nil, err
	}
	return st, enc, nil
}

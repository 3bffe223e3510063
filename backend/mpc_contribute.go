package backend

import (
	"fmt"

	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/mpc"
)

func (b *mpcBackend) Prove(pk groth16.ProvingKey, c circuits.Contribution) (circuits.Statement, []byte, error) {
	sys, err := b.ds.Compile()
	if err != nil {
		return circuits.Statement{}, nil, err
	}
	prover, err := mpc.NewProver(sys, pk, b.ds.Seal)
	if err != nil {
		return circuits.Statement{}, nil, err
	}
	p, err := prover.Build(c, nil)
	if err != nil {
		return circuits.Statement{}, nil, fmt.Errorf("proving: %w", err)
	}
	enc, err := p.MarshalBinary()
	if err != nil {
		return circuits.Statement{}, nil, err
	}
	return p.Statement(), enc, nil
}

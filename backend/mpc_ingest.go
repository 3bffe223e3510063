package backend

import (
	"fmt"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/seal"
)

func (b *mpcBackend) Prepare() error {
	_, err := b.ds.Compile()
	return err
}

func (b *mpcBackend) Decode(raw []byte) (Payload, error) {
	p, err := mpc.UnmarshalPayload(raw, b.lim)
	if err != nil {
		return nil, malformed{err}
	}
	return &mpcPayload{p: p, m: b.lim.Len}, nil
}

func (*mpcBackend) Stored() string { return "share" }

// mpcPayload is an MPC payload: public inputs with one share commitment
// per node, the proof, and one share sealed to each node.
type mpcPayload struct {
	p *mpc.Payload
	m int // the dataset's vector length
}

func (p *mpcPayload) Public() *circuits.PublicInputs { return &p.p.Public }

func (p *mpcPayload) Proof() *circuits.Proof { return p.p.Proof }

func (p *mpcPayload) Statement() (circuits.Statement, error) { return p.p.Statement(), nil }

func (p *mpcPayload) Accept(key *seal.PrivateKey, index int) ([]byte, error) {
	share, err := mpc.OpenPayload(key, index, p.m, p.p)
	if err != nil {
		return nil, refusal(fmt.Sprintf("the share sealed to node %d does not open or does not match its commitment: %v", index, err))
	}
	sb, err := mpc.MarshalShare(share)
	if err != nil {
		return nil, fmt.Errorf("encode share: %w", err)
	}
	return sb, nil
}

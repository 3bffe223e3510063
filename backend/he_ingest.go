package backend

import (
	"fmt"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/heproof"
	"github.com/cohort-dev/cohort/seal"
)

// Prepare checks nothing: the HE circuit was checked when the dataset's
// ceremony ran.
func (*heBackend) Prepare() error { return nil }

func (b *heBackend) Decode(raw []byte) (Payload, error) {
	p, err := heproof.UnmarshalPayload(raw, b.ds.HE.Params)
	if err != nil {
		return nil, malformed{err}
	}
	return &hePayload{p: p, params: b.ds.HE.Params}, nil
}

func (*heBackend) Stored() string { return "ciphertext" }

// hePayload is an HE payload: consent inputs, the proof, and the record's
// ciphertext under the collective key.
type hePayload struct {
	p      *heproof.Payload
	params *he.Params
}

func (p *hePayload) Public() *circuits.PublicInputs { return &p.p.Public }

func (p *hePayload) Proof() *circuits.Proof { return p.p.Proof }

func (p *hePayload) Statement() (circuits.Statement, error) {
	st, err := p.p.Statement(p.params)
	if err != nil {
		return circuits.Statement{}, malformed{err}
	}
	return st, nil
}

// Accept returns the ciphertext: every node stores every record's.
func (p *hePayload) Accept(*seal.PrivateKey, int) ([]byte, error) {
	b, err := p.p.Ciphertext.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode ciphertext: %w", err)
	}
	return b, nil
}

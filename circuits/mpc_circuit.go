package circuits

import (
	"fmt"

	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/rangecheck"

	"github.com/cohort-dev/cohort/circuits/hash"
)

// MPCContribution is the contribution circuit of the MPC backend. It proves,
// for public consent terms and share commitments, knowledge of a registry
// member's secret, of a valid record v, and of k additive shares of v with
// blindings such that C_j = H_sh(j, ρ_j, share_j…) for every node j.
//
// The public inputs, in this order, are Dataset, Epoch, Root, Nullifier,
// Purposes, Expiry, MinCohort, Revocation and ShareCommitments[0..k−1]
// (see [PublicInputs.Vector]).
type MPCContribution struct {
	shape MPCShape

	Dataset          frontend.Variable   `gnark:",public"`
	Epoch            frontend.Variable   `gnark:",public"`
	Root             frontend.Variable   `gnark:",public"`
	Nullifier        frontend.Variable   `gnark:",public"`
	Purposes         frontend.Variable   `gnark:",public"`
	Expiry           frontend.Variable   `gnark:",public"`
	MinCohort        frontend.Variable   `gnark:",public"`
	Revocation       frontend.Variable   `gnark:",public"`
	ShareCommitments []frontend.Variable `gnark:",public"`

	Secret   frontend.Variable
	Index    frontend.Variable
	Siblings []frontend.Variable
	Record   []frontend.Variable   // v
	Shares   [][]frontend.Variable // Shares[j] is node j's share of v
	Blinds   []frontend.Variable   // ρ_j
}

// NewMPCContribution returns an empty circuit of the given shape, for compiling.
func NewMPCContribution(sh MPCShape) *MPCContribution {
	c := &MPCContribution{
		shape:            sh,
		ShareCommitments: make([]frontend.Variable, sh.Nodes),
		Siblings:         make([]frontend.Variable, sh.Depth),
		Record:           make([]frontend.Variable, sh.Layout.Len),
		Shares:           make([][]frontend.Variable, sh.Nodes),
		Blinds:           make([]frontend.Variable, sh.Nodes),
	}
	for j := range c.Shares {
		c.Shares[j] = make([]frontend.Variable, sh.Layout.Len)
	}
	return c
}

// Define implements frontend.Circuit.
func (c *MPCContribution) Define(api frontend.API) error {
	sh := c.shape
	if len(c.Record) != sh.Layout.Len || len(c.Shares) != sh.Nodes || len(c.Blinds) != sh.Nodes ||
		len(c.ShareCommitments) != sh.Nodes || len(c.Siblings) != sh.Depth {
		return fmt.Errorf("%w: circuit vectors do not match the shape", ErrShape)
	}
	h, err := hash.NewHasher(api)
	if err != nil {
		return err
	}
	rc := rangecheck.New(api)

	cons := consent{
		Dataset: c.Dataset, Epoch: c.Epoch, Root: c.Root, Nullifier: c.Nullifier,
		Purposes: c.Purposes, Expiry: c.Expiry, MinCohort: c.MinCohort, Revocation: c.Revocation,
		Secret: c.Secret, Index: c.Index, Siblings: c.Siblings,
	}
	cons.define(api, h, rc, sh.PurposeBits)
	assertValid(api, rc, sh.Layout, c.Record)
	assertShares(api, h, c.Record, c.Shares, c.Blinds, c.ShareCommitments)
	return nil
}

// assertShares constrains Σ_j shares[j] = v coordinate-wise and
// commitments[j] = H_sh(j, blinds[j], shares[j]…).
func assertShares(api frontend.API, h *hash.Hasher, v []frontend.Variable, shares [][]frontend.Variable, blinds, commitments []frontend.Variable) {
	for i := range v {
		var sum frontend.Variable = 0
		for j := range shares {
			sum = api.Add(sum, shares[j][i])
		}
		api.AssertIsEqual(sum, v[i])
	}
	for j := range shares {
		in := make([]frontend.Variable, 0, 2+len(shares[j]))
		in = append(in, j, blinds[j])
		in = append(in, shares[j]...)
		api.AssertIsEqual(commitments[j], h.Sum(hash.ShareCommitment, in...))
	}
}

package setup

import "github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"

// SRS is the sealed result of phase 1: [τⁱ]₁ for i < 2N−1, [τⁱ]₂, [ατⁱ]₁ and
// [βτⁱ]₁ for i < N, and [β]₂, where no one knows τ, α, β if one phase-1
// participant was honest. It is circuit-independent: one SRS serves every
// circuit of the federation with at most N constraints. An SRS is only ever
// obtained from SealPhase1 (or a transcript's replay), so it is always the
// product of a verified chain; it has no encoding of its own, because anyone
// who needs it re-derives it from the public phase-1 contributions.
type SRS struct {
	domainSize uint64
	commons    mpcsetup.SrsCommons
}

// DomainSize returns N, the largest number of constraints the SRS supports.
func (s *SRS) DomainSize() uint64 {
	if s == nil {
		return 0
	}
	return s.domainSize
}

// truncated returns the SRS restricted to a domain of n ≤ N points. Powers of
// τ form a prefix, so the first 2n−1 (resp. n) of them are a valid SRS for n:
// a circuit's keys are sized to its own domain, not the federation's. The
// slices share storage with s; gnark's phase 2 only reads them.
func (s *SRS) truncated(n uint64) *mpcsetup.SrsCommons {
	var c mpcsetup.SrsCommons
	c.G1.Tau = s.commons.G1.Tau[:2*n-1]
	c.G1.AlphaTau = s.commons.G1.AlphaTau[:n]
	c.G1.BetaTau = s.commons.G1.BetaTau[:n]
	c.G2.Tau = s.commons.G2.Tau[:n]
	c.G2.Beta = s.commons.G2.Beta
	return &c
}

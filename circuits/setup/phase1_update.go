package setup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"

	curve "github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	cryptompc "github.com/consensys/gnark-crypto/ecc/bn254/mpcsetup"
	"github.com/consensys/gnark-crypto/parallel"
	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
)

// A phase-1 contribution and the beacon's seal multiply every point of the
// state by a power of the secrets: [τⁱ]₁ by τ'ⁱ, [ατⁱ]₁ by α'τ'ⁱ, and so
// on, 4N−1 scalar multiplications for a domain of N points. gnark's
// SrsCommons.update makes them one after the other in affine coordinates
// (one field inversion each); updateCommons makes the same
// multiplications, split across the CPUs, in Jacobian coordinates with
// one batch inversion per part, and gives the same points. Contribute and
// sealPhase1 use it with the secrets and the beacon's scalars gnark's
// Phase1.Contribute and Phase1.Seal would draw (TestPhase1UpdateMatchesGnark
// compares the results byte for byte).

// phase1BeaconDST is the domain separation of phase 1's beacon scalars
// (gnark's Phase1.Seal).
const phase1BeaconDST = "Groth16 MPC Setup - Phase 1"

// updateCommons multiplies c, in place, by the contribution (τ', α', β'):
// [τⁱ]₁ and [τⁱ]₂ by τ'ⁱ, [ατⁱ]₁ by α'τ'ⁱ, [βτⁱ]₁ by β'τ'ⁱ, [β]₂ by β'.
func updateCommons(c *mpcsetup.SrsCommons, tau, alpha, beta *fr.Element) {
	pow := make([]fr.Element, len(c.G1.Tau))
	pow[0].SetOne()
	for i := 1; i < len(pow); i++ {
		pow[i].Mul(&pow[i-1], tau)
	}
	n := len(c.G2.Tau)
	scaleG1(c.G1.Tau[1:], pow[1:], nil)
	scaleG1(c.G1.AlphaTau, pow[:n], alpha)
	scaleG1(c.G1.BetaTau, pow[:n], beta)
	scaleG2(c.G2.Tau[1:], pow[1:n])
	var b big.Int
	beta.BigInt(&b)
	c.G2.Beta.ScalarMultiplication(&c.G2.Beta, &b)
	// pow[1] is τ' itself: drop the powers with the secrets.
	clear(pow)
}

// scaleG1 sets points[i] to (factor·scalars[i])·points[i] (factor nil
// meaning one), in parallel.
func scaleG1(points []curve.G1Affine, scalars []fr.Element, factor *fr.Element) {
	parallel.Execute(len(points), func(start, end int) {
		jac := make([]curve.G1Jac, end-start)
		var s fr.Element
		var b big.Int
		for i := range jac {
			s = scalars[start+i]
			if factor != nil {
				s.Mul(&s, factor)
			}
			s.BigInt(&b)
			jac[i].FromAffine(&points[start+i])
			jac[i].ScalarMultiplication(&jac[i], &b)
		}
		copy(points[start:end], curve.BatchJacobianToAffineG1(jac))
	})
}

// scaleG2 sets points[i] to scalars[i]·points[i], in parallel.
func scaleG2(points []curve.G2Affine, scalars []fr.Element) {
	parallel.Execute(len(points), func(start, end int) {
		var b big.Int
		for i := start; i < end; i++ {
			scalars[i].BigInt(&b)
			points[i].ScalarMultiplication(&points[i], &b)
		}
	})
}

// commonsOf decodes the SRS vectors of an encoded phase-1 state enc,
// laid out as gnark's SrsCommons.WriteTo writes them (N, [β]₂, [τ¹…τ²ᴺ⁻²]₁,
// [τ¹…τᴺ⁻¹]₂, [βτⁱ]₁, [ατⁱ]₁). enc is the encoding of a state this package
// holds, decoded with every check or computed here, so its points are not
// checked again for the subgroup.
func commonsOf(enc []byte) (*mpcsetup.SrsCommons, error) {
	if len(enc) < phase1DomainOffset+8 {
		return nil, fmt.Errorf("%w: phase-1 state of %d bytes", ErrMalformed, len(enc))
	}
	n := binary.BigEndian.Uint64(enc[phase1DomainOffset:])
	if !isDomainSize(n) {
		return nil, fmt.Errorf("%w: domain size %d", ErrMalformed, n)
	}
	c := new(mpcsetup.SrsCommons)
	c.G1.Tau = make([]curve.G1Affine, 2*n-1)
	c.G2.Tau = make([]curve.G2Affine, n)
	c.G1.AlphaTau = make([]curve.G1Affine, n)
	c.G1.BetaTau = make([]curve.G1Affine, n)
	_, _, c.G1.Tau[0], c.G2.Tau[0] = curve.Generators()
	dec := curve.NewDecoder(bytes.NewReader(enc[phase1DomainOffset+8:]), curve.NoSubgroupChecks())
	for _, v := range commonsRefs(c)[1:] {
		if err := dec.Decode(v); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// commonsRefs lists c's fields in the order of gnark's SrsCommons
// encoding: N, then one pointer per point.
func commonsRefs(c *mpcsetup.SrsCommons) []any {
	refs := make([]any, 0, 2+len(c.G1.Tau)+2*len(c.G2.Tau)-1)
	refs = append(refs, uint64(len(c.G2.Tau)), &c.G2.Beta)
	for i := 1; i < len(c.G1.Tau); i++ {
		refs = append(refs, &c.G1.Tau[i])
	}
	for i := 1; i < len(c.G2.Tau); i++ {
		refs = append(refs, &c.G2.Tau[i])
	}
	for i := range c.G1.BetaTau {
		refs = append(refs, &c.G1.BetaTau[i])
	}
	for i := range c.G1.AlphaTau {
		refs = append(refs, &c.G1.AlphaTau[i])
	}
	return refs
}

// contributePhase1 is gnark's Phase1.Contribute on a copy of prev, with
// the points multiplied by updateCommons: the challenge is the hash of
// prev's encoding, τ', α', β' are drawn from crypto/rand by gnark-crypto's
// UpdateValues with gnark's domain separations, which also proves
// knowledge of each.
func contributePhase1(prev *mpcsetup.Phase1) (*mpcsetup.Phase1, error) {
	enc, err := encode(prev)
	if err != nil {
		return nil, err
	}
	challenge := sha256.Sum256(enc)
	c, err := commonsOf(enc)
	if err != nil {
		return nil, err
	}
	var tau, alpha, beta fr.Element
	proofs := []cryptompc.UpdateProof{
		cryptompc.UpdateValues(&tau, challenge[:], mpcsetup.DST_TAU),
		cryptompc.UpdateValues(&alpha, challenge[:], mpcsetup.DST_ALPHA),
		cryptompc.UpdateValues(&beta, challenge[:], mpcsetup.DST_BETA),
	}
	updateCommons(c, &tau, &alpha, &beta)
	tau.SetZero()
	alpha.SetZero()
	beta.SetZero()

	var b bytes.Buffer
	for i := range proofs {
		if _, err := proofs[i].WriteTo(&b); err != nil {
			return nil, err
		}
	}
	// The points uncompressed: gnark's decoder reads either form, and
	// reading them raw spares a square root per point. The state re-encodes
	// compressed, as every state does.
	enc2 := curve.NewEncoder(&b, curve.RawEncoding())
	for _, v := range commonsRefs(c) {
		if err := enc2.Encode(v); err != nil {
			return nil, err
		}
	}
	b.WriteByte(byte(len(challenge)))
	b.Write(challenge[:])
	next := new(mpcsetup.Phase1)
	r := bytes.NewReader(b.Bytes())
	if _, err := next.ReadFrom(r); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left re-reading a contribution", r.Len())
	}
	return next, nil
}

// sealCommons is gnark's Phase1.Seal on last with the points multiplied
// by updateCommons: the beacon's scalars hash last's encoding with the
// beacon under gnark's domain separation. last is not modified.
func sealCommons(last *mpcsetup.Phase1, beacon Beacon) (*mpcsetup.SrsCommons, error) {
	enc, err := encode(last)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(enc)
	c, err := commonsOf(enc)
	if err != nil {
		return nil, err
	}
	s := cryptompc.BeaconContributions(h[:], []byte(phase1BeaconDST), beacon, 3)
	updateCommons(c, &s[0], &s[1], &s[2])
	return c, nil
}

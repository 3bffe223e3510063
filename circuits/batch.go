package circuits

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr/hash_to_field"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
	"github.com/consensys/gnark/constraint"
)

// Batch verification (docs/design.md §5.6).
//
// gnark's verifier accepts a proof (A, B, C) with BSB22 commitments D_1..D_c
// and their folded proof of knowledge P when
//
//	e(A, B) = e(α, β) · e(L, γ) · e(C, δ)             (Groth16)
//	e(Σ_j ρ^(j−1) D_j, −σ_j·G) · e(P, G) = 1            (Pedersen knowledge)
//
// where L = K_0 + Σ_j w_j K_j + Σ_j D_j over the public inputs w extended by
// one hash-to-field of each commitment, and ρ is a hash of those hashes. A
// batch of n statements draws fresh scalars r_i and s_i, each uniform over
// 2^128 values (batch_scalars.go), and checks
// the single equation
//
//	Π e(r_i A_i, B_i) · e(−(Σ r_i) α, β) · e(−L*, γ) · e(−Σ r_i C_i, δ) · Π_j e(Q_j, −σ_j G) · e(Σ s_i P_i, G) = 1
//
// with L* = (Σ r_i) K_0 + Σ_j (Σ_i r_i w_ij) K_j + Σ_i r_i Σ_j D_ij (one MSM
// for the whole batch) and Q_j = Σ_i s_i ρ_i^(j−1) D_ij: one multi-Miller
// loop over n + 4 + c pairs (the last 4 + c with G2 points fixed by the
// key, whose line functions are computed once per Verifier; e(α, β)^(Σ r_i)
// is one of them rather than an exponentiation in GT) and one final
// exponentiation. Every factor lies
// in the order-r group of GT after the final exponentiation, so if any one
// statement's equation fails the batch equation holds with probability at
// most 2^−128 over the choice of r and s (all equations of a statement are
// weighted by independent scalars). A batch of valid statements always
// passes.

// batchItem is a statement that passed the structural checks, with what its
// batch equation needs beyond the proof: the public inputs extended by the
// commitment hashes and the Pedersen folding challenge ρ.
type batchItem struct {
	index int // in the caller's slice
	s     Statement
	ext   []fr.Element
	rho   fr.Element
}

// check does everything gnark's Verify does before its pairing check:
// counts, subgroup membership of every proof point, and the commitment
// hashes. A proof decoded by [Proof.UnmarshalBinary] had every point
// checked by the decoder, which refuses points outside their subgroups
// (the G2 check is a fifth of the batch's cost per proof): its points are
// not checked again. Any other proof (one this package proved, or built by
// its tests) is checked here.
func (v *Verifier) check(s Statement) (batchItem, error) {
	if s.Proof == nil {
		return batchItem{}, fmt.Errorf("%w: no proof", ErrInvalidProof)
	}
	if len(s.Public) != v.nbPublic {
		return batchItem{}, fmt.Errorf("%w: %d public inputs, want %d", ErrInvalidProof, len(s.Public), v.nbPublic)
	}
	p := &s.Proof.p
	committed := v.vk.PublicAndCommitmentCommitted
	if len(p.Commitments) != len(committed) {
		return batchItem{}, fmt.Errorf("%w: %d commitments, want %d", ErrInvalidProof, len(p.Commitments), len(committed))
	}
	if !s.Proof.decoded {
		if err := inSubgroups(p, len(committed) > 0); err != nil {
			return batchItem{}, err
		}
	}

	it := batchItem{s: s, ext: make([]fr.Element, len(s.Public), len(s.Public)+len(committed))}
	copy(it.ext, s.Public)
	h := hash_to_field.New([]byte(constraint.CommitmentDst))
	n := min(h.Size(), fr.Bytes)
	hashes := make([]byte, 0, len(committed)*fr.Bytes)
	for i, wires := range committed {
		// The hash input is the commitment (uncompressed) followed by the
		// committed public wires, indexed from the constant wire; indices
		// past the public inputs name earlier commitment hashes.
		h.Reset()
		h.Write(p.Commitments[i].Marshal())
		for _, w := range wires {
			if w < 1 || w > len(it.ext) {
				return batchItem{}, fmt.Errorf("circuits: verifying key commits to wire %d of %d", w, len(it.ext))
			}
			b := it.ext[w-1].Bytes()
			h.Write(b[:])
		}
		var x fr.Element
		x.SetBytes(h.Sum(nil)[:n])
		it.ext = append(it.ext, x)
		b := x.Bytes()
		hashes = append(hashes, b[:]...)
	}
	it.rho.SetOne()
	if len(committed) > 1 {
		c, err := fr.Hash(hashes, []byte("G16-BSB22"), 1)
		if err != nil {
			return batchItem{}, fmt.Errorf("circuits: commitment challenge: %w", err)
		}
		it.rho = c[0]
	}
	return it, nil
}

// inSubgroups checks that every point of p is in its subgroup, the
// commitment proof only if the key has commitments (as gnark does).
func inSubgroups(p *groth16bn254.Proof, pok bool) error {
	if !p.Ar.IsInSubGroup() || !p.Bs.IsInSubGroup() || !p.Krs.IsInSubGroup() {
		return fmt.Errorf("%w: a proof point is not in the subgroup", ErrInvalidProof)
	}
	for i := range p.Commitments {
		if !p.Commitments[i].IsInSubGroup() {
			return fmt.Errorf("%w: commitment %d is not in the subgroup", ErrInvalidProof, i)
		}
	}
	if pok && !p.CommitmentPok.IsInSubGroup() {
		return fmt.Errorf("%w: the commitment proof is not in the subgroup", ErrInvalidProof)
	}
	return nil
}

// scalars128 draws n fresh non-zero scalars below 2^128 from crypto/rand.
func scalars128(n int) ([]fr.Element, error) {
	buf := make([]byte, 16*n)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("circuits: batch randomness: %w", err)
	}
	out := make([]fr.Element, n)
	for i := range out {
		out[i].SetBytes(buf[16*i : 16*i+16])
		if out[i].IsZero() {
			out[i].SetOne()
		}
	}
	return out, nil
}

// batchHolds reports whether the batch equation holds for items, with
// fresh randomness. Every item has passed check. tasks bounds the
// goroutines of each multi-scalar multiplication and the parts, one
// goroutine each, of the multi-Miller loop over the proofs' pairs.
func (v *Verifier) batchHolds(items []batchItem, tasks int) (bool, error) {
	n := len(items)
	c := len(v.vk.PublicAndCommitmentCommitted)
	ws, err := weights(n)
	if err != nil {
		return false, err
	}
	r := make([]fr.Element, n)
	for i := range ws {
		r[i] = ws[i].r
	}
	var s []fr.Element
	if c > 0 {
		if s, err = scalars128(n); err != nil {
			return false, err
		}
	}
	cfg := ecc.MultiExpConfig{NbTasks: tasks}

	var rSum fr.Element
	for i := range r {
		rSum.Add(&rSum, &r[i])
	}

	// L*: the bases K_0..K_m and every commitment D_ij, one MSM.
	k := v.vk.G1.K
	bases := make([]bn254.G1Affine, 0, len(k)+n*c)
	bases = append(bases, k...)
	sc := make([]fr.Element, len(k), len(k)+n*c)
	sc[0] = rSum
	var t fr.Element
	for i := range items {
		for j := range items[i].ext {
			t.Mul(&r[i], &items[i].ext[j])
			sc[j+1].Add(&sc[j+1], &t)
		}
		for j := range items[i].s.Proof.p.Commitments {
			bases = append(bases, items[i].s.Proof.p.Commitments[j])
			sc = append(sc, r[i])
		}
	}
	var lSum bn254.G1Jac
	if _, err := lSum.MultiExp(bases, sc, cfg); err != nil {
		return false, fmt.Errorf("circuits: batch MSM: %w", err)
	}

	// Σ r_i C_i.
	krs := make([]bn254.G1Affine, n)
	for i := range items {
		krs[i] = items[i].s.Proof.p.Krs
	}
	var cSum bn254.G1Jac
	if _, err := cSum.MultiExp(krs, r, cfg); err != nil {
		return false, fmt.Errorf("circuits: batch MSM: %w", err)
	}

	// The pairs of the key's fixed G2 points (v.fixedLines, in that
	// order): −(Σ r_i) α, −L*, −Σ r_i C_i, the Q_j and Σ s_i P_i.
	g1 := make([]bn254.G1Jac, 3, 4+c)
	var e big.Int
	g1[0].FromAffine(&v.vk.G1.Alpha)
	g1[0].ScalarMultiplication(&g1[0], rSum.BigInt(&e))
	g1[0].Neg(&g1[0])
	g1[1].Neg(&lSum)
	g1[2].Neg(&cSum)
	if c > 0 {
		coef := make([]fr.Element, n)
		pts := make([]bn254.G1Affine, n)
		for j := range c {
			for i := range items {
				coef[i] = s[i]
				for range j {
					coef[i].Mul(&coef[i], &items[i].rho)
				}
				pts[i] = items[i].s.Proof.p.Commitments[j]
			}
			var q bn254.G1Jac
			if _, err := q.MultiExp(pts, coef, cfg); err != nil {
				return false, fmt.Errorf("circuits: batch MSM: %w", err)
			}
			g1 = append(g1, q)
		}
		for i := range items {
			pts[i] = items[i].s.Proof.p.CommitmentPok
		}
		var q bn254.G1Jac
		if _, err := q.MultiExp(pts, s, cfg); err != nil {
			return false, fmt.Errorf("circuits: batch MSM: %w", err)
		}
		g1 = append(g1, q)
	}
	// MillerLoopFixedQ evaluates the lines in place: it gets a copy.
	ml, err := bn254.MillerLoopFixedQ(bn254.BatchJacobianToAffineG1(g1), slices.Clone(v.fixedLines))
	if err != nil {
		return false, fmt.Errorf("circuits: batch Miller loop: %w", err)
	}
	// The pairs (r_i A_i, B_i), one Miller loop per part, the parts in
	// parallel: the product of the parts' loops is the loop over all pairs.
	parts := min(tasks, n)
	mls := make([]bn254.GT, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := k*n/parts, (k+1)*n/parts
		wg.Go(func() { mls[k], errs[k] = proofPairs(items[lo:hi], ws[lo:hi]) })
	}
	wg.Wait()
	for k := range parts {
		if errs[k] != nil {
			return false, errs[k]
		}
		ml.Mul(&ml, &mls[k])
	}
	got := bn254.FinalExponentiation(&ml)
	return got.IsOne(), nil
}

// proofPairs is the Miller loop of the pairs (r_i A_i, B_i) of items.
func proofPairs(items []batchItem, r []weight) (bn254.GT, error) {
	g1 := make([]bn254.G1Jac, len(items))
	g2 := make([]bn254.G2Affine, len(items))
	for i := range items {
		g1[i] = r[i].mul(&items[i].s.Proof.p.Ar)
		g2[i] = items[i].s.Proof.p.Bs
	}
	ml, err := bn254.MillerLoop(bn254.BatchJacobianToAffineG1(g1), g2)
	if err != nil {
		return bn254.GT{}, fmt.Errorf("circuits: batch Miller loop: %w", err)
	}
	return ml, nil
}

// bisect settles items: a batch that holds accepts them all; one that
// fails is split in halves, down to single statements, which gnark's
// verifier settles. known says the batch is known to fail already (its
// sibling half passed), so its own check is skipped.
func (v *Verifier) bisect(items []batchItem, errs []error, tasks int, known bool) {
	if len(items) == 0 {
		return
	}
	if len(items) == 1 {
		errs[items[0].index] = v.Verify(items[0].s)
		return
	}
	if !known {
		ok, err := v.batchHolds(items, tasks)
		if err != nil {
			for _, it := range items {
				errs[it.index] = err
			}
			return
		}
		if ok {
			return
		}
	}
	h := len(items) / 2
	left, right := items[:h], items[h:]
	ok, err := v.batchHolds(left, tasks)
	switch {
	case err != nil:
		for _, it := range left {
			errs[it.index] = err
		}
		v.bisect(right, errs, tasks, false)
	case !ok:
		v.bisect(left, errs, tasks, true)
		v.bisect(right, errs, tasks, false)
	default:
		// The left half holds, so the right half fails.
		v.bisect(right, errs, tasks, true)
	}
}

package he

import (
	"fmt"
	"io"
	"math/big"
)

// Witness is everything a contributor's proof needs about one encryption:
// the secret randomness, the plaintext, and the quotients that turn the
// ring relation into an identity over the integers (see Check). All slices
// have length N.
type Witness struct {
	U      []int64    // ternary
	E0, E1 []int64    // each in [−2^(b−1), 2^(b−1)), b = ErrorBits
	M      []uint64   // plaintext coefficients in [0, t), zero beyond the message
	K0, K1 []int64    // quotients by Q: K0 ∈ [−(N+t), N+1], K1 ∈ [−(N+1), N+1]
	R0, R1 []*big.Int // quotients by X^N+1 (R[N−1] = 0)
	C0, C1 []*big.Int // the ciphertext's integer coefficients in [0, Q)
}

// Encrypt encrypts the plaintext polynomial m (len(m) ≤ N, each m_i < t;
// missing coefficients are zero) under the collective key, with coefficient
// encoding, and returns the ciphertext and the witness of its relation. u is
// uniform ternary and e0, e1 come from lattigo's discrete Gaussian (σ = 3.2,
// |e| ≤ 19, inside the proven range), all from rng (crypto/rand.Reader when
// nil). The witness is secret: it reveals m.
//
// The ciphertext is what lattigo's own public-key encryption computes, in
// NTT form: c0 = u·pk0 + e0 + Δ·m, c1 = u·pk1 + e1 over R_Q.
func (pk *PublicKey) Encrypt(p *Params, m []uint64, rng io.Reader) (*Ciphertext, *Witness, error) {
	if err := pk.checkMessage(p, m); err != nil {
		return nil, nil, err
	}
	stream, err := newStream(rng)
	if err != nil {
		return nil, nil, err
	}
	u, err := sampleTernary(stream, p.n)
	if err != nil {
		return nil, nil, err
	}
	e, err := sampleErrors(p, stream, 2)
	if err != nil {
		return nil, nil, err
	}
	return pk.encryptWith(p, m, u, e[0], e[1])
}

func (pk *PublicKey) checkMessage(p *Params, m []uint64) error {
	if pk == nil || p == nil {
		return fmt.Errorf("he: encrypt: nil key or parameters: %w", ErrInvalidArgument)
	}
	if !p.same(pk.params) {
		return fmt.Errorf("he: encrypt: key is for %q, not %q: %w", pk.params.name(), p.id, ErrMismatch)
	}
	if len(m) > p.n {
		return fmt.Errorf("he: encrypt: %d coefficients, at most N = %d: %w", len(m), p.n, ErrInvalidArgument)
	}
	for i, v := range m {
		if v >= p.t {
			return fmt.Errorf("he: encrypt: coefficient %d is %d ≥ t: %w", i, v, ErrInvalidArgument)
		}
	}
	return nil
}

// encryptWith encrypts m with the given randomness (len N each, in range)
// and derives the witness.
func (pk *PublicKey) encryptWith(p *Params, m []uint64, u, e0, e1 []int64) (*Ciphertext, *Witness, error) {
	rq := p.ringQ
	M := make([]uint64, p.n)
	copy(M, m)

	uNTT := rq.NewPoly()
	for j, x := range u {
		setSigned(uNTT.Coeffs, p.qs, j, x)
	}
	rq.NTT(uNTT, uNTT)
	c0, c1 := rq.NewPoly(), rq.NewPoly()
	rq.MulCoeffsMontgomery(uNTT, pk.pk0, c0) // pk is in Montgomery form
	rq.MulCoeffsMontgomery(uNTT, pk.pk1, c1)
	zeroPoly(uNTT)

	pt := rq.NewPoly()
	for j, x := range M {
		for i, q := range p.qs {
			pt.Coeffs[i][j] = x % q
		}
	}
	rq.MulScalarBigint(pt, p.delta, pt)
	tmp := rq.NewPoly()
	for j, x := range e0 {
		setSigned(tmp.Coeffs, p.qs, j, x)
	}
	rq.Add(pt, tmp, pt)
	rq.NTT(pt, pt)
	rq.Add(c0, pt, c0)
	for j, x := range e1 {
		setSigned(tmp.Coeffs, p.qs, j, x)
	}
	rq.NTT(tmp, tmp)
	rq.Add(c1, tmp, c1)
	zeroPoly(pt)
	zeroPoly(tmp)
	ct := &Ciphertext{params: p, c0: c0, c1: c1}

	w := &Witness{U: u, E0: e0, E1: e1, M: M}
	w.C0, w.C1 = ct.Coefficients()
	pk.prepare()
	var err error
	if w.K0, w.R0, err = quotients(p, w.C0, p.exact.mulTernary(u, pk.exact[0]), e0, M); err != nil {
		return nil, nil, err
	}
	if w.K1, w.R1, err = quotients(p, w.C1, p.exact.mulTernary(u, pk.exact[1]), e1, nil); err != nil {
		return nil, nil, err
	}
	return ct, w, nil
}

// quotients solves C = P + E + Δ·M + Q·K + (X^N+1)·R for K and R, where P
// (len 2N) is the integer product U·pk: R = −P_hi folds the top half back
// (P = P_lo + X^N·P_hi, and P + (X^N+1)·R = P_lo − P_hi), and K is the
// exact quotient of C − (P_lo − P_hi) − E − Δ·M by Q.
func quotients(p *Params, c, prod []*big.Int, e []int64, m []uint64) ([]int64, []*big.Int, error) {
	n := p.n
	if prod[2*n-1].Sign() != 0 {
		return nil, nil, fmt.Errorf("he: witness: product has degree 2N−1")
	}
	k := make([]int64, n)
	r := make([]*big.Int, n)
	var num, rem, x big.Int
	for j := 0; j < n; j++ {
		r[j] = new(big.Int).Neg(prod[n+j])
		num.Sub(c[j], prod[j])
		num.Add(&num, prod[n+j])
		num.Sub(&num, x.SetInt64(e[j]))
		if m != nil {
			num.Sub(&num, x.Mul(p.delta, x.SetUint64(m[j])))
		}
		num.QuoRem(&num, p.q, &rem)
		if rem.Sign() != 0 || !num.IsInt64() {
			return nil, nil, fmt.Errorf("he: witness: coefficient %d is not an exact multiple of Q", j)
		}
		k[j] = num.Int64()
	}
	return k, r, nil
}

// Check verifies the witness against pk exactly, over Z[X]:
//
//	C0 = U·pk0 + E0 + Δ·M + Q·K0 + (X^N+1)·R0
//	C1 = U·pk1 + E1       + Q·K1 + (X^N+1)·R1
//
// with pk0, pk1 = pk.Coefficients() and U·pk the full product (degree up to
// 2N−2), and the ranges the proof enforces: U ternary, E0 and E1 in
// [−2^(b−1), 2^(b−1)), M < t, C0 and C1 in [0, Q). It does not check that
// C0, C1 are a given ciphertext's coefficients; compare them with
// Ciphertext.Coefficients. Failures wrap ErrWitness.
func (w *Witness) Check(p *Params, pk *PublicKey) error {
	if w == nil || p == nil || pk == nil {
		return fmt.Errorf("he: check: nil witness, parameters or key: %w", ErrInvalidArgument)
	}
	if !p.same(pk.params) {
		return fmt.Errorf("he: check: key is for %q, not %q: %w", pk.params.name(), p.id, ErrMismatch)
	}
	if err := w.checkRanges(p); err != nil {
		return err
	}
	pk.prepare()
	if err := checkRelation(p, "c0", w.C0, p.exact.mulTernary(w.U, pk.exact[0]), w.E0, w.M, w.K0, w.R0); err != nil {
		return err
	}
	return checkRelation(p, "c1", w.C1, p.exact.mulTernary(w.U, pk.exact[1]), w.E1, nil, w.K1, w.R1)
}

func (w *Witness) checkRanges(p *Params) error {
	n := p.n
	fail := func(format string, args ...any) error {
		return fmt.Errorf("he: check: %s: %w", fmt.Sprintf(format, args...), ErrWitness)
	}
	lengths := []struct {
		name string
		len  int
	}{{"U", len(w.U)}, {"E0", len(w.E0)}, {"E1", len(w.E1)}, {"M", len(w.M)}, {"K0", len(w.K0)},
		{"K1", len(w.K1)}, {"R0", len(w.R0)}, {"R1", len(w.R1)}, {"C0", len(w.C0)}, {"C1", len(w.C1)}}
	for _, f := range lengths {
		if f.len != n {
			return fail("%s has %d coefficients, want %d", f.name, f.len, n)
		}
	}
	const eMax = 1 << (ErrorBits - 1)
	// R = −P_hi is below N·Q in absolute value; anything much larger cannot
	// satisfy the relation, and is refused before any arithmetic on it.
	rBits := p.q.BitLen() + bitsFor(n) + 1
	for j := 0; j < n; j++ {
		switch {
		case w.U[j] < -1 || w.U[j] > 1:
			return fail("U[%d] = %d is not ternary", j, w.U[j])
		case w.E0[j] < -eMax || w.E0[j] >= eMax:
			return fail("E0[%d] = %d out of range", j, w.E0[j])
		case w.E1[j] < -eMax || w.E1[j] >= eMax:
			return fail("E1[%d] = %d out of range", j, w.E1[j])
		case w.M[j] >= p.t:
			return fail("M[%d] ≥ t", j)
		case w.C0[j] == nil || w.C0[j].Sign() < 0 || w.C0[j].Cmp(p.q) >= 0:
			return fail("C0[%d] not in [0, Q)", j)
		case w.C1[j] == nil || w.C1[j].Sign() < 0 || w.C1[j].Cmp(p.q) >= 0:
			return fail("C1[%d] not in [0, Q)", j)
		case w.R0[j] == nil || w.R0[j].BitLen() > rBits:
			return fail("R0[%d] missing or too large", j)
		case w.R1[j] == nil || w.R1[j].BitLen() > rBits:
			return fail("R1[%d] missing or too large", j)
		}
	}
	return nil
}

// checkRelation checks C = P + E + Δ·M + Q·K + (X^N+1)·R coefficient by
// coefficient over the 2N coefficients of the integer identity.
func checkRelation(p *Params, name string, c, prod []*big.Int, e []int64, m []uint64, k []int64, r []*big.Int) error {
	n := p.n
	var rhs, x big.Int
	for j := 0; j < 2*n; j++ {
		rhs.Set(prod[j])
		if j < n {
			rhs.Add(&rhs, x.SetInt64(e[j]))
			if m != nil {
				rhs.Add(&rhs, x.Mul(p.delta, x.SetUint64(m[j])))
			}
			rhs.Add(&rhs, x.Mul(p.q, x.SetInt64(k[j])))
			rhs.Add(&rhs, r[j])
			if rhs.Cmp(c[j]) != 0 {
				return fmt.Errorf("he: check: %s relation fails at X^%d: %w", name, j, ErrWitness)
			}
		} else {
			rhs.Add(&rhs, r[j-n])
			if rhs.Sign() != 0 {
				return fmt.Errorf("he: check: %s relation fails at X^%d: %w", name, j, ErrWitness)
			}
		}
	}
	return nil
}

// bitsFor returns ⌈log2 n⌉ for n ≥ 1.
func bitsFor(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}

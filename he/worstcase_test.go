package he

import (
	"math/big"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// integerPoly returns the centred integer coefficients of a polynomial held
// in NTT form (Montgomery form too when mont is set).
func integerPoly(p *Params, v ring.Poly, mont bool) []*big.Int {
	tmp := p.ringQ.NewPoly()
	if mont {
		p.ringQ.IMForm(v, tmp)
		p.ringQ.INTT(tmp, tmp)
	} else {
		p.ringQ.INTT(v, tmp)
	}
	return p.crtQ.toInts(tmp, p.N(), true)
}

// noise returns the centred coefficients of c0 + c1·s − Δ·m mod Q.
func noise(p *Params, sk *rlwe.SecretKey, ct *Ciphertext, m []uint64) []*big.Int {
	x := p.ringQ.NewPoly()
	p.ringQ.MulCoeffsMontgomery(ct.c1, sk.Value.Q, x)
	p.ringQ.Add(x, ct.c0, x)
	v := integerPoly(p, x, false)
	for j := range v {
		v[j].Sub(v[j], new(big.Int).Mul(p.Delta(), new(big.Int).SetUint64(m[j])))
		v[j].Mod(v[j], p.Q())
		if v[j].Cmp(new(big.Int).Rsh(p.Q(), 1)) > 0 {
			v[j].Sub(v[j], p.Q())
		}
	}
	return v
}

func sign(x *big.Int) int64 { return int64(x.Sign()) }

// coeff0 is coefficient 0 of a·b in Z[X]/(X^N+1): a_0·b_0 − Σ_{i≥1} a_i·b_{N−i}.
func coeff0(a []int64, b []*big.Int) *big.Int {
	n := len(a)
	out := new(big.Int).Mul(big.NewInt(a[0]), b[0])
	for i := 1; i < n; i++ {
		out.Sub(out, new(big.Int).Mul(big.NewInt(a[i]), b[n-i]))
	}
	return out
}

// TestWorstCaseDecryption builds, at N = 256, the ciphertexts a malicious
// contributor would send within the proof's bounds to make the noise of one
// coefficient as large as possible (u aligned against the signs of e_pk,
// errors at the edge of the range, aligned against s), sums as many as the
// capacity allows, adds the worst smudging draw (every party at +B_sm), and
// checks that decryption is exact at the largest cohort Check accepts; then
// that a total noise one step past t·v + m ≤ (Q−1)/2 decrypts wrongly, so the
// condition Check applies is the one decryption needs.
func TestWorstCaseDecryption(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	n := p.N()
	c := Committee{Nodes: 3, Threshold: 2}
	ck := runKeygen(t, p, c, 60)
	sk := ck.secret()

	// The honest parts fixed by keygen: e_pk = pk0 + pk1·s and s.
	epkPoly := p.ringQ.NewPoly()
	p.ringQ.MulCoeffsMontgomery(ck.pk.pk1, sk.Value.Q, epkPoly)
	p.ringQ.Add(epkPoly, ck.pk.pk0, epkPoly)
	epk := integerPoly(p, epkPoly, true)
	s := integerPoly(p, sk.Value.Q, true)
	for j := range epk {
		if epk[j].CmpAbs(big.NewInt(3*19)) > 0 || s[j].CmpAbs(big.NewInt(3)) > 0 {
			t.Fatal("e_pk or s outside its honest bound")
		}
	}

	// Coefficient 0 of a·b in Z[X]/(X^N+1) is a_0·b_0 − Σ_{i≥1} a_i·b_{N−i}:
	// choose every term positive.
	u := make([]int64, n)
	e0 := make([]int64, n)
	e1 := make([]int64, n)
	const hi, lo = 31, -32 // the proven range [−32, 32)
	u[0] = sign(epk[0])
	e1[0] = hi
	if s[0].Sign() < 0 {
		e1[0] = lo
	}
	for i := 1; i < n; i++ {
		u[i] = -sign(epk[n-i])
		e1[i] = lo
		if s[n-i].Sign() < 0 {
			e1[i] = hi
		}
		e0[i] = hi
	}
	e0[0] = hi
	want := new(big.Int).Add(coeff0(u, epk), big.NewInt(e0[0]))
	want.Add(want, coeff0(e1, s))
	if want.Cmp(new(big.Int).Mul(big.NewInt(int64(n)), big.NewInt(31))) < 0 {
		t.Fatalf("aligned noise %v is not near its bound", want)
	}

	// The largest cohort the capacity check accepts, with coordinates as
	// large as the sum allows.
	capacity := Capacity{Nodes: c.Nodes, Threshold: c.Threshold, MaxCoord: 1, Smudging: Smudging{StatisticalBits: 40}}
	capacity.MaxCohort = largestCohort(t, p, capacity)
	capacity.MaxCoord = (p.T() - 1) / 2 / capacity.MaxCohort
	budget, err := p.Check(capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cohort %d, %v", capacity.MaxCohort, budget)

	const distinct = 4
	cts := make([]*Ciphertext, 0, capacity.MaxCohort)
	sum := make([]uint64, n)
	var records []*Ciphertext
	for r := 0; r < distinct; r++ {
		m := randomMessage(p, n, capacity.MaxCoord+1, uint64(r))
		m[0] = capacity.MaxCoord
		ct, w, err := ck.pk.encryptWith(p, m, u, e0, e1)
		if err != nil {
			t.Fatal(err)
		}
		// A malicious record is still a valid witness: the proof accepts it.
		if err := w.Check(p, ck.pk); err != nil {
			t.Fatal(err)
		}
		if v := noise(p, sk, ct, w.M)[0]; v.Cmp(want) != 0 {
			t.Fatalf("record noise at X^0 is %v, want %v", v, want)
		}
		records = append(records, ct)
	}
	for k := uint64(0); k < capacity.MaxCohort; k++ {
		cts = append(cts, records[k%distinct])
		m := randomMessage(p, n, capacity.MaxCoord+1, k%distinct)
		m[0] = capacity.MaxCoord
		for j := range sum {
			sum[j] += m[j]
		}
	}
	agg, err := Sum(p, cts)
	if err != nil {
		t.Fatal(err)
	}
	aggNoise := noise(p, sk, agg, sum)[0]
	if bound := new(big.Int).Mul(p.recordNoiseBound(c.Nodes), new(big.Int).SetUint64(capacity.MaxCohort)); aggNoise.Cmp(bound) > 0 {
		t.Fatalf("aggregate noise %v above B_agg %v", aggNoise, bound)
	}

	// Shares with a chosen smudging value at X^0 (others zero).
	active := []int{0, 2}
	decryptWith := func(smudge []*big.Int) uint64 {
		parts := make([]*PartialDecryption, len(active))
		for k, i := range active {
			share, err := ck.keys[i].decryptionShare(agg, active)
			if err != nil {
				t.Fatal(err)
			}
			var tmp big.Int
			for l, q := range p.qBig {
				v := tmp.Mod(smudge[k], q).Uint64()
				share.h.Coeffs[l][0] = (share.h.Coeffs[l][0] + v) % p.qs[l]
			}
			if parts[k], err = share.Reveal([]int{0}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := Combine(p, agg, parts, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}

	bsm := budget.SmudgingBound()
	if got := decryptWith([]*big.Int{bsm, bsm}); got != sum[0] {
		t.Fatalf("worst case within the budget decrypts to %d, want %d", got, sum[0])
	}
	// The same with the smudging draw at −B_sm (the other extreme).
	neg := new(big.Int).Neg(bsm)
	if got := decryptWith([]*big.Int{neg, neg}); got != sum[0] {
		t.Fatalf("negative worst case decrypts to %d, want %d", got, sum[0])
	}

	// The exact edge: total noise v with m + t·v = (Q−1)/2 − r, r < t,
	// decrypts; one more unit of noise does not.
	halfQ := new(big.Int).Rsh(p.Q(), 1)
	edge := new(big.Int).Sub(halfQ, new(big.Int).SetUint64(sum[0]))
	edge.Quo(edge, new(big.Int).SetUint64(p.T())) // largest v that decrypts
	extra := new(big.Int).Sub(edge, aggNoise)
	if got := decryptWith([]*big.Int{extra, big.NewInt(0)}); got != sum[0] {
		t.Fatalf("noise at the edge decrypts to %d, want %d", got, sum[0])
	}
	extra.Add(extra, big.NewInt(1))
	if got := decryptWith([]*big.Int{extra, big.NewInt(0)}); got == sum[0] {
		t.Fatal("noise past the edge still decrypts")
	}
	// The budget's worst case sits below the edge by its margin.
	worst := new(big.Int).Add(aggNoise, new(big.Int).Lsh(bsm, 1))
	if worst.Cmp(edge) > 0 {
		t.Fatal("worst case beyond the edge although Check accepted it")
	}
	if !slices.Equal([]uint64{decryptWith([]*big.Int{big.NewInt(0), big.NewInt(0)})}, sum[:1]) {
		t.Fatal("no smudging: wrong plaintext")
	}
}

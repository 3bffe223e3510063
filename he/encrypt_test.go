package he

import (
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

// testSets is the parameter sets a test runs on: the toy set in -short
// mode, the toy set and N = 4096 otherwise.
func testSets(t *testing.T) []ParamSetID {
	if testing.Short() {
		return []ParamSetID{BGVTestN8}
	}
	return []ParamSetID{BGVTestN8, BGVN12Q109}
}

func TestThresholdEndToEnd(t *testing.T) {
	for _, id := range testSets(t) {
		t.Run(string(id), func(t *testing.T) {
			p := mustParams(t, id)
			c := Committee{Nodes: 3, Threshold: 2}
			ck := runKeygen(t, p, c, 10)
			b, err := p.Check(Capacity{Nodes: 3, Threshold: 2, MaxCohort: 16, MaxCoord: 1 << 20, Smudging: Smudging{StatisticalBits: 30}})
			if err != nil {
				t.Fatal(err)
			}
			const records = 5
			want := make([]uint64, p.N())
			cts := make([]*Ciphertext, records)
			for r := range cts {
				m := randomMessage(p, 40, 1<<20, uint64(r))
				for i, v := range m {
					want[i] += v
				}
				if cts[r], _, err = ck.pk.Encrypt(p, m, testRNG(100+uint64(r))); err != nil {
					t.Fatal(err)
				}
			}
			sum, err := Sum(p, cts)
			if err != nil {
				t.Fatal(err)
			}
			for _, active := range [][]int{{0, 1}, {0, 2}, {1, 2}} {
				got := ck.decrypt(t, sum, active, allCoords(p.N()), b, 1000)
				if !slices.Equal(got, want) {
					t.Errorf("active %v: decrypted sum differs from the plaintext sum", active)
				}
			}
			// A subset of coordinates, out of order in Combine.
			coords := []int{3, 7, 39}
			got := ck.decrypt(t, sum, []int{0, 2}, coords, b, 2000)
			for k, j := range coords {
				if got[k] != want[j] {
					t.Errorf("coordinate %d: got %d, want %d", j, got[k], want[j])
				}
			}
		})
	}
}

// TestDemoSchemaCapacityQ132 decrypts, on bgv-n13-q132, the largest
// aggregate the demo schema's dataset can ask for over 10,000 records:
// every coordinate of 25 (the demo record's length) at steps² = 60,000²,
// summed 10,000 times. The sum repeats one ciphertext, so its noise is
// that ciphertext's noise times 10,000, aligned in every coefficient
// rather than a sum of independent draws: harder than 10,000 records.
// Decryption must be exact at 40 bits of smudging for every pair of a
// 2-of-3 committee.
func TestDemoSchemaCapacityQ132(t *testing.T) {
	if testing.Short() {
		t.Skip("N = 8192: full tier")
	}
	const (
		records  = 10_000
		coords   = 25
		maxCoord = 60_000 * 60_000
	)
	p := mustParams(t, BGVN13Q132)
	ck := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 11)
	b, err := p.Check(Capacity{Nodes: 3, Threshold: 2, MaxCohort: records, MaxCoord: maxCoord, Smudging: Smudging{StatisticalBits: 40}})
	if err != nil {
		t.Fatal(err)
	}
	m := make([]uint64, coords)
	for i := range m {
		m[i] = maxCoord - uint64(i)
	}
	ct, _, err := ck.pk.Encrypt(p, m, testRNG(300))
	if err != nil {
		t.Fatal(err)
	}
	cts := make([]*Ciphertext, records)
	for i := range cts {
		cts[i] = ct
	}
	sum, err := Sum(p, cts)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, coords)
	for i := range all {
		all[i] = i
	}
	for k, active := range [][]int{{0, 1}, {0, 2}, {1, 2}} {
		got := ck.decrypt(t, sum, active, all, b, 3000+uint64(k))
		for i, v := range got {
			if want := records * m[i]; v != want {
				t.Fatalf("active %v, coordinate %d: decrypted %d, want %d", active, i, v, want)
			}
		}
	}
}

func TestThreeOfFive(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 5, Threshold: 3}, 20)
	b, err := p.Check(Capacity{Nodes: 5, Threshold: 3, MaxCohort: 4, MaxCoord: 1000, Smudging: Smudging{StatisticalBits: 40}})
	if err != nil {
		t.Fatal(err)
	}
	m := randomMessage(p, p.N(), 1000, 3)
	ct, _, err := ck.pk.Encrypt(p, m, testRNG(4))
	if err != nil {
		t.Fatal(err)
	}
	for _, active := range [][]int{{0, 1, 2}, {1, 3, 4}, {0, 2, 4}} {
		if got := ck.decrypt(t, ct, active, allCoords(p.N()), b, 5); !slices.Equal(got, m) {
			t.Errorf("active %v: wrong plaintext", active)
		}
	}
}

// TestLattigoInterop checks both directions against lattigo itself: its
// Decryptor and Encoder (coefficient mode) decrypt Encrypt's output under
// the collective secret, and threshold decryption decrypts its Encryptor's.
func TestLattigoInterop(t *testing.T) {
	for _, id := range testSets(t) {
		t.Run(string(id), func(t *testing.T) {
			p := mustParams(t, id)
			ck := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 30)
			sk := ck.secret()
			m := randomMessage(p, p.N(), p.T(), 8)
			ct, _, err := ck.pk.Encrypt(p, m, testRNG(9))
			if err != nil {
				t.Fatal(err)
			}
			if got := lattigoDecrypt(t, p, sk, ct); !slices.Equal(got, m) {
				t.Fatal("lattigo does not decrypt Encrypt's ciphertext")
			}

			// The collective key is a valid lattigo key pair with s.
			pt := bgv.NewPlaintext(p.BGV(), p.BGV().MaxLevel())
			pt.IsBatched = false
			if err := bgv.NewEncoder(p.BGV()).Encode(m, pt); err != nil {
				t.Fatal(err)
			}
			lct, err := rlwe.NewEncryptor(p.BGV(), ck.pk.rlwe()).EncryptNew(pt)
			if err != nil {
				t.Fatal(err)
			}
			theirs := &Ciphertext{params: p, c0: lct.Value[0], c1: lct.Value[1]}
			b, err := p.Check(Capacity{Nodes: 3, Threshold: 2, MaxCohort: 1, MaxCoord: 1, Smudging: Smudging{StatisticalBits: 40}})
			if err != nil {
				t.Fatal(err)
			}
			if got := ck.decrypt(t, theirs, []int{1, 2}, allCoords(p.N()), b, 11); !slices.Equal(got, m) {
				t.Fatal("threshold decryption of lattigo's ciphertext is wrong")
			}
		})
	}
}

func TestWitness(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 40)
	m := randomMessage(p, 100, p.T(), 12)
	ct, w, err := ck.pk.Encrypt(p, m, testRNG(13))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(p, ck.pk); err != nil {
		t.Fatalf("honest witness: %v", err)
	}
	c0, c1 := ct.Coefficients()
	if !bigEqual(w.C0, c0) || !bigEqual(w.C1, c1) {
		t.Fatal("witness C0, C1 are not the ciphertext's coefficients")
	}
	if !slices.Equal(w.M[:len(m)], m) || slices.ContainsFunc(w.M[len(m):], func(v uint64) bool { return v != 0 }) {
		t.Fatal("witness M is not the message padded with zeros")
	}
	n64, t64 := int64(p.N()), int64(p.T())
	for j := range w.K0 {
		if w.K0[j] < -(n64+t64) || w.K0[j] > n64+1 || w.K1[j] < -(n64+1) || w.K1[j] > n64+1 {
			t.Fatalf("K0[%d] = %d or K1[%d] = %d outside the documented range", j, w.K0[j], j, w.K1[j])
		}
	}
	if w.R0[p.N()-1].Sign() != 0 || w.R1[p.N()-1].Sign() != 0 {
		t.Fatal("top coefficient of R is not zero")
	}
	for _, e := range [][]int64{w.E0, w.E1} {
		for _, v := range e {
			if v < -32 || v >= 32 {
				t.Fatal("error out of the proven range")
			}
		}
	}

	// The relation by hand, with a schoolbook product, on coefficient 5 of c0.
	pk0, _ := ck.pk.Coefficients()
	n, j := p.N(), 5
	lhs := new(big.Int)
	for i := 0; i < n; i++ {
		// coefficient j of U·pk0 over Z[X] and of X^N·(U·pk0)'s top half
		if j-i >= 0 {
			lhs.Add(lhs, new(big.Int).Mul(big.NewInt(w.U[i]), pk0[j-i]))
		}
	}
	lhs.Add(lhs, big.NewInt(w.E0[j]))
	lhs.Add(lhs, new(big.Int).Mul(p.Delta(), new(big.Int).SetUint64(w.M[j])))
	lhs.Add(lhs, new(big.Int).Mul(p.Q(), big.NewInt(w.K0[j])))
	lhs.Add(lhs, w.R0[j])
	if lhs.Cmp(w.C0[j]) != 0 {
		t.Fatal("relation does not hold at X^5 by hand")
	}

	one := big.NewInt(1)
	cases := []struct {
		name string
		edit func(w *Witness)
	}{
		{"U flipped", func(w *Witness) { w.U[3] = -w.U[3] + boolInt(w.U[3] == 0) }},
		{"U not ternary", func(w *Witness) { w.U[3] = 2 }},
		{"E0 +1", func(w *Witness) { w.E0[7]++ }},
		{"E1 +1", func(w *Witness) { w.E1[7]++ }},
		{"E0 out of range", func(w *Witness) { w.E0[7] = 32 }},
		{"E1 out of range", func(w *Witness) { w.E1[7] = -33 }},
		{"M +1", func(w *Witness) { w.M[2] = (w.M[2] + 1) % p.T() }},
		{"M = t", func(w *Witness) { w.M[2] = p.T() }},
		{"K0 +1", func(w *Witness) { w.K0[9]++ }},
		{"K1 −1", func(w *Witness) { w.K1[9]-- }},
		{"R0 +1", func(w *Witness) { w.R0[11] = new(big.Int).Add(w.R0[11], one) }},
		{"R1 +1", func(w *Witness) { w.R1[11] = new(big.Int).Add(w.R1[11], one) }},
		{"R0 top", func(w *Witness) { w.R0[n-1] = big.NewInt(1) }},
		{"R1 huge", func(w *Witness) { w.R1[0] = new(big.Int).Lsh(one, 4000) }},
		{"C0 +1", func(w *Witness) { w.C0[0] = new(big.Int).Add(w.C0[0], one) }},
		{"C1 +1", func(w *Witness) { w.C1[0] = new(big.Int).Add(w.C1[0], one) }},
		{"C0 = Q", func(w *Witness) { w.C0[1] = p.Q() }},
		{"C1 nil", func(w *Witness) { w.C1[1] = nil }},
		{"short U", func(w *Witness) { w.U = w.U[:n-1] }},
		{"short K1", func(w *Witness) { w.K1 = w.K1[:1] }},
		// Same value mod Q, not over Z: K absorbs Q, C must stay put.
		{"C0 shifted by Q", func(w *Witness) { w.C0[4] = new(big.Int).Add(w.C0[4], p.Q()); w.K0[4]++ }},
	}
	for _, tc := range cases {
		bad := cloneWitness(w)
		tc.edit(bad)
		if err := bad.Check(p, ck.pk); !errors.Is(err, ErrWitness) {
			t.Errorf("%s: Check = %v, want ErrWitness", tc.name, err)
		}
	}
	// Another key refuses the witness.
	other := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 41)
	if err := w.Check(p, other.pk); !errors.Is(err, ErrWitness) {
		t.Errorf("other key: %v", err)
	}
	if err := w.Check(mustParams(t, BGVN12Q109), ck.pk); !errors.Is(err, ErrMismatch) {
		t.Errorf("other parameters: %v", err)
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cloneWitness(w *Witness) *Witness {
	return &Witness{
		U: slices.Clone(w.U), E0: slices.Clone(w.E0), E1: slices.Clone(w.E1), M: slices.Clone(w.M),
		K0: slices.Clone(w.K0), K1: slices.Clone(w.K1),
		R0: copyInts(w.R0), R1: copyInts(w.R1), C0: copyInts(w.C0), C1: copyInts(w.C1),
	}
}

func TestEncryptArguments(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 2, Threshold: 2}, 50)
	cases := []struct {
		name string
		p    *Params
		m    []uint64
		want error
	}{
		{"too long", p, make([]uint64, p.N()+1), ErrInvalidArgument},
		{"coefficient = t", p, []uint64{1, p.T()}, ErrInvalidArgument},
		{"other parameters", mustParams(t, BGVN12Q109), []uint64{1}, ErrMismatch},
		{"nil parameters", nil, []uint64{1}, ErrInvalidArgument},
	}
	for _, tc := range cases {
		if _, _, err := ck.pk.Encrypt(tc.p, tc.m, testRNG(1)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Deterministic given the randomness; different with different randomness.
	a, _, _ := ck.pk.Encrypt(p, []uint64{1, 2, 3}, testRNG(7))
	b, _, _ := ck.pk.Encrypt(p, []uint64{1, 2, 3}, testRNG(7))
	c, _, _ := ck.pk.Encrypt(p, []uint64{1, 2, 3}, testRNG(8))
	if a.Digest() != b.Digest() || a.Digest() == c.Digest() {
		t.Error("encryption is not a function of its randomness")
	}
	// Full-length message and the largest coefficient.
	m := make([]uint64, p.N())
	for i := range m {
		m[i] = p.T() - 1 - uint64(i)
	}
	ct, w, err := ck.pk.Encrypt(p, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(p, ck.pk); err != nil {
		t.Fatal(err)
	}
	if got := lattigoDecrypt(t, p, ck.secret(), ct); !slices.Equal(got, m) {
		t.Fatal("full-length message does not decrypt")
	}
}

package circuits

import (
	"math/big"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/schema"
)

// Test parameters of a 109-bit BGV modulus: Q = q0·q1 with two 55-bit
// primes ≡ 1 mod 2^17 (NTT-friendly up to N = 2^16), t the first prime
// above 2^40 and Δ = t⁻¹ mod Q.
var (
	heTestQ     = new(big.Int).Mul(new(big.Int).SetUint64(25476206681915393), new(big.Int).SetUint64(25476206681260033))
	heTestT     = big.NewInt(1099511627791)
	heTestDelta = new(big.Int).ModInverse(heTestT, heTestQ)
)

const heTestErrorBits = 6

// heTestKey returns a key of degree n with uniformly random public-key
// coefficients below Q.
func heTestKey(n int, rng *rand.Rand) HEKey {
	k := HEKey{ParamSet: "bgv-test-q109", N: n, Q: heTestQ, Delta: heTestDelta, ErrorBits: heTestErrorBits}
	k.PK0, k.PK1 = make([]*big.Int, n), make([]*big.Int, n)
	for i := range n {
		k.PK0[i], k.PK1[i] = randBelow(rng, heTestQ), randBelow(rng, heTestQ)
	}
	return k
}

// randBelow is uniform enough below q < 2^128 for tests.
func randBelow(rng *rand.Rand, q *big.Int) *big.Int {
	x := new(big.Int).SetUint64(rng.Uint64())
	x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(rng.Uint64()))
	return x.Mod(x, q)
}

// heEncryption is a ciphertext with the full witness of the relation the
// circuit checks.
type heEncryption struct {
	u, e0, e1, k0, k1 []int64
	r0, r1, c0, c1    []*big.Int
}

// heSample draws a ternary u and errors in [−2^(b−1), 2^(b−1)), with the
// extreme errors present so that the table edges are exercised.
func heSample(n, b int, rng *rand.Rand) (u, e0, e1 []int64) {
	u, e0, e1 = make([]int64, n), make([]int64, n), make([]int64, n)
	half := int64(1) << (b - 1)
	for i := range n {
		u[i] = rng.Int64N(3) - 1
		e0[i] = rng.Int64N(2*half) - half
		e1[i] = rng.Int64N(2*half) - half
	}
	e0[0], e1[n-1] = -half, half-1
	return u, e0, e1
}

// heEncrypt encrypts the record m under key with the given u, e0, e1 (any
// integers: tests pass out-of-range ones) and computes the ciphertext, in
// [0, Q), and K, R exactly.
func heEncrypt(key HEKey, m []uint64, u, e0, e1 []int64) heEncryption {
	n := key.N
	enc := heEncryption{u: u, e0: e0, e1: e1}
	for j, pk := range [][]*big.Int{key.PK0, key.PK1} {
		prod := polyMul(u, pk) // U·PK over Z, 2N−1 coefficients
		e := [][]int64{e0, e1}[j]
		c, k, r := make([]*big.Int, n), make([]int64, n), make([]*big.Int, n)
		for i := range n {
			// U·PK = low + X^N·high = (low − high) + (X^N+1)·high, so
			// C = U·PK + E + Δ·m + Q·K + (X^N+1)·R with R = −high.
			high := new(big.Int)
			if i+n < len(prod) {
				high = prod[i+n]
			}
			t := new(big.Int).Sub(prod[i], high)
			t.Add(t, big.NewInt(e[i]))
			if j == 0 && i < len(m) {
				t.Add(t, new(big.Int).Mul(key.Delta, new(big.Int).SetUint64(m[i])))
			}
			c[i] = new(big.Int).Mod(t, key.Q)
			q := new(big.Int).Sub(c[i], t)
			q.Quo(q, key.Q)
			if !q.IsInt64() {
				panic("quotient beyond int64")
			}
			k[i], r[i] = q.Int64(), new(big.Int).Neg(high)
		}
		if j == 0 {
			enc.c0, enc.k0, enc.r0 = c, k, r
		} else {
			enc.c1, enc.k1, enc.r1 = c, k, r
		}
	}
	return enc
}

// polyMul multiplies a small-coefficient polynomial u by p (coefficients
// below 2^126/len) over the integers, accumulating in 128-bit two's
// complement.
func polyMul(u []int64, p []*big.Int) []*big.Int {
	n := len(u)
	pw := make([][2]uint64, n)
	for i, x := range p {
		w := x.Bits()
		for k := 0; k < len(w) && k < 2; k++ {
			pw[i][k] = uint64(w[k])
		}
	}
	acc := make([][2]uint64, 2*n-1)
	for a, ua := range u {
		for range max(ua, -ua) {
			for b := range n {
				x, y := &acc[a+b], pw[b]
				var carry uint64
				if ua > 0 {
					x[0], carry = bits.Add64(x[0], y[0], 0)
					x[1], _ = bits.Add64(x[1], y[1], carry)
				} else {
					x[0], carry = bits.Sub64(x[0], y[0], 0)
					x[1], _ = bits.Sub64(x[1], y[1], carry)
				}
			}
		}
	}
	out := make([]*big.Int, len(acc))
	two128 := new(big.Int).Lsh(big.NewInt(1), 128)
	for i, x := range acc {
		v := new(big.Int).SetUint64(x[1])
		v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(x[0]))
		if x[1]>>63 == 1 {
			v.Sub(v, two128)
		}
		out[i] = v
	}
	return out
}

// heTestRecord encodes a record of the default schema.
func heTestRecord(t testing.TB) []uint64 {
	s := schema.Default()
	sleep, err := schema.FixedValue("7.25")
	heMust(t, err)
	v, err := s.Encode(schema.Record{
		"age": schema.IntValue(42), "steps": schema.IntValue(8123), "resting_hr": schema.IntValue(61),
		"sleep_h": sleep, "smoker": schema.BoolValue(true), "region": schema.CategoryValue("east"),
	})
	heMust(t, err)
	return v
}

// heTestShape is the shape of the default schema at depth with a random key of degree n.
func heTestShape(t testing.TB, n, depth int, rng *rand.Rand) HEShape {
	sh, err := NewHEShape(schema.Default(), depth, heTestKey(n, rng))
	heMust(t, err)
	return sh
}

// heTestWitness builds a valid witness for shape sh: a registry of a few
// members of which the prover is one, consent terms, the record and its
// honest encryption.
func heTestWitness(t testing.TB, sh HEShape, record []uint64, rng *rand.Rand) *HEWitness {
	w := &HEWitness{
		Secret: randElement(rng),
		Terms: Terms{
			Dataset: DatasetField("fitness-2026"), Epoch: 2961, Purposes: 0b101,
			Expiry: 1_900_000_000, MinCohort: 20,
		},
		Record: record,
	}
	tr, err := merkle.New(sh.Depth)
	heMust(t, err)
	for i := range 5 {
		ic := randElement(rng)
		if i == 3 {
			ic = IdentityCommitment(w.Secret)
		}
		if _, err := tr.Append(ic); err != nil {
			heMust(t, err)
		}
	}
	if w.Path, err = tr.Path(3); err != nil {
		heMust(t, err)
	}
	w.Root = tr.Root()
	u, e0, e1 := heSample(sh.Key.N, sh.Key.ErrorBits, rng)
	w.setEncryption(heEncrypt(sh.Key, record, u, e0, e1))
	return w
}

// heMust fails the test on err; fixtures built outside a test (t nil) panic.
func heMust(t testing.TB, err error) {
	if err == nil {
		return
	}
	if t == nil {
		panic(err)
	}
	t.Helper()
	t.Fatal(err)
}

func (w *HEWitness) setEncryption(e heEncryption) {
	w.U, w.E0, w.E1, w.K0, w.K1 = e.u, e.e0, e.e1, e.k0, e.k1
	w.R0, w.R1, w.C0, w.C1 = e.r0, e.r1, e.c0, e.c1
}

func randElement(rng *rand.Rand) fr.Element {
	var b [fr.Bytes]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	var e fr.Element
	e.SetBytes(b[:]) // reduced modulo r
	return e
}

// TestHEEncryptRelation checks the generator itself: the ciphertext
// coefficients lie in [0, Q), K within the circuit's bounds, and
// C0 − (U·PK0 + E0 + Δ·m + Q·K0 + (X^N+1)·R0) vanishes over Z[X]
// (recomputed here by schoolbook multiplication).
func TestHEEncryptRelation(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	sh := heTestShape(t, 64, 4, rng)
	m := heTestRecord(t)
	u, e0, e1 := heSample(sh.Key.N, sh.Key.ErrorBits, rng)
	enc := heEncrypt(sh.Key, m, u, e0, e1)
	n := sh.Key.N
	for j, pk := range [][]*big.Int{sh.Key.PK0, sh.Key.PK1} {
		c, e, k, r := [][]*big.Int{enc.c0, enc.c1}[j], [][]int64{e0, e1}[j], [][]int64{enc.k0, enc.k1}[j], [][]*big.Int{enc.r0, enc.r1}[j]
		rhs := make([]*big.Int, 2*n)
		for i := range rhs {
			rhs[i] = new(big.Int)
		}
		for a := range n {
			for b := range n {
				rhs[a+b].Add(rhs[a+b], new(big.Int).Mul(big.NewInt(u[a]), pk[b]))
			}
			rhs[a].Add(rhs[a], big.NewInt(e[a]))
			rhs[a].Add(rhs[a], new(big.Int).Mul(sh.Key.Q, big.NewInt(k[a])))
			rhs[a].Add(rhs[a], r[a])
			rhs[a+n].Add(rhs[a+n], r[a])
			if j == 0 && a < len(m) {
				rhs[a].Add(rhs[a], new(big.Int).Mul(sh.Key.Delta, new(big.Int).SetUint64(m[a])))
			}
		}
		for i := range rhs {
			want := new(big.Int)
			if i < n {
				want = c[i]
				if c[i].Sign() < 0 || c[i].Cmp(sh.Key.Q) >= 0 {
					t.Fatalf("C%d[%d] not in [0, Q)", j, i)
				}
				if b := sh.quotientBound(i); j == 1 && (k[i] > int64(n)+2 || k[i] < -int64(n)-2) || k[i] > b || k[i] < -b {
					t.Fatalf("K%d[%d] = %d beyond its bound", j, i, k[i])
				}
			}
			if rhs[i].Cmp(want) != 0 {
				t.Fatalf("relation %d fails at coefficient %d", j, i)
			}
		}
	}
}

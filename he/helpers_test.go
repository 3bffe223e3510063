package he

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	mathrand "math/rand"
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
	"github.com/tuneinsight/lattigo/v5/schemes/bgv"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// testRNG is a deterministic randomness source for tests only.
func testRNG(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

func mustParams(t testing.TB, id ParamSetID) *Params {
	t.Helper()
	p, err := Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// committeeKeys is the outcome of a keygen run in memory.
type committeeKeys struct {
	p         *Params
	committee Committee
	crs       [32]byte
	pk        *PublicKey
	keys      []*ThresholdKey
}

// runKeygen runs the whole collective key generation among c.Nodes
// in-memory parties.
func runKeygen(t testing.TB, p *Params, c Committee, seed uint64) *committeeKeys {
	t.Helper()
	var crs [32]byte
	binary.LittleEndian.PutUint64(crs[:], seed^0xc25)
	parties := make([]*KeygenParty, c.Nodes)
	pkShares := make([][]byte, c.Nodes)
	shares := make([][][]byte, c.Nodes) // shares[from][to]
	for i := range parties {
		var err error
		if parties[i], err = NewKeygenParty(p, c, crs, i, testRNG(seed+uint64(i))); err != nil {
			t.Fatal(err)
		}
		if pkShares[i], shares[i], err = parties[i].Round1(); err != nil {
			t.Fatal(err)
		}
	}
	pk, err := AggregatePublicKey(p, c, crs, pkShares)
	if err != nil {
		t.Fatal(err)
	}
	out := &committeeKeys{p: p, committee: c, crs: crs, pk: pk}
	for j, party := range parties {
		received := make([][]byte, c.Nodes)
		for i := range received {
			received[i] = shares[i][j]
		}
		tk, err := party.Finish(received)
		if err != nil {
			t.Fatal(err)
		}
		out.keys = append(out.keys, tk)
	}
	return out
}

// secret reconstructs the collective secret s from the keys of the first
// Threshold parties (tests only: no party ever holds it).
func (ck *committeeKeys) secret() *rlwe.SecretKey {
	p := ck.p
	active := make([]mhe.ShamirPublicPoint, ck.committee.Threshold)
	for i := range active {
		active[i] = mhe.ShamirPublicPoint(i + 1)
	}
	s := rlwe.NewSecretKey(p.rlwe())
	part := rlwe.NewSecretKey(p.rlwe())
	for i := range active {
		cmb := mhe.NewCombiner(p.rlwe(), active[i], active, ck.committee.Threshold)
		if err := cmb.GenAdditiveShare(active, active[i], mhe.ShamirSecretShare{Poly: ringqp.Poly{Q: ck.keys[i].share}}, part); err != nil {
			panic(err)
		}
		p.ringQ.Add(s.Value.Q, part.Value.Q, s.Value.Q)
	}
	return s
}

// lattigoDecrypt decrypts ct with lattigo's own Decryptor and BGV Encoder in
// coefficient mode.
func lattigoDecrypt(t testing.TB, p *Params, sk *rlwe.SecretKey, ct *Ciphertext) []uint64 {
	t.Helper()
	pt := bgv.NewPlaintext(p.BGV(), p.BGV().MaxLevel())
	rlwe.NewDecryptor(p.BGV(), sk).Decrypt(ct.rlwe(), pt)
	out := make([]uint64, p.N())
	if err := bgv.NewEncoder(p.BGV()).Decode(pt, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// decryptAll runs threshold decryption of ct by active, revealing coords.
func (ck *committeeKeys) decrypt(t testing.TB, ct *Ciphertext, active, coords []int, b *Budget, seed uint64) []uint64 {
	t.Helper()
	parts := make([]*PartialDecryption, len(active))
	for k, i := range active {
		s, err := ck.keys[i].DecryptionShare(ck.p, ct, active, b, testRNG(seed+uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if parts[k], err = s.Reveal(coords); err != nil {
			t.Fatal(err)
		}
	}
	out, err := Combine(ck.p, ct, parts, coords)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func allCoords(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func randomMessage(p *Params, n int, max uint64, seed uint64) []uint64 {
	r := rand.New(rand.NewPCG(seed, 7))
	m := make([]uint64, n)
	for i := range m {
		m[i] = r.Uint64N(max)
	}
	return m
}

// marshaler is every wire type of the package.
type marshaler interface{ MarshalBinary() ([]byte, error) }

// roundTrip checks v with wiretest.RoundTrip and returns its encoding.
func roundTrip[T marshaler](t testing.TB, v T, decode func([]byte) (T, error)) []byte {
	t.Helper()
	wiretest.RoundTrip(t, v, T.MarshalBinary, decode)
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requireMalformed checks that decode refuses b with ErrMalformed.
func requireMalformed[T any](t testing.TB, name string, b []byte, decode func([]byte) (T, error)) {
	t.Helper()
	if _, err := decode(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("%s: got %v, want ErrMalformed", name, err)
	}
}

// garbage returns the standard malformed variants of a valid encoding:
// empty, truncated, extended, another version, another kind, another
// parameter-set id of the same length.
func garbage(valid []byte) map[string][]byte {
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(valid)
		f(b)
		return b
	}
	return map[string][]byte{
		"empty":     {},
		"header":    valid[:2],
		"truncated": valid[:len(valid)-1],
		"extended":  append(bytes.Clone(valid), 0),
		"version":   mod(func(b []byte) { b[0]++ }),
		"kind":      mod(func(b []byte) { b[1] ^= 0x40 }),
		"id":        mod(func(b []byte) { b[3] ^= 1 }),
	}
}

// setCoefficient overwrites the uint64 at offset in b.
func setUint64(b []byte, offset int, v uint64) []byte {
	out := bytes.Clone(b)
	binary.LittleEndian.PutUint64(out[offset:], v)
	return out
}

func bigEqual(a, b []*big.Int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Cmp(b[i]) != 0 {
			return false
		}
	}
	return true
}

// newMathRand is a deterministic math/rand source for big.Int.Rand.
func newMathRand(seed uint64) *mathrand.Rand {
	return mathrand.New(mathrand.NewSource(int64(seed)))
}

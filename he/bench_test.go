package he

import (
	"sync"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

type benchData struct {
	ck     *committeeKeys
	budget *Budget
	cts    []*Ciphertext
	m      []uint64
}

var (
	benchOnce sync.Once
	bench     *benchData
)

// benchFixture is a 2-of-3 committee under BGVN12Q109 and a batch of 256
// ciphertexts, built once for all benchmarks.
func benchFixture(b *testing.B) *benchData {
	benchOnce.Do(func() {
		p := mustParams(b, BGVN12Q109)
		ck := runKeygen(b, p, Committee{Nodes: 3, Threshold: 2}, 500)
		budget, err := p.Check(Capacity{Nodes: 3, Threshold: 2, MaxCohort: 1000, MaxCoord: 1 << 20, Smudging: Smudging{StatisticalBits: 30}})
		if err != nil {
			b.Fatal(err)
		}
		m := randomMessage(p, 64, 1<<20, 501)
		cts := make([]*Ciphertext, 256)
		for i := range cts {
			if cts[i], _, err = ck.pk.Encrypt(p, m, testRNG(uint64(600+i))); err != nil {
				b.Fatal(err)
			}
		}
		bench = &benchData{ck: ck, budget: budget, cts: cts, m: m}
	})
	if bench == nil {
		b.Fatal("benchmark fixture failed")
	}
	return bench
}

// BenchmarkEncrypt is one encryption with its witness at N = 4096.
func BenchmarkEncrypt(b *testing.B) {
	f := benchFixture(b)
	p := f.ck.p
	for b.Loop() {
		if _, _, err := f.ck.pk.Encrypt(p, f.m, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWitnessCheck is the client's exact check of a witness at N = 4096.
func BenchmarkWitnessCheck(b *testing.B) {
	f := benchFixture(b)
	p := f.ck.p
	_, w, err := f.ck.pk.Encrypt(p, f.m, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := w.Check(p, f.ck.pk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSum sums the fixture's 256 ciphertexts with Sum; compare
// ciphertexts/s with BenchmarkLattigoAddLoop.
func BenchmarkSum(b *testing.B) {
	f := benchFixture(b)
	p := f.ck.p
	for b.Loop() {
		if _, err := Sum(p, f.cts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(f.cts))/b.Elapsed().Seconds(), "ciphertexts/s")
}

// BenchmarkLattigoAddLoop is the bare lattigo loop over the same
// ciphertexts: acc = copy of the first, then Evaluator.Add(acc, ct, acc).
func BenchmarkLattigoAddLoop(b *testing.B) {
	f := benchFixture(b)
	p := f.ck.p
	eval := bgv.NewEvaluator(p.BGV(), nil)
	cts := make([]*rlwe.Ciphertext, len(f.cts))
	for i, ct := range f.cts {
		cts[i] = ct.rlwe()
	}
	for b.Loop() {
		acc := cts[0].CopyNew()
		for _, ct := range cts[1:] {
			if err := eval.Add(acc, ct, acc); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(f.cts))/b.Elapsed().Seconds(), "ciphertexts/s")
}

// BenchmarkThresholdDecrypt is a whole threshold decryption at N = 4096,
// 2 of 3 parties: both decryption shares (smudging included), Reveal of
// every coefficient, and Combine.
func BenchmarkThresholdDecrypt(b *testing.B) {
	f := benchFixture(b)
	p := f.ck.p
	ct := f.cts[0]
	active := []int{0, 2}
	coords := allCoords(p.N())
	for b.Loop() {
		parts := make([]*PartialDecryption, len(active))
		for k, i := range active {
			s, err := f.ck.keys[i].DecryptionShare(p, ct, active, f.budget, nil)
			if err != nil {
				b.Fatal(err)
			}
			if parts[k], err = s.Reveal(coords); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := Combine(p, ct, parts, coords); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeygenRound1 is one party's Round1 in a 2-of-3 committee at
// N = 4096: its secret, public-key share and three Shamir shares.
func BenchmarkKeygenRound1(b *testing.B) {
	p := mustParams(b, BGVN12Q109)
	c := Committee{Nodes: 3, Threshold: 2}
	var crs [32]byte
	for b.Loop() {
		party, err := NewKeygenParty(p, c, crs, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := party.Round1(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAggregatePublicKey is a 3-node public key aggregated from its
// shares at N = 4096: what every node does in round 3 of the key
// generation and every reader of a descriptor does to re-check the key.
func BenchmarkAggregatePublicKey(b *testing.B) {
	p := mustParams(b, BGVN12Q109)
	c := Committee{Nodes: 3, Threshold: 2}
	var crs [32]byte
	shares := make([][]byte, c.Nodes)
	for i := range shares {
		party, err := NewKeygenParty(p, c, crs, i, nil)
		if err != nil {
			b.Fatal(err)
		}
		if shares[i], _, err = party.Round1(); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := AggregatePublicKey(p, c, crs, shares); err != nil {
			b.Fatal(err)
		}
	}
}

package benchmarks

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// contributionCase is one schema shape to measure, at k = 3 nodes and the
// default registry depth.
type contributionCase struct {
	name   string
	schema *schema.Schema
}

func contributionCases() []contributionCase {
	cases := []contributionCase{{"demo", schema.Default()}}
	for _, n := range []int{4, 16, 64} {
		cases = append(cases,
			contributionCase{fmt.Sprintf("fields=%d/moments=none", n), schema.Synthetic(n, false)},
			contributionCase{fmt.Sprintf("fields=%d/moments=all", n), schema.Synthetic(n, true)})
	}
	return cases
}

// bench is a compiled dataset with single-party keys (the benchmark measures
// proving and verifying, not the ceremony) and one member.
type bench struct {
	sys    *circuits.MPCSystem
	prover *mpc.Prover
	keys   *setup.Keys
	c      mpc.Contribution
	nodes  []*seal.PrivateKey
}

func newBench(b *testing.B, s *schema.Schema) *bench {
	b.Helper()
	sh, err := circuits.NewMPCShape(s, 3, merkle.DefaultDepth)
	if err != nil {
		b.Fatal(err)
	}
	sys, err := circuits.CompileMPC(sh)
	if err != nil {
		b.Fatal(err)
	}
	keys, err := setup.InsecureDevSetup(sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		b.Fatal(err)
	}
	var pubs []*seal.PublicKey
	var nodes []*seal.PrivateKey
	for range 3 {
		k, err := seal.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		nodes, pubs = append(nodes, k), append(pubs, k.Public())
	}
	prover, err := mpc.NewProver(sys, keys.PK, pubs)
	if err != nil {
		b.Fatal(err)
	}
	tree, _ := merkle.New(sh.Depth)
	var secret fr.Element
	if _, err := secret.SetRandom(); err != nil {
		b.Fatal(err)
	}
	if _, err := tree.Append(circuits.IdentityCommitment(secret)); err != nil {
		b.Fatal(err)
	}
	path, _ := tree.Path(0)
	v, err := s.Encode(s.RandomRecord(rand.New(rand.NewPCG(1, 2))))
	if err != nil {
		b.Fatal(err)
	}
	return &bench{sys: sys, prover: prover, keys: keys, nodes: nodes, c: mpc.Contribution{
		Secret: secret, Root: tree.Root(), Path: path, Record: v,
		Terms: circuits.Terms{Dataset: circuits.DatasetField(s.ID), Epoch: 1, Purposes: 1, Expiry: 1 << 32, MinCohort: 1},
	}}
}

// BenchmarkContributionProve measures a contributor's work for one record:
// sharing, proving and sealing (Prover.Build), at k = 3 and depth 20.
func BenchmarkContributionProve(b *testing.B) {
	for _, tc := range contributionCases() {
		b.Run(tc.name, func(b *testing.B) {
			bn := newBench(b, tc.schema)
			var size int
			b.ResetTimer()
			for b.Loop() {
				p, err := bn.prover.Build(bn.c, nil)
				if err != nil {
					b.Fatal(err)
				}
				w, _ := p.MarshalBinary()
				size = len(w)
			}
			b.ReportMetric(float64(bn.sys.CCS.GetNbConstraints()), "constraints")
			b.ReportMetric(float64(bn.sys.Shape.Layout.Len), "coords")
			b.ReportMetric(float64(size), "payload-bytes")
		})
	}
}

// BenchmarkContributionVerify measures a node's work for one record: decoding
// the payload, verifying its proof and opening its share.
func BenchmarkContributionVerify(b *testing.B) {
	for _, tc := range contributionCases() {
		b.Run(tc.name, func(b *testing.B) {
			bn := newBench(b, tc.schema)
			p, err := bn.prover.Build(bn.c, nil)
			if err != nil {
				b.Fatal(err)
			}
			wire, _ := p.MarshalBinary()
			v, err := circuits.NewVerifier(bn.keys.VK, bn.sys.Shape.NumPublic())
			if err != nil {
				b.Fatal(err)
			}
			lim := mpc.PayloadLimits{Nodes: 3, Len: bn.sys.Shape.Layout.Len}
			b.ResetTimer()
			for b.Loop() {
				q, err := mpc.UnmarshalPayload(wire, lim)
				if err != nil {
					b.Fatal(err)
				}
				if err := v.Verify(q.Statement()); err != nil {
					b.Fatal(err)
				}
				if _, err := mpc.OpenPayload(bn.nodes[1], 1, lim.Len, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

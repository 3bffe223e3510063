package mpc

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

const payloadSchemaYAML = `
id: payload-test
fields:
  - {name: age,    type: int,   min: 18, max: 100}
  - {name: sleep,  type: fixed, min: 0,  max: 16, decimals: 2}
  - {name: smoker, type: bool}
  - {name: region, type: category, values: [north, south]}
moments: [age, sleep]
purposes: [health, research]
epoch: weekly
min_cohort: 2
`

// federation is a dataset with ceremony keys and three nodes' sealing keys.
type federation struct {
	schema *schema.Schema
	sys    *circuits.MPCSystem
	keys   *setup.Keys
	nodes  []*seal.PrivateKey
	tree   *merkle.Tree
}

var testFederation = sync.OnceValues(func() (*federation, error) {
	s, err := schema.Parse([]byte(payloadSchemaYAML))
	if err != nil {
		return nil, err
	}
	sh, err := circuits.NewMPCShape(s, 3, 8)
	if err != nil {
		return nil, err
	}
	sys, err := circuits.CompileMPC(sh)
	if err != nil {
		return nil, err
	}
	b1, _ := setup.NewBeacon(bytes.Repeat([]byte{1}, 32))
	b2, _ := setup.NewBeacon(bytes.Repeat([]byte{2}, 32))
	keys, _, err := setup.RunLocalCeremony(sys.CCS, 3, b1, b2)
	if err != nil {
		return nil, err
	}
	f := &federation{schema: s, sys: sys, keys: keys}
	for range 3 {
		k, err := seal.GenerateKey()
		if err != nil {
			return nil, err
		}
		f.nodes = append(f.nodes, k)
	}
	if f.tree, err = merkle.New(sh.Depth); err != nil {
		return nil, err
	}
	return f, nil
})

func (f *federation) publicKeys() []*seal.PublicKey {
	var out []*seal.PublicKey
	for _, k := range f.nodes {
		out = append(out, k.Public())
	}
	return out
}

// contribution registers a fresh member and returns a contribution of record r.
func (f *federation) contribution(t *testing.T, r schema.Record) Contribution {
	t.Helper()
	var s fr.Element
	if _, err := s.SetRandom(); err != nil {
		t.Fatal(err)
	}
	i, err := f.tree.Append(circuits.IdentityCommitment(s))
	if err != nil {
		t.Fatal(err)
	}
	path, err := f.tree.Path(i)
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.schema.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	mask, err := f.schema.PurposeMask([]string{"research"})
	if err != nil {
		t.Fatal(err)
	}
	return Contribution{
		Secret: s, Root: f.tree.Root(), Path: path, Record: v,
		Terms: circuits.Terms{Dataset: circuits.DatasetField(f.schema.ID), Epoch: 2961, Purposes: mask, Expiry: 1_900_000_000, MinCohort: 2},
	}
}

func record(t *testing.T, s *schema.Schema, js string) schema.Record {
	t.Helper()
	r, err := s.ParseRecordJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPayloadRoundTrip is the whole contributor → node path with ceremony
// keys: prove, seal, encode, decode, verify, open at every node, reconstruct;
// then the same payload with one byte flipped in the proof, in a public input
// and in a sealed share, each refused.
func TestPayloadRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("ceremony and proving in the long tier")
	}
	f, err := testFederation()
	if err != nil {
		t.Fatal(err)
	}
	prover, err := NewProver(f.sys, f.keys.PK, f.publicKeys())
	if err != nil {
		t.Fatal(err)
	}
	c := f.contribution(t, record(t, f.schema, `{"age": 40, "sleep": 7.5, "smoker": true, "region": "south"}`))
	p, err := prover.Build(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	lim := PayloadLimits{Nodes: 3, Len: f.sys.Shape.Layout.Len}
	verifier, err := circuits.NewVerifier(f.keys.VK, f.sys.Shape.NumPublic())
	if err != nil {
		t.Fatal(err)
	}

	// accept runs a node federation's checks on wire bytes and returns the
	// reconstructed record, or the first error.
	accept := func(wire []byte) ([]fr.Element, error) {
		q, err := UnmarshalPayload(wire, lim)
		if err != nil {
			return nil, err
		}
		if errs := verifier.VerifyBatch([]circuits.Statement{q.Statement()}); errs[0] != nil {
			return nil, errs[0]
		}
		var vals [][]fr.Element
		for j, k := range f.nodes {
			s, err := OpenPayload(k, j, lim.Len, q)
			if err != nil {
				return nil, err
			}
			vals = append(vals, s.Values)
		}
		return Reconstruct(vals...)
	}

	got, err := accept(wire)
	if err != nil {
		t.Fatalf("valid payload refused: %v", err)
	}
	for i, x := range c.Record {
		if !got[i].Equal(new(fr.Element).SetUint64(x)) {
			t.Fatalf("coordinate %d reconstructs to %s, want %d", i, got[i].String(), x)
		}
	}

	// Offsets of the three regions in the encoding.
	pubLen := int(be32(wire[1:]))
	pubStart := 5
	proofStart := pubStart + pubLen + 4
	proofLen := int(be32(wire[proofStart-4:]))
	sealedStart := proofStart + proofLen + 1 + 4 // first sealed share's bytes
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"proof byte", proofStart + 40},
		{"public input byte (nullifier)", pubStart + 2 + 32 + 8 + 32 + 5},
		{"public input byte (expiry)", pubStart + 2 + 32 + 8 + 32 + 32 + 8 + 7},
		{"public input byte (share commitment)", pubStart + pubLen - 3},
		{"sealed share byte (encapsulated key)", sealedStart + 100},
		{"sealed share byte (ciphertext)", sealedStart + 1200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(wire)
			bad[tc.at] ^= 0x04
			if _, err := accept(bad); err == nil {
				t.Fatal("accepted")
			}
		})
	}

	// A share moved to another payload does not open there (its AAD binds it).
	c2 := f.contribution(t, record(t, f.schema, `{"age": 41, "sleep": 7, "smoker": false, "region": "north"}`))
	p2, err := prover.Build(c2, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2.Sealed[0] = p.Sealed[0]
	if _, err := OpenPayload(f.nodes[0], 0, lim.Len, p2); !errors.Is(err, ErrOpen) {
		t.Fatalf("transplanted share: %v, want ErrOpen", err)
	}
	// A node cannot open another node's share.
	if _, err := OpenPayload(f.nodes[1], 0, lim.Len, p); !errors.Is(err, ErrOpen) {
		t.Fatalf("node 1 opening node 0's share: %v, want ErrOpen", err)
	}
}

func TestBuildRefusesInvalidRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("ceremony in the long tier")
	}
	f, err := testFederation()
	if err != nil {
		t.Fatal(err)
	}
	prover, err := NewProver(f.sys, f.keys.PK, f.publicKeys())
	if err != nil {
		t.Fatal(err)
	}
	c := f.contribution(t, record(t, f.schema, `{"age": 40, "sleep": 7.5, "smoker": true, "region": "south"}`))
	c.Record[1] = 100 // age 118: beyond the maximum, encoded by hand past the schema's own check
	if _, err := prover.Build(c, nil); err == nil {
		t.Fatal("built a payload for an out-of-range record")
	}
	c = f.contribution(t, record(t, f.schema, `{"age": 40, "sleep": 7.5, "smoker": true, "region": "south"}`))
	c.Root[0] ^= 1
	if _, err := prover.Build(c, nil); err == nil {
		t.Fatal("built a payload against an unknown root")
	}
	if _, err := NewProver(f.sys, f.keys.PK, f.publicKeys()[:2]); err == nil {
		t.Fatal("prover accepted 2 node keys for 3 nodes")
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func FuzzUnmarshalPayload(f *testing.F) {
	lim := PayloadLimits{Nodes: 3, Len: 12}
	f.Add([]byte{payloadVersion})
	f.Add([]byte{payloadVersion, 0, 0, 0, 200})
	f.Add(append([]byte{payloadVersion, 0xff, 0xff, 0xff, 0xff}, make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalPayload(b, lim)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("decode/encode is not the identity")
		}
	})
}

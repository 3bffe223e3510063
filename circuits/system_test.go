package circuits

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits/merkle"
)

// testKeys compiles the test shape once and makes throwaway single-party keys
// (this tests proving and verification, not the ceremony).
var testKeys = sync.OnceValues(func() (*keyed, error) {
	sh := testShape(nil)
	sys, err := CompileMPC(sh)
	if err != nil {
		return nil, err
	}
	pk, vk, err := groth16.Setup(sys.CCS)
	if err != nil {
		return nil, err
	}
	return &keyed{sys: sys, pk: pk, vk: vk}, nil
})

type keyed struct {
	sys *MPCSystem
	pk  groth16.ProvingKey
	vk  groth16.VerifyingKey
}

func mustKeys(t testing.TB) *keyed {
	t.Helper()
	k, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// witnessFromFixture turns the test fixture into an MPCWitness.
func witnessFromFixture(t testing.TB, f *fixture) *MPCWitness {
	w := &MPCWitness{
		Secret: f.secret, Root: f.root,
		Path:   merkle.Path{Index: f.index, Siblings: f.siblings},
		Terms:  Terms{Dataset: f.pub.Dataset, Epoch: f.pub.Epoch, Purposes: f.pub.Purposes, Expiry: f.pub.Expiry, MinCohort: f.pub.MinCohort},
		Shares: f.shares, Blinds: f.blinds,
	}
	for _, x := range f.record {
		if !x.IsUint64() {
			t.Fatal("fixture record is not small")
		}
		w.Record = append(w.Record, x.Uint64())
	}
	return w
}

func TestProveVerifyRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("Groth16 setup and proving in the long tier")
	}
	k := mustKeys(t)
	f := newFixture(t, k.sys.Shape)
	w := witnessFromFixture(t, f)
	proof, pub, err := k.sys.Prove(k.pk, w)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Nullifier != f.pub.Nullifier || pub.ShareCommitments[2] != f.pub.ShareCommitments[2] {
		t.Fatal("Prove reports other public inputs than the witness implies")
	}
	v, err := NewVerifier(k.vk, k.sys.Shape.NumPublic())
	if err != nil {
		t.Fatal(err)
	}

	// Encode and decode both, as they travel.
	pb, err := proof.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var proof2 Proof
	if err := proof2.UnmarshalBinary(pb); err != nil {
		t.Fatal(err)
	}
	ib, err := pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var pub2 PublicInputs
	if err := pub2.UnmarshalBinary(ib); err != nil {
		t.Fatal(err)
	}
	if pub2.Digest() != pub.Digest() {
		t.Fatal("public inputs changed in transit")
	}
	good := Statement{Proof: &proof2, Public: pub2.Vector()}
	if err := v.Verify(good); err != nil {
		t.Fatalf("valid proof refused: %v", err)
	}

	// Each public input changed by one: the proof must not verify.
	var batch []Statement
	batch = append(batch, good)
	for i := range good.Public {
		pubs := append([]fr.Element(nil), good.Public...)
		pubs[i].Add(&pubs[i], new(fr.Element).SetOne())
		batch = append(batch, Statement{Proof: &proof2, Public: pubs})
	}
	// A proof for other inputs: another contribution by the same member.
	f2 := newFixture(t, k.sys.Shape)
	other, _, err := k.sys.Prove(k.pk, witnessFromFixture(t, f2))
	if err != nil {
		t.Fatal(err)
	}
	batch = append(batch, Statement{Proof: other, Public: good.Public})
	errs := v.VerifyBatch(batch)
	if errs[0] != nil {
		t.Fatalf("valid statement refused in batch: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, ErrInvalidProof) {
			t.Errorf("statement %d: got %v, want ErrInvalidProof", i+1, err)
		}
	}

	// Every single-byte flip of the encoded proof is refused, either by the
	// decoder or by the verifier.
	for i := range pb {
		bad := bytes.Clone(pb)
		bad[i] ^= 0x01
		var p Proof
		if err := p.UnmarshalBinary(bad); err != nil {
			continue
		}
		if err := v.Verify(Statement{Proof: &p, Public: good.Public}); err == nil {
			t.Fatalf("proof with byte %d flipped verifies", i)
		}
	}
}

func TestProveRefusesInvalidWitness(t *testing.T) {
	if testing.Short() {
		t.Skip("Groth16 setup in the long tier")
	}
	k := mustKeys(t)
	f := newFixture(t, k.sys.Shape)
	f.setValue(t, k.sys.Shape, "age", elem(coord(t, k.sys.Shape.Layout, "age").Span+1))
	if _, _, err := k.sys.Prove(k.pk, witnessFromFixture(t, f)); err == nil {
		t.Fatal("proved a record above the maximum")
	}
	w := witnessFromFixture(t, newFixture(t, k.sys.Shape))
	w.Record = w.Record[1:]
	if _, _, err := k.sys.Prove(k.pk, w); !errors.Is(err, ErrShape) {
		t.Fatalf("short record: %v, want ErrShape", err)
	}
}

func TestVerifierRefusesWrongArity(t *testing.T) {
	if testing.Short() {
		t.Skip("Groth16 setup in the long tier")
	}
	k := mustKeys(t)
	if _, err := NewVerifier(k.vk, k.sys.Shape.NumPublic()+1); err == nil {
		t.Fatal("verifier accepted a wrong public input count")
	}
	v, _ := NewVerifier(k.vk, k.sys.Shape.NumPublic())
	if err := v.Verify(Statement{Proof: &Proof{}, Public: make([]fr.Element, 2)}); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("short public vector: %v", err)
	}
	if err := v.Verify(Statement{}); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("nil proof: %v", err)
	}
}

func TestPublicInputsEncoding(t *testing.T) {
	f := newFixture(t, testShape(t))
	b, err := f.pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q PublicInputs
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if q.Digest() != f.pub.Digest() || q.Expiry != f.pub.Expiry || q.MinCohort != f.pub.MinCohort {
		t.Fatal("round trip changed the inputs")
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(bytes.Clone(b), 0)} {
		if err := q.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}
	// A non-canonical element (the modulus itself) is refused.
	nc := bytes.Clone(b)
	mod := fr.Modulus().FillBytes(make([]byte, 32))
	copy(nc[2:], mod)
	if err := q.UnmarshalBinary(nc); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-canonical dataset element: %v", err)
	}
	// Every byte of the digest input matters.
	for i := 2; i < len(b); i++ {
		bad := bytes.Clone(b)
		bad[i] ^= 0x01
		var p PublicInputs
		if p.UnmarshalBinary(bad) == nil && p.Digest() == f.pub.Digest() {
			t.Fatalf("flipping byte %d leaves the digest unchanged", i)
		}
	}
}

func FuzzProofUnmarshal(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{proofVersion, 1})
	f.Add(make([]byte, proofLen(1)))
	seed := make([]byte, proofLen(1))
	seed[0], seed[1] = proofVersion, 1
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Proof
		if err := p.UnmarshalBinary(b); err != nil {
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

func FuzzPublicInputsUnmarshal(f *testing.F) {
	fx := newFixture(f, testShape(f))
	b, _ := fx.pub.MarshalBinary()
	f.Add(b)
	f.Add([]byte{publicVersion, 3})
	fx.pub.ShareCommitments = nil // the HE form: no share commitments
	he, _ := fx.pub.MarshalBinary()
	f.Add(he)
	f.Add(append(append([]byte(nil), he...), make([]byte, 32)...)) // count 0 with a trailing element
	f.Fuzz(func(t *testing.T, b []byte) {
		var p PublicInputs
		if err := p.UnmarshalBinary(b); err != nil {
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

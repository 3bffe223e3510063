package audit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/heproof"
)

func TestVerifyHEHonest(t *testing.T) {
	f := getHEFixture(t)
	r := Verify(f.bundle, f.opts...)
	if !r.OK() {
		t.Fatalf("honest HE bundle does not verify:\n%s", r)
	}
	names := CheckNames(cohortv1.Backend_BACKEND_HE)
	if len(r.Checks) != len(names) || len(names) != 21 {
		t.Fatalf("%d checks, want the %d HE checks", len(r.Checks), len(names))
	}
	for i, c := range r.Checks {
		want := Pass
		if c.Name == CheckSetup || c.Name == CheckDescriptor { // a development setup, a test parameter set
			want = Warn
		}
		if c.Name != names[i] || c.Status != want {
			t.Errorf("check %d: %s %s, want %s %s", i, c.Name, c.Status, names[i], want)
		}
	}
	if _, ok := r.Check(CheckPartials); ok {
		t.Error("an HE report has the MPC partial-sums check")
	}
	if r.Backend != "he" || r.Cohort != 5 || r.Setup != "insecure-dev" || !strings.Contains(r.String(), "on dataset fitness-2026 (HE)") {
		t.Fatalf("report header: %+v", r)
	}
	for name, want := range map[string]string{
		CheckProofs:        "against their consent inputs and their ciphertext's 512 coefficients",
		CheckAggregate:     "recomputed from the 5 records' ciphertexts (he.Sum) equals the transcript's byte for byte",
		CheckDecryptionSet: "decryption set [0 1]: the 2 lowest of the 3 live nodes [0 1 2]",
		CheckDecryption:    "decrypt the aggregate (he.Combine) to every released sum, read as centred integers mod t (21 coordinates",
		CheckDescriptor:    "INSECURE PARAMETER SET",
	} {
		if c, _ := r.Check(name); !strings.Contains(c.Detail, want) {
			t.Errorf("check %s: %q lacks %q", name, c.Detail, want)
		}
	}
	if r := VerifyEncoded(f.encoded, DefaultLimits(), f.opts...); !r.OK() {
		t.Fatalf("encoded honest HE bundle does not verify:\n%s", r)
	}
	enc, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(enc), `"backend":"he"`) {
		t.Fatalf("JSON %s: %v", enc, err)
	}
}

// TestVerifyHEInsecureRefusedByDefault: without the development option,
// the test parameter set fails the descriptor check as the single-party
// setup fails the setup check.
func TestVerifyHEInsecureRefusedByDefault(t *testing.T) {
	f := getHEFixture(t)
	r := Verify(f.bundle, WithCache(f.cache))
	expect(t, r, map[string]string{
		CheckDescriptor: "INSECURE PARAMETER SET: the dataset's collective key is on bgv-test-n8-insecure",
		CheckSetup:      "INSECURE DEVELOPMENT SETUP",
	}, true)
	if c, _ := r.Check(CheckDescriptor); c.Status != Fail {
		t.Fatalf("descriptor check %s", c.Status)
	}
}

// TestVerifyHENodeDown: a job run while node 1 was down lists the live
// nodes 0 and 2 only, decrypts with them, and verifies.
func TestVerifyHENodeDown(t *testing.T) {
	f := getHEFixture(t)
	b := f.withoutNode1(t)
	r := Verify(b, f.opts...)
	if !r.OK() {
		t.Fatalf("bundle with a node down does not verify:\n%s", r)
	}
	tr := b.Transcript
	if len(tr.Nodes) != 2 || tr.Nodes[0].Index != 0 || tr.Nodes[1].Index != 2 || !slices.Equal(tr.DecryptionSet, []uint32{0, 2}) || len(b.Signatures) != 2 {
		t.Fatalf("nodes %+v, decryption set %v, %d signatures", tr.Nodes, tr.DecryptionSet, len(b.Signatures))
	}
	if c, _ := r.Check(CheckTranscriptSignatures); !strings.Contains(c.Detail, "all 2 live nodes [0 2] signed") {
		t.Errorf("transcript signatures: %s", c.Detail)
	}
	// The same sums as with every node live: decryption does not depend on
	// which threshold set decrypts.
	for i, s := range tr.Sums {
		if s.Value.Cmp(f.bundle.Transcript.Sums[i].Value) != 0 {
			t.Fatalf("sum %d: %v with node 1 down, %v with every node", i, s.Value, f.bundle.Transcript.Sums[i].Value)
		}
	}
}

// payloadDigestOf is the payload digest of a record as the nodes would
// have acknowledged it, from its (possibly altered) parts.
func payloadDigestOf(t *testing.T, params *he.Params, r Record) [32]byte {
	t.Helper()
	var p heproof.Payload
	if err := p.Public.UnmarshalBinary(r.Public); err != nil {
		t.Fatal(err)
	}
	p.Proof = new(circuits.Proof)
	if err := p.Proof.UnmarshalBinary(r.Proof); err != nil {
		t.Fatal(err)
	}
	ct, err := he.UnmarshalCiphertext(params, r.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	p.Ciphertext = ct
	enc, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(enc)
}

// lowByte is the offset of the least significant byte of the last
// coefficient of an encoded ciphertext or decryption share (little-endian
// limbs, the last ones last): flipping its low bit keeps the value below
// its modulus, so the bytes still decode to another value.
func lowByte(b []byte) int { return len(b) - 8 }

// TestHETamperedItems alters one item of an honest HE bundle at a time
// and requires the checks that own it to fail and name it (with resign,
// the listed nodes sign the altered transcript, as if they colluded).
func TestHETamperedItems(t *testing.T) {
	f := getHEFixture(t)
	tr := f.bundle.Transcript
	rec := func(i int) string { return recordName(i, tr.Records[i].Nullifier) }
	age := uint32(f.schema.Layout().Values[0].Index)
	const unsigned = "does not verify"
	for _, tc := range []struct {
		name   string
		base   func(t *testing.T) *Bundle // the honest bundle when nil
		edit   func(t *testing.T, b *Bundle)
		resign bool
		want   map[string]string
	}{
		{"ciphertext coefficient, re-signed", nil, func(t *testing.T, b *Bundle) {
			c := b.Transcript.Records[2].Ciphertext
			c[lowByte(c)] ^= 0x01
		}, true, map[string]string{
			CheckCiphertexts: rec(2) + ": payload digest",
			CheckProofs:      rec(2) + ": proof does not verify",
			CheckAggregate:   "is not the homomorphic sum of the 5 records' ciphertexts",
		}},
		{"ciphertext coefficient and payload digest, re-signed", nil, func(t *testing.T, b *Bundle) {
			r := &b.Transcript.Records[2]
			r.Ciphertext[lowByte(r.Ciphertext)] ^= 0x01
			r.PayloadDigest = payloadDigestOf(t, f.params, *r)
		}, true, map[string]string{
			CheckProofs:       rec(2) + ": proof does not verify",
			CheckAggregate:    "is not the homomorphic sum",
			CheckEligibleSets: "node 0: signed set digest",
		}},
		{"ciphertext coefficient not below its modulus, re-signed", nil, func(t *testing.T, b *Bundle) {
			c := b.Transcript.Records[1].Ciphertext
			for i := range 8 {
				c[lowByte(c)+i] = 0xff
			}
		}, true, map[string]string{
			CheckCiphertexts: rec(1) + ": ciphertext does not decode",
			CheckProofs:      rec(1) + ": its ciphertext does not decode",
			CheckAggregate:   "cannot be recomputed",
		}},
		{"ciphertext of another record, re-signed", nil, func(t *testing.T, b *Bundle) {
			b.Transcript.Records[3].Ciphertext = slices.Clone(b.Transcript.Records[4].Ciphertext)
		}, true, map[string]string{
			CheckCiphertexts: rec(3) + ": payload digest",
			CheckProofs:      rec(3) + ": proof does not verify",
			CheckAggregate:   "is not the homomorphic sum",
		}},
		{"proof of another record, re-signed", nil, func(t *testing.T, b *Bundle) {
			b.Transcript.Records[0].Proof = slices.Clone(b.Transcript.Records[1].Proof)
		}, true,
			map[string]string{CheckProofs: rec(0) + ": proof does not verify", CheckCiphertexts: rec(0) + ": payload digest"}},
		{"aggregate", nil, func(t *testing.T, b *Bundle) { b.Transcript.Aggregate[lowByte(b.Transcript.Aggregate)] ^= 0x01 }, false,
			map[string]string{
				CheckAggregate:            "is not the homomorphic sum",
				CheckDecryptionSet:        "node 0: decryption share of another ciphertext than the aggregate",
				CheckDecryption:           "did not check",
				CheckTranscriptSignatures: "node 0: transcript signature " + unsigned,
			}},
		{"aggregate, re-signed", nil, func(t *testing.T, b *Bundle) { b.Transcript.Aggregate[lowByte(b.Transcript.Aggregate)] ^= 0x01 }, true,
			map[string]string{
				CheckAggregate:     "is not the homomorphic sum",
				CheckDecryptionSet: "node 1: decryption share of another ciphertext than the aggregate",
				CheckDecryption:    "did not check",
			}},
		{"decryption share, re-signed", nil, func(t *testing.T, b *Bundle) {
			p := b.Transcript.Nodes[1].Partial
			p[lowByte(p)] ^= 0x01
		}, true, map[string]string{
			CheckDecryptionSet: "node 1: decryption-share signature " + unsigned,
			CheckDecryption:    "coordinate",
		}},
		{"decryption-share signature, re-signed", nil, func(t *testing.T, b *Bundle) { b.Transcript.Nodes[0].PartialSignature[5] ^= 0x01 }, true,
			map[string]string{CheckDecryptionSet: "node 0: decryption-share signature " + unsigned}},
		{"decryption-share signature dropped", nil, func(t *testing.T, b *Bundle) { b.Transcript.Nodes[1].PartialSignature = nil }, false,
			map[string]string{
				CheckTranscript:           "node 1: partial signature of 0 bytes",
				CheckDecryptionSet:        "node 1: in the decryption set, but no signed decryption share",
				CheckDecryption:           "did not check",
				CheckTranscriptSignatures: "no digest",
			}},
		{"decryption share of a node outside the set", nil, func(t *testing.T, b *Bundle) {
			b.Transcript.DecryptionSet = []uint32{0}
		}, false, map[string]string{
			CheckTranscript:           "node 1: a decryption share, but not in the decryption set",
			CheckDecryptionSet:        "a decryption set of 1 node [0], the dataset's threshold is 2",
			CheckDecryption:           "did not check",
			CheckTranscriptSignatures: "no digest",
		}},
		{"decryption set not the lowest live nodes, re-signed", func(t *testing.T) *Bundle { return f.withoutNode1(t) }, func(t *testing.T, b *Bundle) {
			// Node 1 was live after all: its evidence from the job with
			// every node live is listed, and it signs the transcript.
			one := f.clone(t, f.bundle).Transcript.Nodes[1]
			one.Partial, one.PartialSignature = nil, nil
			b.Transcript.Nodes = []NodeEvidence{b.Transcript.Nodes[0], one, b.Transcript.Nodes[1]}
		}, true, map[string]string{CheckDecryptionSet: "decryption set [0 2] is not the 2 lowest live nodes [0 1]"}},
		{"fewer live nodes than the threshold, re-signed", nil, func(t *testing.T, b *Bundle) {
			b.Transcript.Nodes = b.Transcript.Nodes[:1]
			b.Transcript.DecryptionSet = []uint32{0}
		}, true, map[string]string{
			CheckDecryptionSet:        "only 1 live node [0], fewer than the threshold of 2",
			CheckDecryption:           "did not check",
			CheckTranscriptSignatures: "only 1 live node signed, fewer than the dataset's threshold of 2",
		}},
		{"released sum, re-signed", nil, func(t *testing.T, b *Bundle) {
			s := b.Transcript.Sums[sumIndex(t, b.Transcript, age)].Value
			s.Add(s, big.NewInt(1))
		}, true, map[string]string{
			CheckDecryption: fmt.Sprintf("coordinate %d (sum of age): released", age),
			CheckOutputs:    "output 1 (mean of age): released",
		}},
		{"released count, re-signed", nil, func(t *testing.T, b *Bundle) {
			s := b.Transcript.Sums[0].Value
			s.Add(s, big.NewInt(1))
		}, true, map[string]string{
			CheckDecryption:  "coordinate 0 (count): released 6, the decryption shares give 5",
			CheckCoordinates: "the count coordinate sums to 6",
			CheckOutputs:     "",
		}},
		{"missing transcript signature", nil, func(t *testing.T, b *Bundle) { b.Signatures = b.Signatures[:2] }, false,
			map[string]string{CheckTranscript: "2 transcript signatures for 3 nodes", CheckTranscriptSignatures: "node 2: no transcript signature"}},
		{"transcript signature of another node", nil, func(t *testing.T, b *Bundle) { b.Signatures[1] = b.Signatures[2] }, false,
			map[string]string{CheckTranscriptSignatures: "node 1: transcript signature " + unsigned}},
		{"share commitments in an HE record, re-signed", nil, func(t *testing.T, b *Bundle) {
			var p circuits.PublicInputs
			if err := p.UnmarshalBinary(b.Transcript.Records[4].Public); err != nil {
				t.Fatal(err)
			}
			p.ShareCommitments = make([]fr.Element, 2)
			enc, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			b.Transcript.Records[4].Public = enc
		}, true, map[string]string{
			CheckRecordTerms: rec(4) + ": carries 2 share commitments, an HE record none",
			CheckCiphertexts: rec(4) + ": payload does not encode",
			CheckProofs:      rec(4) + ": no public vector",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := f.bundle
			if tc.base != nil {
				base = tc.base(t)
			}
			b := f.clone(t, base)
			tc.edit(t, b)
			if tc.resign {
				if err := f.signTranscript(b); err != nil {
					t.Fatal(err)
				}
			}
			expect(t, Verify(b, f.opts...), tc.want, false)
			// Read as a stream, the bundle gives the same report.
			if enc, err := b.MarshalBinary(); err == nil {
				sameReport(t, tc.name, streamReport(enc, f.opts...), VerifyEncoded(enc, DefaultLimits(), f.opts...))
			}
		})
	}
}

// TestVerifyHEBackendMismatch: an HE transcript checked against an MPC
// dataset's descriptor, and an MPC transcript against an HE dataset's.
func TestVerifyHEBackendMismatch(t *testing.T) {
	h, m := getHEFixture(t), getFixture(t, devSetup)
	b := h.clone(t, h.bundle)
	b.Descriptor, b.VerifyingKey = m.bundle.Descriptor, m.bundle.VerifyingKey
	b.Transcript.DescriptorDigest = m.bundle.Transcript.DescriptorDigest
	if err := h.signTranscript(b); err != nil {
		t.Fatal(err)
	}
	r := Verify(b, h.opts...)
	expect(t, r, map[string]string{CheckDescriptor: "the dataset uses backend BACKEND_MPC, the transcript is of a BACKEND_HE job"}, true)
	if len(r.Checks) != 21 {
		t.Fatalf("%d checks", len(r.Checks))
	}

	b = m.clone(t)
	b.Descriptor, b.VerifyingKey = h.bundle.Descriptor, h.bundle.VerifyingKey
	b.Transcript.DescriptorDigest = h.bundle.Transcript.DescriptorDigest
	if err := m.signTranscript(b); err != nil {
		t.Fatal(err)
	}
	r = Verify(b, m.opts...)
	expect(t, r, map[string]string{CheckDescriptor: "the dataset uses backend BACKEND_HE, the transcript is of a BACKEND_MPC job"}, true)
	if len(r.Checks) != 18 {
		t.Fatalf("%d checks", len(r.Checks))
	}
}

func TestVerifyHENeverPanicsOnEmpty(t *testing.T) {
	f := getHEFixture(t)
	for name, b := range map[string]*Bundle{
		"empty HE parts": {Transcript: &Transcript{DecryptionSet: []uint32{0}}},
		"HE with nil parts": {Transcript: &Transcript{DecryptionSet: []uint32{0, 1}, Sums: []Sum{{}}, Nodes: make([]NodeEvidence, 3),
			Records: make([]Record, 2)}, Descriptor: f.bundle.Descriptor, VerifyingKey: f.bundle.VerifyingKey},
		"HE, no records": func() *Bundle {
			b := f.clone(t, f.bundle)
			b.Transcript.Records = nil
			return b
		}(),
		"HE, no sums": func() *Bundle {
			b := f.clone(t, f.bundle)
			b.Transcript.Sums = nil
			return b
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			r := Verify(b, f.opts...)
			if r.OK() {
				t.Fatal("verifies")
			}
			if len(r.Checks) != 21 {
				t.Fatalf("%d checks", len(r.Checks))
			}
		})
	}
}

// TestHEKeyShares: the descriptor's public key must be the sum of the
// public-key shares it lists, each signed by its node as its commitment,
// and every node's key-generation signature covers those commitments. A
// node that swaps its share for another after the others were revealed
// (the rogue-key attack) cannot make the honest nodes' signatures cover
// it; even all nodes re-signing cannot make a key that is not the sum.
func TestHEKeyShares(t *testing.T) {
	f := getHEFixture(t)
	desc := f.desc
	id, crs := desc.GetId(), desc.GetHe().GetCrsSeed()
	var seed [32]byte
	copy(seed[:], crs)
	party, err := he.NewKeygenParty(f.params, he.Committee{Nodes: testNodes, Threshold: heThreshold}, seed, 0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := party.Round1()
	if err != nil {
		t.Fatal(err)
	}
	commit := func(info *cohortv1.HEKeyInfo, i int) {
		c := dataset.KeygenCommitment(id, crs, uint32(i), info.PublicKeyShares[i])
		info.CommitmentSignatures[i] = f.signature(i, dataset.KeygenCommitStatement(id, crs, uint32(i), c))
	}
	signKey := func(info *cohortv1.HEKeyInfo, nodes ...int) {
		st := dataset.KeygenStatement(id, testNodes, info)
		for _, i := range nodes {
			info.Signatures[i] = f.signature(i, st)
		}
	}
	sum := func(t *testing.T, info *cohortv1.HEKeyInfo) {
		pk, err := he.AggregatePublicKey(f.params, he.Committee{Nodes: testNodes, Threshold: heThreshold}, seed, info.PublicKeyShares)
		if err != nil {
			t.Fatal(err)
		}
		if info.PublicKey, err = pk.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, info *cohortv1.HEKeyInfo)
		want string
	}{
		{"node 0 swaps its share and re-signs alone", func(t *testing.T, info *cohortv1.HEKeyInfo) {
			info.PublicKeyShares[0] = other
			commit(info, 0)
			sum(t, info)
			signKey(info, 0)
		}, "node 1's key-generation signature"},
		{"a share that is not the one committed to, key re-signed by all", func(t *testing.T, info *cohortv1.HEKeyInfo) {
			info.PublicKeyShares[0] = other
			sum(t, info)
			signKey(info, 0, 1, 2)
		}, "node 0's public-key share is not the one it committed to"},
		{"a key that is not the sum of the shares, all re-signed", func(t *testing.T, info *cohortv1.HEKeyInfo) {
			info.PublicKeyShares[0] = other
			commit(info, 0)
			signKey(info, 0, 1, 2)
		}, "the public key is not the sum of the committed public-key shares"},
		{"no shares", func(t *testing.T, info *cohortv1.HEKeyInfo) {
			info.PublicKeyShares, info.CommitmentSignatures = nil, nil
			signKey(info, 0, 1, 2)
		}, "0 public-key shares and 0 commitment signatures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := proto.Clone(desc).(*cohortv1.DatasetDescriptor)
			tc.edit(t, d.He)
			if _, err := dataset.From(d); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("dataset.From: %v, want %q", err, tc.want)
			}
			b := f.clone(t, f.bundle)
			enc, err := deterministic.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			b.Descriptor = enc
			if b.Transcript.DescriptorDigest, err = DescriptorDigest(d); err != nil {
				t.Fatal(err)
			}
			if err := f.signTranscript(b); err != nil {
				t.Fatal(err)
			}
			expect(t, Verify(b, f.opts...), map[string]string{CheckDescriptor: tc.want}, true)
		})
	}
}

package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
)

func TestHETranscriptRoundTrip(t *testing.T) {
	f := getHEFixture(t)
	tr := f.bundle.Transcript
	if tr.Backend() != cohortv1.Backend_BACKEND_HE || getFixture(t, devSetup).bundle.Transcript.Backend() != cohortv1.Backend_BACKEND_MPC {
		t.Fatal("backends")
	}
	enc := mustEncode(t, tr)
	got, err := UnmarshalTranscript(enc, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustEncode(t, got), enc) {
		t.Fatal("decode then encode changed the HE transcript")
	}
	size := he.EncodedSize(f.params)
	if len(got.Aggregate) != size || !slices.Equal(got.DecryptionSet, []uint32{0, 1}) || len(got.Nodes[2].Partial) != 0 || got.Nodes[2].PartialSignature != nil {
		t.Fatalf("decoded: aggregate %d bytes, decryption set %v, node 2 partial %d bytes", len(got.Aggregate), got.DecryptionSet, len(got.Nodes[2].Partial))
	}
	for i, r := range got.Records {
		if !bytes.Equal(r.Ciphertext, f.records[slices.IndexFunc(f.records, func(x Record) bool { return x.Nullifier == r.Nullifier })].Ciphertext) {
			t.Fatalf("record %d: ciphertext changed", i)
		}
	}
	// Every proper prefix is refused.
	for n := range len(enc) {
		if _, err := UnmarshalTranscript(enc[:n], DefaultLimits()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	b, err := UnmarshalBundle(f.encoded, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if re, _ := b.MarshalBinary(); !bytes.Equal(re, f.encoded) {
		t.Fatal("decode then encode changed the HE bundle")
	}
	// A node down: two nodes, two signatures.
	without := f.withoutNode1(t)
	enc, err = without.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := UnmarshalBundle(enc, DefaultLimits()); err != nil || len(b.Signatures) != 2 || len(b.Transcript.Nodes) != 2 {
		t.Fatalf("bundle with a node down: %v", err)
	}
}

// TestHEDecodeLimits: ciphertexts are bounded by Limits.MaxCiphertextBytes
// (and by the largest parameter set whatever the limits) before anything
// is allocated.
func TestHEDecodeLimits(t *testing.T) {
	f := getHEFixture(t)
	enc := mustEncode(t, f.bundle.Transcript)
	size := he.EncodedSize(f.params)
	lim := DefaultLimits()
	if lim.MaxCiphertextBytes < size {
		t.Fatalf("default limits allow ciphertexts of %d bytes, the toy set's are %d", lim.MaxCiphertextBytes, size)
	}
	for _, id := range he.ParamSets() {
		p, err := he.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		if he.EncodedSize(p) > lim.MaxCiphertextBytes {
			t.Fatalf("default limits refuse ciphertexts of %s", id)
		}
	}
	for name, l := range map[string]Limits{
		"one byte short": {MaxBytes: lim.MaxBytes, MaxRecords: lim.MaxRecords, MaxRoots: lim.MaxRoots, MaxCiphertextBytes: size - 1},
		"zero":           {MaxBytes: lim.MaxBytes, MaxRecords: lim.MaxRecords, MaxRoots: lim.MaxRoots},
	} {
		if _, err := UnmarshalTranscript(enc, l); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "ciphertext") {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := UnmarshalBundle(f.encoded, l); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: bundle: %v", name, err)
		}
	}
	// MaxCiphertextBytes cannot raise the bound above the largest set.
	l := lim
	l.MaxCiphertextBytes = 1 << 40
	if l.ciphertextBytes() != uint64(maxCiphertextBytes()) {
		t.Fatalf("bound %d", l.ciphertextBytes())
	}
	// A ciphertext length far beyond the bytes left is refused.
	tr := cloneTranscript(t, f.bundle.Transcript)
	tr.Records = tr.Records[:1]
	raw := encodeUnchecked(t, tr)
	at := bytes.Index(raw, tr.Records[0].Ciphertext) - 4
	raw[at], raw[at+1], raw[at+2], raw[at+3] = 0, 0x7f, 0xff, 0xff
	if _, err := UnmarshalTranscript(raw, Limits{MaxBytes: 1 << 30, MaxRecords: 8, MaxRoots: 64, MaxCiphertextBytes: 1 << 30}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ciphertext length bomb: %v", err)
	}
}

// TestHENonCanonicalRefused: each HE transcript breaks one structural
// rule; the encoder refuses it and its bytes do not decode.
func TestHENonCanonicalRefused(t *testing.T) {
	f := getHEFixture(t)
	for _, tc := range []struct {
		name  string
		edit  func(*Transcript)
		error string
	}{
		{"decryption set out of order", func(t *Transcript) { t.DecryptionSet = []uint32{1, 0} }, "ascending"},
		{"decryption set repeats", func(t *Transcript) {
			t.DecryptionSet = []uint32{0, 0}
			t.Nodes[1].Partial, t.Nodes[1].PartialSignature = nil, nil
		}, "ascending"},
		{"decryption-set node not live", func(t *Transcript) {
			t.Nodes = slices.Delete(t.Nodes, 1, 2)
			t.DecryptionSet = []uint32{0, 1}
		}, "decryption-set node 1 has no evidence"},
		{"share outside the set", func(t *Transcript) {
			t.Nodes[2].Partial, t.Nodes[2].PartialSignature = t.Nodes[1].Partial, t.Nodes[1].PartialSignature
		}, "node 2: a decryption share, but not in the decryption set"},
		{"set member without a share", func(t *Transcript) { t.Nodes[1].Partial, t.Nodes[1].PartialSignature = nil, nil },
			"node 1: in the decryption set, but no decryption share"},
		{"share without signature", func(t *Transcript) { t.Nodes[0].PartialSignature = nil }, "node 0: partial signature of 0 bytes"},
		{"nodes out of order", func(t *Transcript) { t.Nodes[1], t.Nodes[2] = t.Nodes[2], t.Nodes[1] }, "ascending index"},
		{"node index out of range", func(t *Transcript) { t.Nodes[2].Index = 16 }, "indices are below 16"},
		{"coordinator not live", func(t *Transcript) { t.Coordinator = 5 }, "coordinator 5 is not one of the 3 listed nodes"},
		{"no aggregate", func(t *Transcript) { t.Aggregate = nil }, "ciphertext of"},
		{"ciphertext of another size", func(t *Transcript) { t.Records[3].Ciphertext = t.Records[3].Ciphertext[:100] }, "record 3"},
		{"record without a ciphertext", func(t *Transcript) { t.Records[0].Ciphertext = nil }, "record 0"},
		{"no nodes", func(t *Transcript) { t.Nodes = nil }, "evidence of 0 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := cloneTranscript(t, f.bundle.Transcript)
			tc.edit(tr)
			_, err := tr.MarshalBinary()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("MarshalBinary: %v, want ErrInvalid naming %q", err, tc.error)
			}
			if _, err := UnmarshalTranscript(encodeUnchecked(t, tr), DefaultLimits()); !errors.Is(err, ErrMalformed) {
				t.Fatalf("decoded: %v", err)
			}
		})
	}
	// An MPC transcript carries no ciphertext and no aggregate.
	m := getFixture(t, devSetup)
	for name, edit := range map[string]func(*Transcript){
		"record ciphertext": func(t *Transcript) { t.Records[0].Ciphertext = []byte{1} },
		"aggregate":         func(t *Transcript) { t.Aggregate = []byte{1} },
	} {
		tr := cloneTranscript(t, m.bundle.Transcript)
		edit(tr)
		if _, err := tr.MarshalBinary(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "MPC") {
			t.Fatalf("MPC transcript with a %s: %v", name, err)
		}
		if _, err := UnmarshalTranscript(encodeUnchecked(t, tr), DefaultLimits()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("MPC transcript with a %s decoded: %v", name, err)
		}
	}
}

// heBuildInput is what the coordinator of the fixture's HE job held.
func heBuildInput(t *testing.T, f *heFixture) BuildInput {
	t.Helper()
	tr := f.bundle.Transcript
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(tr.Spec, spec); err != nil {
		t.Fatal(err)
	}
	res := new(cohortv1.Result)
	if err := proto.Unmarshal(tr.Result, res); err != nil {
		t.Fatal(err)
	}
	sd, _ := SpecDigest(spec)
	ev := &cohortv1.JobEvidence{JobTime: tr.JobTime, SpecDigest: sd[:]}
	partials := make([][]byte, testNodes)
	sig := func(i uint32, s []byte) *cohortv1.NodeSignature {
		return &cohortv1.NodeSignature{NodeIndex: i, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: s}
	}
	for _, n := range tr.Nodes {
		e := &cohortv1.NodeJobEvidence{
			NodeIndex: n.Index, Set: &cohortv1.EligibleSet{Eligible: n.Eligible, Cohort: n.Cohort, Digest: n.SetDigest[:],
				Excluded: &cohortv1.Exclusions{Purpose: n.Excluded.Purpose, Revoked: n.Excluded.Revoked}},
			SetSignature: sig(n.Index, n.SetSignature),
		}
		if len(n.Partial) > 0 {
			d := sha256.Sum256(n.Partial)
			partials[n.Index], e.PartialDigest, e.PartialSignature = n.Partial, d[:], sig(n.Index, n.PartialSignature)
		}
		ev.Nodes = append(ev.Nodes, e)
	}
	for _, s := range tr.Sums {
		ev.Coordinates, ev.ReleasedSums = append(ev.Coordinates, s.Coordinate), append(ev.ReleasedSums, s.Value.String())
	}
	sub, key := submissionOf(tr)
	return BuildInput{JobID: tr.JobID, Buyer: tr.Buyer, Submission: sub, BuyerKey: key, Coordinator: tr.Coordinator, Spec: spec, Descriptor: proto.Clone(f.desc).(*cohortv1.DatasetDescriptor),
		Records: slices.Clone(f.records), Evidence: ev, Partials: partials, DecryptionSet: slices.Clone(tr.DecryptionSet),
		Aggregate: slices.Clone(tr.Aggregate), Result: res, Roots: slices.Clone(tr.Roots)}
}

func TestHEBuild(t *testing.T) {
	f := getHEFixture(t)
	in := heBuildInput(t, f)
	slices.Reverse(in.Records)
	slices.Reverse(in.Evidence.Nodes)
	got, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustEncode(t, got), mustEncode(t, f.bundle.Transcript)) {
		t.Fatal("rebuilt HE transcript differs")
	}
	// The node signatures a bundle takes are the live nodes', in order.
	if _, err := NewBundle(got, f.bundle.Signatures[:2], f.desc, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bundle with a live node's signature missing: %v", err)
	}

	drop := func(in *BuildInput, node uint32) {
		in.Evidence.Nodes = slices.DeleteFunc(in.Evidence.Nodes, func(e *cohortv1.NodeJobEvidence) bool { return e.GetNodeIndex() == node })
		in.Partials[node] = nil
	}
	for _, tc := range []struct {
		name string
		edit func(*BuildInput)
		want string
	}{
		{"decryption set not the lowest", func(in *BuildInput) { in.DecryptionSet = []uint32{0, 2} }, "is not the 2 lowest live nodes [0 1]"},
		{"decryption set too small", func(in *BuildInput) { in.DecryptionSet = []uint32{0} }, "is not the 2 lowest"},
		{"no decryption set", func(in *BuildInput) { in.DecryptionSet = nil }, "is not the 2 lowest"},
		{"fewer live nodes than the threshold", func(in *BuildInput) { drop(in, 1); drop(in, 2) }, "evidence from 1 live nodes, decrypting needs the threshold of 2"},
		{"coordinator not live", func(in *BuildInput) { drop(in, 0); in.DecryptionSet = []uint32{1, 2} }, "no evidence from the coordinator, node 0"},
		{"share of a node outside the set", func(in *BuildInput) { in.Partials[2] = in.Partials[1] }, "node 2: a partial, but the node is not in the decryption set"},
		{"set member without its share", func(in *BuildInput) { in.Partials[1] = nil }, "node 1: no partial"},
		{"another share", func(in *BuildInput) { in.Partials[0], in.Partials[1] = in.Partials[1], in.Partials[0] }, "node 0: the partial"},
		{"partials not by node", func(in *BuildInput) { in.Partials = in.Partials[:2] }, "2 partials"},
		{"no aggregate", func(in *BuildInput) { in.Aggregate = nil }, "aggregate ciphertext of 0 bytes"},
		{"record without its ciphertext", func(in *BuildInput) { in.Records[2].Ciphertext = nil }, "ciphertext of 0 bytes"},
		{"repeated node", func(in *BuildInput) { in.Evidence.Nodes[1] = in.Evidence.Nodes[0] }, "repeated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := heBuildInput(t, f)
			tc.edit(&in)
			if _, err := Build(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want ErrInvalid naming %q", err, tc.want)
			}
		})
	}

	// An MPC job takes no ciphertext, aggregate or decryption set.
	m := getFixture(t, devSetup)
	mpcIn := func() BuildInput {
		tr := m.bundle.Transcript
		spec := new(cohortv1.JobSpec)
		if err := proto.Unmarshal(tr.Spec, spec); err != nil {
			t.Fatal(err)
		}
		sd, _ := SpecDigest(spec)
		sub, key := submissionOf(tr)
		return BuildInput{JobID: tr.JobID, Submission: sub, BuyerKey: key, Spec: spec, Descriptor: m.desc, Records: slices.Clone(tr.Records), Evidence: &cohortv1.JobEvidence{SpecDigest: sd[:]},
			Result: &cohortv1.Result{}}
	}
	for name, edit := range map[string]func(*BuildInput){
		"decryption set": func(in *BuildInput) { in.DecryptionSet = []uint32{0, 1} },
		"aggregate":      func(in *BuildInput) { in.Aggregate = []byte{1} },
		"ciphertext":     func(in *BuildInput) { in.Records[0].Ciphertext = []byte{1} },
	} {
		in := mpcIn()
		edit(&in)
		if _, err := Build(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "MPC dataset") {
			t.Fatalf("MPC job with a %s: %v", name, err)
		}
	}
}

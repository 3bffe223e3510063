package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/seal"
)

// federationOf is the federation an auditor pins for f: its nodes' public
// keys. CheckDataset reads only the nodes.
func federationOf(f *fixture) *federation.Descriptor {
	d := &federation.Descriptor{Name: "audit-test"}
	for i := range f.seal {
		d.Nodes = append(d.Nodes, federation.NodeEntry{
			Index: uint32(i), SealPublicKey: f.seal[i].Public().Marshal(), SigningPublicKey: bytes.Clone(f.desc.GetNodes()[i].GetSigningPublicKey()),
		})
	}
	return d
}

// TestPinnedDescriptor checks the report's descriptor digest and the
// descriptor check against what the auditor pinned: the federation's node
// keys and the descriptor's digest.
func TestPinnedDescriptor(t *testing.T) {
	f := getFixture(t, devSetup)
	want, err := DescriptorDigest(f.desc)
	if err != nil {
		t.Fatal(err)
	}
	fed := federationOf(f)

	r := Verify(f.bundle, f.opts...)
	if !r.OK() || r.DescriptorDigest != hex.EncodeToString(want[:]) || r.Pinned != "" {
		t.Fatalf("unpinned: ok %v, digest %q, pinned %q", r.OK(), r.DescriptorDigest, r.Pinned)
	}
	if !strings.Contains(r.String(), "dataset descriptor "+hex.EncodeToString(want[:])+" (NOT PINNED") {
		t.Errorf("the report does not show the unpinned digest:\n%s", r)
	}
	r = Verify(f.bundle, append(f.opts, WithFederation(fed), WithDescriptorDigest(want))...)
	if !r.OK() || r.Pinned != "federation and digest" {
		t.Fatalf("pinned to the right federation and digest:\n%s", r)
	}
	if !strings.Contains(r.String(), "dataset descriptor "+hex.EncodeToString(want[:])+" (pinned by federation and digest)") {
		t.Errorf("report:\n%s", r)
	}
	js, err := json.Marshal(r)
	if err != nil || !bytes.Contains(js, []byte(`"descriptor_digest":"`+hex.EncodeToString(want[:])+`"`)) {
		t.Errorf("JSON report lacks the digest: %s", js)
	}

	t.Run("another digest", func(t *testing.T) {
		other := want
		other[0] ^= 1
		expect(t, Verify(f.bundle, append(f.opts, WithDescriptorDigest(other))...),
			map[string]string{CheckDescriptor: "is not the pinned"}, false)
	})
	t.Run("another federation", func(t *testing.T) {
		sk, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		elsewhere := federationOf(f)
		elsewhere.Nodes[1].SealPublicKey = sk.Public().Marshal()
		expect(t, Verify(f.bundle, append(f.opts, WithFederation(elsewhere))...),
			map[string]string{CheckDescriptor: "node 1's seal key is not the federation's"}, false)
		elsewhere = federationOf(f)
		elsewhere.Nodes = elsewhere.Nodes[:2]
		expect(t, Verify(f.bundle, append(f.opts, WithFederation(elsewhere))...),
			map[string]string{CheckDescriptor: "names 3 nodes"}, false)
	})
}

// TestSubstitutedDescriptorAudit is a bundle whose descriptor names a seal
// key of the bundle maker's own for node 2, with every digest and
// signature made consistent: it verifies when nothing is pinned — the
// audit cannot see the substitution from the bundle alone — and fails the
// descriptor check once the federation or the genuine digest is pinned.
func TestSubstitutedDescriptorAudit(t *testing.T) {
	f := getFixture(t, devSetup)
	genuine, err := DescriptorDigest(f.desc)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b := f.clone(t)
	desc := proto.Clone(f.desc).(*cohortv1.DatasetDescriptor)
	desc.Nodes[2].SealPublicKey = sk.Public().Marshal()
	f.withDescriptor(t, b, desc)
	if r := Verify(b, f.opts...); !r.OK() {
		t.Fatalf("the substituted bundle was meant to be consistent:\n%s", r)
	}
	expect(t, Verify(b, append(f.opts, WithFederation(federationOf(f)))...),
		map[string]string{CheckDescriptor: "node 2's seal key is not the federation's"}, false)
	expect(t, Verify(b, append(f.opts, WithDescriptorDigest(genuine))...),
		map[string]string{CheckDescriptor: "is not the pinned"}, false)
}

// TestSubstitutedDescriptorLacksReadySignatures is one node substituting
// the dataset's descriptor in a bundle it hands out — its own seal key for
// node 2, or another creation time — and signing the result alone, with
// the transcript made consistent: the other nodes never signed that
// descriptor, so the descriptor check fails, pinned or not.
func TestSubstitutedDescriptorLacksReadySignatures(t *testing.T) {
	f := getFixture(t, devSetup)
	sk, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	aloneSigns := func(t *testing.T, desc *cohortv1.DatasetDescriptor) {
		t.Helper()
		sig, err := dataset.SignReady(desc, 0, f.sign[0])
		if err != nil {
			t.Fatal(err)
		}
		desc.ReadySignatures[0] = sig
	}
	cases := map[string]struct {
		edit func(t *testing.T, d *cohortv1.DatasetDescriptor)
		want string
	}{
		"node 2's seal key is node 0's own": {func(t *testing.T, d *cohortv1.DatasetDescriptor) {
			d.Nodes[2].SealPublicKey = sk.Public().Marshal()
			aloneSigns(t, d)
		}, "node 1's READY signature does not verify"},
		"another creation time": {func(t *testing.T, d *cohortv1.DatasetDescriptor) {
			d.CreatedAt++
			aloneSigns(t, d)
		}, "node 1's READY signature does not verify"},
		"node 0's signature alone": {func(t *testing.T, d *cohortv1.DatasetDescriptor) {
			d.ReadySignatures = d.ReadySignatures[:1]
		}, "carries 1 READY signatures for 3 nodes"},
		"no signature": {func(t *testing.T, d *cohortv1.DatasetDescriptor) {
			d.ReadySignatures = nil
		}, "carries 0 READY signatures for 3 nodes"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := f.clone(t)
			desc := proto.Clone(f.desc).(*cohortv1.DatasetDescriptor)
			c.edit(t, desc)
			f.withSignedDescriptor(t, b, desc)
			expect(t, Verify(b, f.opts...), map[string]string{CheckDescriptor: c.want}, false)
			expect(t, Verify(b, append(f.opts, WithFederation(federationOf(f)))...), map[string]string{CheckDescriptor: c.want}, false)
		})
	}
}

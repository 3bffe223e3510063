package backend

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/heproof"
	"github.com/cohort-dev/cohort/mpc"
)

// mpcPayloadFor is record v split among the nodes of k, each share
// sealed to its node and committed to in the public inputs; the proof is
// empty (Accept does not verify it).
func mpcPayloadFor(t *testing.T, k *nodeKeys, v []uint64) (*mpc.Payload, []mpc.Share) {
	t.Helper()
	shares, err := mpc.Split(v, testNodes, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &mpc.Payload{Proof: new(circuits.Proof)}
	for _, s := range shares {
		p.Public.ShareCommitments = append(p.Public.ShareCommitments, s.Commitment())
	}
	aad := p.Public.Digest()
	for j, s := range shares {
		sealed, err := mpc.SealShare(k.seal[j].Public(), s, aad[:])
		if err != nil {
			t.Fatal(err)
		}
		p.Sealed = append(p.Sealed, sealed)
	}
	return p, shares
}

// TestDecodeRefusals: a payload that is not of the dataset's exact layout
// is refused with ErrMalformed, and the message is the decoder's own.
func TestDecodeRefusals(t *testing.T) {
	k := newNodeKeys(t)
	s := testSchema()
	mb, err := For(k.dataset(s, cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		t.Fatal(err)
	}
	f := getHEFixture(t)
	lim := mb.(*mpcBackend).lim
	heEnc, err := (&heproof.Payload{Public: *f.records[0].Public, Proof: new(circuits.Proof), Ciphertext: f.cts[0]}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mp, _ := mpcPayloadFor(t, k, testVector(s, 0))
	mpcEnc, err := mp.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		be   Backend
		raw  []byte
		want func([]byte) error
	}{
		{"mpc: empty", mb, nil, func(b []byte) error { _, err := mpc.UnmarshalPayload(b, lim); return err }},
		{"mpc: version", mb, []byte{9, 0, 0, 0, 0}, func(b []byte) error { _, err := mpc.UnmarshalPayload(b, lim); return err }},
		{"mpc: truncated", mb, mpcEnc[:len(mpcEnc)-1], func(b []byte) error { _, err := mpc.UnmarshalPayload(b, lim); return err }},
		{"mpc: trailing byte", mb, append(bytes.Clone(mpcEnc), 0), func(b []byte) error { _, err := mpc.UnmarshalPayload(b, lim); return err }},
		{"mpc: an HE payload", mb, heEnc, func(b []byte) error { _, err := mpc.UnmarshalPayload(b, lim); return err }},
		{"he: empty", f.b, nil, func(b []byte) error { _, err := heproof.UnmarshalPayload(b, f.ds.HE.Params); return err }},
		{"he: truncated", f.b, heEnc[:len(heEnc)-1], func(b []byte) error { _, err := heproof.UnmarshalPayload(b, f.ds.HE.Params); return err }},
		{"he: an MPC payload", f.b, mpcEnc, func(b []byte) error { _, err := heproof.UnmarshalPayload(b, f.ds.HE.Params); return err }},
	} {
		p, err := c.be.Decode(c.raw)
		if p != nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, %v; want ErrMalformed", c.name, p, err)
			continue
		}
		if want := c.want(c.raw); want == nil || err.Error() != want.Error() {
			t.Errorf("%s: %q, the decoder says %v", c.name, err, want)
		}
	}
}

// TestMPCAccept: a node stores its own share, opened and checked against
// its commitment; a share that does not open, or does not match, is
// refused with ErrRefused.
func TestMPCAccept(t *testing.T) {
	k := newNodeKeys(t)
	s := testSchema()
	be, err := For(k.dataset(s, cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		t.Fatal(err)
	}
	if be.Stored() != "share" {
		t.Fatalf("stored %q", be.Stored())
	}
	mp, shares := mpcPayloadFor(t, k, testVector(s, 1))
	enc, err := mp.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p, err := be.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := p.Statement(); err != nil || len(st.Public) != len(mp.Public.Vector()) {
		t.Fatalf("statement: %v", err)
	}
	for j := range testNodes {
		got, err := p.Accept(k.seal[j], j)
		if err != nil {
			t.Fatalf("node %d: %v", j, err)
		}
		want, err := mpc.MarshalShare(shares[j])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("node %d stores another share than its own", j)
		}
	}

	// Node 1's key does not open node 0's share.
	if _, err := p.Accept(k.seal[1], 0); !errors.Is(err, ErrRefused) ||
		!strings.HasPrefix(err.Error(), "the share sealed to node 0 does not open or does not match its commitment: ") {
		t.Fatalf("wrong key: %v", err)
	}
	// A commitment that is not the share's: the shares are re-sealed under
	// the altered public inputs, so they open but do not match.
	bad, _ := mpcPayloadFor(t, k, testVector(s, 1))
	bad.Public.ShareCommitments[2].SetUint64(42)
	aad := bad.Public.Digest()
	if bad.Sealed[2], err = mpc.SealShare(k.seal[2].Public(), shares[2], aad[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := (&mpcPayload{p: bad, m: s.Layout().Len}).Accept(k.seal[2], 2); !errors.Is(err, ErrRefused) ||
		!strings.HasPrefix(err.Error(), "the share sealed to node 2 does not open or does not match its commitment: ") {
		t.Fatalf("commitment mismatch: %v", err)
	}
	// A share sealed under other public inputs does not open.
	other, _ := mpcPayloadFor(t, k, testVector(s, 1))
	other.Sealed[0] = mp.Sealed[0]
	if _, err := (&mpcPayload{p: other, m: s.Layout().Len}).Accept(k.seal[0], 0); !errors.Is(err, ErrRefused) {
		t.Fatalf("share of another payload: %v", err)
	}
}

// TestHEAccept: every node stores the ciphertext's canonical bytes.
func TestHEAccept(t *testing.T) {
	f := getHEFixture(t)
	if f.b.Stored() != "ciphertext" {
		t.Fatalf("stored %q", f.b.Stored())
	}
	p := &hePayload{p: &heproof.Payload{Public: *f.records[0].Public, Proof: new(circuits.Proof), Ciphertext: f.cts[0]}, params: f.ds.HE.Params}
	for j := range testNodes {
		got, err := p.Accept(f.keys.seal[j], j)
		if err != nil || !bytes.Equal(got, f.records[0].Ciphertext) {
			t.Fatalf("node %d: %v, or another ciphertext", j, err)
		}
	}
	st, err := p.Statement()
	if err != nil {
		t.Fatal(err)
	}
	if want := 8 + 2*f.ds.HE.Params.N(); len(st.Public) != want {
		t.Fatalf("HE statement of %d public inputs, want %d", len(st.Public), want)
	}
}

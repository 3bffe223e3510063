package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/store"
)

// keygenRun is one key generation driven by hand, as node coord would run
// it, so that a test can deviate where the coordinator could.
type keygenRun struct {
	f      *testFederation
	coord  uint32
	req    *cohortv1.HEKeygenRequest
	params *he.Params
	c      he.Committee
	crs    [32]byte
}

func newKeygenRun(t *testing.T, f *testFederation, coord uint32, id string) *keygenRun {
	t.Helper()
	params, err := he.Lookup(he.BGVTestN8)
	if err != nil {
		t.Fatal(err)
	}
	r := &keygenRun{f: f, coord: coord, params: params, c: he.Committee{Nodes: len(f.nodes), Threshold: 2}}
	r.crs = sha256.Sum256([]byte("keygen test crs " + id))
	sd := sha256.Sum256([]byte("schema"))
	r.req = &cohortv1.HEKeygenRequest{DatasetId: id, SchemaDigest: sd[:], ParamSet: string(params.ID()),
		Threshold: uint32(r.c.Threshold), NodeCount: uint32(r.c.Nodes), CrsSeed: r.crs[:]}
	return r
}

// commitAs is node i's commitment, signed with its key, to share.
func (r *keygenRun) commitAs(i uint32, share []byte) *cohortv1.HEKeygenCommitment {
	id := r.req.GetDatasetId()
	cm := dataset.KeygenCommitment(id, r.crs[:], i, share)
	st := dataset.KeygenCommitStatement(id, r.crs[:], i, cm)
	return &cohortv1.HEKeygenCommitment{NodeIndex: i, Commitment: cm[:], Signature: r.f.nodes[i].n.sign(st.Message())}
}

// sealed seals node from's Shamir shares to their receivers.
func (r *keygenRun) sealed(t *testing.T, from uint32, shamir [][]byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(shamir))
	for j, sh := range shamir {
		b, err := seal.Seal(r.f.nodes[j].opts.Members[j].Seal, sealInfoKeygenShare, sh, keygenShareAAD(r.req.GetDatasetId(), r.crs[:], int(from), j))
		if err != nil {
			t.Fatal(err)
		}
		out[j] = b
	}
	return out
}

// subShares returns a public-key share for party 0 whose polynomial is
// Σ plus − Σ minus, coefficient by coefficient modulo each prime: the
// encoding (package he) ends with the polynomial, limb after limb, each
// coefficient 8 bytes little-endian.
func subShares(t *testing.T, p *he.Params, header []byte, plus, minus [][]byte) []byte {
	t.Helper()
	moduli := p.BGV().RingQ().ModuliChain()
	n := p.N()
	size := len(moduli) * n * 8
	out := bytes.Clone(header)
	poly := out[len(out)-size:]
	off := len(header) - size
	for l, q := range moduli {
		for j := range n {
			at := (l*n + j) * 8
			var v uint64
			for _, b := range plus {
				v = (v + binary.LittleEndian.Uint64(b[off+at:])) % q
			}
			for _, b := range minus {
				v = (v + q - binary.LittleEndian.Uint64(b[off+at:])) % q
			}
			binary.LittleEndian.PutUint64(poly[at:], v)
		}
	}
	return out
}

// TestRogueCollectiveHEKey performs the rogue-key attack on the collective
// HE key against the nodes' real key-generation code: the coordinator
// (node 0) generates a key of its own, waits for the other nodes' shares
// and then picks its share as (its key) − (their shares), so that the sum
// is its key. Every node must refuse that share before it signs anything:
// the coordinator had to commit to its share before any share was
// revealed. The same steps with the committed share go through.
func TestRogueCollectiveHEKey(t *testing.T) {
	f := newTestFederation(t, 3)
	ctx := context.Background()
	r := newKeygenRun(t, f, 0, "rogue")
	peers := []uint32{1, 2}

	// Round 1: the peers commit; the coordinator commits to an honest share.
	round1 := map[uint32]*cohortv1.HEKeygenResponse{}
	for _, i := range peers {
		out, err := f.nodes[i].n.heKeygenRound1(ctx, r.req, r.coord)
		if err != nil {
			t.Fatalf("node %d round 1: %v", i, err)
		}
		if out.GetCommitment().GetNodeIndex() != i || len(out.GetSealedShares()) != 3 {
			t.Fatalf("node %d answered %v", i, out)
		}
		round1[i] = out
	}
	party, err := he.NewKeygenParty(r.params, r.c, r.crs, 0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	honest, shamir, err := party.Round1()
	if err != nil {
		t.Fatal(err)
	}
	commitments := []*cohortv1.HEKeygenCommitment{r.commitAs(0, honest), round1[1].GetCommitment(), round1[2].GetCommitment()}

	// Nothing is revealed before every node's commitment, signed by that
	// node, is on the table: the coordinator cannot see the shares first.
	unsigned := r.commitAs(0, honest)
	unsigned.Signature = f.nodes[0].n.sign([]byte("not a commitment"))
	forged := r.commitAs(0, honest)
	forged.NodeIndex = 1
	for name, list := range map[string][]*cohortv1.HEKeygenCommitment{
		"without the coordinator's commitment":   commitments[1:],
		"coordinator's commitment unsigned":      {unsigned, commitments[1], commitments[2]},
		"node 1's commitment signed by node 0":   {commitments[0], forged, commitments[2]},
		"coordinator's commitment in two places": {commitments[0], commitments[0], commitments[2]},
	} {
		for _, i := range peers {
			out, err := f.nodes[i].n.heKeygenReveal(ctx, &cohortv1.HEKeygenRevealRequest{DatasetId: "rogue", Commitments: list}, r.coord)
			wantCode(t, name, err, codes.InvalidArgument)
			if out.GetPublicKeyShare() != nil {
				t.Fatalf("%s: node %d revealed its share", name, i)
			}
		}
	}

	// Round 2 with every node's commitment: the shares are revealed, each
	// the one committed to, once.
	reveal := &cohortv1.HEKeygenRevealRequest{DatasetId: "rogue", Commitments: commitments}
	shares := map[uint32][]byte{}
	for _, i := range peers {
		out, err := f.nodes[i].n.heKeygenReveal(ctx, reveal, r.coord)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		shares[i] = out.GetPublicKeyShare()
		if dataset.KeygenCommitment("rogue", r.crs[:], i, shares[i]) != [32]byte(commitments[i].GetCommitment()) {
			t.Fatalf("node %d revealed another share than it committed to", i)
		}
		_, err = f.nodes[i].n.heKeygenReveal(ctx, reveal, r.coord)
		wantCode(t, "second reveal", err, codes.FailedPrecondition)
	}

	// The attack: a key whose secret the coordinator alone holds (three
	// parties it plays itself), and its share chosen against the others'.
	own := make([][]byte, 3)
	for j := range own {
		p, err := he.NewKeygenParty(r.params, r.c, r.crs, j, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if own[j], _, err = p.Round1(); err != nil {
			t.Fatal(err)
		}
	}
	target, err := he.AggregatePublicKey(r.params, r.c, r.crs, own)
	if err != nil {
		t.Fatal(err)
	}
	rogue := subShares(t, r.params, honest, own, [][]byte{shares[1], shares[2]})
	sum, err := he.AggregatePublicKey(r.params, r.c, r.crs, [][]byte{rogue, shares[1], shares[2]})
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := target.MarshalBinary()
	sb, _ := sum.MarshalBinary()
	if !bytes.Equal(tb, sb) {
		t.Fatal("the rogue share does not make the coordinator's key: the attack is not performed")
	}

	// Round 3 with the rogue share: every peer refuses it before it stores
	// or signs anything, and the generation is over there.
	sealed := r.sealed(t, 0, shamir)
	for _, i := range peers {
		finish := &cohortv1.HEKeygenFinishRequest{DatasetId: "rogue", PublicKeyShares: [][]byte{rogue, shares[1], shares[2]},
			SealedShares: [][]byte{sealed[i], round1[1].GetSealedShares()[i], round1[2].GetSealedShares()[i]}}
		resp, err := f.nodes[i].n.heKeygenFinish(ctx, finish, r.coord)
		wantCode(t, "rogue share", err, codes.InvalidArgument)
		if resp != nil || !strings.Contains(err.Error(), "public-key share of node 0 is not the one it committed to") {
			t.Fatalf("node %d, rogue share: %v, %v", i, resp, err)
		}
		if _, err := f.nodes[i].store.GetHEKey(ctx, "rogue"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("node %d stored a key share after the rogue share: %v", i, err)
		}
		finish.PublicKeyShares[0] = honest
		_, err = f.nodes[i].n.heKeygenFinish(ctx, finish, r.coord)
		wantCode(t, "finish after a refused finish", err, codes.FailedPrecondition)
	}

	// The honest path: the same steps with the committed share.
	h := newKeygenRun(t, f, 0, "honest")
	hr := map[uint32]*cohortv1.HEKeygenResponse{}
	for _, i := range peers {
		if hr[i], err = f.nodes[i].n.heKeygenRound1(ctx, h.req, h.coord); err != nil {
			t.Fatal(err)
		}
	}
	hp, err := he.NewKeygenParty(h.params, h.c, h.crs, 0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hshare, hshamir, err := hp.Round1()
	if err != nil {
		t.Fatal(err)
	}
	hreveal := &cohortv1.HEKeygenRevealRequest{DatasetId: "honest", Commitments: []*cohortv1.HEKeygenCommitment{h.commitAs(0, hshare), hr[1].GetCommitment(), hr[2].GetCommitment()}}
	all := [][]byte{hshare, nil, nil}
	for _, i := range peers {
		out, err := f.nodes[i].n.heKeygenReveal(ctx, hreveal, h.coord)
		if err != nil {
			t.Fatal(err)
		}
		all[i] = out.GetPublicKeyShare()
	}
	key, err := he.AggregatePublicKey(h.params, h.c, h.crs, all)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := key.MarshalBinary()
	info := &cohortv1.HEKeyInfo{ParamSet: h.req.GetParamSet(), Threshold: h.req.GetThreshold(), CrsSeed: h.crs[:], PublicKey: kb, PublicKeyShares: all}
	st := dataset.KeygenStatement("honest", 3, info)
	hsealed := h.sealed(t, 0, hshamir)
	for _, i := range peers {
		req := &cohortv1.HEKeygenFinishRequest{DatasetId: "honest", PublicKeyShares: all,
			SealedShares: [][]byte{hsealed[i], hr[1].GetSealedShares()[i], hr[2].GetSealedShares()[i]}}
		resp, err := f.nodes[i].n.heKeygenFinish(ctx, req, h.coord)
		if err != nil {
			t.Fatalf("node %d refused the honest generation: %v", i, err)
		}
		if !bytes.Equal(resp.GetPublicKey(), kb) || attest.Verify(f.nodes[i].opts.Members[i].Signing, st, resp.GetSignature().GetSignature()) != nil {
			t.Fatalf("node %d signed another key", i)
		}
		if _, err := f.nodes[i].store.GetHEKey(ctx, "honest"); err != nil {
			t.Fatalf("node %d stored no key share: %v", i, err)
		}
	}
}

package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// TestKeygenPhases: each step moves a generation one phase forward, only
// for the node that started it; every other request is refused with its
// sentinel and changes nothing.
func TestKeygenPhases(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name  string
		at    keygenPhase
		from  uint32
		want  keygenPhase
		after time.Duration
		err   error
	}{
		{"reveal after commit", keygenCommitted, 0, keygenCommitted, 0, nil},
		{"finish after reveal", keygenRevealed, 0, keygenRevealed, 0, nil},
		{"finished after finishing", keygenFinishing, 0, keygenFinishing, 0, nil},
		{"finish before reveal", keygenCommitted, 0, keygenRevealed, 0, errKeygenOutOfOrder},
		{"reveal twice", keygenRevealed, 0, keygenCommitted, 0, errKeygenOutOfOrder},
		{"past the last phase", keygenFinished, 0, keygenFinished, 0, errKeygenOutOfOrder},
		{"another node", keygenCommitted, 2, keygenCommitted, 0, errKeygenNotCoordinator},
		{"expired", keygenCommitted, 0, keygenCommitted, keygenTTL + time.Second, errKeygenUnknown},
	} {
		ks := newKeygens()
		if err := ks.begin("ds", &keygen{from: 0}, now); err != nil {
			t.Fatal(err)
		}
		ks.m["ds"].phase = tc.at
		g, err := ks.step("ds", tc.from, tc.want, now.Add(tc.after), nil)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			continue
		}
		if tc.err != nil {
			if g != nil {
				t.Errorf("%s: refused step returned the generation", tc.name)
			}
			if old, ok := ks.m["ds"]; ok && old.phase != tc.at {
				t.Errorf("%s: refused step moved the phase to %s", tc.name, old.phase)
			}
			continue
		}
		if next, _ := keygenNext(tc.at); g.phase != next {
			t.Errorf("%s: phase %s, want %s", tc.name, g.phase, next)
		}
	}
	ks := newKeygens()
	if err := ks.begin("ds", &keygen{from: 0}, now); err != nil {
		t.Fatal(err)
	}
	if err := ks.begin("ds", &keygen{from: 1}, now); !errors.Is(err, errKeygenBusy) || ks.m["ds"].from != 0 {
		t.Errorf("a second generation for the id: %v, coordinator %d", err, ks.m["ds"].from)
	}
	checked := errors.New("check refused")
	if _, err := ks.step("ds", 0, keygenCommitted, now, func(*keygen) error { return checked }); !errors.Is(err, checked) || ks.m["ds"].phase != keygenCommitted {
		t.Errorf("a refused check: %v, phase %s", err, ks.m["ds"].phase)
	}
}

// peerClient is node from's real peer client to node to: calls arrive
// authenticated as node from.
func (f *testFederation) peerClient(t *testing.T, from, to int) cohortv1.PeerServiceClient {
	t.Helper()
	c, err := f.nodes[from].n.peers.conn(uint32(to))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startRequest is a ceremony plan for dataset id with the given backend.
func startRequest(id string, backend cohortv1.Backend) *cohortv1.StartCeremonyRequest {
	info := &cohortv1.CeremonyInfo{CeremonyId: id + "-c", DatasetId: id, Participants: []uint32{0, 1, 2}, BeaconSource: "test", State: cohortv1.CeremonyState_CEREMONY_STATE_PHASE1}
	desc := &cohortv1.DatasetDescriptor{Id: id, CeremonyId: info.GetCeremonyId(), CeremonyBeaconSource: "test", Backend: backend,
		State: cohortv1.DatasetState_DATASET_STATE_SETUP, SetupKind: cohortv1.SetupKind_SETUP_KIND_CEREMONY}
	return &cohortv1.StartCeremonyRequest{Ceremony: info, Dataset: desc}
}

// TestKeygenAndCeremonySquatting: a node cannot take over, replay or
// pre-empt another node's key generation or ceremony. Each refusal is
// checked over the real peer API and leaves the generation, the store and
// the descriptors as they were.
func TestKeygenAndCeremonySquatting(t *testing.T) {
	f := newTestFederation(t, 3)
	ctx := context.Background()
	r := newKeygenRun(t, f, 0, "squat")
	round1, err := f.peerClient(t, 0, 1).HEKeygen(ctx, r.req)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		f.nodes[1].n.keygens.mu.Lock()
		g, ok := f.nodes[1].n.keygens.m["squat"]
		f.nodes[1].n.keygens.mu.Unlock()
		if !ok || g.from != 0 || g.phase != keygenCommitted || g.commitment != [32]byte(round1.GetCommitment().GetCommitment()) {
			t.Fatalf("%s: node 1's generation changed", what)
		}
		if _, err := f.nodes[1].store.GetDataset(ctx, "squat"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: node 1 stored dataset squat: %v", what, err)
		}
		if _, err := f.nodes[1].store.GetHEKey(ctx, "squat"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: node 1 stored a key share: %v", what, err)
		}
	}
	commitments := []*cohortv1.HEKeygenCommitment{r.commitAs(0, []byte("share 0")), round1.GetCommitment(), r.commitAs(2, []byte("share 2"))}
	reveal := &cohortv1.HEKeygenRevealRequest{DatasetId: "squat", Commitments: commitments}
	finish := &cohortv1.HEKeygenFinishRequest{DatasetId: "squat", PublicKeyShares: make([][]byte, 3), SealedShares: make([][]byte, 3)}

	_, err = f.peerClient(t, 2, 1).HEKeygenReveal(ctx, reveal)
	wantCode(t, "reveal asked by a node that did not start the generation", err, codes.PermissionDenied)
	unchanged("reveal by node 2")
	_, err = f.peerClient(t, 2, 1).HEKeygenFinish(ctx, finish)
	wantCode(t, "finish asked by a node that did not start the generation", err, codes.PermissionDenied)
	unchanged("finish by node 2")
	_, err = f.peerClient(t, 0, 1).HEKeygenFinish(ctx, finish)
	wantCode(t, "finish before the reveal", err, codes.FailedPrecondition)
	unchanged("finish before the reveal")
	other := proto.Clone(r.req).(*cohortv1.HEKeygenRequest)
	other.CrsSeed[0] ^= 1
	_, err = f.peerClient(t, 2, 1).HEKeygen(ctx, other)
	wantCode(t, "a second generation for the id", err, codes.FailedPrecondition)
	unchanged("a second generation by node 2")
	_, err = f.peerClient(t, 2, 1).StartCeremony(ctx, startRequest("squat", cohortv1.Backend_BACKEND_MPC))
	wantCode(t, "an MPC ceremony under the id of a generation under way", err, codes.FailedPrecondition)
	unchanged("an MPC ceremony by node 2")
	_, err = f.peerClient(t, 2, 1).StartCeremony(ctx, startRequest("squat", cohortv1.Backend_BACKEND_HE))
	wantCode(t, "an HE ceremony from a node that did not coordinate the key generation", err, codes.PermissionDenied)
	unchanged("an HE ceremony by node 2")
	_, err = f.peerClient(t, 0, 1).StartCeremony(ctx, startRequest("squat", cohortv1.Backend_BACKEND_HE))
	wantCode(t, "an HE ceremony before the key generation finished", err, codes.FailedPrecondition)
	unchanged("an HE ceremony by node 0 before the key")
	_, err = f.peerClient(t, 0, 2).StartCeremony(ctx, startRequest("unkeyed", cohortv1.Backend_BACKEND_HE))
	wantCode(t, "an HE ceremony without a key generation", err, codes.FailedPrecondition)
	if _, err := f.nodes[2].store.GetDataset(ctx, "unkeyed"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("node 2 stored a dataset without a key: %v", err)
	}

	// An id that exists, READY here: no generation and no ceremony under it.
	desc := f.installDataset(t)
	id := desc.GetId()
	before, err := f.nodes[1].store.GetDataset(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r2 := newKeygenRun(t, f, 0, id)
	_, err = f.peerClient(t, 0, 1).HEKeygen(ctx, r2.req)
	wantCode(t, "a generation under an existing dataset id", err, codes.FailedPrecondition)
	_, err = f.peerClient(t, 2, 1).StartCeremony(ctx, startRequest(id, cohortv1.Backend_BACKEND_MPC))
	wantCode(t, "a ceremony under an existing dataset id", err, codes.FailedPrecondition)
	after, err := f.nodes[1].store.GetDataset(ctx, id)
	if err != nil || string(after.Descriptor) != string(before.Descriptor) {
		t.Fatalf("node 1's descriptor of %s changed: %v", id, err)
	}
	if f.nodes[1].n.keygens.pending(id, time.Now()) {
		t.Fatalf("node 1 started a generation under %s", id)
	}
}

// TestAbortCeremonyRefusals: only a ceremony's coordinator aborts it, and
// not once this node sealed it: the dataset stays READY.
func TestAbortCeremonyRefusals(t *testing.T) {
	f := newTestFederation(t, 3)
	ctx := context.Background()
	ready := f.installDataset(t)
	n := f.nodes[1].n
	// The state SealCeremony leaves on node 1 for a ceremony node 0 ran.
	n.cer.mu.Lock()
	n.cer.m["sealed"] = &ceremony{info: &cohortv1.CeremonyInfo{CeremonyId: "sealed", DatasetId: ready.GetId()}, desc: ready, coordinator: 0, sealed: true}
	n.cer.mu.Unlock()
	readyAfter := func(what string) {
		t.Helper()
		d, err := n.datasets.descriptor(ctx, ready.GetId())
		if err != nil || d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
			t.Fatalf("%s: dataset %v, %v", what, d.GetState(), err)
		}
		if _, err := n.cer.get("sealed"); err != nil {
			t.Fatalf("%s: node 1 forgot the ceremony: %v", what, err)
		}
	}
	_, err := f.peerClient(t, 0, 1).AbortCeremony(ctx, &cohortv1.AbortCeremonyRequest{CeremonyId: "sealed", Reason: "squat"})
	wantCode(t, "abort after the seal", err, codes.FailedPrecondition)
	readyAfter("abort after the seal")
	_, err = f.peerClient(t, 2, 1).AbortCeremony(ctx, &cohortv1.AbortCeremonyRequest{CeremonyId: "sealed"})
	wantCode(t, "abort by another node", err, codes.PermissionDenied)
	readyAfter("abort by another node")
	_, err = f.peerClient(t, 0, 1).AbortCeremony(ctx, &cohortv1.AbortCeremonyRequest{CeremonyId: "unknown"})
	wantCode(t, "abort of an unknown ceremony", err, codes.NotFound)

	// A sealed ceremony takes no contribution and no second seal.
	cs, err := f.peerClient(t, 0, 1).CeremonyContribute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Send(&cohortv1.CeremonyContributeRequest{Part: &cohortv1.CeremonyContributeRequest_Header{Header: &cohortv1.CeremonyContributionHeader{CeremonyId: "sealed", Phase: 1, Contributor: 1}}}); err != nil {
		t.Fatal(err)
	}
	_, err = cs.Recv()
	wantCode(t, "contribution to a sealed ceremony", err, codes.FailedPrecondition)
	ss, err := f.peerClient(t, 0, 1).SealCeremony(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.Send(&cohortv1.SealCeremonyRequest{Part: &cohortv1.SealCeremonyRequest_Header{Header: &cohortv1.SealCeremonyHeader{CeremonyId: "sealed"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = ss.CloseAndRecv()
	wantCode(t, "second seal", err, codes.FailedPrecondition)
	readyAfter("contribution and seal after the seal")

	// Before the seal, the coordinator's abort is the one that counts.
	setup := proto.Clone(ready).(*cohortv1.DatasetDescriptor)
	setup.Id, setup.State = "pending", cohortv1.DatasetState_DATASET_STATE_SETUP
	if err := n.datasets.put(ctx, setup, true); err != nil {
		t.Fatal(err)
	}
	n.cer.mu.Lock()
	n.cer.m["pending-c"] = &ceremony{info: &cohortv1.CeremonyInfo{CeremonyId: "pending-c", DatasetId: "pending"}, desc: setup, coordinator: 0}
	n.cer.mu.Unlock()
	_, err = f.peerClient(t, 2, 1).AbortCeremony(ctx, &cohortv1.AbortCeremonyRequest{CeremonyId: "pending-c"})
	wantCode(t, "abort of an unsealed ceremony by another node", err, codes.PermissionDenied)
	if d, err := n.datasets.descriptor(ctx, "pending"); err != nil || d.GetState() != cohortv1.DatasetState_DATASET_STATE_SETUP {
		t.Fatalf("abort by another node: %v, %v", d.GetState(), err)
	}
	// While node 1 derives its keys (the dataset turns READY), not even the
	// coordinator aborts.
	if err := n.cer.beginSeal("pending-c", n.cer.m["pending-c"]); err != nil {
		t.Fatal(err)
	}
	_, err = f.peerClient(t, 0, 1).AbortCeremony(ctx, &cohortv1.AbortCeremonyRequest{CeremonyId: "pending-c"})
	wantCode(t, "abort while sealing", err, codes.FailedPrecondition)
	if d, err := n.datasets.descriptor(ctx, "pending"); err != nil || d.GetState() != cohortv1.DatasetState_DATASET_STATE_SETUP {
		t.Fatalf("abort while sealing: %v, %v", d.GetState(), err)
	}
	n.cer.endSeal(n.cer.m["pending-c"], false) // the seal failed
	if _, err := f.peerClient(t, 0, 1).AbortCeremony(ctx, &cohortv1.AbortCeremonyRequest{CeremonyId: "pending-c"}); err != nil {
		t.Fatal(err)
	}
	if d, err := n.datasets.descriptor(ctx, "pending"); err != nil || d.GetState() != cohortv1.DatasetState_DATASET_STATE_FAILED {
		t.Fatalf("the coordinator's abort: %v, %v", d.GetState(), err)
	}
}

// TestDatasetReadyRefusals: a peer marks a sealed ceremony's dataset READY
// only on the coordinator's word and only with one valid signature per
// node over the descriptor it derived itself; every refusal leaves the
// dataset in SETUP.
func TestDatasetReadyRefusals(t *testing.T) {
	f := newTestFederation(t, 3)
	ctx := context.Background()
	signed := f.installDataset(t)
	n := f.nodes[1].n

	// Node 1 sealed ceremony "c" of dataset "pending", coordinated by node
	// 0, and derived its READY descriptor; the dataset waits in SETUP.
	pending := proto.Clone(signed).(*cohortv1.DatasetDescriptor)
	pending.Id, pending.State, pending.ReadySignatures = "pending", cohortv1.DatasetState_DATASET_STATE_SETUP, nil
	if err := n.datasets.put(ctx, pending, true); err != nil {
		t.Fatal(err)
	}
	ready := readyDescriptor(pending, signed.GetVerifyingKey(), [32]byte(signed.GetCeremonyTranscriptDigest()), nil)
	var sigs []*cohortv1.NodeSignature
	for i, tn := range f.nodes {
		sig, err := dataset.SignReady(ready, uint32(i), tn.opts.Signing)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	n.cer.mu.Lock()
	n.cer.m["c"] = &ceremony{info: &cohortv1.CeremonyInfo{CeremonyId: "c", DatasetId: "pending"}, desc: pending, coordinator: 0, sealed: true, ready: ready}
	n.cer.m["unsealed"] = &ceremony{info: &cohortv1.CeremonyInfo{CeremonyId: "unsealed", DatasetId: "pending"}, desc: pending, coordinator: 0}
	n.cer.mu.Unlock()
	stillSetup := func(what string) {
		t.Helper()
		if d, err := n.datasets.descriptor(ctx, "pending"); err != nil || d.GetState() != cohortv1.DatasetState_DATASET_STATE_SETUP {
			t.Fatalf("%s: dataset %v, %v", what, d.GetState(), err)
		}
	}
	otherDesc := proto.Clone(ready).(*cohortv1.DatasetDescriptor)
	otherDesc.CreatedAt++
	forNode0, err := dataset.SignReady(otherDesc, 0, f.nodes[0].opts.Signing)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		from     int
		ceremony string
		sigs     []*cohortv1.NodeSignature
		code     codes.Code
	}{
		{"from another node than the coordinator", 2, "c", sigs, codes.PermissionDenied},
		{"an unknown ceremony", 0, "unknown", sigs, codes.NotFound},
		{"before the seal", 0, "unsealed", sigs, codes.FailedPrecondition},
		{"two signatures of three", 0, "c", sigs[:2], codes.InvalidArgument},
		{"node 0's signature in node 1's place", 0, "c", []*cohortv1.NodeSignature{sigs[0], {NodeIndex: 1, Scheme: sigs[0].Scheme, Signature: sigs[0].Signature}, sigs[2]}, codes.InvalidArgument},
		{"node 0's signature over another descriptor", 0, "c", []*cohortv1.NodeSignature{forNode0, sigs[1], sigs[2]}, codes.InvalidArgument},
	} {
		_, err := f.peerClient(t, tc.from, 1).DatasetReady(ctx, &cohortv1.DatasetReadyRequest{CeremonyId: tc.ceremony, Signatures: tc.sigs})
		wantCode(t, tc.name, err, tc.code)
		stillSetup(tc.name)
	}
	if _, err := f.peerClient(t, 0, 1).DatasetReady(ctx, &cohortv1.DatasetReadyRequest{CeremonyId: "c", Signatures: sigs}); err != nil {
		t.Fatal(err)
	}
	d, err := n.datasets.descriptor(ctx, "pending")
	if err != nil || d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
		t.Fatalf("after every node's signature: %v, %v", d.GetState(), err)
	}
	if err := dataset.CheckReadySignatures(d); err != nil {
		t.Fatal(err)
	}
}

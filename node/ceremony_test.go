package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
)

func defaultSchemaYAML(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../schema/fitness.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitReady polls every node until the dataset leaves SETUP.
func (f *testFederation) waitReady(t testing.TB, id string, within time.Duration) []*cohortv1.DatasetDescriptor {
	t.Helper()
	deadline := time.Now().Add(within)
	out := make([]*cohortv1.DatasetDescriptor, len(f.nodes))
	for i := range f.nodes {
		for {
			resp, err := f.contributor(i).GetDataset(context.Background(), &cohortv1.GetDatasetRequest{DatasetId: id})
			if err == nil && resp.GetDataset().GetState() != cohortv1.DatasetState_DATASET_STATE_SETUP {
				out[i] = resp.GetDataset()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: dataset not out of SETUP after %s (%v)", i, within, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

func (f *testFederation) provingKey(t *testing.T, node int, id string) []byte {
	t.Helper()
	stream, err := f.contributor(node).GetProvingKey(context.Background(), &cohortv1.GetProvingKeyRequest{DatasetId: id})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	b, err := blob.Receive(first.GetHeader(), 1<<30, func() (*cohortv1.Chunk, error) {
		m, err := stream.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCeremony creates a dataset through the real three-party ceremony over
// PeerService: every node ends READY with the same descriptor, the keys
// verify proofs, and the transcript re-verifies offline.
func TestCeremony(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-party Groth16 ceremony")
	}
	f := newTestFederation(t, 3, func(o *Options) { o.Limits.MaxMessageBytes = 16 << 20 })
	resp, err := f.admin(1).CreateDataset(adminCtx(), &cohortv1.CreateDatasetRequest{
		SchemaSource:  &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: defaultSchemaYAML(t)},
		Backend:       cohortv1.Backend_BACKEND_MPC,
		NodeCount:     3,
		RegistryDepth: testDepth,
		BeaconSource:  "test: derived from the last contribution",
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDataset().GetState() != cohortv1.DatasetState_DATASET_STATE_SETUP {
		t.Fatalf("state %s right after CreateDataset", resp.GetDataset().GetState())
	}
	id := resp.GetDataset().GetId()
	descs := f.waitReady(t, id, 10*time.Minute)
	for i, d := range descs {
		if d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY || d.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY {
			t.Fatalf("node %d: %s / %s", i, d.GetState(), d.GetSetupKind())
		}
		if !bytes.Equal(d.GetVerifyingKey(), descs[0].GetVerifyingKey()) || !bytes.Equal(d.GetCeremonyTranscriptDigest(), descs[0].GetCeremonyTranscriptDigest()) {
			t.Fatalf("node %d derived other keys", i)
		}
	}

	f.checkReadyEverywhere(t, descs, []uint32{0, 1, 2})

	// The coordinator cannot undo a sealed ceremony: its abort is refused
	// and the dataset stays READY on the peer.
	_, err = f.peerClient(t, 1, 0).AbortCeremony(context.Background(), &cohortv1.AbortCeremonyRequest{CeremonyId: descs[0].GetCeremonyId(), Reason: "after the seal"})
	wantCode(t, "abort after the seal", err, codes.FailedPrecondition)
	if d, err := f.nodes[0].n.datasets.descriptor(context.Background(), id); err != nil || d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
		t.Fatalf("node 0 after the refused abort: %v, %v", d.GetState(), err)
	}

	// The stored transcript re-verifies offline and names the verifying key.
	keys, err := f.nodes[2].store.GetDatasetKeys(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var tr setup.Transcript
	if err := tr.UnmarshalBinary(keys.Transcript); err != nil {
		t.Fatal(err)
	}
	if len(tr.Phase1) != 3 || len(tr.Phase2) != 3 {
		t.Fatalf("transcript has %d+%d contributions, want 3+3", len(tr.Phase1), len(tr.Phase2))
	}
	ds, err := dataset.From(descs[0])
	if err != nil {
		t.Fatal(err)
	}
	sys, err := ds.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Verify(sys.CCS); err != nil {
		t.Fatal(err)
	}
	if td, _ := tr.Digest(); !bytes.Equal(td[:], descs[0].GetCeremonyTranscriptDigest()) {
		t.Fatal("descriptor names another transcript")
	}
	// The auditor's view: the verifying key and the transcript, served by
	// any node, re-verify against the circuit compiled from the schema.
	audit := cohortv1.NewAuditServiceClient(f.conns[2])
	vk, err := audit.GetVerifyingKey(context.Background(), &cohortv1.GetVerifyingKeyRequest{DatasetId: id})
	if err != nil || !bytes.Equal(vk.GetVerifyingKey(), descs[0].GetVerifyingKey()) || vk.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY {
		t.Fatalf("GetVerifyingKey = %v, %v", vk, err)
	}
	cs, err := audit.GetCeremony(context.Background(), &cohortv1.GetCeremonyRequest{DatasetId: id})
	if err != nil {
		t.Fatal(err)
	}
	first, err := cs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	info := first.GetHeader().GetCeremony()
	if info.GetState() != cohortv1.CeremonyState_CEREMONY_STATE_SEALED || info.GetBeaconSource() != "test: derived from the last contribution" ||
		info.GetPhase1Contributions() != 3 || !bytes.Equal(info.GetTranscriptDigest(), descs[0].GetCeremonyTranscriptDigest()) {
		t.Fatalf("ceremony info = %v", info)
	}
	served, err := blob.Receive(first.GetHeader().GetBlob(), 1<<30, func() (*cohortv1.Chunk, error) {
		m, err := cs.Recv()
		return m.GetChunk(), err
	})
	if err != nil || !bytes.Equal(served, keys.Transcript) {
		t.Fatalf("served transcript differs from the stored one: %v", err)
	}
	pk := f.provingKey(t, 0, id)
	if h := sha256.Sum256(pk); h != sha256.Sum256(keys.ProvingKey) {
		t.Fatal("proving key served differs from the stored one")
	}

	// A second dataset with the same id is refused.
	_, err = f.admin(0).CreateDataset(adminCtx(), &cohortv1.CreateDatasetRequest{
		SchemaSource: &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: defaultSchemaYAML(t)},
		Backend:      cohortv1.Backend_BACKEND_MPC, NodeCount: 3, BeaconSource: "x",
	})
	wantCode(t, "duplicate dataset", err, codes.AlreadyExists)
}

func TestCreateDatasetRefusals(t *testing.T) {
	f := newTestFederation(t, 3, func(o *Options) { o.AllowInsecureDevSetup = o.Index != 2 })
	yaml := defaultSchemaYAML(t)
	base := func() *cohortv1.CreateDatasetRequest {
		return &cohortv1.CreateDatasetRequest{
			SchemaSource: &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: yaml},
			Backend:      cohortv1.Backend_BACKEND_MPC, NodeCount: 3, RegistryDepth: testDepth, BeaconSource: "b",
		}
	}
	cases := []struct {
		name   string
		mutate func(*cohortv1.CreateDatasetRequest)
		code   codes.Code
	}{
		{"invalid schema", func(r *cohortv1.CreateDatasetRequest) {
			r.SchemaSource = &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: strings.Replace(yaml, "max: 100", "max: banana", 1)}
		}, codes.InvalidArgument},
		{"unknown schema key", func(r *cohortv1.CreateDatasetRequest) {
			r.SchemaSource = &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: yaml + "\nsurprise: 1\n"}
		}, codes.InvalidArgument},
		{"no backend", func(r *cohortv1.CreateDatasetRequest) { r.Backend = cohortv1.Backend_BACKEND_UNSPECIFIED }, codes.InvalidArgument},
		{"node count", func(r *cohortv1.CreateDatasetRequest) { r.NodeCount = 4 }, codes.InvalidArgument},
		{"registry depth", func(r *cohortv1.CreateDatasetRequest) { r.RegistryDepth = 12 }, codes.InvalidArgument},
		{"no beacon source", func(r *cohortv1.CreateDatasetRequest) { r.BeaconSource = "" }, codes.InvalidArgument},
		// Node 2 does not allow an insecure setup: the federation refuses it.
		{"insecure setup refused by a peer", func(r *cohortv1.CreateDatasetRequest) { r.InsecureDevSetup = true }, codes.FailedPrecondition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mutate(r)
			_, err := f.admin(0).CreateDataset(adminCtx(), r)
			wantCode(t, tc.name, err, tc.code)
		})
	}
	// The insecure setup that a peer refused left the dataset FAILED.
	resp, err := f.contributor(0).GetDataset(context.Background(), &cohortv1.GetDatasetRequest{DatasetId: "fitness-2026"})
	if err != nil || resp.GetDataset().GetState() != cohortv1.DatasetState_DATASET_STATE_FAILED {
		t.Fatalf("after a refused setup: %v, %v", resp, err)
	}
	r := base()
	r.InsecureDevSetup = true
	_, err = f.admin(2).CreateDataset(adminCtx(), r)
	wantCode(t, "insecure setup on a node that does not allow it", err, codes.FailedPrecondition)
}

// checkReadyEverywhere checks that every node holds the same READY
// descriptor, signed by every node, whose ceremony contributions are
// attested by the nodes that made them (node participants[i] at position
// i of each phase of the stored transcript).
func (f *testFederation) checkReadyEverywhere(t *testing.T, descs []*cohortv1.DatasetDescriptor, participants []uint32) {
	t.Helper()
	for i, d := range descs {
		if !proto.Equal(d, descs[0]) {
			t.Fatalf("node %d holds another READY descriptor than node 0", i)
		}
	}
	if err := dataset.CheckReadySignatures(descs[0]); err != nil {
		t.Fatal(err)
	}
	keys, err := f.nodes[0].store.GetDatasetKeys(context.Background(), descs[0].GetId())
	if err != nil {
		t.Fatal(err)
	}
	var tr setup.Transcript
	if err := tr.UnmarshalBinary(keys.Transcript); err != nil {
		t.Fatal(err)
	}
	who, err := dataset.CheckContributions(descs[0], tr.Phase1, tr.Phase2)
	if err != nil {
		t.Fatal(err)
	}
	for p, nodes := range who {
		if !slices.Equal(nodes, participants) {
			t.Fatalf("phase %d contributions attested by %v, want %v", p+1, nodes, participants)
		}
	}
}

// TestDatasetReadySigned: a dataset made through PeerService becomes
// READY on every node with the same descriptor, signed by every node and
// attesting who contributed to its setup (TestDatasetReadyRefusals has the
// refusals).
func TestDatasetReadySigned(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an HE key generation and a one-party setup over PeerService")
	}
	f := newTestFederation(t, 3, func(o *Options) { o.Limits.MaxMessageBytes = 16 << 20 })
	resp, err := f.admin(0).CreateDataset(adminCtx(), &cohortv1.CreateDatasetRequest{
		SchemaSource: &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: heSchemaYAML(t)},
		Backend:      cohortv1.Backend_BACKEND_HE, NodeCount: 3, RegistryDepth: testDepth,
		InsecureDevSetup: true, // node 0 the one participant
		HeThreshold:      2, HeSmudgingBits: 40, HeParamSet: string(he.BGVTestN8), Privacy: exactPolicy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetDataset().GetId()
	descs := f.waitReady(t, id, 20*time.Minute)
	f.checkReadyEverywhere(t, descs, []uint32{0})
}

package client

import (
	"bytes"
	"cmp"
	"context"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// fakeAudit serves transcript bundles as a node's AuditService does.
type fakeAudit struct {
	cohortv1.UnimplementedAuditServiceServer
	infos   []*cohortv1.TranscriptInfo // newest first
	bundles map[string][]byte
}

func (f *fakeAudit) ListTranscripts(_ context.Context, req *cohortv1.ListTranscriptsRequest) (*cohortv1.ListTranscriptsResponse, error) {
	// One transcript per page, so that the client follows page tokens.
	i := 0
	if req.GetPageToken() != "" {
		i = int(req.GetPageToken()[0] - 'a')
	}
	if i >= len(f.infos) {
		return &cohortv1.ListTranscriptsResponse{}, nil
	}
	resp := &cohortv1.ListTranscriptsResponse{}
	if f.infos[i].GetDatasetId() == req.GetDatasetId() {
		resp.Transcripts = f.infos[i : i+1]
	}
	if i+1 < len(f.infos) {
		resp.NextPageToken = string(rune('a' + i + 1))
	}
	return resp, nil
}

func (f *fakeAudit) GetTranscript(req *cohortv1.GetTranscriptRequest, stream cohortv1.AuditService_GetTranscriptServer) error {
	b, ok := f.bundles[req.GetTranscriptId()]
	if !ok {
		return status.Error(codes.NotFound, "no transcript")
	}
	if err := stream.Send(&cohortv1.GetTranscriptResponse{Part: &cohortv1.GetTranscriptResponse_Header{Header: blob.Header(b)}}); err != nil {
		return err
	}
	return blob.Send(b, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetTranscriptResponse{Part: &cohortv1.GetTranscriptResponse_Chunk{Chunk: c}})
	})
}

// serveAudit starts f on a loopback port and dials it.
func serveAudit(t *testing.T, f *fakeAudit) *Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cohortv1.RegisterAuditServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c, err := Dial(lis.Addr().String(), WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// record is a transcript record with the given nullifier and epoch: the
// structure a bundle needs, nothing that would verify.
func record(t *testing.T, nf [32]byte, epoch uint64) audit.Record {
	t.Helper()
	pub := circuits.PublicInputs{Epoch: epoch}
	pub.Nullifier.SetBytes(nf[:])
	b, err := pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return audit.Record{Nullifier: nf, Public: b, Proof: []byte{1}}
}

// bundle encodes a structurally valid MPC bundle of the records.
func bundle(t *testing.T, job string, recs ...audit.Record) []byte {
	t.Helper()
	return rewardBundle(t, job, 0, recs...)
}

// rewardBundle is bundle with a reward per counted record.
func rewardBundle(t *testing.T, job string, reward uint64, recs ...audit.Record) []byte {
	t.Helper()
	slices.SortFunc(recs, func(a, b audit.Record) int { return bytes.Compare(a.Nullifier[:], b.Nullifier[:]) })
	sig := make([]byte, audit.SignatureSize)
	node := func(i uint32) audit.NodeEvidence {
		return audit.NodeEvidence{Index: i, SetSignature: sig, Partial: []byte{1}, PartialSignature: sig}
	}
	tr := &audit.Transcript{
		JobID: job, DatasetID: "fitness-2026", Spec: []byte{1}, JobTime: 1_800_000_000, EffectiveMinimum: 1,
		Submission: audit.Submission{Buyer: "lab-1", RequestID: "req-1", SubmittedAt: 1_800_000_000, Signature: sig},
		Records:    recs, Nodes: []audit.NodeEvidence{node(0), node(1)}, RewardPerRecord: reward,
		Sums: []audit.Sum{{Coordinate: 0, Value: big.NewInt(int64(len(recs)))}}, Result: []byte{1},
	}
	if reward != 0 {
		tr.Buyer = "lab-1"
	}
	b, err := audit.NewBundle(tr, [][]byte{sig, sig}, &cohortv1.DatasetDescriptor{Id: "fitness-2026", VerifyingKey: []byte{1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestMyJobs(t *testing.T) {
	me, other := testIdentity(t, 1), testIdentity(t, 2)
	const ds = "fitness-2026"
	f := &fakeAudit{
		infos: []*cohortv1.TranscriptInfo{
			{TranscriptId: "job-3", DatasetId: ds, ReleasedAt: timestamppb.New(time.Unix(1_800_000_300, 0)), CohortSize: 3},
			{TranscriptId: "job-2", DatasetId: ds, ReleasedAt: timestamppb.New(time.Unix(1_800_000_200, 0)), CohortSize: 2},
			{TranscriptId: "job-1", DatasetId: ds, ReleasedAt: timestamppb.New(time.Unix(1_800_000_100, 0)), CohortSize: 2},
		},
		bundles: map[string][]byte{
			// Two epochs of mine in one job; another's record beside them.
			"job-3": bundle(t, "job-3", record(t, me.Nullifier(ds, 7), 7), record(t, me.Nullifier(ds, 8), 8), record(t, other.Nullifier(ds, 7), 7)),
			// My nullifier for another dataset, or for another epoch than the record names, is not mine here.
			"job-2": bundle(t, "job-2", record(t, me.Nullifier("other-dataset", 7), 7), record(t, me.Nullifier(ds, 6), 7)),
			"job-1": bundle(t, "job-1", record(t, me.Nullifier(ds, 6), 6), record(t, other.Nullifier(ds, 6), 6)),
		},
	}
	c := serveAudit(t, f)
	got, err := c.MyJobs(testContext(t), me, ds)
	if err != nil {
		t.Fatal(err)
	}
	want := []CountedRecord{
		{"job-3", time.Unix(1_800_000_300, 0).UTC(), 3, 7},
		{"job-3", time.Unix(1_800_000_300, 0).UTC(), 3, 8},
		{"job-1", time.Unix(1_800_000_100, 0).UTC(), 2, 6},
	}
	// Within a transcript, records are in nullifier order.
	slices.SortStableFunc(got.Counted, func(a, b CountedRecord) int {
		if c := b.ReleasedAt.Compare(a.ReleasedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Epoch, b.Epoch)
	})
	if got.Searched != 3 || !slices.Equal(got.Counted, want) {
		t.Errorf("MyJobs = %+v, want 3 searched and %+v", got, want)
	}
	if got, err := c.MyJobs(testContext(t), other, "other-dataset"); err != nil || got.Searched != 0 || len(got.Counted) != 0 {
		t.Errorf("no transcripts: %+v, %v", got, err)
	}
	if _, err := c.MyJobs(testContext(t), nil, ds); err == nil {
		t.Error("no identity accepted")
	}

	// A malformed bundle fails the search, naming its transcript.
	f.bundles["job-2"] = append(bytes.Clone(f.bundles["job-2"]), 0)
	if _, err := c.MyJobs(testContext(t), me, ds); err == nil || !strings.Contains(err.Error(), "transcript job-2") {
		t.Errorf("malformed bundle: %v", err)
	}
	// A transcript the node lists but does not serve is the node's refusal.
	delete(f.bundles, "job-2")
	if _, err := c.MyJobs(testContext(t), me, ds); status.Code(err) != codes.NotFound {
		t.Errorf("missing bundle: %v", err)
	}
}

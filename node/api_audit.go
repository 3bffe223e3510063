package node

import (
	"context"
	"fmt"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
)

// AuditService: public data only, nothing to trust.

// auditService is AuditService: public data only, nothing to trust.
// GetTranscript (job transcripts) is not served yet.
type auditService struct {
	cohortv1.UnimplementedAuditServiceServer
	n *Node
}

// readyDescriptor returns a READY dataset's descriptor, which carries its
// verifying key.
func (n *Node) readyDescriptor(ctx context.Context, id string) (*cohortv1.DatasetDescriptor, error) {
	d, err := n.datasets.descriptor(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "dataset %q is %s, not READY", id, d.GetState())
	}
	return d, nil
}

func (s *auditService) GetVerifyingKey(ctx context.Context, req *cohortv1.GetVerifyingKeyRequest) (*cohortv1.GetVerifyingKeyResponse, error) {
	d, err := s.n.readyDescriptor(ctx, req.GetDatasetId())
	if err != nil {
		return nil, err
	}
	meta := setup.KeyMeta{Kind: setup.InsecureDev}
	copy(meta.CircuitDigest[:], d.GetCircuitDigest())
	if d.GetSetupKind() == cohortv1.SetupKind_SETUP_KIND_CEREMONY {
		meta.Kind, meta.Participants = setup.Ceremony, int(d.GetNodeCount())
		copy(meta.TranscriptDigest[:], d.GetCeremonyTranscriptDigest())
	}
	mb, err := meta.MarshalBinary()
	if err != nil {
		return nil, s.n.internal("key metadata", err)
	}
	return &cohortv1.GetVerifyingKeyResponse{
		VerifyingKey: d.GetVerifyingKey(), SetupKind: d.GetSetupKind(), KeyMeta: mb, CircuitDigest: d.GetCircuitDigest(),
	}, nil
}

func (s *auditService) GetCeremony(req *cohortv1.GetCeremonyRequest, stream cohortv1.AuditService_GetCeremonyServer) error {
	d, err := s.n.readyDescriptor(stream.Context(), req.GetDatasetId())
	if err != nil {
		return err
	}
	if d.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY {
		return status.Errorf(codes.FailedPrecondition, "dataset %q has no ceremony: its keys come from an INSECURE single-party setup", d.GetId())
	}
	ctx := stream.Context()
	cb, release, err := s.n.blobs.get(ctx, "ceremony/"+d.GetId(), func(ctx context.Context) ([]byte, any, error) {
		keys, err := s.n.store.GetVerifyingKey(ctx, d.GetId())
		if err != nil {
			return nil, nil, s.n.internal("read transcript", err)
		}
		var t setup.Transcript
		if err := t.UnmarshalBinary(keys.Transcript); err != nil {
			return nil, nil, s.n.internal("stored transcript", err)
		}
		sum := ceremonySummary{domainSize: t.DomainSize, phase1: uint32(len(t.Phase1)), phase2: uint32(len(t.Phase2)), beacon1: t.Beacon1, beacon2: t.Beacon2}
		return keys.Transcript, sum, nil
	})
	if err != nil {
		return err
	}
	defer release()
	t := cb.derived.(ceremonySummary)
	parts := make([]uint32, d.GetNodeCount())
	for i := range parts {
		parts[i] = uint32(i)
	}
	info := &cohortv1.CeremonyInfo{
		CeremonyId:          d.GetCeremonyId(),
		DatasetId:           d.GetId(),
		DomainSize:          t.domainSize,
		CircuitDigest:       d.GetCircuitDigest(),
		Participants:        parts,
		BeaconSource:        d.GetCeremonyBeaconSource(),
		State:               cohortv1.CeremonyState_CEREMONY_STATE_SEALED,
		Phase1Contributions: t.phase1,
		Phase2Contributions: t.phase2,
		Beacon1:             t.beacon1,
		Beacon2:             t.beacon2,
		TranscriptDigest:    d.GetCeremonyTranscriptDigest(),
	}
	h := &cohortv1.CeremonyHeader{Ceremony: info, Blob: cb.header()}
	if err := stream.Send(&cohortv1.GetCeremonyResponse{Part: &cohortv1.GetCeremonyResponse_Header{Header: h}}); err != nil {
		return err
	}
	return blob.Send(cb.data, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetCeremonyResponse{Part: &cohortv1.GetCeremonyResponse_Chunk{Chunk: c}})
	})
}

// ceremonySummary is what GetCeremony reports of a stored ceremony
// transcript besides its bytes.
type ceremonySummary struct {
	domainSize       uint64
	phase1, phase2   uint32
	beacon1, beacon2 []byte
}

// GetTranscript streams a stored bundle, with or without its ceremony,
// read from the store a chunk at a time as it is sent (docs/design.md
// §7.6; a bundle stored whole before chunks is sent from its column).
func (s *auditService) GetTranscript(req *cohortv1.GetTranscriptRequest, stream cohortv1.AuditService_GetTranscriptServer) error {
	if !validJobID(req.GetTranscriptId()) {
		return status.Error(codes.InvalidArgument, "transcript_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	n := s.n
	info, err := n.store.GetTranscriptInfo(stream.Context(), req.GetTranscriptId())
	if err != nil {
		return n.storeStatus("read transcript", err,
			fmt.Sprintf("no transcript %s on node %d (transcripts live on the nodes that took part in their job)", req.GetTranscriptId(), n.opts.Index))
	}
	return n.sendStoredBundle(stream.Context(), info, req.GetWithoutCeremony(), func(hd *cohortv1.BlobHeader) error {
		return stream.Send(&cohortv1.GetTranscriptResponse{Part: &cohortv1.GetTranscriptResponse_Header{Header: hd}})
	}, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetTranscriptResponse{Part: &cohortv1.GetTranscriptResponse_Chunk{Chunk: c}})
	})
}

// ListTranscripts lists a dataset's transcripts on this node.
func (s *auditService) ListTranscripts(ctx context.Context, req *cohortv1.ListTranscriptsRequest) (*cohortv1.ListTranscriptsResponse, error) {
	if !dataset.ValidID(req.GetDatasetId()) {
		return nil, status.Error(codes.InvalidArgument, "dataset_id: want 1..64 bytes of [a-z0-9-]")
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	rows, next, err := s.n.store.ListTranscripts(ctx, req.GetDatasetId(), req.GetPageToken(), size)
	if err != nil {
		return nil, s.n.listStatus("list transcripts", err)
	}
	resp := &cohortv1.ListTranscriptsResponse{NextPageToken: next}
	for _, t := range rows {
		resp.Transcripts = append(resp.Transcripts, &cohortv1.TranscriptInfo{
			TranscriptId: t.ID, DatasetId: t.DatasetID, Digest: t.Digest[:], ReleasedAt: apiTime(t.ReleasedAt), CohortSize: t.CohortSize,
		})
	}
	return resp, nil
}

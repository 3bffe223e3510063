package node

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

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
	keys, err := s.n.store.GetVerifyingKey(stream.Context(), d.GetId())
	if err != nil {
		return s.n.internal("read transcript", err)
	}
	var t setup.Transcript
	if err := t.UnmarshalBinary(keys.Transcript); err != nil {
		return s.n.internal("stored transcript", err)
	}
	parts := make([]uint32, d.GetNodeCount())
	for i := range parts {
		parts[i] = uint32(i)
	}
	info := &cohortv1.CeremonyInfo{
		CeremonyId:          d.GetCeremonyId(),
		DatasetId:           d.GetId(),
		DomainSize:          t.DomainSize,
		CircuitDigest:       d.GetCircuitDigest(),
		Participants:        parts,
		BeaconSource:        d.GetCeremonyBeaconSource(),
		State:               cohortv1.CeremonyState_CEREMONY_STATE_SEALED,
		Phase1Contributions: uint32(len(t.Phase1)),
		Phase2Contributions: uint32(len(t.Phase2)),
		Beacon1:             t.Beacon1,
		Beacon2:             t.Beacon2,
		TranscriptDigest:    d.GetCeremonyTranscriptDigest(),
	}
	h := &cohortv1.CeremonyHeader{Ceremony: info, Blob: blob.Header(keys.Transcript)}
	if err := stream.Send(&cohortv1.GetCeremonyResponse{Part: &cohortv1.GetCeremonyResponse_Header{Header: h}}); err != nil {
		return err
	}
	return blob.Send(keys.Transcript, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetCeremonyResponse{Part: &cohortv1.GetCeremonyResponse_Chunk{Chunk: c}})
	})
}

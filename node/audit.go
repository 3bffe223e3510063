package node

import (
	"context"
	"crypto/sha256"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// auditService is AuditService: public data only, nothing to trust.
// GetTranscript (job transcripts) is not served yet.
type auditService struct {
	cohortv1.UnimplementedAuditServiceServer
	n *Node
}

// readyKeys returns a READY dataset's descriptor and stored keys.
func (n *Node) readyKeys(ctx context.Context, id string) (*cohortv1.DatasetDescriptor, store.DatasetKeys, error) {
	d, err := n.datasets.descriptor(ctx, id)
	if err != nil {
		return nil, store.DatasetKeys{}, err
	}
	if d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
		return nil, store.DatasetKeys{}, status.Errorf(codes.FailedPrecondition, "dataset %q is %s, not READY", id, d.GetState())
	}
	keys, err := n.store.GetVerifyingKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.DatasetKeys{}, n.internal("READY dataset without keys", err)
	}
	if err != nil {
		return nil, store.DatasetKeys{}, n.internal("read keys", err)
	}
	return d, keys, nil
}

func (s *auditService) GetVerifyingKey(ctx context.Context, req *cohortv1.GetVerifyingKeyRequest) (*cohortv1.GetVerifyingKeyResponse, error) {
	d, keys, err := s.n.readyKeys(ctx, req.GetDatasetId())
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
		VerifyingKey: keys.VerifyingKey, SetupKind: d.GetSetupKind(), KeyMeta: mb, CircuitDigest: d.GetCircuitDigest(),
	}, nil
}

func (s *auditService) GetCeremony(req *cohortv1.GetCeremonyRequest, stream cohortv1.AuditService_GetCeremonyServer) error {
	d, keys, err := s.n.readyKeys(stream.Context(), req.GetDatasetId())
	if err != nil {
		return err
	}
	if d.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY {
		return status.Errorf(codes.FailedPrecondition, "dataset %q has no ceremony: its keys come from an INSECURE single-party setup", d.GetId())
	}
	var t setup.Transcript
	if err := t.UnmarshalBinary(keys.Transcript); err != nil {
		return s.n.internal("stored transcript", err)
	}
	td := sha256.Sum256(nil)
	copy(td[:], d.GetCeremonyTranscriptDigest())
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
		TranscriptDigest:    td[:],
	}
	h := &cohortv1.CeremonyHeader{Ceremony: info, Blob: header(keys.Transcript)}
	if err := stream.Send(&cohortv1.GetCeremonyResponse{Part: &cohortv1.GetCeremonyResponse_Header{Header: h}}); err != nil {
		return err
	}
	return chunks(keys.Transcript, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetCeremonyResponse{Part: &cohortv1.GetCeremonyResponse_Chunk{Chunk: c}})
	})
}

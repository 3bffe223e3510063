package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/store"
)

// PeerService: the Groth16 ceremony and the HE collective key generation
// a dataset is created with.

func (s *peerService) StartCeremony(ctx context.Context, req *cohortv1.StartCeremonyRequest) (*cohortv1.StartCeremonyResponse, error) {
	n := s.n
	from, _ := callerPeer(ctx)
	info, desc := req.GetCeremony(), req.GetDataset()
	if info == nil || desc == nil {
		return nil, status.Error(codes.InvalidArgument, "ceremony and dataset are required")
	}
	if !ceremonyIDPattern.MatchString(info.GetCeremonyId()) || info.GetDatasetId() != desc.GetId() ||
		desc.GetCeremonyId() != info.GetCeremonyId() || desc.GetCeremonyBeaconSource() != info.GetBeaconSource() {
		return nil, status.Error(codes.InvalidArgument, "ceremony id malformed, or the plan and the dataset name different ceremonies")
	}
	if err := n.checkParticipants(info.GetParticipants(), desc.GetSetupKind(), from); err != nil {
		return nil, err
	}
	if desc.GetState() != cohortv1.DatasetState_DATASET_STATE_SETUP {
		return nil, status.Error(codes.InvalidArgument, "dataset must be in state SETUP")
	}
	if err := n.mayStartCeremony(ctx, desc, from); err != nil {
		return nil, err
	}
	ds, err := dataset.From(desc)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if err := n.sameFederation(desc); err != nil {
		return nil, err
	}
	if len(info.GetBeaconSource()) > 1024 || !bytes.Equal(info.GetCircuitDigest(), desc.GetCircuitDigest()) {
		return nil, status.Error(codes.InvalidArgument, "beacon source too long or circuit digest differs from the dataset's")
	}
	if err := n.checkOwnHEKey(ctx, ds); err != nil {
		return nil, err
	}
	// Compiling our own copy is what checks the digest: a coordinator cannot
	// have us set up another circuit than the schema defines.
	ccs, err := ds.CCS()
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	domain, err := setup.DomainSize(ccs)
	if err != nil || domain != info.GetDomainSize() {
		return nil, status.Errorf(codes.FailedPrecondition, "domain size %d differs from the circuit's %d", info.GetDomainSize(), domain)
	}
	if err := n.datasets.put(ctx, desc, true); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, status.Errorf(codes.FailedPrecondition, "dataset %q exists on node %d", desc.GetId(), n.opts.Index)
		}
		return nil, n.internal("store dataset", err)
	}
	n.keygens.drop(desc.GetId())
	n.cer.mu.Lock()
	n.cer.m[info.GetCeremonyId()] = &ceremony{info: proto.Clone(info).(*cohortv1.CeremonyInfo), desc: desc, ds: ds, coordinator: from, mine: map[[2]int][32]byte{}}
	n.cer.mu.Unlock()
	n.log.Info("ceremony: joined", "ceremony", info.GetCeremonyId(), "coordinator", from)
	return &cohortv1.StartCeremonyResponse{Signature: n.sign(startStatement(info).Message())}, nil
}

// mayStartCeremony refuses a ceremony for a dataset id this node knows
// already, in any state, and one that does not come from the node that
// coordinated the dataset's key generation: an HE dataset's ceremony only
// from the node that finished its key generation with this node, any
// other dataset's not while a key generation for its id is under way.
func (n *Node) mayStartCeremony(ctx context.Context, desc *cohortv1.DatasetDescriptor, from uint32) error {
	id := desc.GetId()
	if _, err := n.store.GetDataset(ctx, id); err == nil {
		return status.Errorf(codes.FailedPrecondition, "dataset %q exists on node %d", id, n.opts.Index)
	} else if !errors.Is(err, store.ErrNotFound) {
		return n.internal("read dataset", err)
	}
	if desc.GetBackend() == cohortv1.Backend_BACKEND_HE {
		if err := n.keygens.mayStartCeremony(id, from, n.now()); err != nil {
			return keygenStatus(err, id, n.opts.Index)
		}
		return nil
	}
	if n.keygens.pending(id, n.now()) {
		return status.Errorf(codes.FailedPrecondition, "dataset %q: a key generation for that id is under way on node %d", id, n.opts.Index)
	}
	return nil
}

func (s *peerService) CeremonyContribute(stream cohortv1.PeerService_CeremonyContributeServer) error {
	n := s.n
	from, _ := callerPeer(stream.Context())
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "first message must be the header")
	}
	cer, err := n.cer.get(h.GetCeremonyId())
	if err != nil {
		return err
	}
	phase, index := int(h.GetPhase()), int(h.GetIndex())
	if from != cer.coordinator {
		return status.Error(codes.PermissionDenied, "only the ceremony's coordinator asks for contributions")
	}
	if cer.isSealed(&n.cer.mu) {
		return status.Errorf(codes.FailedPrecondition, "ceremony %q is sealed", h.GetCeremonyId())
	}
	if (phase != 1 && phase != 2) || index >= len(cer.info.GetParticipants()) ||
		cer.info.GetParticipants()[index] != n.opts.Index || h.GetContributor() != n.opts.Index {
		return status.Errorf(codes.FailedPrecondition, "node %d is not due to contribute at phase %d position %d", n.opts.Index, phase, index)
	}
	n.cer.mu.Lock()
	_, done := cer.mine[[2]int{phase, index}]
	if done || cer.busy {
		n.cer.mu.Unlock()
		return status.Error(codes.FailedPrecondition, "this node has contributed at that position already")
	}
	cer.busy = true
	n.cer.mu.Unlock()
	defer func() { n.cer.mu.Lock(); cer.busy = false; n.cer.mu.Unlock() }()

	prev, err := receiveBlob(h.GetBlob(), contributionLimit(cer.info.GetDomainSize()), func() (*cohortv1.Chunk, error) {
		m, err := stream.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		return err
	}
	mine, err := setup.LocalContributor(phase, index, prev)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "contributing on the state received: %v", err)
	}
	n.cer.mu.Lock()
	cer.mine[[2]int{phase, index}] = sha256.Sum256(mine)
	n.cer.mu.Unlock()
	n.log.Info("ceremony: contributed", "ceremony", h.GetCeremonyId(), "phase", phase, "position", index)

	st := dataset.ContributionStatement(h.GetCeremonyId(), uint32(phase), uint32(index), n.opts.Index, mine)
	rh := &cohortv1.CeremonyContributionHeader{CeremonyId: h.GetCeremonyId(), Phase: h.GetPhase(), Index: h.GetIndex(), Contributor: n.opts.Index,
		Blob: blob.Header(mine), Signature: n.sign(st.Message())}
	if err := stream.Send(&cohortv1.CeremonyContributeResponse{Part: &cohortv1.CeremonyContributeResponse_Header{Header: rh}}); err != nil {
		return err
	}
	return blob.Send(mine, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.CeremonyContributeResponse{Part: &cohortv1.CeremonyContributeResponse_Chunk{Chunk: c}})
	})
}

func (s *peerService) SealCeremony(stream cohortv1.PeerService_SealCeremonyServer) error {
	n := s.n
	ctx := stream.Context()
	from, _ := callerPeer(ctx)
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "first message must be the header")
	}
	cer, err := n.cer.get(h.GetCeremonyId())
	if err != nil {
		return err
	}
	if from != cer.coordinator {
		return status.Error(codes.PermissionDenied, "only the coordinator seals the ceremony")
	}
	if cer.isSealed(&n.cer.mu) {
		return status.Errorf(codes.FailedPrecondition, "ceremony %q is sealed", h.GetCeremonyId())
	}
	parts := uint64(len(cer.info.GetParticipants()))
	tb, err := receiveBlob(h.GetBlob(), 2*parts*contributionLimit(cer.info.GetDomainSize())+(64<<20), func() (*cohortv1.Chunk, error) {
		m, err := stream.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		return err
	}
	if err := n.cer.beginSeal(h.GetCeremonyId(), cer); err != nil {
		return err
	}
	resp, err := n.seal(ctx, cer, tb, h.GetContributions())
	// The ceremony stays known, sealed: its keys are stored here, and
	// neither another seal nor an abort changes that.
	n.cer.endSeal(cer, err == nil)
	if err != nil {
		n.log.Error("ceremony: seal refused", "ceremony", h.GetCeremonyId(), "error", err)
		n.failCeremony(cer.info, cer.desc, err.Error())
		return err
	}
	return stream.SendAndClose(resp)
}

func (s *peerService) DatasetReady(ctx context.Context, req *cohortv1.DatasetReadyRequest) (*cohortv1.DatasetReadyResponse, error) {
	n := s.n
	from, _ := callerPeer(ctx)
	cer, err := n.cer.get(req.GetCeremonyId())
	if err != nil {
		return nil, err
	}
	if from != cer.coordinator {
		return nil, status.Error(codes.PermissionDenied, "only the ceremony's coordinator hands out its READY signatures")
	}
	if cer.claim {
		if err := n.installClaimKeys(ctx, cer, req.GetSignatures()); err != nil {
			return nil, err
		}
		return &cohortv1.DatasetReadyResponse{}, nil
	}
	n.cer.mu.Lock()
	pending := cer.ready
	n.cer.mu.Unlock()
	if pending == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "ceremony %q is not sealed on node %d", req.GetCeremonyId(), n.opts.Index)
	}
	d := proto.Clone(pending).(*cohortv1.DatasetDescriptor)
	d.ReadySignatures = req.GetSignatures()
	if err := dataset.CheckReadySignatures(d); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if err := n.datasets.put(ctx, d, false); err != nil {
		return nil, n.internal("store descriptor", err)
	}
	n.log.Info("dataset ready", "dataset", d.GetId(), "setup", d.GetSetupKind().String())
	return &cohortv1.DatasetReadyResponse{}, nil
}

func (s *peerService) AbortCeremony(ctx context.Context, req *cohortv1.AbortCeremonyRequest) (*cohortv1.AbortCeremonyResponse, error) {
	n := s.n
	from, _ := callerPeer(ctx)
	id := req.GetCeremonyId()
	n.cer.mu.Lock()
	cer, ok := n.cer.m[id]
	switch {
	case !ok:
		n.cer.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "no ceremony %q on node %d", id, n.opts.Index)
	case cer.coordinator != from:
		n.cer.mu.Unlock()
		return nil, status.Errorf(codes.PermissionDenied, "ceremony %q: only its coordinator may abort it", id)
	case cer.claim && (cer.installed || cer.sealing):
		n.cer.mu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "ceremony %q: node %d stored the claim keys or is deriving them", id, n.opts.Index)
	case !cer.claim && (cer.sealed || cer.sealing):
		n.cer.mu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "ceremony %q is sealed or being sealed on node %d: its dataset becomes READY and stays so", id, n.opts.Index)
	}
	delete(n.cer.m, id)
	n.cer.mu.Unlock()
	if cer.claim {
		// The claim keys were not stored here: nothing stays of the ceremony.
		n.log.Warn("claim-key ceremony aborted by its coordinator", "ceremony", id, "reason", truncate(req.GetReason(), 1024))
		return &cohortv1.AbortCeremonyResponse{}, nil
	}
	d := proto.Clone(cer.desc).(*cohortv1.DatasetDescriptor)
	d.State = cohortv1.DatasetState_DATASET_STATE_FAILED
	if err := n.datasets.put(ctx, d, false); err != nil {
		return nil, n.internal("mark dataset failed", err)
	}
	n.log.Warn("ceremony aborted by its coordinator", "ceremony", id, "reason", truncate(req.GetReason(), 1024))
	return &cohortv1.AbortCeremonyResponse{}, nil
}

func (s *peerService) HEKeygen(ctx context.Context, req *cohortv1.HEKeygenRequest) (*cohortv1.HEKeygenResponse, error) {
	from, _ := callerPeer(ctx)
	return s.n.heKeygenRound1(ctx, req, from)
}

func (s *peerService) HEKeygenReveal(ctx context.Context, req *cohortv1.HEKeygenRevealRequest) (*cohortv1.HEKeygenRevealResponse, error) {
	from, _ := callerPeer(ctx)
	return s.n.heKeygenReveal(ctx, req, from)
}

func (s *peerService) HEKeygenFinish(ctx context.Context, req *cohortv1.HEKeygenFinishRequest) (*cohortv1.HEKeygenFinishResponse, error) {
	from, _ := callerPeer(ctx)
	return s.n.heKeygenFinish(ctx, req, from)
}

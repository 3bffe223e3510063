package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/constraint"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// The Groth16 ceremony over PeerService (docs/design.md §5.5).
//
// The node whose administrator calls CreateDataset coordinates. It sends
// every peer the plan and the dataset (StartCeremony); each peer compiles
// the circuit itself and checks the circuit digest and domain. The
// coordinator then relays the public state of each phase to the
// participants in order (CeremonyContribute): each contributes on top of the
// state it receives and answers with its contribution, which the
// coordinator verifies before passing it on (setup.RunCeremony). Each phase
// is sealed with a beacon derived from the announced beacon source and the
// phase's last contribution. Finally every peer receives the whole
// transcript (SealCeremony), re-verifies it from the public initial states,
// checks that its own contributions are in it, derives the keys and reports
// the verifying key's digest, signed; the dataset becomes READY on every
// node when all digests agree. A peer that fails any check makes the
// ceremony fail, and the dataset is FAILED everywhere.
//
// The derived beacon is a placeholder for a genuine public randomness
// beacon: it is unpredictable to everyone but the last participant of each
// phase, who could grind its contribution (see setup's package doc). With
// an external source (a drand round named in beacon_source) that grinding
// is not possible; fetching it is left to the operator's tooling.

var ceremonyIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// beacon derives the beacon sealing a phase from the announced source and
// the phase's last contribution.
func beacon(phase int, source string, last []byte) setup.Beacon {
	h := sha256.New()
	h.Write([]byte("cohort/v1/ceremony-beacon\x00"))
	h.Write([]byte{byte(phase)})
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(source)))
	h.Write(n[:])
	h.Write([]byte(source))
	d := sha256.Sum256(last)
	h.Write(d[:])
	return setup.Beacon(h.Sum(nil))
}

// contributionLimit bounds an encoded ceremony state for a domain of size
// N: phase 1 holds 3N−1 G1 and N+1 G2 points (192·N+265 bytes compressed);
// phase 2 about 32 bytes per domain point and per wire.
func contributionLimit(domain uint64) uint64 { return 512*domain + 1<<20 }

// createDataset is AdminService.CreateDataset on the coordinator.
func (n *Node) createDataset(ctx context.Context, req *cohortv1.CreateDatasetRequest) (*cohortv1.DatasetDescriptor, error) {
	if req.GetSchemaYaml() == "" {
		return nil, status.Error(codes.InvalidArgument, "schema_yaml: required (the schema as YAML, docs/design.md §1.3)")
	}
	s, err := schema.Parse([]byte(req.GetSchemaYaml()))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if !dataset.ValidID(s.ID) {
		return nil, status.Errorf(codes.InvalidArgument, "schema id %q: want 1..64 bytes of [a-z0-9-]", s.ID)
	}
	if err := s.CheckFits(s.MaxCohort, fr.Modulus()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "schema bounds: %v", err)
	}
	var heCh *heChoice
	switch req.GetBackend() {
	case cohortv1.Backend_BACKEND_MPC:
	case cohortv1.Backend_BACKEND_HE:
		if heCh, err = n.chooseHE(s, req); err != nil {
			return nil, err
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "backend: required (BACKEND_MPC or BACKEND_HE)")
	}
	if int(req.GetNodeCount()) != len(n.opts.Members) {
		return nil, status.Errorf(codes.InvalidArgument, "node_count %d: this federation has %d nodes", req.GetNodeCount(), len(n.opts.Members))
	}
	depth := int(req.GetRegistryDepth())
	if depth == 0 {
		depth = n.opts.RegistryDepth
	}
	if depth != n.opts.RegistryDepth {
		return nil, status.Errorf(codes.InvalidArgument, "registry_depth %d: the federation's registry has depth %d", depth, n.opts.RegistryDepth)
	}
	if len(req.GetBeaconSource()) > 1024 {
		return nil, status.Error(codes.InvalidArgument, "beacon_source: at most 1024 bytes")
	}
	participants := make([]uint32, len(n.opts.Members))
	for i := range participants {
		participants[i] = uint32(i)
	}
	kind := cohortv1.SetupKind_SETUP_KIND_CEREMONY
	if req.GetInsecureDevSetup() {
		if !n.opts.AllowInsecureDevSetup {
			return nil, status.Error(codes.FailedPrecondition, "insecure_dev_setup: refused; this node's configuration does not allow it (allow_insecure_dev_setup)")
		}
		kind, participants = cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV, []uint32{n.opts.Index}
	} else if req.GetBeaconSource() == "" {
		return nil, status.Error(codes.InvalidArgument, "beacon_source: required for a ceremony")
	}

	policy := req.GetPrivacy()
	if policy == nil {
		policy = enclave.DefaultPolicy()
	}
	if p, err := enclave.PolicyOf(policy); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "privacy: %v", err)
	} else if p.Exact() && !req.GetInsecureDevSetup() {
		return nil, status.Error(codes.InvalidArgument, "privacy: an exact release policy is for development only and needs insecure_dev_setup")
	}

	// The largest quote must fit the payment ledger (docs/design.md §6.8).
	if _, err := store.Quote(req.GetPricePerRecord(), req.GetJobFee(), s.MaxCohort); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "price_per_record %d × max_cohort %d + job_fee %d exceeds %d micro-credits",
			req.GetPricePerRecord(), s.MaxCohort, req.GetJobFee(), store.MaxAmount)
	}

	if _, err := n.store.GetDataset(ctx, s.ID); err == nil {
		return nil, status.Errorf(codes.AlreadyExists, "dataset %q exists", s.ID)
	}
	nodes := make([]dataset.Node, len(n.opts.Members))
	for i, m := range n.opts.Members {
		nodes[i] = dataset.Node{Name: m.Name, Address: m.APIAddress, Seal: m.Seal, Signing: m.Signing}
	}
	var ds *dataset.Dataset
	if heCh != nil {
		// The collective key first: the circuit has its public key built in.
		info, err := n.runHEKeygen(ctx, s, heCh)
		if err != nil {
			return nil, err
		}
		ds, err = dataset.NewHE(s, nodes, depth, info, n.now())
		if err != nil {
			return nil, n.internal("HE dataset", err)
		}
	} else if ds, err = dataset.New(s, nodes, depth, n.now()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	ds.Desc.SetupKind, ds.Desc.Privacy = kind, proto.Clone(policy).(*cohortv1.PrivacyPolicy)
	ds.Desc.PricePerRecord, ds.Desc.JobFee = req.GetPricePerRecord(), req.GetJobFee()
	ccs, err := ds.CCS()
	if err != nil {
		return nil, n.internal("compile", err)
	}
	domain, err := setup.DomainSize(ccs)
	if err != nil {
		return nil, n.internal("domain", err)
	}
	var rnd [6]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return nil, n.internal("random", err)
	}
	info := &cohortv1.CeremonyInfo{
		CeremonyId:    fmt.Sprintf("%.48s-%s", s.ID, hex.EncodeToString(rnd[:])),
		DatasetId:     s.ID,
		DomainSize:    domain,
		CircuitDigest: ds.Desc.GetCircuitDigest(),
		Participants:  participants,
		BeaconSource:  req.GetBeaconSource(),
		State:         cohortv1.CeremonyState_CEREMONY_STATE_PHASE1,
	}
	ds.Desc.CeremonyId, ds.Desc.CeremonyBeaconSource = info.GetCeremonyId(), info.GetBeaconSource()
	if err := n.datasets.put(ctx, ds.Desc, true); err != nil {
		return nil, n.storeStatus("store dataset", err, fmt.Sprintf("dataset %q exists", s.ID))
	}
	// The setup's progress is in this process's memory: record which
	// replica runs it, so that another fails it if this one dies
	// (docs/design.md §3.4).
	if err := n.store.PutSetupRun(ctx, store.SetupRun{DatasetID: s.ID, CeremonyID: info.GetCeremonyId(), Replica: n.opts.ReplicaID, StartedAt: n.now()}); err != nil {
		n.failCeremony(info, ds.Desc, "the node could not record its setup run")
		return nil, n.internal("record setup run", err)
	}
	n.log.Info("ceremony: starting", "ceremony", info.GetCeremonyId(), "dataset", s.ID, "domain", domain, "participants", len(participants), "kind", kind.String())

	_, errs := fanOutWithin(ctx, n, n.opts.Limits.CeremonyTimeout, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.StartCeremonyResponse, error) {
		resp, err := c.StartCeremony(ctx, &cohortv1.StartCeremonyRequest{Ceremony: info, Dataset: ds.Desc})
		if err != nil {
			return nil, err
		}
		return resp, n.verifySig(i, startStatement(info).Message(), resp.GetSignature())
	})
	if len(errs) > 0 {
		err := peerFailureOf("the ceremony", "", errs)
		n.failCeremony(info, ds.Desc, status.Convert(err).Message())
		n.endSetupRun(s.ID)
		return nil, status.Errorf(status.Code(err), "ceremony could not start (dataset %q is FAILED): %s", s.ID, status.Convert(err).Message())
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		defer n.endSetupRun(s.ID)
		if err := n.runCeremony(info, ds, ccs); err != nil {
			n.log.Error("ceremony failed", "ceremony", info.GetCeremonyId(), "error", err)
			n.failCeremony(info, ds.Desc, err.Error())
		}
	}()
	return proto.Clone(ds.Desc).(*cohortv1.DatasetDescriptor), nil
}

func startStatement(info *cohortv1.CeremonyInfo) attest.CeremonyStart {
	var dg [32]byte
	copy(dg[:], info.GetCircuitDigest())
	return attest.CeremonyStart{
		CeremonyID: info.GetCeremonyId(), DatasetID: info.GetDatasetId(), DomainSize: info.GetDomainSize(),
		CircuitDigest: dg, Participants: info.GetParticipants(), BeaconSource: info.GetBeaconSource(),
	}
}

// runCeremony is the coordinator's relay, then the seal on every node.
func (n *Node) runCeremony(info *cohortv1.CeremonyInfo, ds *dataset.Dataset, ccs constraint.ConstraintSystem) error {
	ctx := n.ctx
	keys, t, atts, err := n.relayCeremony(ctx, info, ccs)
	if err != nil {
		return err
	}
	tb, err := t.MarshalBinary()
	if err != nil {
		return err
	}
	td, err := t.Digest()
	if err != nil {
		return err
	}
	pk, err := setup.MarshalProvingKey(keys.PK)
	if err != nil {
		return err
	}
	seal := attest.CeremonySeal{CeremonyID: info.GetCeremonyId(), TranscriptDigest: td, VerifyingKeyDigest: sha256.Sum256(t.VerifyingKey)}
	ready := readyDescriptor(ds.Desc, t.VerifyingKey, td, atts)
	readyStmt, err := dataset.ReadyStatement(ready)
	if err != nil {
		return err
	}

	sealed, errs := n.sealPeers(ctx, info, tb, atts, seal, readyStmt.Message())
	if len(errs) > 0 {
		return peerFailureOf("the ceremony's transcript", "", errs)
	}
	sigs := make([]*cohortv1.NodeSignature, len(n.opts.Members))
	sigs[n.opts.Index] = n.sign(readyStmt.Message())
	for i, resp := range sealed {
		sigs[i] = resp.GetReadySignature()
	}
	ready.ReadySignatures = sigs
	if err := dataset.CheckReadySignatures(ready); err != nil {
		return n.internal("READY signatures", err)
	}
	if _, errs := fanOutWithin(ctx, n, n.opts.Limits.CeremonyTimeout, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.DatasetReadyResponse, error) {
		return c.DatasetReady(ctx, &cohortv1.DatasetReadyRequest{CeremonyId: info.GetCeremonyId(), Signatures: sigs})
	}); len(errs) > 0 {
		return peerFailureOf("the READY descriptor's signatures", "", errs)
	}
	return n.installKeys(ctx, ready, pk, tb)
}

// relayCeremony is the coordinator's relay of a ceremony over ccs: each
// participant contributes in turn, this node locally, the others over
// CeremonyContribute with their attestation; it returns the keys, the
// transcript and every contribution's attestation, phase 1 then 2.
func (n *Node) relayCeremony(ctx context.Context, info *cohortv1.CeremonyInfo, ccs constraint.ConstraintSystem) (*setup.Keys, *setup.Transcript, []*cohortv1.CeremonyAttestation, error) {
	// Each contribution with its maker's attestation, phase 1 then 2.
	var atts []*cohortv1.CeremonyAttestation
	contribute := func(phase, index int, prev []byte) ([]byte, error) {
		part := info.GetParticipants()[index]
		if part == n.opts.Index {
			c, err := setup.LocalContributor(phase, index, prev)
			if err != nil {
				return nil, err
			}
			atts = append(atts, dataset.AttestContribution(info.GetCeremonyId(), uint32(phase), uint32(index), part, c, n.opts.Signing))
			return c, nil
		}
		c, att, err := n.peerContribute(ctx, part, info, phase, index, prev)
		if err != nil {
			return nil, err
		}
		atts = append(atts, att)
		return c, nil
	}
	beaconOf := func(phase int, last []byte) (setup.Beacon, error) {
		return beacon(phase, info.GetBeaconSource(), last), nil
	}
	keys, t, err := setup.RunCeremony(ccs, len(info.GetParticipants()), contribute, beaconOf)
	if err != nil {
		return nil, nil, nil, err
	}
	return keys, t, atts, nil
}

// sealPeers streams the transcript tb with the attestations atts to every
// peer and checks each answer: the verifying key's digest and the seal
// signature are this node's, and the ready signature verifies over
// readyMsg (the READY descriptor's statement for a dataset, the record's
// for the claim keys).
func (n *Node) sealPeers(ctx context.Context, info *cohortv1.CeremonyInfo, tb []byte, atts []*cohortv1.CeremonyAttestation, seal attest.CeremonySeal, readyMsg []byte) (map[uint32]*cohortv1.SealCeremonyResponse, map[uint32]error) {
	return fanOutWithin(ctx, n, n.opts.Limits.CeremonyTimeout, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.SealCeremonyResponse, error) {
		stream, err := c.SealCeremony(ctx)
		if err != nil {
			return nil, err
		}
		h := &cohortv1.SealCeremonyHeader{CeremonyId: info.GetCeremonyId(), Blob: blob.Header(tb), Contributions: atts}
		if err := stream.Send(&cohortv1.SealCeremonyRequest{Part: &cohortv1.SealCeremonyRequest_Header{Header: h}}); err != nil {
			return nil, streamErr(stream.CloseAndRecv, err)
		}
		if err := blob.Send(tb, func(ch *cohortv1.Chunk) error {
			return stream.Send(&cohortv1.SealCeremonyRequest{Part: &cohortv1.SealCeremonyRequest_Chunk{Chunk: ch}})
		}); err != nil {
			return nil, streamErr(stream.CloseAndRecv, err)
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(resp.GetVerifyingKeyDigest(), seal.VerifyingKeyDigest[:]) {
			return nil, status.Errorf(codes.Internal, "node %d derived another verifying key", i)
		}
		if err := n.verifySig(i, seal.Message(), resp.GetSignature()); err != nil {
			return nil, err
		}
		// Its READY signature is over what this node derived: the peer
		// holds the same.
		return resp, n.verifySig(i, readyMsg, resp.GetReadySignature())
	})
}

// readyDescriptor is desc as it becomes READY with the ceremony's keys:
// its verifying key, transcript digest and attested contributions,
// without READY signatures yet.
func readyDescriptor(desc *cohortv1.DatasetDescriptor, vk []byte, td [32]byte, atts []*cohortv1.CeremonyAttestation) *cohortv1.DatasetDescriptor {
	d := proto.Clone(desc).(*cohortv1.DatasetDescriptor)
	d.State = cohortv1.DatasetState_DATASET_STATE_READY
	d.VerifyingKey = vk
	d.CeremonyTranscriptDigest = td[:]
	d.CeremonyContributions = make([]*cohortv1.CeremonyAttestation, len(atts))
	for i, a := range atts {
		d.CeremonyContributions[i] = proto.Clone(a).(*cohortv1.CeremonyAttestation)
	}
	d.ReadySignatures = nil
	return d
}

// streamErr returns the server's status when a send failed because the
// server ended the stream.
func streamErr[T any](closeAndRecv func() (T, error), err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := closeAndRecv(); rerr != nil {
			return rerr
		}
	}
	return err
}

// installKeys stores a dataset's keys and its READY descriptor d, signed
// by every node.
func (n *Node) installKeys(ctx context.Context, d *cohortv1.DatasetDescriptor, pk, transcript []byte) error {
	if err := n.store.PutDatasetKeys(ctx, d.GetId(), pk, d.GetVerifyingKey(), transcript); err != nil {
		return fmt.Errorf("store keys: %w", err)
	}
	if err := n.datasets.put(ctx, d, false); err != nil {
		return fmt.Errorf("store descriptor: %w", err)
	}
	n.log.Info("dataset ready", "dataset", d.GetId(), "setup", d.GetSetupKind().String())
	return nil
}

// failCeremony marks the dataset FAILED here and on every peer; desc is
// nil for the claim keys' ceremony, which only every peer forgets.
func (n *Node) failCeremony(info *cohortv1.CeremonyInfo, desc *cohortv1.DatasetDescriptor, reason string) {
	ctx := context.WithoutCancel(n.ctx)
	if desc != nil {
		d := proto.Clone(desc).(*cohortv1.DatasetDescriptor)
		d.State = cohortv1.DatasetState_DATASET_STATE_FAILED
		if err := n.datasets.put(ctx, d, false); err != nil {
			n.log.Error("ceremony: mark dataset failed", "error", err)
		}
	}
	fanOut(ctx, n, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.AbortCeremonyResponse, error) {
		return c.AbortCeremony(ctx, &cohortv1.AbortCeremonyRequest{CeremonyId: info.GetCeremonyId(), Reason: truncate(reason, 1024)})
	})
}

// peerContribute relays a phase's state to participant part and returns its
// contribution.
func (n *Node) peerContribute(ctx context.Context, part uint32, info *cohortv1.CeremonyInfo, phase, index int, prev []byte) ([]byte, *cohortv1.CeremonyAttestation, error) {
	b, sig, err := n.peerContribution(ctx, part, info, phase, index, prev)
	if err != nil {
		return nil, nil, err
	}
	st := dataset.ContributionStatement(info.GetCeremonyId(), uint32(phase), uint32(index), part, b)
	if err := n.verifySig(part, st.Message(), sig); err != nil {
		return nil, nil, fmt.Errorf("contribution at phase %d position %d is not attested: %w", phase, index, err)
	}
	return b, &cohortv1.CeremonyAttestation{Phase: cohortv1.CeremonyPhase(phase), Position: uint32(index), ContributionDigest: st.Digest[:], Signature: sig}, nil
}

// peerContribution streams the state to participant part and receives its
// contribution and signature.
func (n *Node) peerContribution(ctx context.Context, part uint32, info *cohortv1.CeremonyInfo, phase, index int, prev []byte) ([]byte, *cohortv1.NodeSignature, error) {
	c, err := n.peers.conn(part)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.Limits.CeremonyTimeout)
	defer cancel()
	stream, err := c.CeremonyContribute(ctx)
	if err != nil {
		return nil, nil, err
	}
	h := &cohortv1.CeremonyContributionHeader{
		CeremonyId: info.GetCeremonyId(), Phase: cohortv1.CeremonyPhase(phase), Index: uint32(index), Contributor: part, Blob: blob.Header(prev),
	}
	if err := stream.Send(&cohortv1.CeremonyContributeRequest{Part: &cohortv1.CeremonyContributeRequest_Header{Header: h}}); err != nil {
		return nil, nil, err
	}
	if err := blob.Send(prev, func(ch *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.CeremonyContributeRequest{Part: &cohortv1.CeremonyContributeRequest_Chunk{Chunk: ch}})
	}); err != nil {
		return nil, nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		return nil, nil, err
	}
	rh := first.GetHeader()
	if rh == nil || rh.GetCeremonyId() != info.GetCeremonyId() || rh.GetPhase() != h.GetPhase() || rh.GetIndex() != h.GetIndex() || rh.GetContributor() != part {
		return nil, nil, fmt.Errorf("node %d answered with another contribution's header", part)
	}
	b, err := blob.Receive(rh.GetBlob(), contributionLimit(info.GetDomainSize()), func() (*cohortv1.Chunk, error) {
		m, err := stream.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("node %d: %w", part, err)
	}
	return b, rh.GetSignature(), nil
}

// receiveBlob reads the rest of a peer's stream as a blob; a malformed
// stream is InvalidArgument, one declaring more than limit bytes
// ResourceExhausted (before anything is read), a transport error is returned
// as it is.
func receiveBlob(hd *cohortv1.BlobHeader, limit uint64, recv func() (*cohortv1.Chunk, error)) ([]byte, error) {
	b, err := blob.Receive(hd, limit, recv)
	if errors.Is(err, blob.ErrMalformed) {
		return nil, blobStatus(err, hd, limit)
	}
	return b, err
}

// blobStatus is the status of a malformed blob stream: ResourceExhausted
// for a header above limit, InvalidArgument otherwise.
func blobStatus(err error, hd *cohortv1.BlobHeader, limit uint64) error {
	if errors.Is(err, blob.ErrTooLarge) {
		return status.Errorf(codes.ResourceExhausted, "a blob of %d bytes is above this node's limit of %d bytes for it; nothing was read", hd.GetTotalSize(), limit)
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// Peer side.

// checkParticipants: a real ceremony has every node, each once; an insecure
// dev setup has the coordinator alone and needs this node's consent.
func (n *Node) checkParticipants(parts []uint32, kind cohortv1.SetupKind, coordinator uint32) error {
	switch kind {
	case cohortv1.SetupKind_SETUP_KIND_CEREMONY:
		if len(parts) != len(n.opts.Members) {
			return status.Errorf(codes.InvalidArgument, "a ceremony needs every node: %d participants of %d", len(parts), len(n.opts.Members))
		}
		seen := make([]bool, len(n.opts.Members))
		for _, p := range parts {
			if int(p) >= len(seen) || seen[p] {
				return status.Error(codes.InvalidArgument, "participants repeat or name unknown nodes")
			}
			seen[p] = true
		}
	case cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV:
		if !n.opts.AllowInsecureDevSetup {
			return status.Errorf(codes.FailedPrecondition, "node %d does not allow an insecure dev setup", n.opts.Index)
		}
		if !slices.Equal(parts, []uint32{coordinator}) {
			return status.Error(codes.InvalidArgument, "an insecure dev setup has the coordinator as its only participant")
		}
	default:
		return status.Errorf(codes.InvalidArgument, "setup kind %s", kind)
	}
	return nil
}

// sameFederation checks that a descriptor lists exactly this federation's
// nodes and registry.
func (n *Node) sameFederation(d *cohortv1.DatasetDescriptor) error {
	if len(d.GetNodes()) != len(n.opts.Members) || int(d.GetRegistryDepth()) != n.opts.RegistryDepth {
		return status.Error(codes.FailedPrecondition, "dataset is not for this federation (node count or registry depth)")
	}
	for i, ni := range d.GetNodes() {
		m := n.opts.Members[i]
		if !bytes.Equal(ni.GetSealPublicKey(), m.Seal.Marshal()) || !bytes.Equal(ni.GetSigningPublicKey(), m.Signing) {
			return status.Errorf(codes.FailedPrecondition, "dataset lists other keys for node %d than the federation", i)
		}
	}
	return nil
}

// checkSealTranscript decodes a finished transcript on a peer and checks
// it follows the ceremony's plan: its domain, circuit and length, this
// node's contributions in it, and the beacons the ceremony derives.
func (n *Node) checkSealTranscript(cer *ceremony, tb []byte) (*setup.Transcript, error) {
	t := new(setup.Transcript)
	if err := t.UnmarshalBinary(tb); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "transcript: %v", err)
	}
	parts := len(cer.info.GetParticipants())
	if t.DomainSize != cer.info.GetDomainSize() || len(t.Phase1) != parts || len(t.Phase2) != parts ||
		!bytes.Equal(t.CircuitDigest[:], cer.info.GetCircuitDigest()) {
		return nil, status.Error(codes.InvalidArgument, "transcript does not follow the ceremony's plan")
	}
	for k, want := range cer.mine {
		list := t.Phase1
		if k[0] == 2 {
			list = t.Phase2
		}
		if sha256.Sum256(list[k[1]]) != want {
			return nil, status.Errorf(codes.InvalidArgument, "transcript lacks this node's phase %d contribution at position %d", k[0], k[1])
		}
	}
	for i, p := range cer.info.GetParticipants() {
		if p == n.opts.Index {
			_, ok1 := cer.mine[[2]int{1, i}]
			_, ok2 := cer.mine[[2]int{2, i}]
			if !ok1 || !ok2 {
				return nil, status.Error(codes.InvalidArgument, "this node was not asked for all its contributions")
			}
		}
	}
	src := cer.info.GetBeaconSource()
	if !bytes.Equal(t.Beacon1, beacon(1, src, t.Phase1[parts-1])) || !bytes.Equal(t.Beacon2, beacon(2, src, t.Phase2[parts-1])) {
		return nil, status.Error(codes.InvalidArgument, "transcript beacons are not the ones the ceremony derives")
	}
	return t, nil
}

// seal checks a finished transcript on a peer and installs its keys.
func (n *Node) seal(ctx context.Context, cer *ceremony, tb []byte, contributions []*cohortv1.CeremonyAttestation) (*cohortv1.SealCeremonyResponse, error) {
	t, err := n.checkSealTranscript(cer, tb)
	if err != nil {
		return nil, err
	}
	if cer.claim {
		return n.sealClaim(ctx, cer, t, tb, contributions)
	}
	parts := len(cer.info.GetParticipants())
	// Each contribution attested by the participant due at its position.
	ready := readyDescriptor(cer.desc, t.VerifyingKey, [32]byte{}, contributions)
	who, err := dataset.CheckContributions(ready, t.Phase1, t.Phase2)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	for _, nodes := range who {
		if !slices.Equal(nodes, cer.info.GetParticipants()) {
			return nil, status.Error(codes.InvalidArgument, "the contributions are attested by other nodes than the ceremony's participants")
		}
	}
	ccs, err := cer.ds.CCS()
	if err != nil {
		return nil, n.internal("compile", err)
	}
	keys, err := t.DeriveKeys(ccs)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "transcript does not verify: %v", err)
	}
	pk, err := setup.MarshalProvingKey(keys.PK)
	if err != nil {
		return nil, n.internal("encode proving key", err)
	}
	td, err := t.Digest()
	if err != nil {
		return nil, n.internal("transcript digest", err)
	}
	// The keys are stored; the dataset turns READY when every node's
	// signature over this descriptor arrives (DatasetReady).
	ready.CeremonyTranscriptDigest = td[:]
	readyStmt, err := dataset.ReadyStatement(ready)
	if err != nil {
		return nil, n.internal("READY digest", err)
	}
	if err := n.store.PutDatasetKeys(ctx, ready.GetId(), pk, ready.GetVerifyingKey(), tb); err != nil {
		return nil, n.internal("store keys", err)
	}
	n.cer.mu.Lock()
	cer.ready = ready
	n.cer.mu.Unlock()
	vkd := sha256.Sum256(t.VerifyingKey)
	info := proto.Clone(cer.info).(*cohortv1.CeremonyInfo)
	info.State = cohortv1.CeremonyState_CEREMONY_STATE_SEALED
	info.Phase1Contributions, info.Phase2Contributions = uint32(parts), uint32(parts)
	info.Beacon1, info.Beacon2, info.TranscriptDigest = t.Beacon1, t.Beacon2, td[:]
	st := attest.CeremonySeal{CeremonyID: info.GetCeremonyId(), TranscriptDigest: td, VerifyingKeyDigest: vkd}
	return &cohortv1.SealCeremonyResponse{Ceremony: info, VerifyingKeyDigest: vkd[:], Signature: n.sign(st.Message()),
		ReadySignature: n.sign(readyStmt.Message())}, nil
}

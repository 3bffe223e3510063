package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// The claim keys' ceremony (docs/design.md §5.9).
//
// The claim circuit is the same for every job of every dataset, so its
// Groth16 keys are the federation's, made once by a ceremony that names no
// dataset. An administrator starts it on any node (AdminService.
// SetupClaimKeys), which coordinates it as it would a dataset's (§5.5):
// every peer agrees to the plan (StartClaimCeremony) after compiling the
// claim circuit itself and comparing its digest and domain; every node
// contributes once to each phase in index order, each contribution
// attested by the node that made it; every peer re-verifies the whole
// transcript, checks its own contributions are in it, derives the keys and
// signs the ceremony's record (audit.ClaimCeremonyRecord: plan, nodes,
// verifying key, proving key digest, attestations). Only when every node's
// signature is there does any node store the keys, with the signed record
// and the transcript, in one transaction (DatasetReady); a ceremony that
// fails before leaves no keys anywhere. Claims are refused until then.

// claimCircuitInfo is the claim circuit compiled, with its digest and
// phase-1 domain.
type claimCircuitInfo struct {
	sys    *circuits.ClaimSystem
	digest [32]byte
	domain uint64
}

// claimCircuit compiles the claim circuit once per process.
var claimCircuit = sync.OnceValues(func() (*claimCircuitInfo, error) {
	sys, err := circuits.CompileClaim()
	if err != nil {
		return nil, err
	}
	d, err := setup.CircuitDigest(sys.CCS)
	if err != nil {
		return nil, err
	}
	domain, err := setup.DomainSize(sys.CCS)
	if err != nil {
		return nil, err
	}
	return &claimCircuitInfo{sys: sys, digest: d, domain: domain}, nil
})

// claimPending is what a peer derived when it sealed the claim keys'
// ceremony: stored once every node signed rec.
type claimPending struct {
	rec        *cohortv1.ClaimCeremony
	pk, vk, tb []byte
}

// memberInfos is the federation's nodes as a claim ceremony's record names
// them: index and keys only, so every node writes the same.
func (n *Node) memberInfos() []*cohortv1.NodeInfo {
	out := make([]*cohortv1.NodeInfo, len(n.opts.Members))
	for i, m := range n.opts.Members {
		out[i] = &cohortv1.NodeInfo{Index: uint32(i), SealPublicKey: m.Seal.Marshal(),
			SigningScheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, SigningPublicKey: m.Signing}
	}
	return out
}

// allParticipants is every node, in index order.
func (n *Node) allParticipants() []uint32 {
	parts := make([]uint32, len(n.opts.Members))
	for i := range parts {
		parts[i] = uint32(i)
	}
	return parts
}

// sealedInfo is info as a finished transcript t (digest td) seals it.
func sealedInfo(info *cohortv1.CeremonyInfo, t *setup.Transcript, td [32]byte) *cohortv1.CeremonyInfo {
	s := proto.Clone(info).(*cohortv1.CeremonyInfo)
	s.State = cohortv1.CeremonyState_CEREMONY_STATE_SEALED
	s.Phase1Contributions, s.Phase2Contributions = uint32(len(t.Phase1)), uint32(len(t.Phase2))
	s.Beacon1, s.Beacon2, s.TranscriptDigest = t.Beacon1, t.Beacon2, td[:]
	return s
}

// errClaimKeysExist is the refusal of a second claim ceremony.
func (n *Node) errClaimKeysExist() error {
	return status.Errorf(codes.AlreadyExists, "the federation has claim keys already (node %d holds them); a ceremony runs once", n.opts.Index)
}

// SetupClaimKeys is AdminService.SetupClaimKeys.
func (s *adminService) SetupClaimKeys(ctx context.Context, req *cohortv1.SetupClaimKeysRequest) (*cohortv1.SetupClaimKeysResponse, error) {
	return s.n.setupClaimKeys(ctx, req.GetBeaconSource())
}

// setupClaimKeys coordinates the claim keys' ceremony.
func (n *Node) setupClaimKeys(ctx context.Context, beaconSource string) (*cohortv1.SetupClaimKeysResponse, error) {
	if beaconSource == "" || len(beaconSource) > 1024 {
		return nil, status.Error(codes.InvalidArgument, "beacon_source: required, at most 1024 bytes (where the ceremony's beacons come from)")
	}
	if !n.claimSetup.TryLock() {
		return nil, status.Errorf(codes.FailedPrecondition, "a ceremony of the claim keys is under way on node %d", n.opts.Index)
	}
	defer n.claimSetup.Unlock()
	if _, err := n.store.GetClaimKeys(ctx, false); err == nil {
		return nil, n.errClaimKeysExist()
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, n.internal("read claim keys", err)
	}
	cc, err := claimCircuit()
	if err != nil {
		return nil, n.internal("compile claim circuit", err)
	}
	var rnd [6]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return nil, n.internal("random", err)
	}
	info := &cohortv1.CeremonyInfo{
		CeremonyId:    "claims-" + hex.EncodeToString(rnd[:]),
		DomainSize:    cc.domain,
		CircuitDigest: cc.digest[:],
		Participants:  n.allParticipants(),
		BeaconSource:  beaconSource,
		State:         cohortv1.CeremonyState_CEREMONY_STATE_PHASE1,
	}
	n.log.Info("claim-key ceremony: starting", "ceremony", info.GetCeremonyId(), "domain", cc.domain, "participants", len(info.GetParticipants()))
	fail := func(what string, err error) error {
		n.failCeremony(info, nil, err.Error())
		st := status.Convert(err)
		code := st.Code()
		if code == codes.OK || code == codes.Unknown {
			code = codes.Aborted
		}
		n.log.Error("claim-key ceremony failed", "ceremony", info.GetCeremonyId(), "step", what, "error", st.Message())
		return status.Errorf(code, "the claim-key ceremony failed at %s; no node keeps keys from it: %s", what, st.Message())
	}

	start := startStatement(info).Message()
	if _, errs := fanOutWithin(ctx, n, n.opts.Limits.CeremonyTimeout, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.StartClaimCeremonyResponse, error) {
		resp, err := c.StartClaimCeremony(ctx, &cohortv1.StartClaimCeremonyRequest{Ceremony: info})
		if err != nil {
			return nil, err
		}
		return resp, n.verifySig(i, start, resp.GetSignature())
	}); len(errs) > 0 {
		return nil, fail("its start", peerFailureOf("the claim-key ceremony", "", errs))
	}
	keys, t, atts, err := n.relayCeremony(ctx, info, cc.sys.CCS)
	if err != nil {
		return nil, fail("the contributions", err)
	}
	tb, err := t.MarshalBinary()
	if err != nil {
		return nil, fail("encoding the transcript", err)
	}
	td, err := t.Digest()
	if err != nil {
		return nil, fail("the transcript digest", err)
	}
	pk, err := setup.MarshalProvingKey(keys.PK)
	if err != nil {
		return nil, fail("encoding the proving key", err)
	}
	rec := audit.ClaimCeremonyRecord(sealedInfo(info, t, td), n.memberInfos(), t, pk, atts)
	stmt, err := audit.ClaimCeremonyStatement(rec)
	if err != nil {
		return nil, fail("the record", err)
	}
	seal := attest.CeremonySeal{CeremonyID: info.GetCeremonyId(), TranscriptDigest: td, VerifyingKeyDigest: sha256.Sum256(t.VerifyingKey)}
	sealed, errs := n.sealPeers(ctx, info, tb, atts, seal, stmt.Message())
	if len(errs) > 0 {
		return nil, fail("the seal", peerFailureOf("the claim-key ceremony's transcript", "", errs))
	}
	rec.Signatures = make([]*cohortv1.NodeSignature, len(n.opts.Members))
	rec.Signatures[n.opts.Index] = n.sign(stmt.Message())
	for i, resp := range sealed {
		rec.Signatures[i] = resp.GetReadySignature()
	}
	if err := audit.CheckClaimCeremonySignatures(rec); err != nil {
		return nil, fail("the record's signatures", err)
	}
	// Every node signed: the keys stand. This node stores them first, then
	// every peer with the signatures.
	if err := n.storeClaimKeys(ctx, rec, pk, t.VerifyingKey, tb); err != nil {
		return nil, fail("storing the keys", err)
	}
	_, errs = fanOutWithin(ctx, n, n.opts.Limits.CeremonyTimeout, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.DatasetReadyResponse, error) {
		return c.DatasetReady(ctx, &cohortv1.DatasetReadyRequest{CeremonyId: info.GetCeremonyId(), Signatures: rec.GetSignatures()})
	})
	if len(errs) > 0 {
		err := peerFailureOf("the claim keys' signatures", "", errs)
		return nil, status.Errorf(codes.Unavailable, "the claim keys are made and stored on node %d, but not on every node: %s; "+
			"a node without them fetches them from the registry sequencer (node %d) and checks them when it first needs them",
			n.opts.Index, status.Convert(err).Message(), n.opts.Sequencer)
	}
	n.log.Info("claim-key ceremony: done; every node stored the claim keys", "ceremony", info.GetCeremonyId())
	return &cohortv1.SetupClaimKeysResponse{Ceremony: rec}, nil
}

// storeClaimKeys stores a ceremony's claim keys with its signed record and
// transcript.
func (n *Node) storeClaimKeys(ctx context.Context, rec *cohortv1.ClaimCeremony, pk, vk, tb []byte) error {
	rb, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	if err != nil {
		return n.internal("encode claim ceremony", err)
	}
	err = n.store.PutClaimKeys(ctx, store.ClaimKeys{SetupKind: uint8(setup.Ceremony), ProvingKey: pk, VerifyingKey: vk,
		Ceremony: rb, Transcript: tb, CreatedAt: n.now()})
	if errors.Is(err, store.ErrAlreadyExists) {
		return n.errClaimKeysExist()
	}
	if err != nil {
		return n.internal("store claim keys", err)
	}
	return nil
}

// StartClaimCeremony is PeerService.StartClaimCeremony.
func (s *peerService) StartClaimCeremony(ctx context.Context, req *cohortv1.StartClaimCeremonyRequest) (*cohortv1.StartClaimCeremonyResponse, error) {
	n := s.n
	from, _ := callerPeer(ctx)
	info := req.GetCeremony()
	switch {
	case info == nil || !ceremonyIDPattern.MatchString(info.GetCeremonyId()) || info.GetDatasetId() != "":
		return nil, status.Error(codes.InvalidArgument, "ceremony: required, with a well-formed id and no dataset")
	case info.GetBeaconSource() == "" || len(info.GetBeaconSource()) > 1024:
		return nil, status.Error(codes.InvalidArgument, "beacon source: required, at most 1024 bytes")
	case info.GetState() != cohortv1.CeremonyState_CEREMONY_STATE_PHASE1:
		return nil, status.Error(codes.InvalidArgument, "a ceremony starts in phase 1")
	}
	if err := n.checkParticipants(info.GetParticipants(), cohortv1.SetupKind_SETUP_KIND_CEREMONY, from); err != nil {
		return nil, err
	}
	if !slices.Equal(info.GetParticipants(), n.allParticipants()) {
		return nil, status.Error(codes.InvalidArgument, "the claim keys' ceremony has every node in index order")
	}
	if _, err := n.store.GetClaimKeys(ctx, false); err == nil {
		return nil, n.errClaimKeysExist()
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, n.internal("read claim keys", err)
	}
	// Compiling our own copy is what checks the digest: a coordinator cannot
	// have us set up another circuit.
	cc, err := claimCircuit()
	if err != nil {
		return nil, n.internal("compile claim circuit", err)
	}
	if string(info.GetCircuitDigest()) != string(cc.digest[:]) || info.GetDomainSize() != cc.domain {
		return nil, status.Errorf(codes.FailedPrecondition, "the plan's circuit (digest %x…, domain %d) is not this node's claim circuit (%x…, %d)",
			prefix4(info.GetCircuitDigest()), info.GetDomainSize(), cc.digest[:4], cc.domain)
	}
	n.cer.mu.Lock()
	defer n.cer.mu.Unlock()
	if _, ok := n.cer.m[info.GetCeremonyId()]; ok {
		return nil, status.Errorf(codes.FailedPrecondition, "ceremony %q is known to node %d already", info.GetCeremonyId(), n.opts.Index)
	}
	n.cer.m[info.GetCeremonyId()] = &ceremony{info: proto.Clone(info).(*cohortv1.CeremonyInfo), coordinator: from, mine: map[[2]int][32]byte{}, claim: true}
	n.log.Info("claim-key ceremony: joined", "ceremony", info.GetCeremonyId(), "coordinator", from)
	return &cohortv1.StartClaimCeremonyResponse{Signature: n.sign(startStatement(info).Message())}, nil
}

func prefix4(b []byte) []byte { return b[:min(4, len(b))] }

// sealClaim is seal for the claim keys' ceremony: t has been checked
// against the plan; the attestations, the replay and the keys are checked
// here, and this node's signature over the record is returned. Nothing is
// stored until every node signed (installClaimKeys).
func (n *Node) sealClaim(_ context.Context, cer *ceremony, t *setup.Transcript, tb []byte, atts []*cohortv1.CeremonyAttestation) (*cohortv1.SealCeremonyResponse, error) {
	nodes := n.memberInfos()
	who, err := dataset.CheckAttestations(cer.info.GetCeremonyId(), nodes, atts, t.Phase1, t.Phase2)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	for _, w := range who {
		if !slices.Equal(w, cer.info.GetParticipants()) {
			return nil, status.Error(codes.InvalidArgument, "the contributions are attested by other nodes than the ceremony's participants")
		}
	}
	cc, err := claimCircuit()
	if err != nil {
		return nil, n.internal("compile claim circuit", err)
	}
	keys, err := t.DeriveKeys(cc.sys.CCS)
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
	info := sealedInfo(cer.info, t, td)
	rec := audit.ClaimCeremonyRecord(info, nodes, t, pk, atts)
	stmt, err := audit.ClaimCeremonyStatement(rec)
	if err != nil {
		return nil, n.internal("claim ceremony record", err)
	}
	n.cer.mu.Lock()
	cer.claimReady = &claimPending{rec: rec, pk: pk, vk: t.VerifyingKey, tb: tb}
	n.cer.mu.Unlock()
	vkd := sha256.Sum256(t.VerifyingKey)
	st := attest.CeremonySeal{CeremonyID: info.GetCeremonyId(), TranscriptDigest: td, VerifyingKeyDigest: vkd}
	return &cohortv1.SealCeremonyResponse{Ceremony: info, VerifyingKeyDigest: vkd[:], Signature: n.sign(st.Message()),
		ReadySignature: n.sign(stmt.Message())}, nil
}

// installClaimKeys stores the claim keys this node derived when it sealed
// cer, once sigs are every node's valid signature over its record.
func (n *Node) installClaimKeys(ctx context.Context, cer *ceremony, sigs []*cohortv1.NodeSignature) error {
	n.cer.mu.Lock()
	pending := cer.claimReady
	n.cer.mu.Unlock()
	if pending == nil {
		return status.Errorf(codes.FailedPrecondition, "ceremony %q is not sealed on node %d", cer.info.GetCeremonyId(), n.opts.Index)
	}
	rec := proto.Clone(pending.rec).(*cohortv1.ClaimCeremony)
	rec.Signatures = sigs
	if err := audit.CheckClaimCeremonySignatures(rec); err != nil {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if err := n.storeClaimKeys(ctx, rec, pending.pk, pending.vk, pending.tb); err != nil {
		return err
	}
	n.cer.mu.Lock()
	cer.installed = true
	n.cer.mu.Unlock()
	n.log.Info("claim keys stored", "ceremony", cer.info.GetCeremonyId())
	return nil
}

// claimCeremonyOf decodes the stored record of the claim keys' ceremony.
func (n *Node) claimCeremonyOf(k store.ClaimKeys) (*cohortv1.ClaimCeremony, error) {
	rec := new(cohortv1.ClaimCeremony)
	if err := proto.Unmarshal(k.Ceremony, rec); err != nil {
		return nil, n.internal("stored claim ceremony", err)
	}
	return rec, nil
}

// GetClaimCeremony is AuditService.GetClaimCeremony.
func (s *auditService) GetClaimCeremony(_ *cohortv1.GetClaimCeremonyRequest, stream cohortv1.AuditService_GetClaimCeremonyServer) error {
	n, ctx := s.n, stream.Context()
	k, err := n.store.GetClaimKeys(ctx, false)
	if errors.Is(err, store.ErrNotFound) {
		return status.Error(codes.FailedPrecondition, "the federation has no claim keys yet: an administrator runs their ceremony (cohort admin claims setup)")
	}
	if err != nil {
		return n.internal("read claim keys", err)
	}
	if setup.SetupKind(k.SetupKind) != setup.Ceremony {
		return status.Error(codes.FailedPrecondition, "the federation's claim keys come from an INSECURE single-party development setup: there is no ceremony")
	}
	rec, err := n.claimCeremonyOf(k)
	if err != nil {
		return err
	}
	tb, err := n.store.GetClaimTranscript(ctx)
	if err != nil {
		return n.internal("read claim ceremony transcript", err)
	}
	if err := stream.Send(&cohortv1.GetClaimCeremonyResponse{Part: &cohortv1.GetClaimCeremonyResponse_Header{Header: blob.Header(tb)}, Ceremony: rec}); err != nil {
		return err
	}
	return blob.Send(tb, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetClaimCeremonyResponse{Part: &cohortv1.GetClaimCeremonyResponse_Chunk{Chunk: c}})
	})
}

// ListClaims is AuditService.ListClaims: a dataset's claims with their
// proofs, by job then claim nullifier. The page token is the last claim's
// job id and claim nullifier in hex, joined by "/".
func (s *auditService) ListClaims(ctx context.Context, req *cohortv1.ListClaimsRequest) (*cohortv1.ListClaimsResponse, error) {
	if !dataset.ValidID(req.GetDatasetId()) {
		return nil, status.Error(codes.InvalidArgument, "dataset_id: want 1..64 bytes of [a-z0-9-]")
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = 100
	case size < 0 || size > 1000:
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d: want 1..1000, or 0 for 100", size)
	}
	var (
		afterJob string
		afterNf  [32]byte
	)
	if tok := req.GetPageToken(); tok != "" {
		job, nfHex, ok := strings.Cut(tok, "/")
		nf, err := hex.DecodeString(nfHex)
		if !ok || !validJobID(job) || err != nil || len(nf) != 32 {
			return nil, status.Error(codes.InvalidArgument, "page_token: not one this node gave")
		}
		afterJob, afterNf = job, [32]byte(nf)
	}
	rows, err := s.n.store.ListClaims(ctx, req.GetDatasetId(), afterJob, afterNf, size)
	if err != nil {
		return nil, s.n.internal("list claims", err)
	}
	resp := &cohortv1.ListClaimsResponse{}
	for _, c := range rows {
		resp.Claims = append(resp.Claims, &cohortv1.RewardClaim{
			Claim:  &cohortv1.ClaimRewardRequest{JobId: c.JobID, ClaimNullifier: c.Nullifier[:], PayoutKey: c.PayoutKey[:], Proof: c.Proof},
			Amount: c.Amount, ClaimedAt: apiTime(c.ClaimedAt),
		})
	}
	if len(rows) == size {
		last := rows[len(rows)-1]
		resp.NextPageToken = fmt.Sprintf("%s/%x", last.JobID, last.Nullifier)
	}
	return resp, nil
}

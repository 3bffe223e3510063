package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
	"github.com/cohort-dev/cohort/wire"
)

// Reward claims (docs/design.md §5.9, §6.8). A released job's reward row
// (its claim root, reward per record and counted records) is written by
// the coordinator with the release and by each peer when it signs the
// transcript, so every node that signed can check a claim on its own. A
// claim is verified by the node that receives it, ordered by the registry
// sequencer — the one node that decides whether a claim nullifier is new,
// recording it and crediting the payout key in one transaction — and then
// sent to every other node, which verifies the proof again and records it
// the same way. Two claims with one nullifier, sent to two nodes at once,
// meet at the sequencer's store: exactly one is credited.

// MaxClaimKeyBytes bounds the claim keys a node accepts from the
// sequencer, both keys together: far above the depth-20 circuit's (about
// 1.5 MB).
const MaxClaimKeyBytes = 64 << 20

// ClaimTimeout bounds a node's fetch of the claim keys from the sequencer,
// and the sequencer's sending of a claim to each node, which includes
// that node's fetch on its first claim. A claim forwarded to the
// sequencer is given ClaimTimeout and the peer timeout.
const ClaimTimeout = 2 * time.Minute

// claimKeys is the node's decoded claim verifying key, loaded once.
type claimKeys struct {
	mu sync.Mutex
	v  *circuits.Verifier
}

// putReward records a released job's reward on this node: the
// transcript's claim root and reward per record, and its counted records;
// a different one already recorded for the job is refused. t may be the
// transcript without its records (read or written as a stream).
func (n *env) putReward(ctx context.Context, tx store.Tx, t *audit.Transcript, counted uint64) error {
	err := tx.PutJobReward(ctx, store.JobReward{JobID: t.JobID, DatasetID: t.DatasetID, ClaimRoot: t.ClaimRoot, Reward: t.RewardPerRecord,
		Counted: counted, RecordedAt: n.now()})
	if errors.Is(err, store.ErrAlreadyExists) {
		return status.Errorf(codes.FailedPrecondition, "node %d recorded another reward for job %s", n.opts.Index, t.JobID)
	}
	if err != nil {
		return n.internal("record job reward", err)
	}
	return nil
}

// claimVerifier returns the verifier of claim proofs under the
// federation's claim keys, loading them first: from this node's store,
// where the claim keys' ceremony put them (docs/design.md §5.9); when this
// node has none, fetched from the registry sequencer (a node that missed
// the ceremony's last message) or, on the sequencer, made by the
// single-party development setup when the node allows it. Without keys a
// claim is refused with FailedPrecondition.
func (n *Node) claimVerifier(ctx context.Context) (*circuits.Verifier, error) {
	c := &n.claimKeys
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v != nil {
		return c.v, nil
	}
	k, err := n.store.GetClaimKeys(ctx, false)
	if errors.Is(err, store.ErrNotFound) {
		if n.opts.Index == n.opts.Sequencer {
			k, err = n.makeClaimKeys(ctx)
		} else {
			k, err = n.fetchClaimKeys(ctx)
		}
	} else if err != nil {
		err = n.internal("read claim keys", err)
	}
	if err != nil {
		return nil, err
	}
	vk, err := setup.UnmarshalVerifyingKey(k.VerifyingKey)
	if err != nil {
		return nil, n.internal("decode claim verifying key", err)
	}
	v, err := circuits.NewVerifier(vk, circuits.ClaimPublicInputs)
	if err != nil {
		return nil, n.internal("claim verifying key", err)
	}
	c.v = v
	return v, nil
}

// errNoClaimKeys is the refusal of a claim, or of the claim keys, before
// the claim keys' ceremony.
const errNoClaimKeys = "the federation has no claim keys yet: an administrator runs their ceremony first (cohort admin claims setup, docs/design.md §5.9)"

// makeClaimKeys runs, on the sequencer, the single-party development setup
// of the claim circuit: only when the node allows insecure development
// setups (allow_insecure_dev_setup), since whoever runs it can forge
// claims. Otherwise the claim keys come from their ceremony only.
func (n *Node) makeClaimKeys(ctx context.Context) (store.ClaimKeys, error) {
	if !n.opts.AllowInsecureDevSetup {
		return store.ClaimKeys{}, status.Error(codes.FailedPrecondition, errNoClaimKeys)
	}
	sys, err := circuits.CompileClaim()
	if err != nil {
		return store.ClaimKeys{}, n.internal("compile claim circuit", err)
	}
	keys, err := setup.InsecureDevSetup(sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		return store.ClaimKeys{}, n.internal("claim keys", err)
	}
	pk, err := setup.MarshalProvingKey(keys.PK)
	if err != nil {
		return store.ClaimKeys{}, n.internal("encode claim proving key", err)
	}
	vk, err := setup.MarshalVerifyingKey(keys.VK)
	if err != nil {
		return store.ClaimKeys{}, n.internal("encode claim verifying key", err)
	}
	k := store.ClaimKeys{SetupKind: uint8(setup.InsecureDev), ProvingKey: pk, VerifyingKey: vk, CreatedAt: n.now()}
	if err := n.store.PutClaimKeys(ctx, k); err != nil {
		return store.ClaimKeys{}, n.internal("store claim keys", err)
	}
	n.log.Warn("INSECURE DEVELOPMENT SETUP of the claim circuit: this node knew the toxic waste and could forge reward claims; never use these keys with real money")
	return k, nil
}

// fetchClaimKeys fetches the claim keys from the sequencer and stores them:
// a ceremony's once its record is signed by every node of this federation
// and its transcript replays to them (checkClaimCeremony), a development
// setup's once the verifying key decodes (nothing more is checked of
// those: they vouch for nothing).
func (n *Node) fetchClaimKeys(ctx context.Context) (store.ClaimKeys, error) {
	type fetched struct {
		b    []byte
		kind cohortv1.SetupKind
		rec  *cohortv1.ClaimCeremony
	}
	got, err := callWithin(ctx, n, n.opts.Sequencer, ClaimTimeout, func(ctx context.Context, c cohortv1.PeerServiceClient) (fetched, error) {
		st, err := c.GetClaimKeys(ctx, &cohortv1.GetClaimKeysRequest{})
		if err != nil {
			return fetched{}, err
		}
		first, err := st.Recv()
		if err != nil {
			return fetched{}, err
		}
		b, err := receiveBlob(first.GetHeader(), MaxClaimKeyBytes, func() (*cohortv1.Chunk, error) {
			m, err := st.Recv()
			return m.GetChunk(), err
		})
		return fetched{b: b, kind: first.GetSetupKind(), rec: first.GetCeremony()}, err
	})
	if st := status.Convert(err); err != nil && st.Code() == codes.FailedPrecondition {
		return store.ClaimKeys{}, status.Errorf(codes.FailedPrecondition, "the sequencer (node %d) has no claim keys: %s", n.opts.Sequencer, st.Message())
	} else if err != nil {
		return store.ClaimKeys{}, status.Errorf(codes.Unavailable, "fetching the claim keys from the sequencer (node %d): %s", n.opts.Sequencer, st.Message())
	}
	ceremony := got.kind == cohortv1.SetupKind_SETUP_KIND_CEREMONY
	r := wire.NewReader(wire.BigEndian, got.b)
	vk := bytes.Clone(r.Field("verifying key").Bytes32(len(got.b)))
	var tb []byte
	if ceremony {
		tb = bytes.Clone(r.Field("transcript").Bytes32(len(got.b)))
	}
	pk := bytes.Clone(r.Fixed(r.Remaining()))
	if r.Err() != nil || len(pk) == 0 || (!ceremony && got.kind != cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV) || ceremony != (got.rec != nil) {
		return store.ClaimKeys{}, status.Error(codes.Internal, "the sequencer's claim keys are malformed")
	}
	if _, err := setup.UnmarshalVerifyingKey(vk); err != nil {
		return store.ClaimKeys{}, n.internal("decode the sequencer's claim verifying key", err)
	}
	if !ceremony {
		k := store.ClaimKeys{SetupKind: uint8(setup.InsecureDev), ProvingKey: pk, VerifyingKey: vk, CreatedAt: n.now()}
		if err := n.store.PutClaimKeys(ctx, k); err != nil {
			return store.ClaimKeys{}, n.internal("store claim keys", err)
		}
		return k, nil
	}
	if err := n.checkClaimCeremony(got.rec, tb, pk, vk); err != nil {
		return store.ClaimKeys{}, err
	}
	if err := n.storeClaimKeys(ctx, got.rec, pk, vk, tb); err != nil {
		return store.ClaimKeys{}, err
	}
	n.log.Info("claim keys fetched from the sequencer and checked against their ceremony", "ceremony", got.rec.GetCeremony().GetCeremonyId())
	return store.ClaimKeys{SetupKind: uint8(setup.Ceremony), VerifyingKey: vk}, nil
}

// checkClaimCeremony checks claim keys fetched from another node against
// their ceremony: the record names this federation's nodes and is signed
// by each, the transcript replays to its keys, and pk and vk are those.
func (n *Node) checkClaimCeremony(rec *cohortv1.ClaimCeremony, tb, pk, vk []byte) error {
	want := n.memberInfos()
	if len(rec.GetNodes()) != len(want) {
		return status.Errorf(codes.Internal, "the sequencer's claim ceremony names %d nodes, this federation has %d", len(rec.GetNodes()), len(want))
	}
	for i, w := range want {
		if !proto.Equal(rec.GetNodes()[i], w) {
			return status.Errorf(codes.Internal, "the sequencer's claim ceremony names other keys for node %d than this federation's", i)
		}
	}
	if _, err := audit.VerifyClaimCeremony(rec, tb); err != nil {
		return status.Errorf(codes.Internal, "the sequencer's claim keys: %v", err)
	}
	if err := audit.CheckClaimProvingKey(rec, pk); err != nil || !bytes.Equal(vk, rec.GetVerifyingKey()) {
		return status.Error(codes.Internal, "the sequencer's claim keys are not its ceremony's")
	}
	return nil
}

// claimKeysWith reads the stored claim keys with the proving key, loading
// them first if this node has none.
func (n *Node) claimKeysWith(ctx context.Context) (store.ClaimKeys, error) {
	if _, err := n.claimVerifier(ctx); err != nil {
		return store.ClaimKeys{}, err
	}
	k, err := n.store.GetClaimKeys(ctx, true)
	if err != nil {
		return store.ClaimKeys{}, n.internal("read claim keys", err)
	}
	return k, nil
}

func setupKindProto(k uint8) cohortv1.SetupKind {
	if setup.SetupKind(k) == setup.Ceremony {
		return cohortv1.SetupKind_SETUP_KIND_CEREMONY
	}
	return cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV
}

// GetClaimKey is ContributorService.GetClaimKey.
func (s *contributorService) GetClaimKey(_ *cohortv1.GetClaimKeyRequest, stream cohortv1.ContributorService_GetClaimKeyServer) error {
	k, err := s.n.claimKeysWith(stream.Context())
	if err != nil {
		return err
	}
	var rec *cohortv1.ClaimCeremony
	if len(k.Ceremony) > 0 {
		if rec, err = s.n.claimCeremonyOf(k); err != nil {
			return err
		}
	}
	if err := stream.Send(&cohortv1.GetClaimKeyResponse{Part: &cohortv1.GetClaimKeyResponse_Header{Header: blob.Header(k.ProvingKey)},
		SetupKind: setupKindProto(k.SetupKind), Ceremony: rec}); err != nil {
		return err
	}
	return blob.Send(k.ProvingKey, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetClaimKeyResponse{Part: &cohortv1.GetClaimKeyResponse_Chunk{Chunk: c}})
	})
}

// GetClaimKeys is PeerService.GetClaimKeys, on the sequencer.
func (s *peerService) GetClaimKeys(_ *cohortv1.GetClaimKeysRequest, stream cohortv1.PeerService_GetClaimKeysServer) error {
	if s.n.opts.Index != s.n.opts.Sequencer {
		return status.Errorf(codes.FailedPrecondition, "node %d is not the sequencer (node %d is)", s.n.opts.Index, s.n.opts.Sequencer)
	}
	k, err := s.n.claimKeysWith(stream.Context())
	if err != nil {
		return err
	}
	var (
		rec *cohortv1.ClaimCeremony
		tb  []byte
	)
	if len(k.Ceremony) > 0 {
		if rec, err = s.n.claimCeremonyOf(k); err != nil {
			return err
		}
		if tb, err = s.n.store.GetClaimTranscript(stream.Context()); err != nil {
			return s.n.internal("read claim ceremony transcript", err)
		}
	}
	w := wire.NewWriter(wire.BigEndian, 8+len(k.VerifyingKey)+len(tb)+len(k.ProvingKey))
	w.Bytes32(k.VerifyingKey)
	if rec != nil {
		w.Bytes32(tb)
	}
	w.Raw(k.ProvingKey)
	b, err := w.Bytes()
	if err != nil {
		return s.n.internal("encode claim keys", err)
	}
	if err := stream.Send(&cohortv1.GetClaimKeysResponse{Part: &cohortv1.GetClaimKeysResponse_Header{Header: blob.Header(b)},
		SetupKind: setupKindProto(k.SetupKind), Ceremony: rec}); err != nil {
		return err
	}
	return blob.Send(b, func(c *cohortv1.Chunk) error {
		return stream.Send(&cohortv1.GetClaimKeysResponse{Part: &cohortv1.GetClaimKeysResponse_Chunk{Chunk: c}})
	})
}

// claim is a claim request, decoded.
type claim struct {
	jobID  string
	nf     fr.Element
	payout [32]byte
	proof  *circuits.Proof
	raw    []byte // the proof as sent, kept for the audit
}

// decodeClaim checks a claim request's fields; a malformed one is
// InvalidArgument.
func decodeClaim(req *cohortv1.ClaimRewardRequest) (claim, error) {
	var c claim
	if !validJobID(req.GetJobId()) {
		return c, status.Error(codes.InvalidArgument, "job_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	c.jobID = req.GetJobId()
	nf, err := fieldBytes(req.GetClaimNullifier(), "claim_nullifier")
	if err != nil {
		return c, err
	}
	c.nf = nf
	if len(req.GetPayoutKey()) != ed25519.PublicKeySize {
		return c, status.Errorf(codes.InvalidArgument, "payout_key: %d bytes, want an Ed25519 public key of %d", len(req.GetPayoutKey()), ed25519.PublicKeySize)
	}
	c.payout = [32]byte(req.GetPayoutKey())
	if pf := circuits.PayoutField(c.payout[:]); pf.IsZero() {
		return c, status.Error(codes.InvalidArgument, "payout_key: maps to zero; use another key")
	}
	c.proof = new(circuits.Proof)
	if err := c.proof.UnmarshalBinary(req.GetProof()); err != nil {
		return c, status.Errorf(codes.InvalidArgument, "proof: %v", err)
	}
	c.raw = bytes.Clone(req.GetProof())
	return c, nil
}

// verifyClaim checks a claim's proof against the job's reward as this node
// recorded it, and returns that reward.
func (n *Node) verifyClaim(ctx context.Context, c claim) (store.JobReward, error) {
	r, err := n.store.GetJobReward(ctx, c.jobID)
	if errors.Is(err, store.ErrNotFound) {
		return r, status.Errorf(codes.NotFound, "node %d has no released job %q with a reward", n.opts.Index, c.jobID)
	}
	if err != nil {
		return r, n.internal("read job reward", err)
	}
	if r.Reward == 0 {
		return r, status.Errorf(codes.FailedPrecondition, "job %s pays no reward (its dataset is free or no buyer was charged)", c.jobID)
	}
	v, err := n.claimVerifier(ctx)
	if err != nil {
		return r, err
	}
	var root fr.Element
	if err := root.SetBytesCanonical(r.ClaimRoot[:]); err != nil {
		return r, n.internal("stored claim root", err)
	}
	pub := circuits.ClaimPublic{Root: root, Job: circuits.JobField(c.jobID), Dataset: circuits.DatasetField(r.DatasetID),
		ClaimNullifier: c.nf, Payout: circuits.PayoutField(c.payout[:])}
	if err := v.Verify(circuits.Statement{Proof: c.proof, Public: pub.Vector()}); err != nil {
		return r, status.Errorf(codes.InvalidArgument, "the claim's proof does not verify for job %s, this claim nullifier and payout key", c.jobID)
	}
	return r, nil
}

// recordClaim records a verified claim on this node, with the job's
// charge settled, in one transaction. A claim nullifier used before is
// AlreadyExists, unless same (the same job and payout key: the claim this
// node already holds) accepts it as recorded.
func (n *Node) recordClaim(ctx context.Context, c claim, at time.Time, same bool) (store.Claim, store.Payout, error) {
	var (
		sc store.Claim
		p  store.Payout
	)
	nf := feBytes(c.nf)
	err := n.store.InTx(ctx, func(tx store.Tx) error {
		e, err := tx.GetEscrow(ctx, c.jobID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return status.Errorf(codes.FailedPrecondition, "node %d charged no one for job %s", n.opts.Index, c.jobID)
		case err != nil:
			return n.internal("read escrow", err)
		case e.State != store.EscrowSettled:
			return status.Errorf(codes.FailedPrecondition, "job %s was not charged on node %d (its escrow is %s)", c.jobID, n.opts.Index, e.State)
		}
		sc, p, err = tx.RecordClaim(ctx, store.Claim{Nullifier: nf, JobID: c.jobID, PayoutKey: c.payout, Proof: c.raw, ClaimedAt: at})
		return err
	})
	var exists *store.ClaimExistsError
	switch {
	case errors.As(err, &exists):
		if same && exists.Stored.JobID == c.jobID && exists.Stored.PayoutKey == c.payout {
			p, err := n.store.GetPayout(ctx, c.payout)
			if err != nil {
				return sc, p, n.internal("read payout", err)
			}
			return exists.Stored, p, nil
		}
		return sc, p, status.Errorf(codes.AlreadyExists, "this claim nullifier was used at %s: job %s's reward was claimed once by this claimant",
			exists.Stored.ClaimedAt.UTC().Format(time.RFC3339), exists.Stored.JobID)
	case errors.Is(err, store.ErrLimit):
		return sc, p, status.Errorf(codes.ResourceExhausted, "job %s: %v", c.jobID, err)
	case errors.Is(err, store.ErrNotFound):
		return sc, p, status.Errorf(codes.NotFound, "node %d has no reward for job %s", n.opts.Index, c.jobID)
	case status.Code(err) != codes.Unknown:
		return sc, p, err
	case err != nil:
		return sc, p, n.internal("record claim", err)
	}
	return sc, p, nil
}

func payoutProto(p store.Payout) *cohortv1.Payout {
	return &cohortv1.Payout{PayoutKey: bytes.Clone(p.Key[:]), Credited: p.Credited, Claims: p.Claims,
		Transferred: p.Transferred, Balance: p.Balance()}
}

// ClaimReward is ContributorService.ClaimReward: the claim is verified
// here, then ordered by the sequencer.
func (s *contributorService) ClaimReward(ctx context.Context, req *cohortv1.ClaimRewardRequest) (*cohortv1.ClaimRewardResponse, error) {
	c, err := decodeClaim(req)
	if err != nil {
		return nil, err
	}
	if _, err := s.n.verifyClaim(ctx, c); err != nil {
		return nil, err
	}
	if s.n.opts.Index == s.n.opts.Sequencer {
		return s.n.orderClaim(ctx, c, req)
	}
	resp, err := callWithin(ctx, s.n, s.n.opts.Sequencer, ClaimTimeout+s.n.opts.Limits.PeerTimeout, func(ctx context.Context, pc cohortv1.PeerServiceClient) (*cohortv1.OrderClaimResponse, error) {
		return pc.OrderClaim(ctx, &cohortv1.OrderClaimRequest{Claim: req})
	})
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unavailable && st.Code() != codes.DeadlineExceeded && st.Code() != codes.Unknown {
			return nil, err
		}
		return nil, status.Errorf(codes.Unavailable, "the claim sequencer (node %d) is unreachable: %s", s.n.opts.Sequencer, status.Convert(err).Message())
	}
	if resp.GetClaim() == nil {
		return nil, status.Errorf(codes.Internal, "the claim sequencer (node %d) answered without the claim", s.n.opts.Sequencer)
	}
	return resp.GetClaim(), nil
}

// OrderClaim is PeerService.OrderClaim, on the sequencer.
func (s *peerService) OrderClaim(ctx context.Context, req *cohortv1.OrderClaimRequest) (*cohortv1.OrderClaimResponse, error) {
	if s.n.opts.Index != s.n.opts.Sequencer {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d is not the claim sequencer (node %d is)", s.n.opts.Index, s.n.opts.Sequencer)
	}
	c, err := decodeClaim(req.GetClaim())
	if err != nil {
		return nil, err
	}
	if _, err := s.n.verifyClaim(ctx, c); err != nil {
		return nil, err
	}
	resp, err := s.n.orderClaim(ctx, c, req.GetClaim())
	if err != nil {
		return nil, err
	}
	return &cohortv1.OrderClaimResponse{Claim: resp}, nil
}

// orderClaim records a verified claim on the sequencer, the one place that
// decides whether its claim nullifier is new, then sends it to every other
// node. A claim nullifier used before is AlreadyExists; when it is the
// same claim (same job and payout key) it is first sent again to every
// node, so that a node that missed it catches up.
func (n *Node) orderClaim(ctx context.Context, c claim, req *cohortv1.ClaimRewardRequest) (*cohortv1.ClaimRewardResponse, error) {
	sc, p, err := n.recordClaim(ctx, c, n.now().Truncate(time.Second), false)
	if status.Code(err) == codes.AlreadyExists {
		if prev, gerr := n.store.GetClaim(ctx, feBytes(c.nf)); gerr == nil && prev.JobID == c.jobID && prev.PayoutKey == c.payout {
			n.pushClaim(ctx, req, prev.ClaimedAt)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	n.pushClaim(ctx, req, sc.ClaimedAt)
	n.log.Info("reward claimed", "job", c.jobID, "amount", sc.Amount)
	return &cohortv1.ClaimRewardResponse{Amount: sc.Amount, Payout: payoutProto(p), ClaimedAt: apiTime(sc.ClaimedAt)}, nil
}

// pushClaim sends a recorded claim to every other node. The claim stands
// on the sequencer whatever they answer; a node that missed it is sent it
// again when the claim is made again (answered AlreadyExists).
func (n *Node) pushClaim(ctx context.Context, req *cohortv1.ClaimRewardRequest, at time.Time) {
	ctx = context.WithoutCancel(ctx)
	_, errs := fanOutWithin(ctx, n, ClaimTimeout, func(ctx context.Context, _ uint32, pc cohortv1.PeerServiceClient) (*cohortv1.StoreClaimResponse, error) {
		return pc.StoreClaim(ctx, &cohortv1.StoreClaimRequest{Claim: req, ClaimedAt: at.Unix()})
	})
	for _, i := range sortedKeys(errs) {
		n.log.Warn("a node did not record a claim", "node", i, "job", req.GetJobId(), "error", status.Convert(errs[i]).Message())
	}
}

// StoreClaim is PeerService.StoreClaim: a claim the sequencer ordered,
// verified again and recorded here.
func (s *peerService) StoreClaim(ctx context.Context, req *cohortv1.StoreClaimRequest) (*cohortv1.StoreClaimResponse, error) {
	if from, _ := callerPeer(ctx); from != s.n.opts.Sequencer || s.n.opts.Index == s.n.opts.Sequencer {
		return nil, status.Errorf(codes.PermissionDenied, "only the claim sequencer (node %d) orders claims", s.n.opts.Sequencer)
	}
	c, err := decodeClaim(req.GetClaim())
	if err != nil {
		return nil, err
	}
	if _, err := s.n.verifyClaim(ctx, c); err != nil {
		return nil, err
	}
	if _, _, err := s.n.recordClaim(ctx, c, time.Unix(req.GetClaimedAt(), 0), true); err != nil {
		return nil, err
	}
	return &cohortv1.StoreClaimResponse{}, nil
}

// GetPayout is ContributorService.GetPayout: a payout account is public to
// whoever knows its key (docs/design.md §6.8).
func (s *contributorService) GetPayout(ctx context.Context, req *cohortv1.GetPayoutRequest) (*cohortv1.GetPayoutResponse, error) {
	if len(req.GetPayoutKey()) != ed25519.PublicKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "payout_key: %d bytes, want %d", len(req.GetPayoutKey()), ed25519.PublicKeySize)
	}
	p, err := s.n.store.GetPayout(ctx, [32]byte(req.GetPayoutKey()))
	if err != nil {
		return nil, s.n.internal("read payout", err)
	}
	return &cohortv1.GetPayoutResponse{Payout: payoutProto(p)}, nil
}

package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/store"
)

// HE key generation over PeerService (docs/design.md §4.3).
//
// Before an HE dataset's circuit can be compiled its collective key must
// exist: the circuit proves encryption under it. The coordinator (the node
// whose administrator calls CreateDataset) draws a public CRS seed and runs
// three rounds with every node, itself included:
//
//  1. Commit (HEKeygen): each node draws its secret s_i, computes its
//     public-key share −a·s_i + e_i and a Shamir share of s_i for every
//     node, each sealed with HPKE to that node's sealing key (the
//     coordinator relays them without reading them). It answers the sealed
//     shares and a signed commitment to its public-key share
//     (dataset.KeygenCommitment, attest.HEKeygenCommit), and withholds the
//     share itself. The coordinator commits before it asks anyone else.
//  2. Reveal (HEKeygenReveal): every node receives every node's signed
//     commitment; it checks each signature and that its own commitment is
//     the one it made, and only then reveals its public-key share.
//  3. Finish (HEKeygenFinish): every node receives every public-key share
//     and the shares sealed to it; it checks each share against the
//     commitment it was given in round 2, aggregates the public key itself,
//     sums the Shamir shares into its t-of-n threshold share of s = Σ s_i,
//     stores that sealed to its own sealing key (encrypted at rest) and
//     signs the public key's digest with the commitments' (attest.HEKeygen).
//
// No node can choose the collective key: every share, the coordinator's
// included, is fixed by a commitment before any share is revealed, so a
// share picked as (a key of one's own) − (the others' shares) differs from
// its commitment and every honest node refuses it before signing. The
// coordinator checks that every node computed the same key; the shares,
// the signed commitments and the signatures go into the descriptor, so
// every later reader can re-aggregate the key (dataset.From).
//
// Every step after round 1 is accepted only from the node that started the
// generation, in order (keygens). No node ever holds s: decryption needs t
// nodes' shares (he.ThresholdKey). The Shamir shares are not verifiable (no
// VSS): a malicious node can deal inconsistent shares and make decryption
// fail, which is detected (the released values would not decode) but not
// attributed.

const (
	// sealInfoKeygenShare is the HPKE info of a Shamir share in transit.
	sealInfoKeygenShare = "cohort/v1/he-keygen-share"
	// sealInfoKeyAtRest is the HPKE info of a node's threshold share at rest.
	sealInfoKeyAtRest = "cohort/v1/he-key-at-rest"
	// sealInfoDecryptionShare is the HPKE info of a stored decryption share.
	sealInfoDecryptionShare = "cohort/v1/he-decryption-share"
)

// keygenShareAAD binds a sealed Shamir share to its generation, sender and
// receiver.
func keygenShareAAD(datasetID string, crs []byte, from, to int) []byte {
	b := []byte(sealInfoKeygenShare + "\x00")
	b = binary.BigEndian.AppendUint32(b, uint32(len(datasetID)))
	b = append(b, datasetID...)
	b = append(b, crs...)
	b = binary.BigEndian.AppendUint32(b, uint32(from))
	return binary.BigEndian.AppendUint32(b, uint32(to))
}

// keyAtRestAAD binds a stored threshold share to its dataset and key.
func keyAtRestAAD(datasetID string, pkDigest [32]byte) []byte {
	b := []byte(sealInfoKeyAtRest + "\x00")
	b = binary.BigEndian.AppendUint32(b, uint32(len(datasetID)))
	b = append(b, datasetID...)
	return append(b, pkDigest[:]...)
}

// heChoice is what CreateDataset decided for an HE dataset.
type heChoice struct {
	params   *he.Params
	budget   *he.Budget
	c        he.Committee
	smudging he.Smudging
}

// chooseHE checks an HE CreateDataset request against the schema: the
// smudging is given, the threshold fits the federation, and the schema's
// worst-case sums (max_cohort × the largest coordinate) fit the plaintext
// modulus with decryption correct at the worst-case noise.
func (n *Node) chooseHE(s *schema.Schema, req *cohortv1.CreateDatasetRequest) (*heChoice, error) {
	k := len(n.opts.Members)
	t := int(req.GetHeThreshold())
	if t == 0 {
		t = k/2 + 1
	}
	ch := &heChoice{c: he.Committee{Nodes: k, Threshold: t}, smudging: he.Smudging{StatisticalBits: int(req.GetHeSmudgingBits())}}
	if err := ch.c.Validate(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "he_threshold: %v", err)
	}
	if req.GetHeSmudgingBits() == 0 {
		return nil, status.Error(codes.InvalidArgument, "he_smudging_bits: required for an HE dataset (the statistical security of decryption shares, e.g. 40)")
	}
	if err := ch.smudging.Validate(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "he_smudging_bits: %v", err)
	}
	capacity := he.Capacity{Nodes: k, Threshold: t, MaxCohort: s.MaxCohort, MaxCoord: s.Bounds().MaxCoord, Smudging: ch.smudging}
	// A set must also have an HE circuit for the schema: one whose
	// relation fits the BN254 field, checked before any key is made.
	circuit := func(p *he.Params) error {
		if err := circuits.HEFieldFits(p.Q(), p.N(), capacity.MaxCoord); err != nil {
			return fmt.Errorf("no HE circuit for the schema on %s: %w", p.ID(), err)
		}
		return nil
	}
	var err error
	if id := req.GetHeParamSet(); id != "" {
		if ch.params, err = he.Lookup(he.ParamSetID(id)); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "he_param_set: %v", err)
		}
		if ch.budget, err = ch.params.Check(capacity); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "schema bounds: %v", err)
		}
		if err := circuit(ch.params); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "he_param_set: %v", err)
		}
	} else if ch.params, ch.budget, err = he.Choose(capacity, false, circuit); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "schema bounds: %v", err)
	}
	if ch.params.Insecure() && !req.GetInsecureDevSetup() {
		return nil, status.Errorf(codes.InvalidArgument, "he_param_set %s is not secure: only with insecure_dev_setup", ch.params.ID())
	}
	return ch, nil
}

// runHEKeygen is the coordinator's side of the key generation; it returns
// the key info to put in the descriptor.
func (n *Node) runHEKeygen(ctx context.Context, s *schema.Schema, ch *heChoice) (*cohortv1.HEKeyInfo, error) {
	crs := make([]byte, 32)
	if _, err := rand.Read(crs); err != nil {
		return nil, n.internal("random", err)
	}
	sd := s.Digest()
	req := &cohortv1.HEKeygenRequest{
		DatasetId: s.ID, SchemaDigest: sd[:], ParamSet: string(ch.params.ID()),
		Threshold: uint32(ch.c.Threshold), NodeCount: uint32(ch.c.Nodes), CrsSeed: crs,
	}
	k := len(n.opts.Members)

	// Round 1: this node commits first, then every other node.
	round1 := make([]*cohortv1.HEKeygenResponse, k)
	own, err := n.heKeygenRound1(ctx, req, n.opts.Index)
	if err != nil {
		return nil, err
	}
	defer n.keygens.drop(s.ID) // the coordinator starts no ceremony with itself
	round1[n.opts.Index] = own
	rs, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.HEKeygenResponse, error) {
		r, err := c.HEKeygen(ctx, req)
		if err != nil {
			return nil, err
		}
		if len(r.GetSealedShares()) != k {
			return nil, status.Errorf(codes.Internal, "node %d answered %d sealed shares for %d nodes", i, len(r.GetSealedShares()), k)
		}
		if err := n.checkCommitment(s.ID, crs, i, r.GetCommitment()); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return r, nil
	})
	if len(errs) > 0 {
		return nil, peerFailureOf("the HE key generation", "", errs)
	}
	for i, r := range rs {
		round1[i] = r
	}
	reveal := &cohortv1.HEKeygenRevealRequest{DatasetId: s.ID, Commitments: make([]*cohortv1.HEKeygenCommitment, k)}
	for i, r := range round1 {
		reveal.Commitments[i] = r.GetCommitment()
	}

	// Round 2: every commitment is fixed; every node reveals its share.
	pkShares := make([][]byte, k)
	mine, err := n.heKeygenReveal(ctx, reveal, n.opts.Index)
	if err != nil {
		return nil, err
	}
	pkShares[n.opts.Index] = mine.GetPublicKeyShare()
	revealed, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.HEKeygenRevealResponse, error) {
		r, err := c.HEKeygenReveal(ctx, reveal)
		if err != nil {
			return nil, err
		}
		if dataset.KeygenCommitment(s.ID, crs, i, r.GetPublicKeyShare()) != [32]byte(reveal.Commitments[i].GetCommitment()) {
			return nil, status.Errorf(codes.Internal, "node %d revealed another public-key share than it committed to", i)
		}
		return r, nil
	})
	if len(errs) > 0 {
		return nil, peerFailureOf("the HE key generation", "", errs)
	}
	for i, r := range revealed {
		pkShares[i] = r.GetPublicKeyShare()
	}

	// Round 3: every node checks the shares, aggregates and signs.
	finishFor := func(j uint32) *cohortv1.HEKeygenFinishRequest {
		f := &cohortv1.HEKeygenFinishRequest{DatasetId: s.ID, PublicKeyShares: pkShares, SealedShares: make([][]byte, k)}
		for i, r := range round1 {
			f.SealedShares[i] = r.GetSealedShares()[j]
		}
		return f
	}
	done, err := n.heKeygenFinish(ctx, finishFor(n.opts.Index), n.opts.Index)
	if err != nil {
		return nil, err
	}
	info := &cohortv1.HEKeyInfo{
		ParamSet: string(ch.params.ID()), Threshold: uint32(ch.c.Threshold), SmudgingBits: uint32(ch.smudging.StatisticalBits),
		CrsSeed: crs, PublicKey: done.GetPublicKey(), Signatures: make([]*cohortv1.NodeSignature, k),
		PublicKeyShares: pkShares, CommitmentSignatures: make([]*cohortv1.NodeSignature, k),
	}
	for i, c := range reveal.Commitments {
		info.CommitmentSignatures[i] = c.GetSignature()
	}
	st := dataset.KeygenStatement(s.ID, k, info)
	info.Signatures[n.opts.Index] = done.GetSignature()
	fs, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.HEKeygenFinishResponse, error) {
		r, err := c.HEKeygenFinish(ctx, finishFor(i))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(r.GetPublicKey(), info.GetPublicKey()) {
			return nil, status.Errorf(codes.Internal, "node %d aggregated another public key", i)
		}
		if err := n.verifySig(i, st.Message(), r.GetSignature()); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return r, nil
	})
	if len(errs) > 0 {
		return nil, peerFailureOf("the HE key generation", "", errs)
	}
	for i, r := range fs {
		info.Signatures[i] = r.GetSignature()
	}
	n.log.Info("he keygen: done", "dataset", s.ID, "param_set", ch.params.ID(), "threshold", ch.c.Threshold, "nodes", k)
	return info, nil
}

// checkCommitment checks node i's signed commitment in the generation of
// dataset id with CRS seed crs.
func (n *Node) checkCommitment(id string, crs []byte, i uint32, c *cohortv1.HEKeygenCommitment) error {
	if c.GetNodeIndex() != i || len(c.GetCommitment()) != 32 {
		return fmt.Errorf("commitment %d: names node %d or is not 32 bytes", i, c.GetNodeIndex())
	}
	st := dataset.KeygenCommitStatement(id, crs, i, [32]byte(c.GetCommitment()))
	if err := n.verifySig(i, st.Message(), c.GetSignature()); err != nil {
		return fmt.Errorf("commitment %d: %w", i, err)
	}
	return nil
}

// heKeygenRound1 checks a round-1 request and runs this node's round 1:
// it answers the sealed Shamir shares and its signed commitment, and keeps
// its public-key share for round 2.
func (n *Node) heKeygenRound1(ctx context.Context, req *cohortv1.HEKeygenRequest, from uint32) (*cohortv1.HEKeygenResponse, error) {
	id := req.GetDatasetId()
	if !dataset.ValidID(id) {
		return nil, status.Errorf(codes.InvalidArgument, "dataset_id %q: want 1..64 bytes of [a-z0-9-]", id)
	}
	if len(req.GetCrsSeed()) != 32 || len(req.GetSchemaDigest()) != 32 {
		return nil, status.Error(codes.InvalidArgument, "crs_seed and schema_digest: 32 bytes each")
	}
	if int(req.GetNodeCount()) != len(n.opts.Members) {
		return nil, status.Errorf(codes.InvalidArgument, "node_count %d: this federation has %d nodes", req.GetNodeCount(), len(n.opts.Members))
	}
	params, err := he.Lookup(he.ParamSetID(req.GetParamSet()))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "param_set: %v", err)
	}
	if params.Insecure() && !n.opts.AllowInsecureDevSetup {
		return nil, status.Errorf(codes.FailedPrecondition, "parameter set %s is not secure and node %d does not allow insecure dev setups", params.ID(), n.opts.Index)
	}
	c := he.Committee{Nodes: int(req.GetNodeCount()), Threshold: int(req.GetThreshold())}
	if err := c.Validate(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "threshold: %v", err)
	}
	if _, err := n.store.GetDataset(ctx, id); err == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "dataset %q exists on node %d", id, n.opts.Index)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, n.internal("read dataset", err)
	}
	if n.keygens.pending(id, n.now()) {
		return nil, keygenStatus(errKeygenBusy, id, n.opts.Index)
	}
	var crs [32]byte
	copy(crs[:], req.GetCrsSeed())
	party, err := he.NewKeygenParty(params, c, crs, int(n.opts.Index), rand.Reader)
	if err != nil {
		return nil, n.internal("he keygen", err)
	}
	pkShare, shares, err := party.Round1()
	if err != nil {
		return nil, n.internal("he keygen round 1", err)
	}
	out := &cohortv1.HEKeygenResponse{SealedShares: make([][]byte, len(shares))}
	for j, sh := range shares {
		sealed, err := seal.Seal(n.opts.Members[j].Seal, sealInfoKeygenShare, sh, keygenShareAAD(id, req.GetCrsSeed(), int(n.opts.Index), j))
		clear(sh)
		if err != nil {
			return nil, n.internal("seal keygen share", err)
		}
		out.SealedShares[j] = sealed
	}
	cm := dataset.KeygenCommitment(id, req.GetCrsSeed(), n.opts.Index, pkShare)
	st := dataset.KeygenCommitStatement(id, req.GetCrsSeed(), n.opts.Index, cm)
	out.Commitment = &cohortv1.HEKeygenCommitment{NodeIndex: n.opts.Index, Commitment: cm[:], Signature: n.sign(st.Message())}
	g := &keygen{req: req, params: params, party: party, pkShare: pkShare, commitment: cm, from: from}
	if err := n.keygens.begin(id, g, n.now()); err != nil {
		return nil, keygenStatus(err, id, n.opts.Index)
	}
	return out, nil
}

// heKeygenReveal runs this node's round 2: once every node's commitment
// is signed by that node and its own is the one it made, it reveals its
// public-key share. A refused request changes nothing: the share stays
// withheld.
func (n *Node) heKeygenReveal(_ context.Context, req *cohortv1.HEKeygenRevealRequest, from uint32) (*cohortv1.HEKeygenRevealResponse, error) {
	id := req.GetDatasetId()
	k := len(n.opts.Members)
	g, err := n.keygens.step(id, from, keygenCommitted, n.now(), func(g *keygen) error {
		if len(req.GetCommitments()) != k {
			return status.Errorf(codes.InvalidArgument, "%d commitments for %d nodes", len(req.GetCommitments()), k)
		}
		got := make([][32]byte, k)
		for i, c := range req.GetCommitments() {
			if err := n.checkCommitment(id, g.req.GetCrsSeed(), uint32(i), c); err != nil {
				return status.Errorf(codes.InvalidArgument, "%v", err)
			}
			got[i] = [32]byte(c.GetCommitment())
		}
		if got[n.opts.Index] != g.commitment {
			return status.Errorf(codes.InvalidArgument, "the commitment of node %d is not the one it made", n.opts.Index)
		}
		g.commitments = got
		return nil
	})
	if err != nil {
		return nil, keygenStatus(err, id, n.opts.Index)
	}
	return &cohortv1.HEKeygenRevealResponse{PublicKeyShare: g.pkShare}, nil
}

// heKeygenFinish runs this node's round 3: check every public-key share
// against its commitment, aggregate the public key, open and combine the
// shares sealed to it, store its threshold share sealed to itself and sign
// the key. It has one attempt: a refused request ends the generation on
// this node, with nothing stored or signed.
func (n *Node) heKeygenFinish(ctx context.Context, req *cohortv1.HEKeygenFinishRequest, from uint32) (*cohortv1.HEKeygenFinishResponse, error) {
	id := req.GetDatasetId()
	g, err := n.keygens.step(id, from, keygenRevealed, n.now(), nil)
	if err != nil {
		return nil, keygenStatus(err, id, n.opts.Index)
	}
	resp, err := n.finishKeygen(ctx, g, req)
	if err != nil {
		n.keygens.drop(id)
		return nil, err
	}
	if _, err := n.keygens.step(id, from, keygenFinishing, n.now(), func(g *keygen) error {
		g.party, g.pkShare = nil, nil
		return nil
	}); err != nil {
		return nil, n.internal("key generation state", err)
	}
	return resp, nil
}

func (n *Node) finishKeygen(ctx context.Context, g *keygen, req *cohortv1.HEKeygenFinishRequest) (*cohortv1.HEKeygenFinishResponse, error) {
	id := req.GetDatasetId()
	k := len(n.opts.Members)
	if len(req.GetPublicKeyShares()) != k || len(req.GetSealedShares()) != k {
		return nil, status.Errorf(codes.InvalidArgument, "want %d public-key shares and %d sealed shares", k, k)
	}
	for i, sh := range req.GetPublicKeyShares() {
		if dataset.KeygenCommitment(id, g.req.GetCrsSeed(), uint32(i), sh) != g.commitments[i] {
			return nil, status.Errorf(codes.InvalidArgument, "the public-key share of node %d is not the one it committed to before the shares were revealed", i)
		}
	}
	c := he.Committee{Nodes: k, Threshold: int(g.req.GetThreshold())}
	var crs [32]byte
	copy(crs[:], g.req.GetCrsSeed())
	pk, err := he.AggregatePublicKey(g.params, c, crs, req.GetPublicKeyShares())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "public-key shares: %v", err)
	}
	received := make([][]byte, k)
	for i, sealed := range req.GetSealedShares() {
		pt, err := seal.Open(n.opts.Seal, sealInfoKeygenShare, sealed, keygenShareAAD(id, g.req.GetCrsSeed(), i, int(n.opts.Index)))
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "the share node %d sealed to node %d does not open: %v", i, n.opts.Index, err)
		}
		received[i] = pt
	}
	tk, err := g.party.Finish(received)
	for _, r := range received {
		clear(r)
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "threshold shares: %v", err)
	}
	pkb, err := pk.MarshalBinary()
	if err != nil {
		return nil, n.internal("encode public key", err)
	}
	digest := sha256.Sum256(pkb)
	tkb, err := tk.MarshalBinary()
	if err != nil {
		return nil, n.internal("encode threshold key", err)
	}
	sealed, err := seal.Seal(n.opts.Seal.Public(), sealInfoKeyAtRest, tkb, keyAtRestAAD(id, digest))
	clear(tkb)
	if err != nil {
		return nil, n.internal("seal threshold key", err)
	}
	if err := n.store.PutHEKey(ctx, store.HEKey{DatasetID: id, PublicKeyDigest: digest, Sealed: sealed, CreatedAt: n.now()}); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, status.Errorf(codes.FailedPrecondition, "node %d holds a key share of another key for dataset %q", n.opts.Index, id)
		}
		return nil, n.internal("store threshold key", err)
	}
	info := &cohortv1.HEKeyInfo{ParamSet: g.req.GetParamSet(), Threshold: g.req.GetThreshold(), CrsSeed: g.req.GetCrsSeed(), PublicKey: pkb,
		PublicKeyShares: req.GetPublicKeyShares()}
	st := dataset.KeygenStatement(id, k, info)
	return &cohortv1.HEKeygenFinishResponse{PublicKey: pkb, Signature: n.sign(st.Message())}, nil
}

// thresholdKey loads and opens this node's threshold share of an HE
// dataset's key.
func (n *Node) thresholdKey(ctx context.Context, ds *dataset.Dataset) (*he.ThresholdKey, error) {
	row, err := n.store.GetHEKey(ctx, ds.Desc.GetId())
	if err != nil {
		return nil, fmt.Errorf("threshold key of dataset %q: %w", ds.Desc.GetId(), err)
	}
	if row.PublicKeyDigest != ds.HE.KeyDigest {
		return nil, fmt.Errorf("threshold key of dataset %q belongs to another public key", ds.Desc.GetId())
	}
	b, err := seal.Open(n.opts.Seal, sealInfoKeyAtRest, row.Sealed, keyAtRestAAD(ds.Desc.GetId(), row.PublicKeyDigest))
	if err != nil {
		return nil, fmt.Errorf("threshold key of dataset %q: %w", ds.Desc.GetId(), err)
	}
	defer clear(b)
	return he.UnmarshalThresholdKey(ds.HE.Params, b)
}

// checkOwnHEKey is a peer's check, before it joins an HE dataset's
// ceremony, that the descriptor's key is the one it generated a share of.
func (n *Node) checkOwnHEKey(ctx context.Context, ds *dataset.Dataset) error {
	be, err := backend.For(ds)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "dataset: %v", err)
	}
	digest, ok := be.CollectiveKey()
	if !ok {
		return nil
	}
	row, err := n.store.GetHEKey(ctx, ds.Desc.GetId())
	if errors.Is(err, store.ErrNotFound) {
		return status.Errorf(codes.FailedPrecondition, "node %d took no part in the key generation of dataset %q", n.opts.Index, ds.Desc.GetId())
	}
	if err != nil {
		return n.internal("read threshold key", err)
	}
	if row.PublicKeyDigest != digest {
		return status.Errorf(codes.FailedPrecondition, "dataset %q names another HE public key than node %d generated", ds.Desc.GetId(), n.opts.Index)
	}
	return nil
}

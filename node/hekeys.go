package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/backend"
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
// whose administrator calls CreateDataset) draws a public CRS seed and asks
// every node, itself included, for round 1 (HEKeygen): each draws its
// secret s_i, answers its public-key share −a·s_i + e_i and a Shamir share
// of s_i for every node, each sealed with HPKE to that node's sealing key,
// so the coordinator relays them without reading them. In round 2
// (HEKeygenFinish) every node receives every public-key share and the
// shares sealed to it; it aggregates the public key itself, checks that its
// own share is in it, sums the Shamir shares into its t-of-n threshold
// share of s = Σ s_i, stores that sealed to its own sealing key (encrypted
// at rest) and signs the public key's digest. The coordinator checks that
// every node computed the same key; the signatures go into the descriptor,
// so every later reader can check that all nodes took part.
//
// No node ever holds s: decryption needs t nodes' shares (he.ThresholdKey).
// The Shamir shares are not verifiable (no VSS): a malicious node can deal
// inconsistent shares and make decryption fail, which is detected (the
// released values would not decode) but not attributed.

const (
	// sealInfoKeygenShare is the HPKE info of a Shamir share in transit.
	sealInfoKeygenShare = "cohort/v1/he-keygen-share"
	// sealInfoKeyAtRest is the HPKE info of a node's threshold share at rest.
	sealInfoKeyAtRest = "cohort/v1/he-key-at-rest"
	// sealInfoDecryptionShare is the HPKE info of a stored decryption share.
	sealInfoDecryptionShare = "cohort/v1/he-decryption-share"
)

// keygenTTL bounds how long a round-1 state waits for round 2.
const keygenTTL = 10 * time.Minute

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
	var err error
	if id := req.GetHeParamSet(); id != "" {
		if ch.params, err = he.Lookup(he.ParamSetID(id)); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "he_param_set: %v", err)
		}
		if ch.budget, err = ch.params.Check(capacity); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "schema bounds: %v", err)
		}
	} else if ch.params, ch.budget, err = he.Choose(capacity, false); err != nil {
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
	round1 := make([]*cohortv1.HEKeygenResponse, k)
	own, err := n.heKeygenRound1(ctx, req, n.opts.Index)
	if err != nil {
		return nil, err
	}
	round1[n.opts.Index] = own
	rs, errs := fanOut(ctx, n, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.HEKeygenResponse, error) {
		return c.HEKeygen(ctx, req)
	})
	if len(errs) > 0 {
		n.dropKeygen(s.ID)
		return nil, peerFailureOf("the HE key generation", "", errs)
	}
	for i, r := range rs {
		round1[i] = r
	}
	pkShares := make([][]byte, k)
	for i, r := range round1 {
		if len(r.GetSealedShares()) != k {
			n.dropKeygen(s.ID)
			return nil, status.Errorf(codes.Internal, "node %d answered %d sealed shares for %d nodes", i, len(r.GetSealedShares()), k)
		}
		pkShares[i] = r.GetPublicKeyShare()
	}
	finishFor := func(j uint32) *cohortv1.HEKeygenFinishRequest {
		f := &cohortv1.HEKeygenFinishRequest{DatasetId: s.ID, PublicKeyShares: pkShares, SealedShares: make([][]byte, k)}
		for i, r := range round1 {
			f.SealedShares[i] = r.GetSealedShares()[j]
		}
		return f
	}
	mine, err := n.heKeygenFinish(ctx, finishFor(n.opts.Index), n.opts.Index)
	if err != nil {
		return nil, err
	}
	info := &cohortv1.HEKeyInfo{
		ParamSet: string(ch.params.ID()), Threshold: uint32(ch.c.Threshold), SmudgingBits: uint32(ch.smudging.StatisticalBits),
		CrsSeed: crs, PublicKey: mine.GetPublicKey(), Signatures: make([]*cohortv1.NodeSignature, k),
	}
	st := dataset.KeygenStatement(s.ID, k, info)
	info.Signatures[n.opts.Index] = mine.GetSignature()
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

func (n *Node) dropKeygen(id string) {
	n.keygens.mu.Lock()
	delete(n.keygens.m, id)
	n.keygens.mu.Unlock()
}

// heKeygenRound1 checks a round-1 request and runs this node's round 1.
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
	out := &cohortv1.HEKeygenResponse{PublicKeyShare: pkShare, SealedShares: make([][]byte, len(shares))}
	for j, sh := range shares {
		sealed, err := seal.Seal(n.opts.Members[j].Seal, sealInfoKeygenShare, sh, keygenShareAAD(id, req.GetCrsSeed(), int(n.opts.Index), j))
		clear(sh)
		if err != nil {
			return nil, n.internal("seal keygen share", err)
		}
		out.SealedShares[j] = sealed
	}
	n.keygens.mu.Lock()
	defer n.keygens.mu.Unlock()
	for k, g := range n.keygens.m {
		if time.Since(g.started) > keygenTTL {
			delete(n.keygens.m, k)
		}
	}
	if _, busy := n.keygens.m[id]; busy {
		return nil, status.Errorf(codes.FailedPrecondition, "a key generation for dataset %q is already running on node %d", id, n.opts.Index)
	}
	n.keygens.m[id] = &keygen{req: req, params: params, party: party, pkShare: pkShare, from: from, started: time.Now()}
	return out, nil
}

// heKeygenFinish runs this node's round 2: aggregate the public key, open
// and combine the shares sealed to it, store its threshold share sealed to
// itself and sign the key.
func (n *Node) heKeygenFinish(ctx context.Context, req *cohortv1.HEKeygenFinishRequest, from uint32) (*cohortv1.HEKeygenFinishResponse, error) {
	id := req.GetDatasetId()
	n.keygens.mu.Lock()
	g, ok := n.keygens.m[id]
	if ok && g.from == from {
		delete(n.keygens.m, id) // one attempt: round 2 consumes the state
	}
	n.keygens.mu.Unlock()
	if !ok || g.from != from {
		return nil, status.Errorf(codes.FailedPrecondition, "no key generation for dataset %q started by node %d on node %d", id, from, n.opts.Index)
	}
	k := len(n.opts.Members)
	if len(req.GetPublicKeyShares()) != k || len(req.GetSealedShares()) != k {
		return nil, status.Errorf(codes.InvalidArgument, "want %d public-key shares and %d sealed shares", k, k)
	}
	if !bytes.Equal(req.GetPublicKeyShares()[n.opts.Index], g.pkShare) {
		return nil, status.Errorf(codes.InvalidArgument, "the public-key share of node %d is not the one it answered", n.opts.Index)
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
	info := &cohortv1.HEKeyInfo{ParamSet: g.req.GetParamSet(), Threshold: g.req.GetThreshold(), CrsSeed: g.req.GetCrsSeed(), PublicKey: pkb}
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

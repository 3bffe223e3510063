package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// checked is a payload that passed every check of this node: decoded,
// bound to the dataset, epoch open, consent unexpired, root known, proof
// valid and accepted by the dataset's backend (backend.Payload.Accept).
type checked struct {
	rd     *readyDataset
	raw    []byte
	digest [32]byte // SHA-256 of raw, as in receipts
	p      backend.Payload
	pub    *circuits.PublicInputs
	proof  *circuits.Proof
	nf     [32]byte
}

// decode parses a payload against the dataset's exact layout and checks
// that it is bound to this dataset.
func (n *Node) decode(ctx context.Context, datasetID string, raw []byte) (*checked, error) {
	rd, err := n.datasets.get(ctx, datasetID)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, status.Error(codes.InvalidArgument, "payload is empty")
	}
	p, err := rd.be.Decode(raw)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "malformed payload: %v", err)
	}
	c := &checked{rd: rd, raw: raw, digest: sha256.Sum256(raw), p: p, pub: p.Public(), proof: p.Proof()}
	if !c.pub.Dataset.Equal(&rd.field) {
		return nil, status.Errorf(codes.InvalidArgument, "payload is bound to another dataset than %q", datasetID)
	}
	c.nf = c.pub.Nullifier.Bytes()
	return c, nil
}

// checkTerms checks what may change with time: the epoch is open, the
// consent has not expired, the registry root is valid. A retry of a record
// already stored skips it: its receipt stays valid.
func (n *Node) checkTerms(ctx context.Context, c *checked) error {
	pub := c.pub
	now := n.now()
	cur := c.rd.ds.Schema.Epoch.Index(now)
	switch {
	case pub.Epoch > cur:
		return status.Errorf(codes.FailedPrecondition, "epoch %d is not open yet (current epoch is %d)", pub.Epoch, cur)
	case pub.Epoch+n.opts.Limits.EpochGrace < cur:
		return status.Errorf(codes.FailedPrecondition, "epoch %d is closed (current epoch is %d; %d earlier epoch(s) accepted)", pub.Epoch, cur, n.opts.Limits.EpochGrace)
	}
	if int64(pub.Expiry) <= now.Unix() || pub.Expiry > 1<<62 {
		return status.Errorf(codes.FailedPrecondition, "consent expired at %s", time.Unix(int64(min(pub.Expiry, 1<<62)), 0).UTC().Format(time.RFC3339))
	}
	return n.registry.rootValid(ctx, pub.Root.Bytes())
}

// verifyAndOpen checks the proof and returns what this node stores of the
// record, as the dataset's backend accepts it (backend.Payload.Accept).
func (n *Node) verifyAndOpen(ctx context.Context, c *checked) ([]byte, error) {
	start := time.Now()
	st, err := c.p.Statement()
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "malformed payload: %v", err)
	}
	err = c.rd.proofs.verify(ctx, st)
	n.metrics.verifySecs.Observe(time.Since(start).Seconds())
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil, status.FromContextError(err).Err()
	case err != nil:
		return nil, status.Errorf(codes.InvalidArgument, "proof does not verify: %v", err)
	}
	select {
	case n.ingest <- struct{}{}:
		defer func() { <-n.ingest }()
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	b, err := c.p.Accept(n.opts.Seal, int(n.opts.Index))
	switch {
	case errors.Is(err, backend.ErrRefused):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case err != nil:
		return nil, n.internal("encode "+c.rd.be.Stored(), err)
	}
	return b, nil
}

// storeShare commits this node's share with its signed acknowledgment. It
// returns the acknowledgment and whether this call stored the record; a
// record held already with the same payload digest returns the ack given
// then, with another digest AlreadyExists.
func (n *Node) storeShare(ctx context.Context, c *checked, sb []byte) (*cohortv1.ContributionAck, bool, error) {
	pb, err := c.pub.MarshalBinary()
	if err != nil {
		return nil, false, n.internal("encode public inputs", err)
	}
	prb, err := c.proof.MarshalBinary()
	if err != nil {
		return nil, false, n.internal("encode proof", err)
	}
	id := c.rd.ds.Desc.GetId()
	now := time.Unix(n.now().Unix(), 0)
	ack := n.ack(id, c.nf, c.digest, now)
	ab, err := proto.Marshal(ack)
	if err != nil {
		return nil, false, n.internal("encode ack", err)
	}
	pub := c.pub
	existing, err := n.store.PutContribution(ctx, store.Contribution{
		DatasetID:            id,
		Epoch:                pub.Epoch,
		Nullifier:            c.nf,
		PayloadDigest:        c.digest,
		Public:               pb,
		Proof:                prb,
		Share:                sb,
		Purposes:             pub.Purposes,
		Expiry:               time.Unix(int64(pub.Expiry), 0),
		MinCohort:            pub.MinCohort,
		RevocationCommitment: pub.Revocation.Bytes(),
		ReceivedAt:           now,
		Receipt:              ab,
	})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, false, status.Errorf(codes.AlreadyExists, "nullifier %x was already used with another payload", c.nf)
	case err != nil:
		return nil, false, n.internal("store contribution", err)
	case existing != nil:
		prev, err := storedAck(existing)
		if err != nil {
			return nil, false, n.internal("stored ack", err)
		}
		return prev, false, nil
	}
	return ack, true, nil
}

func (n *Node) ack(datasetID string, nf, digest [32]byte, at time.Time) *cohortv1.ContributionAck {
	st := attest.ContributionAck{DatasetID: datasetID, Nullifier: nf, PayloadDigest: digest, Node: n.opts.Index, StoredAt: at.Unix()}
	return &cohortv1.ContributionAck{
		DatasetId:     datasetID,
		Nullifier:     nf[:],
		PayloadDigest: digest[:],
		StoredAt:      at.Unix(),
		Signature:     n.sign(st.Message()),
	}
}

func storedAck(c *store.Contribution) (*cohortv1.ContributionAck, error) {
	a := new(cohortv1.ContributionAck)
	if err := proto.Unmarshal(c.Receipt, a); err != nil {
		return nil, err
	}
	return a, nil
}

// checkAck verifies a peer's acknowledgment of exactly this record.
func (n *Node) checkAck(from uint32, datasetID string, nf, digest [32]byte, a *cohortv1.ContributionAck) error {
	if a.GetDatasetId() != datasetID || !bytes.Equal(a.GetNullifier(), nf[:]) || !bytes.Equal(a.GetPayloadDigest(), digest[:]) {
		return fmt.Errorf("node %d acknowledged another record", from)
	}
	st := attest.ContributionAck{DatasetID: datasetID, Nullifier: nf, PayloadDigest: digest, Node: from, StoredAt: a.GetStoredAt()}
	return n.verifySig(from, st.Message(), a.GetSignature())
}

// contribute is ContributorService.Contribute: check, store this node's
// share, have every peer do the same, and answer with the receipt only when
// all have committed. On any failure what this call stored is rolled back
// everywhere.
func (n *Node) contribute(ctx context.Context, datasetID string, raw []byte) (*cohortv1.Receipt, error) {
	c, err := n.decode(ctx, datasetID, raw)
	if err != nil {
		return nil, err
	}
	var (
		ack   *cohortv1.ContributionAck
		fresh bool
	)
	if prev, err := n.store.GetContribution(ctx, datasetID, c.nf); err == nil {
		if prev.PayloadDigest != c.digest {
			return nil, n.alreadyExists(ctx, datasetID, c.nf)
		}
		// A retry: the peers answer with what they stored then.
		if ack, err = storedAck(&prev); err != nil {
			return nil, n.internal("stored ack", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, n.internal("read contribution", err)
	} else {
		if err := n.checkTerms(ctx, c); err != nil {
			n.metrics.contributions.WithLabelValues("coordinator", "refused").Inc()
			return nil, err
		}
		share, err := n.verifyAndOpen(ctx, c)
		if err != nil {
			n.metrics.contributions.WithLabelValues("coordinator", "refused").Inc()
			return nil, err
		}
		gen := n.pending.generation(datasetID)
		if ack, fresh, err = n.storeShare(ctx, c, share); err != nil {
			return nil, err
		}
		if fresh {
			// This node's own row follows the peers' rule: rolled back only
			// before any job selected from the dataset here.
			n.pending.add(datasetID, c.nf, n.opts.Index, gen, n.now())
		}
	}

	type fwd struct {
		ack   *cohortv1.ContributionAck
		fresh bool
	}
	acks, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, pc cohortv1.PeerServiceClient) (fwd, error) {
		resp, err := pc.ForwardContribution(ctx, &cohortv1.ForwardContributionRequest{DatasetId: datasetID, Payload: raw})
		if err != nil {
			return fwd{}, err
		}
		if err := n.checkAck(i, datasetID, c.nf, c.digest, resp.GetAck()); err != nil {
			return fwd{fresh: resp.GetNewlyStored()}, status.Error(codes.Internal, err.Error())
		}
		return fwd{resp.GetAck(), resp.GetNewlyStored()}, nil
	})
	if len(errs) > 0 {
		var stored []uint32
		for i, f := range acks {
			if f.fresh {
				stored = append(stored, i)
			}
		}
		n.rollback(datasetID, c.nf, fresh, stored, errs)
		n.metrics.contributions.WithLabelValues("coordinator", "failed").Inc()
		return nil, peerFailure(errs)
	}
	all := make([]*cohortv1.ContributionAck, len(n.opts.Members))
	all[n.opts.Index] = ack
	for i, f := range acks {
		all[i] = f.ack
	}
	n.metrics.contributions.WithLabelValues("coordinator", "accepted").Inc()
	return receipt(datasetID, c.pub, c.digest, all, time.Time{}), nil
}

// receipt assembles a record's receipt from every node's ack.
func receipt(datasetID string, pub *circuits.PublicInputs, digest [32]byte, acks []*cohortv1.ContributionAck, revokedAt time.Time) *cohortv1.Receipt {
	nf := pub.Nullifier.Bytes()
	r := &cohortv1.Receipt{
		DatasetId:     datasetID,
		Epoch:         pub.Epoch,
		Nullifier:     nf[:],
		PayloadDigest: digest[:],
		RegistryRoot:  bytesOf(pub.Root.Bytes()),
		Status:        cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED,
		Acks:          acks,
	}
	for _, a := range acks {
		r.AcceptedAt = max(r.AcceptedAt, a.GetStoredAt())
	}
	if !revokedAt.IsZero() {
		r.Status, r.RevokedAt = cohortv1.ReceiptStatus_RECEIPT_STATUS_REVOKED, revokedAt.Unix()
	}
	return r
}

// alreadyExists is the AlreadyExists status for a used nullifier, with the
// existing receipt in its details when every node can be asked for it.
func (n *Node) alreadyExists(ctx context.Context, datasetID string, nf [32]byte) error {
	st := status.Newf(codes.AlreadyExists, "nullifier %x was already used with another payload: one record per person, dataset and epoch", nf)
	if r, err := n.receiptOf(ctx, datasetID, nf); err == nil {
		if d, err := st.WithDetails(r); err == nil {
			st = d
		}
	}
	return st.Err()
}

// peerFailure turns the peers' errors into the caller's status: a refusal
// is reported as the peer's own code, an unreachable peer as Unavailable.
func peerFailure(errs map[uint32]error) error {
	return peerFailureOf("the contribution", "; nothing was stored", errs)
}

// peerFailureOf is peerFailure for any operation: what names it, tail ends
// each message.
func peerFailureOf(what, tail string, errs map[uint32]error) error {
	idx := make([]uint32, 0, len(errs))
	for i := range errs {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	for _, want := range []codes.Code{codes.AlreadyExists, codes.InvalidArgument, codes.FailedPrecondition} {
		for _, i := range idx {
			if s := status.Convert(errs[i]); s.Code() == want {
				return status.Errorf(want, "node %d refused %s: %s%s", i, what, s.Message(), tail)
			}
		}
	}
	i := idx[0]
	return status.Errorf(codes.Unavailable, "node %d did not complete %s (%s: %s)%s, retry later",
		i, what, status.Code(errs[i]), status.Convert(errs[i]).Message(), tail)
}

// The forwarder's rollback retries: rollbackAttempts after the first call,
// waiting rollbackFirstDelay, then twice as long each time (PendingWindow
// outlasts them).
const (
	rollbackAttempts   = 10
	rollbackFirstDelay = time.Second
)

// rollbackRefused reports whether a peer refused a rollback for good
// (pending.go): retrying cannot change its answer.
func rollbackRefused(err error) bool {
	c := status.Code(err)
	return c == codes.PermissionDenied || c == codes.FailedPrecondition
}

// rollback removes what a failed ingest stored: this node's row if this
// call stored it, and the rows of the peers that stored theirs in this
// call. A peer that cannot be reached is retried in the background.
func (n *Node) rollback(datasetID string, nf [32]byte, local bool, peers []uint32, cause map[uint32]error) {
	reason := "another node refused or did not answer"
	for i, err := range cause {
		reason = fmt.Sprintf("node %d: %s", i, status.Code(err))
		break
	}
	if local {
		tracked, err := n.pending.rollback(datasetID, nf, n.opts.Index, n.now(), func() error {
			return n.store.DeleteContribution(context.Background(), datasetID, nf)
		})
		if !tracked {
			err = errNotPending
		}
		switch {
		case errors.Is(err, errSelected), errors.Is(err, errNotPending), errors.Is(err, errNotForwarder):
			n.log.Error("rollback: own share kept", "nullifier", fmt.Sprintf("%x", nf), "error", err)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			n.log.Error("rollback: delete own share", "error", err)
		}
	}
	for _, i := range peers {
		abort := func(ctx context.Context) error {
			_, err := call(ctx, n, i, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.AbortContributionResponse, error) {
				return c.AbortContribution(ctx, &cohortv1.AbortContributionRequest{DatasetId: datasetID, Nullifier: nf[:], Reason: reason})
			})
			return err
		}
		err := abort(n.ctx)
		if err == nil {
			continue
		}
		if rollbackRefused(err) {
			n.log.Error("rollback refused: a peer keeps a partial record", "peer", i, "nullifier", fmt.Sprintf("%x", nf), "error", err)
			continue
		}
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			for attempt, delay := 1, rollbackFirstDelay; attempt <= rollbackAttempts; attempt, delay = attempt+1, 2*delay {
				select {
				case <-n.ctx.Done():
					n.log.Error("rollback abandoned at shutdown: a peer may hold a partial record", "peer", i, "nullifier", fmt.Sprintf("%x", nf))
					return
				case <-time.After(delay):
				}
				err := abort(n.ctx)
				if err == nil {
					return
				}
				if rollbackRefused(err) {
					n.log.Error("rollback refused: a peer keeps a partial record", "peer", i, "nullifier", fmt.Sprintf("%x", nf), "error", err)
					return
				}
			}
			n.log.Error("rollback failed: a peer may hold a partial record", "peer", i, "nullifier", fmt.Sprintf("%x", nf))
		}()
	}
}

// receiptOf assembles a stored record's receipt from this node's ack and
// the peers'.
func (n *Node) receiptOf(ctx context.Context, datasetID string, nf [32]byte) (*cohortv1.Receipt, error) {
	if _, err := n.datasets.descriptor(ctx, datasetID); err != nil {
		return nil, err
	}
	row, err := n.store.GetContribution(ctx, datasetID, nf)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "no record with nullifier %x in dataset %q", nf, datasetID)
	}
	if err != nil {
		return nil, n.internal("read contribution", err)
	}
	own, err := storedAck(&row)
	if err != nil {
		return nil, n.internal("stored ack", err)
	}
	var pub circuits.PublicInputs
	if err := pub.UnmarshalBinary(row.Public); err != nil {
		return nil, n.internal("stored public inputs", err)
	}
	acks, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.ContributionAck, error) {
		resp, err := c.GetContributionAck(ctx, &cohortv1.GetContributionAckRequest{DatasetId: datasetID, Nullifier: nf[:]})
		if err != nil {
			return nil, err
		}
		if err := n.checkAck(i, datasetID, nf, row.PayloadDigest, resp.GetAck()); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return resp.GetAck(), nil
	})
	for i, err := range errs {
		return nil, status.Errorf(codes.Unavailable, "node %d: %s", i, status.Convert(err).Message())
	}
	all := make([]*cohortv1.ContributionAck, len(n.opts.Members))
	all[n.opts.Index] = own
	for i, a := range acks {
		all[i] = a
	}
	return receipt(datasetID, &pub, row.PayloadDigest, all, row.RevokedAt), nil
}

// forward is PeerService.ForwardContribution: the same checks as the
// coordinator's, then this node's share.
func (n *Node) forward(ctx context.Context, from uint32, datasetID string, raw []byte) (*cohortv1.ForwardContributionResponse, error) {
	c, err := n.decode(ctx, datasetID, raw)
	if err != nil {
		n.metrics.contributions.WithLabelValues("peer", "refused").Inc()
		return nil, err
	}
	if prev, err := n.store.GetContribution(ctx, datasetID, c.nf); err == nil {
		if prev.PayloadDigest != c.digest {
			return nil, status.Errorf(codes.AlreadyExists, "nullifier %x was already used with another payload", c.nf)
		}
		a, err := storedAck(&prev)
		if err != nil {
			return nil, n.internal("stored ack", err)
		}
		return &cohortv1.ForwardContributionResponse{Ack: a}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, n.internal("read contribution", err)
	}
	if err := n.checkTerms(ctx, c); err != nil {
		n.metrics.contributions.WithLabelValues("peer", "refused").Inc()
		return nil, err
	}
	share, err := n.verifyAndOpen(ctx, c)
	if err != nil {
		n.metrics.contributions.WithLabelValues("peer", "refused").Inc()
		return nil, err
	}
	gen := n.pending.generation(datasetID)
	a, fresh, err := n.storeShare(ctx, c, share)
	if err != nil {
		return nil, err
	}
	if fresh {
		n.pending.add(datasetID, c.nf, from, gen, n.now())
	}
	n.metrics.contributions.WithLabelValues("peer", "accepted").Inc()
	return &cohortv1.ForwardContributionResponse{Ack: a, NewlyStored: fresh}, nil
}

// revoke is ContributorService.Revoke: record the revocation on this node,
// then on every peer, all with this node's time.
func (n *Node) revoke(ctx context.Context, datasetID string, token []byte) (*cohortv1.RevokeResponse, error) {
	if _, err := n.datasets.descriptor(ctx, datasetID); err != nil {
		return nil, err
	}
	nf, at, sig, err := n.revokeLocal(ctx, datasetID, token, time.Time{})
	if err != nil {
		return nil, err
	}
	sigs, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.NodeSignature, error) {
		resp, err := c.ForwardRevocation(ctx, &cohortv1.ForwardRevocationRequest{DatasetId: datasetID, RevocationToken: token, RevokedAt: at.Unix()})
		if err != nil {
			return nil, err
		}
		st := attest.Revocation{DatasetID: datasetID, Nullifier: nf, RevokedAt: at.Unix()}
		if !bytes.Equal(resp.GetNullifier(), nf[:]) {
			return nil, status.Errorf(codes.Internal, "node %d revoked another record", i)
		}
		if err := n.verifySig(i, st.Message(), resp.GetSignature()); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return resp.GetSignature(), nil
	})
	for i, err := range errs {
		return nil, status.Errorf(codes.Unavailable, "revocation recorded on some nodes but not on node %d (%s); retry Revoke to complete it",
			i, status.Convert(err).Message())
	}
	out := &cohortv1.RevokeResponse{Nullifier: nf[:], RevokedAt: at.Unix(), Signatures: make([]*cohortv1.NodeSignature, len(n.opts.Members))}
	out.Signatures[n.opts.Index] = sig
	for i, s := range sigs {
		out.Signatures[i] = s
	}
	return out, nil
}

// revokeLocal records a revocation on this node. at is the coordinator's
// time, or zero on the coordinator itself (now, or the time of an earlier
// revocation of the same record).
func (n *Node) revokeLocal(ctx context.Context, datasetID string, token []byte, at time.Time) ([32]byte, time.Time, *cohortv1.NodeSignature, error) {
	rt, err := fieldBytes(token, "revocation_token")
	if err != nil {
		return [32]byte{}, time.Time{}, nil, err
	}
	rc := feBytes(circuits.RevocationCommitmentOf(rt))
	row, err := n.store.FindByRevocation(ctx, datasetID, rc)
	if errors.Is(err, store.ErrNotFound) {
		return [32]byte{}, time.Time{}, nil, status.Errorf(codes.NotFound, "no record of dataset %q matches this revocation token", datasetID)
	}
	if err != nil {
		return [32]byte{}, time.Time{}, nil, n.internal("find record", err)
	}
	if at.IsZero() {
		at = time.Unix(n.now().Unix(), 0)
		if row.Revoked() {
			at = row.RevokedAt
		}
	}
	if err := n.store.Revoke(ctx, datasetID, rc, rt.Bytes(), at); err != nil {
		return [32]byte{}, time.Time{}, nil, n.internal("revoke", err)
	}
	st := attest.Revocation{DatasetID: datasetID, Nullifier: row.Nullifier, RevokedAt: at.Unix()}
	return row.Nullifier, at, n.sign(st.Message()), nil
}

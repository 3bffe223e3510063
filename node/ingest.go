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

// precheck is the check of an upload's terms and proof and the opening of
// this node's share, begun by the coordinator while it takes the record's
// lock (docs/design.md §5.6): neither depends on the lock, and the lock
// costs a durable commit, so the upload waits for the longer of the two
// rather than for both. Its outcome is used only where the coordinator
// would have checked the upload (the record is not stored yet); a retry of
// a stored record discards it. A check whose outcome is not waited for
// ends with the coordinator's context.
type precheck struct {
	done  chan struct{}
	share []byte
	err   error
}

// startPrecheck begins checkTerms then verifyAndOpen of c within ctx.
func (n *Node) startPrecheck(ctx context.Context, c *checked) *precheck {
	p := &precheck{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if p.err = n.checkTerms(ctx, c); p.err == nil {
			p.share, p.err = n.verifyAndOpen(ctx, c)
		}
	}()
	return p
}

// wait returns what checkTerms and verifyAndOpen returned.
func (p *precheck) wait() ([]byte, error) {
	<-p.done
	return p.share, p.err
}

// errRaced: another ingest stored the nullifier between this one's look
// and its write; the caller looks again.
var errRaced = errors.New("the nullifier was stored concurrently")

// storeShare stores this node's share, pending (docs/design.md §7.5) with
// the node that forwarded it, and its signed acknowledgment. A forwarder
// storing its own record, under h, takes over from any earlier attempt
// whose rollbacks are still owed, in the same transaction. errRaced if the
// nullifier is taken meanwhile; the status of lostStatus if another
// replica took the record over (h is nil for another forwarder's).
func (n *Node) storeShare(ctx context.Context, h *heldRecord, c *checked, sb []byte, forwarder uint32) (*cohortv1.ContributionAck, error) {
	pb, err := c.pub.MarshalBinary()
	if err != nil {
		return nil, n.internal("encode public inputs", err)
	}
	prb, err := c.proof.MarshalBinary()
	if err != nil {
		return nil, n.internal("encode proof", err)
	}
	id := c.rd.ds.Desc.GetId()
	now := time.Unix(n.now().Unix(), 0)
	ack := n.ack(id, c.nf, c.digest, now)
	ab, err := proto.Marshal(ack)
	if err != nil {
		return nil, n.internal("encode ack", err)
	}
	pub := c.pub
	row := store.Contribution{
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
		ClaimLeaf:            claimLeaf(pub.Nullifier),
		ReceivedAt:           now,
		Receipt:              ab,
		Pending:              true,
		Forwarder:            forwarder,
		PendingSince:         n.now(),
	}
	if forwarder == n.opts.Index {
		row.Replica = n.opts.ReplicaID
	}
	put := func(tx store.Tx) error {
		if forwarder == n.opts.Index {
			if err := tx.DeleteRollbacks(ctx, id, c.nf); err != nil {
				return err
			}
		}
		existing, err := tx.PutContribution(ctx, row)
		if err == nil && existing != nil {
			return errRaced
		}
		return err
	}
	if h != nil {
		err = h.inTx(ctx, put)
	} else {
		err = n.store.InTx(ctx, put)
	}
	switch {
	case errors.Is(err, errLockLost):
		return nil, lostStatus(c.nf)
	case errors.Is(err, errRaced), errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrConflict):
		return nil, errRaced
	case err != nil:
		return nil, n.internal("store contribution", err)
	}
	return ack, nil
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
// share pending, have every peer do the same, commit, and answer with the
// receipt only then. On any failure this node decides the rollback, kept
// in its store until every peer that may hold the record confirmed it
// (docs/design.md §7.5). It holds the record's lock throughout
// (recordhold.go): if another replica of this node takes the record over
// meanwhile, this one writes and sends nothing more and answers Aborted.
func (n *Node) contribute(ctx context.Context, datasetID string, raw []byte) (*cohortv1.Receipt, error) {
	c, err := n.decode(ctx, datasetID, raw)
	if err != nil {
		return nil, err
	}
	pctx, cancelCheck := context.WithCancel(ctx)
	defer cancelCheck()
	check := n.startPrecheck(pctx, c)
	h, err := n.holdRecord(ctx, recordKey{datasetID, c.nf}, pendingWait)
	if err != nil {
		return nil, err
	}
	defer h.release()
	// Decisions are written whatever becomes of the caller.
	dctx := context.WithoutCancel(ctx)
	self := n.opts.Index
	var (
		ack       *cohortv1.ContributionAck
		committed bool
		awaiting  []uint32 // the node a committed record still awaits (§7.5)
	)
	for ack == nil {
		// Another node's ingest of this nullifier is decided first.
		row, found, err := n.awaitDecision(ctx, datasetID, c.nf, func(r store.Contribution, found bool) bool {
			return found && r.Pending && r.Forwarder != self
		})
		if err != nil {
			return nil, err
		}
		switch {
		case found && row.Pending && row.Forwarder != self:
			if row.PayloadDigest == c.digest {
				return nil, status.Errorf(codes.Aborted, "the same record is being stored through node %d; retry later for its receipt", row.Forwarder)
			}
			return nil, status.Errorf(codes.Aborted, "another payload with nullifier %x is being stored through node %d; nothing was stored, retry later", c.nf, row.Forwarder)
		case found && row.PayloadDigest != c.digest && !row.Pending:
			return nil, n.alreadyExists(ctx, datasetID, c.nf)
		case found && row.PayloadDigest != c.digest:
			// An undecided ingest of this node's own, of another payload
			// (its rollback could not be written): decide it now.
			reason := "the contributor sent another payload"
			if err := n.abandon(dctx, h, datasetID, c.nf, n.others(), reason); errors.Is(err, errLockLost) {
				return nil, lostStatus(c.nf)
			} else if err != nil {
				return nil, n.internal("roll back contribution", err)
			}
			n.rollBack(n.ctx, h, datasetID, c.nf, n.others(), reason)
			continue
		case found && !row.Pending && row.Incomplete:
			// Committed while a node was down, not yet caught up: the
			// receipt as held, that node pending. Nothing is sent again:
			// the record reaches that node from its forwarder's catch-up
			// (catchup.go), which alone completes it.
			return n.receiptOf(ctx, datasetID, c.nf)
		case found && row.Pending && row.Replica != n.opts.ReplicaID:
			// A retry through this replica of an ingest another replica
			// (or this one's earlier process) began: this replica
			// forwards it now (docs/design.md §3.4).
			err := h.inTx(ctx, func(tx store.Tx) error {
				return tx.TakePending(ctx, datasetID, c.nf, n.opts.ReplicaID, n.now())
			})
			switch {
			case errors.Is(err, errLockLost):
				return nil, lostStatus(c.nf)
			case err != nil && !errors.Is(err, store.ErrConflict):
				return nil, n.internal("take pending contribution", err)
			}
			continue
		case found:
			// A retry: the peers answer with what they stored then.
			if ack, err = storedAck(&row); err != nil {
				return nil, n.internal("stored ack", err)
			}
			committed = !row.Pending
			continue
		}
		share, err := check.wait()
		if err != nil {
			n.metrics.contributions.WithLabelValues("coordinator", "refused").Inc()
			return nil, err
		}
		if ack, err = n.storeShare(ctx, h, c, share, self); errors.Is(err, errRaced) {
			continue
		} else if err != nil {
			return nil, err
		}
	}

	acks, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, pc cohortv1.PeerServiceClient) (*cohortv1.ContributionAck, error) {
		resp, err := pc.ForwardContribution(ctx, &cohortv1.ForwardContributionRequest{DatasetId: datasetID, Payload: raw})
		if err != nil {
			return nil, err
		}
		if err := n.checkAck(i, datasetID, c.nf, c.digest, resp.GetAck()); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return resp.GetAck(), nil
	})
	if hook := n.records.beforeDecide; hook != nil {
		hook(recordKey{datasetID, c.nf})
	}
	var (
		full   errBacklogFull
		isFull bool
	)
	switch m, lone := n.loneMissing(errs); {
	case committed && len(errs) > 0:
		// A retry of a committed record: nothing to undo.
		return nil, peerFailure(errs)
	case committed:
	case len(errs) == 0:
		err := h.commitAndUnlock(dctx, func(tx store.Tx) error { return tx.CommitContribution(dctx, datasetID, c.nf) })
		switch {
		case errors.Is(err, errLockLost):
			n.metrics.contributions.WithLabelValues("coordinator", "taken_over").Inc()
			return nil, lostStatus(c.nf)
		case err != nil:
			errs = map[uint32]error{self: n.internal("commit contribution", err)}
		}
	case lone:
		// One node is down: the record is committed without it and held
		// for it (catchup.go).
		err := n.commitWithout(dctx, h, datasetID, c.nf, raw, m)
		switch {
		case errors.Is(err, errLockLost):
			n.metrics.contributions.WithLabelValues("coordinator", "taken_over").Inc()
			return nil, lostStatus(c.nf)
		case err == nil:
			errs, awaiting = nil, []uint32{m}
			n.log.Warn("record committed while a node is down; held for it", "peer", m, "nullifier", fmt.Sprintf("%x", c.nf))
		case errors.As(err, &full):
			isFull = true
		default:
			errs = map[uint32]error{self: n.internal("commit contribution", err)}
		}
	}
	if len(errs) > 0 {
		n.metrics.contributions.WithLabelValues("coordinator", "failed").Inc()
		err := n.undo(ctx, h, datasetID, c.nf, acks, errs)
		if isFull {
			return nil, status.Errorf(codes.Unavailable, "%v (%d uploads held for it); nothing was stored, retry later", full, n.opts.Limits.MaxCatchUpBacklog)
		}
		return nil, err
	}
	// Every node acknowledged, or every node but the one down: the
	// forwarder asking for their acknowledgments commits their rows
	// (peer_ingest.go), held for the missing node if there is one. A peer
	// missed here asks this node itself later (resolveLoop).
	targets := make([]uint32, 0, len(acks))
	for _, i := range n.others() {
		if _, ok := acks[i]; ok {
			targets = append(targets, i)
		}
	}
	_, cerrs := fanOutTo(ctx, n, targets, n.opts.Limits.PeerTimeout, func(ctx context.Context, i uint32, pc cohortv1.PeerServiceClient) (*cohortv1.GetContributionAckResponse, error) {
		return pc.GetContributionAck(ctx, &cohortv1.GetContributionAckRequest{DatasetId: datasetID, Nullifier: c.nf[:], MissingNodes: awaiting})
	})
	for i, err := range cerrs {
		n.log.Warn("commit not confirmed by a peer; it will ask", "peer", i, "nullifier", fmt.Sprintf("%x", c.nf), "error", err)
	}
	all := make([]*cohortv1.ContributionAck, len(n.opts.Members))
	all[self] = ack
	for i, a := range acks {
		all[i] = a
	}
	n.metrics.contributions.WithLabelValues("coordinator", "accepted").Inc()
	return receipt(datasetID, c.pub, c.digest, all, time.Time{}), nil
}

// mayHaveStored reports whether a peer that answered ForwardContribution
// with err may hold the record: it did not refuse it.
func mayHaveStored(err error) bool {
	switch status.Code(err) {
	case codes.AlreadyExists, codes.InvalidArgument, codes.FailedPrecondition, codes.Aborted,
		codes.PermissionDenied, codes.Unauthenticated, codes.NotFound, codes.ResourceExhausted:
		return false
	}
	return true
}

// undo decides and sends the rollback of an ingest that failed, under h: this
// node's row goes, and every peer that acknowledged the record or did not
// answer is owed a rollback. It returns the contributor's status. An
// upload that lost a race for its nullifier (AlreadyExists) waits for the
// other upload's outcome, to answer with its receipt or to say truly that
// nothing was kept yet.
func (n *Node) undo(ctx context.Context, h *heldRecord, datasetID string, nf [32]byte, acks map[uint32]*cohortv1.ContributionAck, errs map[uint32]error) error {
	var peers []uint32
	for _, i := range n.others() {
		if _, ok := acks[i]; ok || (errs[i] != nil && mayHaveStored(errs[i])) {
			peers = append(peers, i)
		}
	}
	reason := "another node refused or did not answer"
	for _, i := range n.others() {
		if err, ok := errs[i]; ok {
			reason = fmt.Sprintf("node %d: %s", i, status.Code(err))
			break
		}
	}
	if err := n.abandon(context.WithoutCancel(ctx), h, datasetID, nf, peers, reason); errors.Is(err, errLockLost) {
		n.metrics.contributions.WithLabelValues("coordinator", "taken_over").Inc()
		return lostStatus(nf)
	} else if err != nil {
		n.log.Error("rollback: cannot record it; decided at restart", "nullifier", fmt.Sprintf("%x", nf), "error", err)
		return n.internal("roll back contribution", err)
	}
	n.rollBack(n.ctx, h, datasetID, nf, peers, reason)
	failure := peerFailure(errs)
	if status.Code(failure) != codes.AlreadyExists {
		return failure
	}
	row, found, err := n.awaitDecision(ctx, datasetID, nf, func(r store.Contribution, found bool) bool { return !found || r.Pending })
	if err != nil {
		return err
	}
	if found && !row.Pending {
		return n.alreadyExists(ctx, datasetID, nf)
	}
	return status.Errorf(codes.Aborted, "another payload with nullifier %x is being stored; nothing was stored for this one, retry later to learn which is kept", nf)
}

// receipt assembles a record's receipt from every node's ack; a node
// without one (nil) is listed pending: the record is held for it
// (docs/design.md §7.5).
func receipt(datasetID string, pub *circuits.PublicInputs, digest [32]byte, acks []*cohortv1.ContributionAck, revokedAt time.Time) *cohortv1.Receipt {
	var pending []uint32
	for i, a := range acks {
		if a == nil {
			acks[i], pending = &cohortv1.ContributionAck{}, append(pending, uint32(i))
		}
	}
	nf := pub.Nullifier.Bytes()
	r := &cohortv1.Receipt{
		DatasetId:     datasetID,
		Epoch:         pub.Epoch,
		Nullifier:     nf[:],
		PayloadDigest: digest[:],
		RegistryRoot:  bytesOf(pub.Root.Bytes()),
		Status:        cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED,
		Acks:          acks,
		PendingNodes:  pending,
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
	// Just after the other upload committed, a peer may not have heard yet.
	deadline := time.Now().Add(pendingWait)
	for {
		r, err := n.receiptOf(ctx, datasetID, nf)
		if err == nil {
			if d, err := st.WithDetails(r); err == nil {
				st = d
			}
			break
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return st.Err()
		case <-time.After(10 * pendingPoll):
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
	for _, want := range []codes.Code{codes.AlreadyExists, codes.InvalidArgument, codes.FailedPrecondition, codes.Aborted} {
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
	if row.Pending {
		return nil, status.Errorf(codes.Unavailable, "record %x is not yet committed on every node; retry later", nf)
	}
	own, err := storedAck(&row)
	if err != nil {
		return nil, n.internal("stored ack", err)
	}
	var pub circuits.PublicInputs
	if err := pub.UnmarshalBinary(row.Public); err != nil {
		return nil, n.internal("stored public inputs", err)
	}
	// The forwarder says which node the record awaits, so that asking for
	// acknowledgments never completes it early (peer_ingest.go).
	var awaiting []uint32
	if row.Forwarder == n.opts.Index {
		awaiting = missingOf(row)
	}
	acks, errs := fanOut(ctx, n, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.ContributionAck, error) {
		resp, err := c.GetContributionAck(ctx, &cohortv1.GetContributionAckRequest{DatasetId: datasetID, Nullifier: nf[:], MissingNodes: awaiting})
		if err != nil {
			return nil, err
		}
		if err := n.checkAck(i, datasetID, nf, row.PayloadDigest, resp.GetAck()); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return resp.GetAck(), nil
	})
	for i, err := range errs {
		if row.Incomplete && i == row.Missing {
			// Held for that node until it catches up: pending in the
			// receipt.
			continue
		}
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
// coordinator's, then this node's share, pending until from decides. Of two
// undecided ingests of one nullifier the one that precedes (precedes)
// waits here for the other's rollback, and the other is refused.
//
// A record sent to catch up (docs/design.md §7.5) is checked with
// checkCatchUpTerms instead of checkTerms.
func (n *Node) forward(ctx context.Context, from uint32, datasetID string, raw []byte, catchUp bool) (*cohortv1.ForwardContributionResponse, error) {
	c, err := n.decode(ctx, datasetID, raw)
	if err != nil {
		n.metrics.contributions.WithLabelValues("peer", "refused").Inc()
		return nil, err
	}
	for {
		row, found, err := n.awaitDecision(ctx, datasetID, c.nf, func(r store.Contribution, found bool) bool {
			return found && r.Pending && r.Forwarder != from && precedes(c.digest, from, r)
		})
		if err != nil {
			return nil, err
		}
		switch {
		case !found:
		case !row.Pending && row.PayloadDigest == c.digest:
			return n.storedForward(&row)
		case !row.Pending:
			return nil, status.Errorf(codes.AlreadyExists, "nullifier %x was already used with another payload", c.nf)
		case row.Forwarder == from && row.PayloadDigest == c.digest:
			// The forwarder sends it again.
			if err := n.store.RenewPending(ctx, datasetID, c.nf, n.now()); err != nil {
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				return nil, n.internal("renew pending contribution", err)
			}
			return n.storedForward(&row)
		case row.Forwarder == from:
			// The forwarder decided its earlier payload's rollback and sends
			// another: the rollback it owes this node is done here.
			err := n.store.RollBackContribution(ctx, datasetID, c.nf, from, time.Time{})
			if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
				return nil, n.internal("roll back contribution", err)
			}
			continue
		case precedes(c.digest, from, row):
			return nil, status.Errorf(codes.Aborted, "another upload of nullifier %x, through node %d, is not decided yet; retry later", c.nf, row.Forwarder)
		case row.PayloadDigest == c.digest:
			return nil, status.Errorf(codes.Aborted, "the same record is being stored through node %d; retry later for its receipt", row.Forwarder)
		case catchUp:
			// The live nodes committed this record; the other upload will
			// be refused by them. Not a refusal of this one: retry.
			return nil, status.Errorf(codes.Aborted, "another upload of nullifier %x, through node %d, is not decided yet; retry later", c.nf, row.Forwarder)
		default:
			return nil, status.Errorf(codes.AlreadyExists, "nullifier %x is being stored with another payload, which takes precedence: one record per person, dataset and epoch", c.nf)
		}
		check := n.checkTerms
		if catchUp {
			check = n.checkCatchUpTerms
		}
		if err := check(ctx, c); err != nil {
			n.metrics.contributions.WithLabelValues("peer", "refused").Inc()
			return nil, err
		}
		share, err := n.verifyAndOpen(ctx, c)
		if err != nil {
			n.metrics.contributions.WithLabelValues("peer", "refused").Inc()
			return nil, err
		}
		a, err := n.storeShare(ctx, nil, c, share, from)
		if errors.Is(err, errRaced) {
			continue
		}
		if err != nil {
			return nil, err
		}
		n.metrics.contributions.WithLabelValues("peer", "accepted").Inc()
		return &cohortv1.ForwardContributionResponse{Ack: a, NewlyStored: true}, nil
	}
}

// storedForward answers a forward of a record held already with the
// acknowledgment given then.
func (n *Node) storedForward(row *store.Contribution) (*cohortv1.ForwardContributionResponse, error) {
	a, err := storedAck(row)
	if err != nil {
		return nil, n.internal("stored ack", err)
	}
	return &cohortv1.ForwardContributionResponse{Ack: a}, nil
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

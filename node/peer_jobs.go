package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// A node's side of every job round, the coordinator's own included
// (docs/design.md §6.4): the enclave's peer rules applied to the record
// this node keeps per job id, persisted before it answers.

func (s *peerService) PrepareJob(ctx context.Context, req *cohortv1.PrepareJobRequest) (*cohortv1.PrepareJobResponse, error) {
	from, _ := callerPeer(ctx)
	resp, _, err := s.n.prepareJob(ctx, from, req)
	return resp, err
}

// ComputePartial releases this node's partial only for a job it
// prepared, over a cohort it selected itself whose digest is the agreed
// one and which meets the job's effective minimum: a coordinator cannot
// obtain a partial over a smaller or different set than the policy
// allows, nor a second, different partial for the same job.
func (s *peerService) ComputePartial(ctx context.Context, req *cohortv1.ComputePartialRequest) (*cohortv1.ComputePartialResponse, error) {
	from, _ := callerPeer(ctx)
	return s.n.computePartial(ctx, from, req, nil)
}

// roundJob is what this node signs about a job it takes part in.
func roundJob(jobID, datasetID string, spec *cohortv1.JobSpec, sel *selected) (enclave.RoundJob, error) {
	sd, err := audit.SpecDigest(spec)
	if err != nil {
		return enclave.RoundJob{}, err
	}
	return enclave.RoundJob{ID: jobID, DatasetID: datasetID, SpecDigest: sd, Time: sel.at}, nil
}

// prepareJob checks the buyer's signed submission of the job, selects the
// job's cohort, records it with the buyer the job is charged to and this
// node's noise for it (drawn now, once per job, before the round releases
// anything), and signs the cohort's digest.
func (n *Node) prepareJob(ctx context.Context, from uint32, req *cohortv1.PrepareJobRequest) (*cohortv1.PrepareJobResponse, *selected, error) {
	if err := n.checkPrepareSubmission(ctx, from, req); err != nil {
		return nil, nil, err
	}
	ds, sel, err := n.peerSelect(ctx, req.GetJobId(), req.GetSpec(), req.GetJobTime())
	if err != nil {
		return nil, nil, err
	}
	// What the scan read of the cohort's values is let go on a refusal.
	kept := false
	defer func() {
		if !kept {
			sel.witness.discard()
		}
	}()
	job, err := roundJob(req.GetJobId(), ds.Desc.GetId(), req.GetSpec(), sel)
	if err != nil {
		return nil, nil, n.internal("spec digest", err)
	}
	job.Buyer = req.GetBuyerId()
	set := sel.eligible()
	rec, err := n.peerRecord(ctx, job.ID)
	if err != nil {
		return nil, nil, err
	}
	next, err := enclave.PeerPrepare(rec, job, from, set)
	if err != nil {
		return nil, nil, peerRefusal(err)
	}
	if next.Noise == nil {
		if next.Noise, err = drawNoise(sel.priv); err != nil {
			return nil, nil, n.internal("draw release noise", err)
		}
	}
	if err := n.preparePeerRecord(ctx, ds, from, rec, next); err != nil {
		return nil, nil, err
	}
	kept = n.keepRead(from, req, sel)
	st := enclave.SetStatement(job, set, n.opts.Index)
	return &cohortv1.PrepareJobResponse{Set: sel.eligibleSet(), Signature: n.sign(st.Message())}, sel, nil
}

// keepRead keeps what the selection sel of prepared job req read of its
// cohort's values (reads.go), and reports whether it did: the coordinator's
// own node keeps them with its selection for the job, its records section
// finished for the transcript; a peer keeps them for ComputePartial.
func (n *Node) keepRead(from uint32, req *cohortv1.PrepareJobRequest, sel *selected) bool {
	if sel.witness == nil {
		return false
	}
	if from != n.opts.Index {
		sel.sel.Records = nil // the sum is made: the ids are not needed again
		n.reads.put(req.GetJobId(), req.GetSpec(), sel)
		return true
	}
	sp := sel.witness
	sel.witness = nil
	recs, err := sp.finish()
	if err != nil {
		// The sum's scan writes the section again (cohortSum).
		sel.sum, sel.coords = nil, nil
		return false
	}
	sel.records = recs
	return true
}

// computePartial computes, records and signs this node's partial. The
// coordinator's own node passes the cohort it selected for the agreement
// (local), which the rules check like any other; a peer selects it again,
// in the same scan that sums it when it prepared the job (cohortPass).
func (n *Node) computePartial(ctx context.Context, from uint32, req *cohortv1.ComputePartialRequest, local *selected) (*cohortv1.ComputePartialResponse, error) {
	ds, sel := local.dataset(), local
	var (
		priv enclave.Privacy
		at   time.Time
		err  error
	)
	if local == nil {
		if ds, priv, at, err = n.peerCheck(ctx, req.GetJobId(), req.GetSpec(), req.GetJobTime()); err != nil {
			return nil, err
		}
	}
	be, err := backend.For(ds)
	if err != nil {
		return nil, n.internal("dataset backend", err)
	}
	coords, coordsErr := enclave.Coordinates(ds.Schema.Layout(), req.GetSpec().GetOutputs())
	set, setErr := be.CheckPartialSet(req.GetDecryptionSet())
	rec, err := n.peerRecord(ctx, req.GetJobId())
	if err != nil {
		return nil, err
	}
	if local == nil {
		// Sum while selecting only what this node may release a partial of.
		sum := coordsErr == nil && setErr == nil && slices.Contains(set, n.opts.Index)
		if sel, err = n.peerCohort(ctx, ds, be, req, at, rec, coords, sum); err != nil {
			return nil, err
		}
		sel.priv = priv
		// A witness not kept by the end (a refusal) is let go.
		defer func() { sel.witness.discard() }()
	}
	if len(req.GetSetDigest()) != sha256.Size {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d selects another cohort (%d records) than the agreed digest", n.opts.Index, sel.cohort)
	}
	job, err := roundJob(req.GetJobId(), ds.Desc.GetId(), req.GetSpec(), sel)
	if err != nil {
		return nil, n.internal("spec digest", err)
	}
	if rec != nil {
		job.Buyer = rec.Buyer // bound when the job was prepared here
	}
	min := enclave.EffectiveMinimum(req.GetSpec(), ds.Schema)
	if err := enclave.PeerPartial(rec, job, from, [32]byte(req.GetSetDigest()), sel.eligible(), min, ds.Schema.MaxCohort, n.opts.Index); err != nil {
		return nil, peerRefusal(err)
	}
	if coordsErr != nil {
		return nil, status.Errorf(codes.InvalidArgument, "outputs: %v", coordsErr)
	}
	if setErr != nil {
		return nil, status.Errorf(codes.InvalidArgument, "decryption_set: %v", setErr)
	}
	if !slices.Contains(set, n.opts.Index) {
		return nil, status.Errorf(codes.InvalidArgument, "node %d is not in the decryption set %v", n.opts.Index, set)
	}
	// The node that combines the shares takes part in decrypting: a node
	// cannot spend other nodes' one share per aggregate on a set it is
	// not in (docs/design.md §4.3).
	if !slices.Contains(set, from) {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d asks for shares for the decryption set %v without being in it", from, set)
	}
	charge := enclave.Charge{JobID: job.ID, DatasetID: job.DatasetID, Buyer: rec.Buyer, Privacy: sel.priv}
	var (
		enc   []byte
		debit *cohortv1.PrivacyDebit
	)
	if rec.State == enclave.PeerReleased {
		released, err := be.PartialSetOf(rec.Partial)
		if err != nil {
			return nil, n.internal("stored partial", err)
		}
		if enc, err = enclave.PeerRepeat(*rec, released, set, n.opts.Index); err != nil {
			return nil, peerRefusal(err)
		}
		if !charge.Rho.IsZero() {
			_, entries, err := n.store.PrivacyDebitOf(ctx, job.ID)
			if err != nil {
				return nil, n.internal("read privacy debit", err)
			}
			debit = n.debitProto(charge, entries)
		}
	} else {
		noise, err := recordNoise(rec, sel.priv)
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "job %s on node %d: %v", job.ID, n.opts.Index, err)
		}
		if enc, err = n.partial(ctx, be, ds, sel, job, coords, set, noise); err != nil {
			return nil, err
		}
		next, err := enclave.PeerRelease(*rec, enc)
		if err != nil {
			return nil, peerRefusal(err)
		}
		settle := from != n.opts.Index && priced(ds)
		if debit, err = n.release(ctx, charge, settle, rec, next); err != nil {
			return nil, err
		}
	}
	if sel.witness != nil && sel.digest == [32]byte(req.GetSetDigest()) {
		w, err := witnessOf(sel.witness, sel.digest)
		sel.witness = nil
		if err != nil {
			return nil, n.internal("records section", err)
		}
		n.witness.put(job.ID, w)
	}
	st := enclave.PartialStatement(job.ID, sel.digest, coords, enc, n.opts.Index)
	n.log.Info("partial released", "job", job.ID, "cohort", sel.cohort, "coordinates", len(coords), "partial_set", fmt.Sprint(set))
	resp := &cohortv1.ComputePartialResponse{Coordinates: st.Coordinates, Partial: enc, Signature: n.sign(st.Message()), Debit: debit}
	if w := n.witness.get(job.ID); w != nil && w.setDigest == [32]byte(req.GetSetDigest()) {
		resp.Records = w.recordsProto()
	}
	return resp, nil
}

// peerCohort is a peer's cohort for ComputePartial: for a job it prepared
// on this dataset, the selection PrepareJob's scan made and summed when it
// still holds (preparedCohort, reads.go), or else selected and summed in
// one scan against the prepared size (cohortPass; summed only when sum is
// set and the partial not yet released); otherwise selected afresh (the
// rules then refuse).
func (n *Node) peerCohort(ctx context.Context, ds *dataset.Dataset, be backend.Backend, req *cohortv1.ComputePartialRequest, at time.Time,
	rec *enclave.PeerRecord, coords []int, sum bool) (*selected, error) {
	if rec == nil || rec.DatasetID != ds.Desc.GetId() || (rec.State != enclave.PeerPrepared && rec.State != enclave.PeerReleased) {
		return n.selectCohort(ctx, ds, req.GetJobId(), req.GetSpec(), at)
	}
	if sum && rec.State == enclave.PeerPrepared {
		if s := n.preparedCohort(ctx, ds, req, at, rec, coords); s != nil {
			return s, nil
		}
	} else if r, ok := n.reads.take(req.GetJobId()); ok {
		r.sel.witness.discard() // released already, or no partial of this node's to sum
	}
	var s backend.Sum
	if sum && rec.State == enclave.PeerPrepared {
		var err error
		if s, err = be.NewSum(coords); err != nil {
			return nil, n.internal("sum cohort", err)
		}
	}
	// An MPC transcript publishes nothing of a stored value: the same scan
	// takes what checking it needs (witness.go). HE peers check their
	// transcripts' ciphertexts against their rows.
	var wb *recordSpooler
	if s != nil && be.Published([]byte{0}) == nil {
		var err error
		if wb, err = n.newRecordSpooler(); err != nil {
			return nil, err
		}
	}
	return n.cohortPass(ctx, ds, req.GetJobId(), req.GetSpec(), at, rec.Cohort, s, coords, wb)
}

// partial computes this node's partial over its cohort with its noise
// for the job (nil for none), drawn when the job was prepared.
func (n *Node) partial(ctx context.Context, be backend.Backend, ds *dataset.Dataset, sel *selected, job enclave.RoundJob, coords []int, set []uint32, noise []*big.Int) ([]byte, error) {
	sum, err := n.cohortSum(ctx, be, sel, coords)
	if err != nil {
		return nil, n.internal("sum cohort", err)
	}
	enc, err := be.Partial(ctx, backend.PartialInput{
		JobID: job.ID, Sum: sum, Cohort: sel.cohort, Coords: coords, PartialSet: set, Noise: noise,
	}, nodeParty{n: n, ds: ds})
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, n.internal("partial", err)
	}
	return enc, nil
}

// recordNoise is the noise this node drew for the job when it prepared
// it, at the job's coordinates; nil for an exact release.
func recordNoise(rec *enclave.PeerRecord, p enclave.Privacy) ([]*big.Int, error) {
	if p.Rho.IsZero() {
		return nil, nil
	}
	if rec.Noise == nil {
		return nil, errors.New("no noise was drawn when the job was prepared; it must be prepared again")
	}
	return enclave.DecodeNoise(rec.Noise, len(p.Coords))
}

// release records that this node released its partial (next over rec)
// and, for a release that spends privacy budget, debits its ledger in the
// same transaction, and when settle is set charges the job's escrow for
// the cohort (docs/design.md §6.8) there too: all or nothing. It returns
// the signed debit (nil for an exact release); a debit beyond the ledger
// is FailedPrecondition and releases nothing.
func (n *Node) release(ctx context.Context, c enclave.Charge, settle bool, rec *enclave.PeerRecord, next enclave.PeerRecord) (*cohortv1.PrivacyDebit, error) {
	if c.Rho.IsZero() && !settle {
		return nil, n.savePeerRecord(ctx, rec, next)
	}
	var entries []store.LedgerEntry
	err := n.store.InTx(ctx, func(tx store.Tx) error {
		entries = nil
		if !c.Rho.IsZero() {
			var err error
			if entries, err = tx.DebitPrivacy(ctx, ledgerDebit(c, store.PrivacyDebit{At: n.now()})); err != nil {
				return err
			}
		}
		if settle {
			if _, err := tx.SettleEscrow(ctx, c.JobID, next.Cohort, n.now()); errors.Is(err, store.ErrNotFound) {
				return status.Errorf(codes.FailedPrecondition, "job %s holds no escrow on node %d; nothing was released", c.JobID, n.opts.Index)
			} else if err != nil {
				return fmt.Errorf("settle escrow: %w", err)
			}
		}
		return n.writePeerRecord(ctx, tx, rec, next)
	})
	if _, ok := status.FromError(err); ok && err != nil {
		return nil, err
	}
	if c.Rho.IsZero() && err == nil {
		return nil, nil
	}
	switch {
	case errors.Is(err, store.ErrOverspend):
		n.log.Warn("partial refused: privacy budget", "job", c.JobID, "error", err)
		return nil, n.overspendStatus(c.JobID, err)
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrAlreadyExists):
		return nil, status.Errorf(codes.Aborted, "job %s changed on node %d while this request ran; try again", c.JobID, n.opts.Index)
	case err != nil:
		return nil, n.internal("record released partial", err)
	}
	return n.debitProto(c, entries), nil
}

// preparePeerRecord persists a prepared record; the first time a peer
// prepares a priced job for another coordinator it holds the job's quote
// from the buyer's balance in the same transaction (the coordinator's own
// escrow covers its own node), and a balance that cannot hold it is
// FailedPrecondition with nothing stored.
func (n *Node) preparePeerRecord(ctx context.Context, ds *dataset.Dataset, from uint32, rec *enclave.PeerRecord, next enclave.PeerRecord) error {
	if rec != nil || from == n.opts.Index || !priced(ds) {
		return n.savePeerRecord(ctx, rec, next)
	}
	if next.Buyer == "" {
		return status.Error(codes.InvalidArgument, "buyer_id: required for a job on a priced dataset")
	}
	err := n.store.InTx(ctx, func(tx store.Tx) error {
		if err := n.writePeerRecord(ctx, tx, rec, next); err != nil {
			return err
		}
		if _, err := tx.HoldEscrow(ctx, n.jobEscrow(ds, next.JobID, next.Buyer)); err != nil {
			return n.fundsStatus(next.JobID, err)
		}
		return nil
	})
	if _, ok := status.FromError(err); ok && err != nil {
		return err
	}
	if errors.Is(err, store.ErrConflict) {
		return status.Errorf(codes.Aborted, "job %s changed on node %d while this request ran; try again", next.JobID, n.opts.Index)
	}
	if err != nil {
		return n.internal("record peer job", err)
	}
	return nil
}

// peerRecord reads this node's record of a job, nil if it has none.
func (n *Node) peerRecord(ctx context.Context, jobID string) (*enclave.PeerRecord, error) {
	p, err := n.store.GetPeerJob(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, n.internal("read peer job", err)
	}
	return &enclave.PeerRecord{
		JobID: p.JobID, Coordinator: p.Coordinator, DatasetID: p.DatasetID, SpecDigest: p.SpecDigest, JobTime: p.JobTime,
		SetDigest: p.SetDigest, Cohort: p.Cohort, State: enclave.PeerState(p.State), Partial: p.Partial, Buyer: p.Buyer, Noise: p.Noise,
	}, nil
}

// savePeerRecord persists next over prev (nil: a new record); a record
// another request changed first is Aborted, to be retried.
func (n *Node) savePeerRecord(ctx context.Context, prev *enclave.PeerRecord, next enclave.PeerRecord) error {
	err := n.writePeerRecord(ctx, n.store, prev, next)
	if errors.Is(err, store.ErrConflict) {
		return status.Errorf(codes.Aborted, "job %s changed on node %d while this request ran; try again", next.JobID, n.opts.Index)
	}
	if err != nil {
		return n.internal("record peer job", err)
	}
	return nil
}

// writePeerRecord writes next over prev in q; ErrConflict when the stored
// record is no longer prev.
func (n *Node) writePeerRecord(ctx context.Context, q store.Tx, prev *enclave.PeerRecord, next enclave.PeerRecord) error {
	now := n.now()
	row := store.PeerJob{
		JobID: next.JobID, Coordinator: next.Coordinator, DatasetID: next.DatasetID, SpecDigest: next.SpecDigest, JobTime: next.JobTime,
		SetDigest: next.SetDigest, Cohort: next.Cohort, State: store.PeerJobState(next.State), Partial: next.Partial,
		Buyer: next.Buyer, Noise: next.Noise, CreatedAt: now, UpdatedAt: now,
	}
	if prev == nil {
		existing, err := q.PutPeerJob(ctx, row)
		if err == nil && existing != nil {
			err = store.ErrConflict
		}
		return err
	}
	if prev.State != next.State || prev.SetDigest != next.SetDigest || prev.Cohort != next.Cohort || !bytes.Equal(prev.Noise, next.Noise) {
		return q.UpdatePeerJob(ctx, row, store.PeerJobState(prev.State))
	}
	return nil
}

// SignTranscript signs a transcript only after checking everything in it
// that is this node's (checkTranscript), reading it as its chunks arrive:
// it holds one record at a time, whatever the cohort (docs/design.md
// §7.6). The signature is over the digest of the bytes it read, which
// the blob's SHA-256 must confirm before anything is signed or stored.
func (s *peerService) SignTranscript(stream cohortv1.PeerService_SignTranscriptServer) error {
	n := s.n
	ctx := stream.Context()
	from, _ := callerPeer(ctx)
	release, err := n.signing.acquire(ctx, from)
	if err != nil {
		return err
	}
	defer release()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	next := func() (*cohortv1.Chunk, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return m.GetChunk(), nil
	}
	// A splice leaves out the records section this node wrote itself,
	// which it puts back as the chunks go (splice.go).
	var sp *splicer
	if first.GetSplice() != nil {
		if sp, err = n.splicerFor(first.GetSplice(), next); err != nil {
			return err
		}
		defer sp.done()
		next = sp.chunk
		if first, err = stream.Recv(); err != nil {
			return err
		}
	}
	limit := n.opts.Limits.MaxTranscriptBytes
	src, err := blob.NewReader(first.GetHeader(), limit, next)
	if err != nil {
		return blobStatus(err, first.GetHeader(), limit)
	}
	lim := audit.DefaultLimits()
	lim.MaxBytes = int64(limit)
	// The bytes read are kept once checked, for a publish by signatures.
	tee := n.teeTranscript(src, sp)
	defer tee.discard()
	tr, err := audit.NewTranscriptReader(tee, lim)
	if err != nil {
		return transcriptStatus(err)
	}
	t, c, err := n.checkTranscript(ctx, tr, sp)
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
			n.log.Warn("transcript refused", "job", tr.Header().JobID, "error", err)
		}
		return transcriptStatus(err)
	}
	if err := n.settleSigned(ctx, t.JobID); err != nil {
		return err
	}
	if err := n.putReward(ctx, n.store, t, uint64(tr.Len())); err != nil {
		return err
	}
	tee.keep(n, t.JobID, t.DatasetID, t.Coordinator, c.digest)
	st := audit.TranscriptStatement{JobID: t.JobID, Digest: c.digest, Node: n.opts.Index}
	how := "sent"
	if sp != nil {
		how = "own"
	}
	n.metrics.signed.WithLabelValues(how).Inc()
	return stream.SendAndClose(&cohortv1.SignTranscriptResponse{Signature: n.sign(st.Message())})
}

// transcriptStatus is the status of an error reading a streamed
// transcript: a gRPC status as it is, a malformed stream InvalidArgument,
// anything else (the transport's) as it is.
func transcriptStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, audit.ErrMalformed) || errors.Is(err, blob.ErrMalformed) {
		return status.Errorf(codes.InvalidArgument, "transcript: %v", err)
	}
	return err
}

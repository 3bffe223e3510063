package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// This file is the runtime of a job's round on its coordinator
// (docs/design.md §6.4): it drives an enclave.Coordinator, which decides
// everything, and does what each Ready asks — persist the job's row
// (compare-and-set), deliver messages to the nodes (this one through the
// same peer logic as the others), arm retry timers, build the transcript,
// and commit the release in one store transaction.

// jobRun is one run of a job by its coordinator.
type jobRun struct {
	n    *Node
	job  store.Job
	spec *cohortv1.JobSpec
	sub  *cohortv1.JobSubmission // the buyer's signed submission
	ds   *dataset.Dataset
	be   backend.Backend
	rj   enclave.RoundJob
	c    *enclave.Coordinator

	coords []int
	priv   enclave.Privacy // how the job is released under its dataset's policy
	mech   enclave.Mechanism

	ctx        context.Context // the run's, for the reads Combine makes
	events     chan enclave.Event
	own        *selected // this node's cohort, from its latest answer to MsgPrepare
	comb       backend.Combination
	releasedAt time.Time
	transcript *builtTranscript // once built; its spool file is closed when the run ends
	phases     phaseClock

	// sections holds the records section each peer said it wrote of the
	// cohort with its partial (splice.go), by node index.
	sections struct {
		sync.Mutex
		m map[uint32]*cohortv1.TranscriptRecords
	}
}

// notePeerSection notes the records section peer i wrote (nil: none).
func (r *jobRun) notePeerSection(i uint32, recs *cohortv1.TranscriptRecords) {
	r.sections.Lock()
	defer r.sections.Unlock()
	if r.sections.m == nil {
		r.sections.m = map[uint32]*cohortv1.TranscriptRecords{}
	}
	r.sections.m[i] = recs
}

// peerSection is the records section peer i last said it wrote.
func (r *jobRun) peerSection(i uint32) *cohortv1.TranscriptRecords {
	r.sections.Lock()
	defer r.sections.Unlock()
	return r.sections.m[i]
}

// run drives the job to a final state.
func (r *jobRun) run(ctx context.Context) {
	r.events = make(chan enclave.Event, 4*len(r.n.opts.Members)+4)
	r.ctx = ctx
	r.phases = phaseClock{obs: r.n.metrics.jobPhases}
	r.phases.enter(phaseSelect)
	defer func() { r.transcript.close(); r.own.takeRecords().close() }()
	rd, err := r.begin(ctx)
	for err == nil && r.c != nil {
		var next enclave.Event
		if next, err = r.apply(ctx, rd); err != nil || r.c.Over() {
			break
		}
		if next != nil {
			rd, err = r.c.Step(next)
			continue
		}
		select {
		case ev := <-r.events:
			rd, err = r.c.Step(ev)
			if errors.Is(err, enclave.ErrUnexpected) {
				r.n.log.Warn("job: message ignored", "job", r.job.ID, "error", err)
				rd, err = enclave.Ready{}, nil
			}
		case <-ctx.Done():
			// Cancelled (the buyer's CancelJob already recorded it) or the
			// node is stopping (recover fails it at the next start).
			return
		}
	}
	if err == nil || errors.Is(err, errJobStopped) || ctx.Err() != nil {
		return
	}
	r.n.log.Error("job failed", "job", r.job.ID, "error", err)
	if r.c == nil {
		return
	}
	if rd, err := r.c.Step(enclave.Abort{State: cohortv1.JobState_JOB_STATE_FAILED,
		Reason: "internal error on the coordinating node; nothing was released"}); err == nil {
		if _, err := r.apply(context.WithoutCancel(ctx), rd); err != nil && !errors.Is(err, errJobStopped) {
			r.n.log.Error("job: record final state", "job", r.job.ID, "error", err)
		}
	}
}

// begin checks what the round needs before it starts — a decodable spec,
// a READY dataset, a spec that checks against it — and starts the round;
// a refusal ends the job through the same machine.
func (r *jobRun) begin(ctx context.Context) (enclave.Ready, error) {
	r.rj = enclave.RoundJob{ID: r.job.ID, DatasetID: r.job.DatasetID, Time: r.job.SubmittedAt, Buyer: r.job.Buyer}
	abort := func(st cohortv1.JobState, format string, args ...any) (enclave.Ready, error) {
		c, err := enclave.NewCoordinator(r.config(nil, nil))
		if err != nil {
			return enclave.Ready{}, err
		}
		r.c = c
		return c.Step(enclave.Abort{State: st, Reason: fmt.Sprintf(format, args...)})
	}
	var err error
	if r.spec = specOf(&r.job); r.spec == nil {
		err = errors.New("stored spec does not decode")
	} else {
		r.rj.SpecDigest, err = audit.SpecDigest(r.spec)
	}
	if err != nil {
		r.n.log.Error("job: stored spec", "job", r.job.ID, "error", err)
		return abort(cohortv1.JobState_JOB_STATE_FAILED, "internal error on the coordinating node; nothing was released")
	}
	r.ds, err = r.n.jobDataset(ctx, r.job.DatasetID)
	if err != nil {
		return abort(cohortv1.JobState_JOB_STATE_FAILED, "dataset %q is not usable: %s", r.job.DatasetID, status.Convert(err).Message())
	}
	r.sub = new(cohortv1.JobSubmission)
	if r.job.Submission == nil || proto.Unmarshal(r.job.Submission, r.sub) != nil {
		return abort(cohortv1.JobState_JOB_STATE_FAILED, "the job has no submission signed by its buyer (it was stored before jobs were signed); submit it again")
	}
	if err := enclave.ValidateSpec(r.spec, r.ds.Schema, r.ds.Desc.GetBackend()); err != nil {
		return abort(cohortv1.JobState_JOB_STATE_REJECTED, "spec: %v", err)
	}
	if r.be, err = backend.For(r.ds); err != nil {
		return abort(cohortv1.JobState_JOB_STATE_FAILED, "dataset %q: %v", r.job.DatasetID, err)
	}
	coords, err := enclave.Coordinates(r.ds.Schema.Layout(), r.spec.GetOutputs())
	if err != nil {
		return abort(cohortv1.JobState_JOB_STATE_REJECTED, "outputs: %v", err)
	}
	r.coords = coords
	if r.priv, err = jobPrivacy(r.ds, r.spec); err != nil {
		return abort(cohortv1.JobState_JOB_STATE_REJECTED, "%s", status.Convert(err).Message())
	}
	if r.mech, err = r.priv.Mechanism(rand.Reader); err != nil {
		return abort(cohortv1.JobState_JOB_STATE_FAILED, "release mechanism: %v", err)
	}
	c, err := enclave.NewCoordinator(r.config(coords, r.be))
	if err != nil {
		return enclave.Ready{}, err
	}
	r.c = c
	return c.Step(enclave.Start{})
}

// config is the coordinator's view of the job; be is nil only for a job
// refused before its round (the machine then only records the refusal).
func (r *jobRun) config(coords []int, be backend.Backend) enclave.CoordinatorConfig {
	cfg := enclave.CoordinatorConfig{
		Job: r.rj, Self: r.n.opts.Index, Members: r.n.signingKeys(), Coords: coords,
		Mechanism: enclave.Exact{}, Combiner: r,
		Quorum: enclave.Quorum{Backend: "none", Need: len(r.n.opts.Members), Partial: "partial"},
	}
	if be != nil {
		cfg.Mechanism = r.mech
		cfg.Charge = enclave.Charge{JobID: r.job.ID, DatasetID: r.job.DatasetID, Buyer: r.job.Buyer, Privacy: r.priv}
		cfg.Quorum, cfg.Schema = be.Quorum(), r.ds.Schema
		cfg.MinCohort = enclave.EffectiveMinimum(r.spec, r.ds.Schema)
		cfg.MaxCohort = r.ds.Schema.MaxCohort
		cfg.Outputs = r.spec.GetOutputs()
	}
	return cfg
}

// Combine combines with the backend's combination over this node's own
// cohort, which the transcript then reuses.
func (r *jobRun) Combine(parts map[uint32][]byte) ([]*big.Int, error) {
	if r.own == nil {
		return nil, errors.New("the coordinating node holds no cohort")
	}
	// The cohort as summed for this node's own partial, or summed now if
	// it gave none (an HE coordinator outside the decryption set).
	own, err := r.n.cohortSum(r.ctx, r.be, r.own, r.coords)
	if err != nil {
		return nil, fmt.Errorf("sum the cohort: %w", err)
	}
	r.comb = r.be.Combiner(own, r.own.cohort, r.coords)
	return r.comb.Combine(parts)
}

// apply does what rd asks, in order, and returns the event its local work
// produced (the built transcript, the committed release), if any, to be
// stepped next.
func (r *jobRun) apply(ctx context.Context, rd enclave.Ready) (enclave.Event, error) {
	if rd.Update != nil {
		if err := r.persist(ctx, *rd.Update); err != nil {
			if errors.Is(err, errJobStopped) {
				r.c.Step(enclave.Stopped{}) //nolint:errcheck // the machine only notes it
			}
			return nil, err
		}
	}
	for _, m := range rd.Send {
		switch m.Kind {
		case enclave.MsgPartial:
			r.phases.enter(phasePartial)
		case enclave.MsgSign:
			r.phases.enter(phaseSign)
		}
		r.n.bg.Add(1)
		go func() {
			defer r.n.bg.Done()
			ev := r.deliver(ctx, m)
			select {
			case r.events <- ev:
			case <-ctx.Done():
			}
		}()
	}
	if rd.After > 0 {
		attempt := rd.Attempt
		r.n.log.Info("job: eligible sets differ, selecting again", "job", r.job.ID, "attempt", attempt)
		time.AfterFunc(rd.After, func() {
			select {
			case r.events <- enclave.Tick{Attempt: attempt}:
			case <-ctx.Done():
			}
		})
	}
	if rd.Build != nil {
		r.phases.enter(phaseTranscript)
		built, err := r.buildTranscript(ctx, rd.Build)
		if err != nil {
			return nil, err
		}
		return built, nil
	}
	if rd.Release != nil {
		r.phases.enter(phaseRelease)
		if err := r.commit(ctx, rd.Release); err != nil {
			return nil, err
		}
		return enclave.Committed{}, nil
	}
	return nil, nil
}

// persist writes the round's view of the job (compare-and-set on the
// stored state); errJobStopped when another writer ended the job first.
func (r *jobRun) persist(ctx context.Context, v enclave.JobView) error {
	from := r.job.State
	next := r.job
	next.State, next.Reason, next.Progress = int32(v.State), v.Reason, v.Progress
	next.EligibleRecords, next.CohortSize, next.UpdatedAt = v.EligibleRecords, v.CohortSize, r.n.now()
	if ev := r.evidence(nil); len(ev.GetNodes()) > 0 {
		b, err := proto.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode evidence: %w", err)
		}
		next.Evidence = b
	}
	if enclave.Final(v.State) {
		// A final state is recorded even if the buyer cancels now.
		ctx = context.WithoutCancel(ctx)
	}
	// A final state settles the job's escrow in the same transaction.
	if err := r.n.endJob(ctx, next, from); errors.Is(err, store.ErrConflict) {
		return errJobStopped
	} else if err != nil {
		return fmt.Errorf("update job: %w", err)
	}
	r.job = next
	r.n.jobs.notify(r.job.ID)
	if next.State != from {
		if h := r.n.jobs.hook; h != nil {
			h(r.job.ID, v.State)
		}
		if enclave.Final(v.State) {
			r.ended(v)
			r.n.jobs.ended(r.job.ID, v.State)
		}
	}
	return nil
}

func (r *jobRun) ended(v enclave.JobView) {
	r.n.metrics.jobEvents.WithLabelValues(strings.ToLower(strings.TrimPrefix(v.State.String(), "JOB_STATE_"))).Inc()
	r.n.log.Info("job ended", "job", r.job.ID, "state", v.State.String(), "reason", v.Reason)
}

// deliver sends one message and turns the answer into the machine's event.
func (r *jobRun) deliver(ctx context.Context, m enclave.Message) enclave.Event {
	no := func(err error) enclave.Event {
		code := status.Code(err)
		return enclave.NoAnswer{From: m.To, Kind: m.Kind, Attempt: m.Attempt,
			Unreachable: code == codes.Unavailable || code == codes.DeadlineExceeded, Reason: status.Convert(err).Message()}
	}
	self := m.To == r.n.opts.Index
	switch m.Kind {
	case enclave.MsgPrepare:
		req := &cohortv1.PrepareJobRequest{JobId: r.job.ID, Spec: r.spec, JobTime: r.rj.Time.Unix(), BuyerId: r.job.Buyer, Submission: r.sub}
		var (
			resp *cohortv1.PrepareJobResponse
			sel  *selected
			err  error
		)
		if self {
			resp, sel, err = r.n.prepareJob(ctx, r.n.opts.Index, req)
		} else {
			resp, err = call(ctx, r.n, m.To, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.PrepareJobResponse, error) {
				return c.PrepareJob(ctx, req)
			})
		}
		if err != nil {
			return no(err)
		}
		set := resp.GetSet()
		if len(set.GetDigest()) != 32 {
			return enclave.NoAnswer{From: m.To, Kind: m.Kind, Attempt: m.Attempt, Reason: "it answered without a set digest"}
		}
		if self {
			r.own.takeRecords().close()
			r.own = sel
			// An MPC transcript publishes nothing of a stored share: the
			// coordinator's scan of its shares writes the records too.
			if sel != nil {
				sel.spoolRecords = r.be.Published([]byte{0}) == nil
			}
		}
		return enclave.Prepared{From: m.To, Attempt: m.Attempt, Sig: signatureOf(resp.GetSignature()), Set: enclave.EligibleSet{
			Eligible: set.GetEligible(), Cohort: set.GetCohort(), Digest: [32]byte(set.GetDigest()), Excluded: enclave.ExclusionsOf(set.GetExcluded()),
		}}
	case enclave.MsgPartial:
		req := &cohortv1.ComputePartialRequest{JobId: r.job.ID, Spec: r.spec, JobTime: r.rj.Time.Unix(), SetDigest: m.SetDigest[:],
			DecryptionSet: r.be.DecryptionSet(m.PartialSet)}
		var (
			resp *cohortv1.ComputePartialResponse
			err  error
		)
		if self {
			resp, err = r.n.computePartial(ctx, r.n.opts.Index, req, r.own)
		} else {
			resp, err = call(ctx, r.n, m.To, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
				return c.ComputePartial(ctx, req)
			})
		}
		if err != nil {
			return no(err)
		}
		if !self {
			r.notePeerSection(m.To, resp.GetRecords())
		}
		return enclave.PartialReply{From: m.To, Coordinates: resp.GetCoordinates(), Partial: resp.GetPartial(), Sig: signatureOf(resp.GetSignature()),
			Debit: resp.GetDebit()}
	case enclave.MsgSign:
		if self {
			// The coordinator built the transcript from what it holds.
			return enclave.Signed{From: m.To, Sig: enclave.Signature{Node: m.To, Bytes: attest.Sign(r.n.opts.Signing, r.transcriptStatement(m.To))}}
		}
		resp, err := callWithin(ctx, r.n, m.To, r.n.opts.Limits.PeerTimeout, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
			return signBuilt(ctx, c, r.transcript, r.transcript.spliceFor(r.job.ID, r.peerSection(m.To)), func(err error) {
				r.n.log.Warn("job: a peer refused the transcript with its own records section; sending it whole", "job", r.job.ID, "peer", m.To, "error", err)
			})
		})
		if err != nil {
			return no(err)
		}
		return enclave.Signed{From: m.To, Sig: signatureOf(resp.GetSignature())}
	}
	return enclave.NoAnswer{From: m.To, Kind: m.Kind, Reason: fmt.Sprintf("unknown message %s", m.Kind)}
}

// signatureOf reads a wire signature; a signature of another scheme is
// given no signer, so that it does not verify.
func signatureOf(s *cohortv1.NodeSignature) enclave.Signature {
	if s.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 {
		return enclave.Signature{Node: math.MaxUint32}
	}
	return enclave.Signature{Node: s.GetNodeIndex(), Bytes: s.GetSignature()}
}

func signatureProto(s enclave.Signature) *cohortv1.NodeSignature {
	if s.Bytes == nil {
		return nil
	}
	return &cohortv1.NodeSignature{NodeIndex: s.Node, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: s.Bytes}
}

// evidence is the wire form of what the nodes sent, with the released
// sums once known.
func (r *jobRun) evidence(out *enclave.Outcome) *cohortv1.JobEvidence {
	ev := &cohortv1.JobEvidence{JobTime: r.rj.Time.Unix(), SpecDigest: r.rj.SpecDigest[:]}
	if r.c == nil {
		return ev
	}
	for _, e := range r.c.Evidence() {
		ne := &cohortv1.NodeJobEvidence{NodeIndex: e.Node, SetSignature: signatureProto(e.SetSignature), Set: &cohortv1.EligibleSet{
			Eligible: e.Set.Eligible, Cohort: e.Set.Cohort, Digest: e.Set.Digest[:], Excluded: e.Set.Excluded.Proto(),
		}}
		if e.Partial != nil {
			ne.Partial, ne.PartialDigest, ne.PartialSignature = e.Partial, e.PartialDigest[:], signatureProto(e.PartialSignature)
			ne.Debit = e.Debit
		}
		ev.Nodes = append(ev.Nodes, ne)
	}
	if out != nil {
		ev.Coordinates = make([]uint32, len(out.Coords))
		ev.ReleasedSums = make([]string, len(out.Sums))
		for i := range out.Coords {
			ev.Coordinates[i], ev.ReleasedSums[i] = uint32(out.Coords[i]), out.Sums[i].String()
		}
	}
	return ev
}

// result is the buyer's result of a released outcome.
func (r *jobRun) result(out *enclave.Outcome) *cohortv1.Result {
	b := r.spec.GetBackend()
	if b == cohortv1.Backend_BACKEND_UNSPECIFIED {
		b = r.ds.Desc.GetBackend()
	}
	return &cohortv1.Result{
		JobId: r.job.ID, CohortSize: out.Cohort, Outputs: out.Outputs, ReleasedAt: r.releasedAt.Unix(),
		DatasetId: r.ds.Desc.GetId(), Backend: b, Release: r.priv.ReleaseInfo(r.ds.Schema.Layout(), len(out.PartialSet)),
	}
}

// errJobStopped ends a job's run when another writer (a cancel) moved it
// to a final state.
var errJobStopped = errors.New("job stopped")

// buildTranscript writes the job's transcript from the round's outcome:
// the cohort's records as this node holds them, the registry roots they
// were proved against, every node's evidence, the released sums and the
// result (writeTranscript: to a spool file, one record at a time). Every
// node whose evidence it holds must sign it.
func (r *jobRun) buildTranscript(ctx context.Context, out *enclave.Outcome) (enclave.TranscriptBuilt, error) {
	n := r.n
	ev := r.evidence(out)
	partials := make([][]byte, len(n.opts.Members))
	for _, e := range ev.GetNodes() {
		if int(e.GetNodeIndex()) < len(partials) {
			partials[e.GetNodeIndex()] = e.GetPartial()
		}
	}
	agg, err := r.comb.Aggregate()
	if err != nil {
		return enclave.TranscriptBuilt{}, fmt.Errorf("aggregate: %w", err)
	}
	buyer, err := n.store.GetBuyer(ctx, r.sub.GetBuyerId())
	if err != nil {
		return enclave.TranscriptBuilt{}, fmt.Errorf("read buyer: %w", err)
	}
	r.releasedAt = n.now()
	hdr, err := audit.Build(audit.BuildInput{
		Submission: r.sub, BuyerKey: buyer.PublicKey,
		JobID: r.job.ID, Coordinator: n.opts.Index, Spec: r.spec, Descriptor: r.ds.Desc,
		Evidence: ev, Partials: partials, Result: r.result(out),
		DecryptionSet: r.be.DecryptionSet(out.PartialSet), Aggregate: agg, Buyer: r.job.Buyer,
	})
	if err != nil {
		return enclave.TranscriptBuilt{}, fmt.Errorf("build transcript: %w", err)
	}
	// The records, and the claim root and registry roots they give, are
	// written from the cohort's rows.
	hdr.Records, hdr.ClaimRoot, hdr.Roots = nil, [32]byte{}, nil
	r.transcript.close()
	if r.transcript, err = n.writeTranscript(ctx, hdr, r.own, r.be.Published); err != nil {
		return enclave.TranscriptBuilt{}, err
	}
	signers := make([]uint32, len(hdr.Nodes))
	for k, e := range hdr.Nodes {
		signers[k] = e.Index
	}
	return enclave.TranscriptBuilt{Digest: r.transcript.digest, Signers: signers,
		Statement: func(i uint32) attest.Statement { return r.transcriptStatement(i) }}, nil
}

func (r *jobRun) transcriptStatement(i uint32) audit.TranscriptStatement {
	return audit.TranscriptStatement{JobID: r.job.ID, Digest: r.transcript.digest, Node: i}
}

// commit releases the job: the signed transcript bundle, the result, the
// move to DONE and the transcript owed to every other node commit in one
// store transaction, so a transcript is never published for a job that
// did not release, nor a result without its transcript, and a restart
// before the publish only delays it (notices.go).
func (r *jobRun) commit(ctx context.Context, rel *enclave.Releasing) error {
	n := r.n
	var ceremony []byte
	if r.ds.Desc.GetSetupKind() == cohortv1.SetupKind_SETUP_KIND_CEREMONY {
		keys, err := n.store.GetDatasetKeys(ctx, r.ds.Desc.GetId())
		if err != nil {
			return fmt.Errorf("read ceremony transcript: %w", err)
		}
		ceremony = keys.Transcript
	}
	built := r.transcript
	bundle, err := audit.NewStreamedBundle(built.hdr, built.size, rel.Signatures, r.ds.Desc, ceremony)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	res := r.result(rel.Outcome)
	res.TranscriptId = r.job.ID
	rb, err := proto.Marshal(res)
	if err != nil {
		return err
	}
	evb, err := proto.Marshal(r.evidence(rel.Outcome))
	if err != nil {
		return err
	}
	from := r.job.State
	next := r.job
	next.State, next.Progress, next.UpdatedAt = int32(cohortv1.JobState_JOB_STATE_DONE), "", n.now()
	next.Result, next.TranscriptID, next.Evidence = rb, r.job.ID, evb
	// The release is final: it is recorded even if the buyer cancels now
	// (CancelJob refuses from RELEASING on).
	ctx = context.WithoutCancel(ctx)
	err = n.store.InTx(ctx, func(tx store.Tx) error {
		// The bundle is written around the spool file straight into the
		// store's chunks.
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(bundle.Write(pw, built.reader())) }()
		err := tx.PutTranscriptStream(ctx, store.Transcript{
			ID: r.job.ID, DatasetID: r.ds.Desc.GetId(), Digest: rel.Digest, ReleasedAt: n.now(), CohortSize: rel.Outcome.Cohort,
			CeremonyOffset: uint64(bundle.CeremonyOffset()),
		}, pr)
		pr.CloseWithError(errors.New("the store stopped reading the bundle"))
		if err != nil {
			return fmt.Errorf("store transcript: %w", err)
		}
		if err := n.putReward(ctx, tx, built.hdr, uint64(built.count)); err != nil {
			return err
		}
		if err := tx.UpdateJob(ctx, next, from); err != nil {
			return fmt.Errorf("release job: %w", err)
		}
		if err := n.putJobNotices(ctx, tx, r.job.ID, cohortv1.JobState_JOB_STATE_DONE); err != nil {
			return err
		}
		return n.payJobEnd(ctx, tx, r.job.ID, cohortv1.JobState_JOB_STATE_DONE, rel.Outcome.Cohort)
	})
	if err != nil {
		return err
	}
	r.phases.end()
	r.job = next
	n.jobs.notify(r.job.ID)
	if h := n.jobs.hook; h != nil {
		h(r.job.ID, cohortv1.JobState_JOB_STATE_DONE)
	}
	n.metrics.jobEvents.WithLabelValues("done").Inc()
	n.log.Info("job done", "job", r.job.ID, "cohort", rel.Outcome.Cohort, "outputs", len(rel.Outcome.Outputs))
	r.publish(ctx, rel.Signatures)
	return nil
}

// The phases of a round, in their order, as cohort_job_phase_seconds
// names them: select (PrepareJob on every node, until the eligible sets
// agree), partial (ComputePartial), transcript (built by the coordinator),
// sign (the peers check and sign it) and release (the bundle, result and
// DONE committed; the publish to the peers after it is not counted).
const (
	phaseSelect = iota
	phasePartial
	phaseTranscript
	phaseSign
	phaseRelease
)

var phaseNames = [...]string{"select", "partial", "transcript", "sign", "release"}

// phaseClock times the phases of a round its coordinator runs. It only
// moves forward: a selection made again stays in select. The phase a
// round ends in without releasing is not observed.
type phaseClock struct {
	obs   *prometheus.HistogramVec
	phase int
	since time.Time
}

// enter starts phase p, ending the one before it; a phase not after the
// current one is ignored.
func (c *phaseClock) enter(p int) {
	if c.obs == nil || (!c.since.IsZero() && p <= c.phase) {
		return
	}
	now := time.Now()
	if !c.since.IsZero() {
		c.obs.WithLabelValues(phaseNames[c.phase]).Observe(now.Sub(c.since).Seconds())
	}
	c.phase, c.since = p, now
}

// end ends the last phase; the clock is stopped after.
func (c *phaseClock) end() {
	c.enter(len(phaseNames))
	c.obs = nil
}

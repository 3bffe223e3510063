package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/store"
)

// MaxActiveJobs bounds the jobs one buyer may have running on a node.
const MaxActiveJobs = 16

// agreeAttempts is how often the coordinator selects the cohort again
// when the nodes' digests differ: a contribution or revocation still being
// forwarded when the job starts makes them differ for a moment.
const agreeAttempts = 3

// jobs runs the jobs this node coordinates and wakes their watchers.
type jobs struct {
	n       *Node
	mu      sync.Mutex
	cancel  map[string]context.CancelFunc // running jobs
	changed map[string]chan struct{}      // closed at each change of the job
	// hook, when set (tests only), is called after each state change the
	// runner makes, before the next step.
	hook func(jobID string, state cohortv1.JobState)
}

func newJobs(n *Node) *jobs {
	return &jobs{n: n, cancel: map[string]context.CancelFunc{}, changed: map[string]chan struct{}{}}
}

// watch returns a channel closed at the job's next change.
func (js *jobs) watch(id string) <-chan struct{} {
	js.mu.Lock()
	defer js.mu.Unlock()
	ch, ok := js.changed[id]
	if !ok {
		ch = make(chan struct{})
		js.changed[id] = ch
	}
	return ch
}

// notify wakes the job's watchers.
func (js *jobs) notify(id string) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if ch, ok := js.changed[id]; ok {
		close(ch)
		delete(js.changed, id)
	}
}

func validJobID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func newJobID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "job-" + hex.EncodeToString(b[:]), nil
}

// jobProto is the wire form of a stored job.
func jobProto(j *store.Job) (*cohortv1.Job, error) {
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(j.Spec, spec); err != nil {
		return nil, fmt.Errorf("stored spec: %w", err)
	}
	out := &cohortv1.Job{
		JobId: j.ID, Spec: spec, State: cohortv1.JobState(j.State), Reason: j.Reason, Coordinator: j.Coordinator,
		EligibleRecords: j.EligibleRecords, CohortSize: j.CohortSize, SubmittedAt: j.SubmittedAt.Unix(),
		UpdatedAt: j.UpdatedAt.Unix(), TranscriptId: j.TranscriptID, Progress: j.Progress,
	}
	if len(j.Evidence) > 0 {
		ev := new(cohortv1.JobEvidence)
		if err := proto.Unmarshal(j.Evidence, ev); err != nil {
			return nil, fmt.Errorf("stored evidence: %w", err)
		}
		for _, nd := range ev.GetNodes() {
			if nd.GetNodeIndex() == j.Coordinator {
				out.Excluded = nd.GetSet().GetExcluded()
			}
		}
	}
	return out, nil
}

// buyerService is BuyerService: every call authenticates the buyer, who
// sees only its own jobs.
type buyerService struct {
	cohortv1.UnimplementedBuyerServiceServer
	n *Node
}

func (s *buyerService) ListDatasets(ctx context.Context, req *cohortv1.ListDatasetsRequest) (*cohortv1.ListDatasetsResponse, error) {
	if _, err := s.n.authenticateBuyer(ctx); err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	rows, next, err := s.n.store.ListDatasets(ctx, req.GetPageToken(), size)
	if errors.Is(err, store.ErrInvalid) {
		return nil, status.Error(codes.InvalidArgument, "page_token is malformed")
	}
	if err != nil {
		return nil, s.n.internal("list datasets", err)
	}
	resp := &cohortv1.ListDatasetsResponse{NextPageToken: next}
	for _, r := range rows {
		d := new(cohortv1.DatasetDescriptor)
		if err := proto.Unmarshal(r.Descriptor, d); err != nil {
			return nil, s.n.internal("decode stored dataset", err)
		}
		resp.Datasets = append(resp.Datasets, d)
	}
	return resp, nil
}

func pageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return 20, nil
	case n < 0 || n > 100:
		return 0, status.Errorf(codes.InvalidArgument, "page_size %d: want 1..100", n)
	}
	return int(n), nil
}

func (s *buyerService) SubmitJob(ctx context.Context, req *cohortv1.SubmitJobRequest) (*cohortv1.SubmitJobResponse, error) {
	b, err := s.n.authenticateBuyer(ctx)
	if err != nil {
		return nil, err
	}
	if !validJobID(req.GetRequestId()) {
		return nil, status.Error(codes.InvalidArgument, "request_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	spec := req.GetSpec()
	if spec == nil {
		return nil, status.Error(codes.InvalidArgument, "spec missing")
	}
	ds, err := s.n.jobDataset(ctx, spec.GetDatasetId())
	if err != nil {
		return nil, err
	}
	if err := enclave.ValidateSpec(spec, ds.Schema, ds.Desc.GetBackend()); err != nil {
		return nil, specStatus(err)
	}
	active, _, err := s.n.store.ListJobs(ctx, store.JobFilter{Buyer: b.ID, States: activeStates()}, "", MaxActiveJobs+1)
	if err != nil {
		return nil, s.n.internal("list jobs", err)
	}
	if len(active) >= MaxActiveJobs {
		return nil, status.Errorf(codes.ResourceExhausted, "buyer %q has %d active jobs on this node, the most allowed", b.ID, len(active))
	}
	enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(spec)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "spec: %v", err)
	}
	id, err := newJobID()
	if err != nil {
		return nil, s.n.internal("job id", err)
	}
	now := s.n.now().Truncate(time.Second)
	j := store.Job{
		ID: id, Buyer: b.ID, RequestID: req.GetRequestId(), DatasetID: spec.GetDatasetId(), Spec: enc,
		State: int32(cohortv1.JobState_JOB_STATE_SUBMITTED), Coordinator: s.n.opts.Index,
		SubmittedAt: now, UpdatedAt: now, Progress: "waiting to start",
	}
	existing, err := s.n.store.PutJob(ctx, j)
	if err != nil {
		return nil, s.n.internal("store job", err)
	}
	if existing != nil {
		if !proto.Equal(specOf(existing), spec) {
			return nil, status.Errorf(codes.AlreadyExists, "request_id %q was used for job %s with another spec", req.GetRequestId(), existing.ID)
		}
		out, err := jobProto(existing)
		if err != nil {
			return nil, s.n.internal("stored job", err)
		}
		return &cohortv1.SubmitJobResponse{Job: out}, nil
	}
	s.n.metrics.jobs.WithLabelValues("submitted").Inc()
	s.n.log.Info("job submitted", "job", id, "buyer", b.ID, "dataset", spec.GetDatasetId(), "outputs", len(spec.GetOutputs()))
	s.n.jobs.start(j)
	out, err := jobProto(&j)
	if err != nil {
		return nil, s.n.internal("job", err)
	}
	return &cohortv1.SubmitJobResponse{Job: out}, nil
}

func specOf(j *store.Job) *cohortv1.JobSpec {
	spec := new(cohortv1.JobSpec)
	if proto.Unmarshal(j.Spec, spec) != nil {
		return nil
	}
	return spec
}

// specStatus turns a spec refusal into InvalidArgument naming the field.
func specStatus(err error) error {
	var se *enclave.SpecError
	if errors.As(err, &se) {
		return status.Errorf(codes.InvalidArgument, "spec.%s: %v", se.Field, err)
	}
	return status.Errorf(codes.InvalidArgument, "spec: %v", err)
}

func activeStates() []int32 {
	return []int32{
		int32(cohortv1.JobState_JOB_STATE_SUBMITTED), int32(cohortv1.JobState_JOB_STATE_ADMITTED),
		int32(cohortv1.JobState_JOB_STATE_AGGREGATING), int32(cohortv1.JobState_JOB_STATE_RELEASING),
	}
}

// ownJob returns the buyer's job: NotFound for an unknown id and for
// another buyer's job alike, so ids leak nothing.
func (n *Node) ownJob(ctx context.Context, id string) (*store.Job, error) {
	b, err := n.authenticateBuyer(ctx)
	if err != nil {
		return nil, err
	}
	if !validJobID(id) {
		return nil, status.Error(codes.InvalidArgument, "job_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	j, err := n.store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && j.Buyer != b.ID {
		return nil, status.Errorf(codes.NotFound, "no job %s of yours on node %d (a job lives on the node it was submitted to)", id, n.opts.Index)
	}
	if err != nil {
		return nil, n.internal("read job", err)
	}
	return &j, nil
}

func (s *buyerService) GetJob(ctx context.Context, req *cohortv1.GetJobRequest) (*cohortv1.GetJobResponse, error) {
	j, err := s.n.ownJob(ctx, req.GetJobId())
	if err != nil {
		return nil, err
	}
	out, err := jobProto(j)
	if err != nil {
		return nil, s.n.internal("stored job", err)
	}
	return &cohortv1.GetJobResponse{Job: out}, nil
}

func (s *buyerService) WatchJob(req *cohortv1.WatchJobRequest, stream cohortv1.BuyerService_WatchJobServer) error {
	ctx := stream.Context()
	j, err := s.n.ownJob(ctx, req.GetJobId())
	if err != nil {
		return err
	}
	for {
		changed := s.n.jobs.watch(j.ID)
		row, err := s.n.store.GetJob(ctx, j.ID)
		if err != nil {
			return s.n.internal("read job", err)
		}
		out, err := jobProto(&row)
		if err != nil {
			return s.n.internal("stored job", err)
		}
		if err := stream.Send(&cohortv1.WatchJobResponse{Job: out}); err != nil {
			return err
		}
		if enclave.Final(out.GetState()) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.n.ctx.Done():
			return status.Error(codes.Unavailable, "node is shutting down")
		}
	}
}

func (s *buyerService) ListJobs(ctx context.Context, req *cohortv1.ListJobsRequest) (*cohortv1.ListJobsResponse, error) {
	b, err := s.n.authenticateBuyer(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	f := store.JobFilter{Buyer: b.ID, DatasetID: req.GetDatasetId()}
	for _, st := range req.GetStates() {
		if _, ok := cohortv1.JobState_name[int32(st)]; !ok || st == cohortv1.JobState_JOB_STATE_UNSPECIFIED {
			return nil, status.Errorf(codes.InvalidArgument, "states: %d is not a job state", st)
		}
		f.States = append(f.States, int32(st))
	}
	rows, next, err := s.n.store.ListJobs(ctx, f, req.GetPageToken(), size)
	if errors.Is(err, store.ErrInvalid) {
		return nil, status.Error(codes.InvalidArgument, "page_token is malformed")
	}
	if err != nil {
		return nil, s.n.internal("list jobs", err)
	}
	resp := &cohortv1.ListJobsResponse{NextPageToken: next}
	for i := range rows {
		out, err := jobProto(&rows[i])
		if err != nil {
			return nil, s.n.internal("stored job", err)
		}
		resp.Jobs = append(resp.Jobs, out)
	}
	return resp, nil
}

func (s *buyerService) CancelJob(ctx context.Context, req *cohortv1.CancelJobRequest) (*cohortv1.CancelJobResponse, error) {
	j, err := s.n.ownJob(ctx, req.GetJobId())
	if err != nil {
		return nil, err
	}
	for range 8 {
		from := cohortv1.JobState(j.State)
		if err := enclave.Transition(from, cohortv1.JobState_JOB_STATE_CANCELLED); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "job %s is %s: %v", j.ID, from, err)
		}
		next := *j
		next.State, next.Reason, next.Progress = int32(cohortv1.JobState_JOB_STATE_CANCELLED), "cancelled by the buyer", ""
		next.UpdatedAt = s.n.now()
		err := s.n.store.UpdateJob(ctx, next, int32(from))
		if errors.Is(err, store.ErrConflict) {
			row, err := s.n.store.GetJob(ctx, j.ID) // the runner moved it on: decide again
			if err != nil {
				return nil, s.n.internal("read job", err)
			}
			j = &row
			continue
		}
		if err != nil {
			return nil, s.n.internal("update job", err)
		}
		s.n.jobs.stop(j.ID)
		s.n.jobs.notify(j.ID)
		s.n.metrics.jobs.WithLabelValues("cancelled").Inc()
		s.n.log.Info("job cancelled", "job", j.ID)
		out, err := jobProto(&next)
		if err != nil {
			return nil, s.n.internal("job", err)
		}
		return &cohortv1.CancelJobResponse{Job: out}, nil
	}
	return nil, status.Errorf(codes.Aborted, "job %s kept changing state; try again", j.ID)
}

func (s *buyerService) GetResult(ctx context.Context, req *cohortv1.GetResultRequest) (*cohortv1.GetResultResponse, error) {
	j, err := s.n.ownJob(ctx, req.GetJobId())
	if err != nil {
		return nil, err
	}
	if st := cohortv1.JobState(j.State); st != cohortv1.JobState_JOB_STATE_DONE {
		msg := fmt.Sprintf("job %s is %s, not DONE", j.ID, st)
		if j.Reason != "" {
			msg += ": " + j.Reason
		}
		return nil, status.Error(codes.FailedPrecondition, msg)
	}
	r := new(cohortv1.Result)
	if err := proto.Unmarshal(j.Result, r); err != nil {
		return nil, s.n.internal("stored result", err)
	}
	return &cohortv1.GetResultResponse{Result: r}, nil
}

// start runs a submitted job in the background.
func (js *jobs) start(j store.Job) {
	ctx, cancel := context.WithCancel(js.n.ctx)
	js.mu.Lock()
	js.cancel[j.ID] = cancel
	js.mu.Unlock()
	js.n.bg.Add(1)
	go func() {
		defer js.n.bg.Done()
		defer js.stop(j.ID)
		r := &jobRun{n: js.n, job: j}
		r.run(ctx)
	}()
}

// stop cancels a running job's context.
func (js *jobs) stop(id string) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if c, ok := js.cancel[id]; ok {
		c()
		delete(js.cancel, id)
	}
}

// recover fails the jobs a previous run of this node left unfinished: their
// peers' answers are gone with the process, and the buyer can resubmit.
func (js *jobs) recover(ctx context.Context) error {
	for tok := ""; ; {
		rows, next, err := js.n.store.ListJobs(ctx, store.JobFilter{States: activeStates()}, tok, store.MaxPageSize)
		if err != nil {
			return fmt.Errorf("list unfinished jobs: %w", err)
		}
		for _, j := range rows {
			from := j.State
			j.State, j.Progress, j.UpdatedAt = int32(cohortv1.JobState_JOB_STATE_FAILED), "", js.n.now()
			j.Reason = "the coordinating node restarted while the job ran; nothing was released (submit it again)"
			if err := js.n.store.UpdateJob(ctx, j, from); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("fail unfinished job %s: %w", j.ID, err)
			}
			js.n.log.Warn("unfinished job failed at start", "job", j.ID)
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// jobRun is one run of a job by its coordinator.
type jobRun struct {
	n   *Node
	job store.Job
	ev  cohortv1.JobEvidence

	// HE jobs: the aggregate ciphertext decrypted and who decrypted it.
	heAggregate []byte
	heSet       []uint32
}

// jobFailure is a reason to stop a job in a final state.
type jobFailure struct {
	state  cohortv1.JobState
	reason string
}

func (f *jobFailure) Error() string { return f.reason }

func failed(format string, args ...any) error {
	return &jobFailure{cohortv1.JobState_JOB_STATE_FAILED, fmt.Sprintf(format, args...)}
}

func rejected(format string, args ...any) error {
	return &jobFailure{cohortv1.JobState_JOB_STATE_REJECTED, fmt.Sprintf(format, args...)}
}

// run drives the job to a final state.
func (r *jobRun) run(ctx context.Context) {
	err := r.steps(ctx)
	if err == nil || errors.Is(err, errJobStopped) {
		return
	}
	var f *jobFailure
	if !errors.As(err, &f) {
		if ctx.Err() != nil {
			// Cancelled (the buyer's CancelJob already recorded it) or the
			// node is stopping (recover fails it at the next start).
			return
		}
		r.n.log.Error("job failed", "job", r.job.ID, "error", err)
		f = &jobFailure{cohortv1.JobState_JOB_STATE_FAILED, "internal error on the coordinating node; nothing was released"}
	}
	if err := r.move(context.WithoutCancel(ctx), f.state, func(j *store.Job) { j.Reason = truncate(f.reason, 1024) }); err != nil &&
		!errors.Is(err, errJobStopped) {
		r.n.log.Error("job: record final state", "job", r.job.ID, "error", err)
	}
	r.n.metrics.jobs.WithLabelValues(strings.ToLower(strings.TrimPrefix(f.state.String(), "JOB_STATE_"))).Inc()
	r.n.log.Info("job ended", "job", r.job.ID, "state", f.state.String(), "reason", f.reason)
}

// move changes the job's state (compare-and-set on the stored state) after
// edit; errJobStopped when someone else ended it first.
func (r *jobRun) move(ctx context.Context, to cohortv1.JobState, edit func(*store.Job)) error {
	from := cohortv1.JobState(r.job.State)
	if err := enclave.Transition(from, to); err != nil {
		return fmt.Errorf("job %s: %w", r.job.ID, err)
	}
	next := r.job
	next.State, next.UpdatedAt = int32(to), r.n.now()
	if edit != nil {
		edit(&next)
	}
	if enclave.Final(to) {
		next.Progress = ""
	}
	ev, err := proto.Marshal(&r.ev)
	if err != nil {
		return fmt.Errorf("encode evidence: %w", err)
	}
	if len(r.ev.GetNodes()) > 0 {
		next.Evidence = ev
	}
	if err := r.n.store.UpdateJob(ctx, next, int32(from)); errors.Is(err, store.ErrConflict) {
		return errJobStopped
	} else if err != nil {
		return fmt.Errorf("update job: %w", err)
	}
	r.job = next
	r.n.jobs.notify(r.job.ID)
	if h := r.n.jobs.hook; h != nil {
		h(r.job.ID, to)
	}
	return nil
}

// progress updates the job's progress line without changing its state.
func (r *jobRun) progress(ctx context.Context, format string, args ...any) error {
	next := r.job
	next.Progress, next.UpdatedAt = fmt.Sprintf(format, args...), r.n.now()
	if err := r.n.store.UpdateJob(ctx, next, r.job.State); errors.Is(err, store.ErrConflict) {
		return errJobStopped
	} else if err != nil {
		return fmt.Errorf("update job: %w", err)
	}
	r.job = next
	r.n.jobs.notify(r.job.ID)
	return nil
}

// steps runs ADMITTED → AGGREGATING → RELEASING → DONE, returning a
// *jobFailure for a policy refusal or a failure.
func (r *jobRun) steps(ctx context.Context) error {
	spec := specOf(&r.job)
	if spec == nil {
		return errors.New("stored spec does not decode")
	}
	ds, err := r.n.jobDataset(ctx, r.job.DatasetID)
	if err != nil {
		return failed("dataset %q is not usable: %s", r.job.DatasetID, status.Convert(err).Message())
	}
	if err := enclave.ValidateSpec(spec, ds.Schema, ds.Desc.GetBackend()); err != nil {
		return rejected("spec: %v", err)
	}
	sd, err := audit.SpecDigest(spec)
	if err != nil {
		return err
	}
	at := r.job.SubmittedAt
	r.ev.JobTime, r.ev.SpecDigest = at.Unix(), sd[:]
	if err := r.move(ctx, cohortv1.JobState_JOB_STATE_ADMITTED, func(j *store.Job) {
		j.Progress = fmt.Sprintf("selecting eligible records on %d nodes", len(r.n.opts.Members))
	}); err != nil {
		return err
	}

	own, err := r.agree(ctx, ds, spec, sd, at)
	if err != nil {
		return err
	}
	cohort := own.sel.Cohort()
	if min := enclave.EffectiveMinimum(spec, ds.Schema); cohort < min {
		return rejected("cohort of %d records is below the minimum of %d (%s); nothing was reconstructed", cohort, min, exclusionSummary(own.sel))
	}

	coords, err := enclave.Coordinates(ds.Schema.Layout(), spec.GetOutputs())
	if err != nil {
		return rejected("outputs: %v", err)
	}
	if err := r.move(ctx, cohortv1.JobState_JOB_STATE_AGGREGATING, func(j *store.Job) {
		j.CohortSize = cohort
		j.Progress = fmt.Sprintf("summing %d coordinates over %d records on %d nodes", len(coords), cohort, len(r.n.opts.Members))
	}); err != nil {
		return err
	}
	var sums []*big.Int
	if ds.HE != nil {
		sums, err = r.aggregateHE(ctx, ds, spec, own, coords, own.live)
	} else {
		sums, err = r.aggregate(ctx, ds, spec, own, coords, at)
	}
	if err != nil {
		return err
	}

	if err := r.move(ctx, cohortv1.JobState_JOB_STATE_RELEASING, func(j *store.Job) {
		j.Progress = fmt.Sprintf("computing %d outputs", len(spec.GetOutputs()))
	}); err != nil {
		return err
	}
	outs, err := enclave.Release(ds.Schema, coords, sums, spec.GetOutputs())
	if err != nil {
		return failed("computing the outputs: %v", err)
	}
	r.ev.Coordinates = make([]uint32, len(coords))
	r.ev.Sums = make([][]byte, len(sums))
	for i := range coords {
		r.ev.Coordinates[i], r.ev.Sums[i] = uint32(coords[i]), sums[i].Bytes()
	}
	backend := spec.GetBackend()
	if backend == cohortv1.Backend_BACKEND_UNSPECIFIED {
		backend = ds.Desc.GetBackend()
	}
	result := &cohortv1.Result{
		JobId: r.job.ID, CohortSize: cohort, Outputs: outs, ReleasedAt: r.n.now().Unix(),
		DatasetId: ds.Desc.GetId(), Backend: backend,
	}
	if err := r.progress(ctx, "collecting the nodes' signatures over the transcript"); err != nil {
		return err
	}
	if _, err := r.publishTranscript(ctx, ds, spec, own, result); err != nil {
		return err
	}
	result.TranscriptId = r.job.ID
	res, err := proto.Marshal(result)
	if err != nil {
		return err
	}
	// The release is final: it is recorded even if the buyer cancels now
	// (CancelJob refuses from RELEASING on).
	if err := r.move(context.WithoutCancel(ctx), cohortv1.JobState_JOB_STATE_DONE, func(j *store.Job) {
		j.Result, j.TranscriptID = res, r.job.ID
	}); err != nil {
		return err
	}
	r.n.metrics.jobs.WithLabelValues("done").Inc()
	r.n.log.Info("job done", "job", r.job.ID, "cohort", cohort, "outputs", len(outs))
	return nil
}

// agree selects the cohort on every node and checks that all selected the
// same one, with valid signatures. It retries a few times while digests
// differ, as records in flight settle.
func (r *jobRun) agree(ctx context.Context, ds *dataset.Dataset, spec *cohortv1.JobSpec, sd [32]byte, at time.Time) (*selected, error) {
	var mismatch string
	for attempt := range agreeAttempts {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		own, err := r.n.selectCohort(ctx, ds, r.job.ID, spec, at)
		if err != nil {
			return nil, err
		}
		st := r.n.setStatement(ds, r.job.ID, sd, at, own.sel.Cohort(), own.digest, r.n.opts.Index)
		r.ev.Nodes = []*cohortv1.NodeJobEvidence{{NodeIndex: r.n.opts.Index, Set: own.eligibleSet(), SetSignature: r.n.sign(st.Message())}}
		if err := r.progress(ctx, "comparing eligible sets with %d nodes (%d records eligible)", len(r.n.opts.Members), own.sel.Eligible); err != nil {
			return nil, err
		}
		r.job.EligibleRecords = own.sel.Eligible

		vals, errs := fanOut(ctx, r.n, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.PrepareJobResponse, error) {
			return c.PrepareJob(ctx, &cohortv1.PrepareJobRequest{JobId: r.job.ID, Spec: spec, JobTime: at.Unix()})
		})
		if ds.HE != nil {
			// HE needs only t nodes: leave out those that do not answer.
			if err := unreachableOK(ctx, errs, "select the eligible records", len(vals)+1, ds.HE.Committee.Threshold); err != nil {
				return nil, err
			}
		} else if err := peerErrors(ctx, errs, "select the eligible records"); err != nil {
			return nil, err
		}
		own.live = []uint32{r.n.opts.Index}
		mismatch = ""
		for _, i := range r.n.others() {
			resp, ok := vals[i]
			if !ok {
				continue
			}
			own.live = append(own.live, i)
			set := resp.GetSet()
			if len(set.GetDigest()) != 32 {
				return nil, failed("node %d answered without a set digest", i)
			}
			pst := r.n.setStatement(ds, r.job.ID, sd, at, set.GetCohort(), [32]byte(set.GetDigest()), i)
			if err := r.n.verifySig(i, pst.Message(), resp.GetSignature()); err != nil {
				return nil, failed("node %d's eligible-set signature: %v", i, err)
			}
			r.ev.Nodes = append(r.ev.Nodes, &cohortv1.NodeJobEvidence{NodeIndex: i, Set: set, SetSignature: resp.GetSignature()})
			if [32]byte(set.GetDigest()) != own.digest && mismatch == "" {
				mismatch = fmt.Sprintf("node %d selected %d records (digest %x…), node %d selected %d (digest %x…)",
					r.n.opts.Index, own.sel.Cohort(), own.digest[:4], i, set.GetCohort(), set.GetDigest()[:4])
			}
		}
		slices.SortFunc(r.ev.Nodes, func(a, b *cohortv1.NodeJobEvidence) int { return int(a.GetNodeIndex()) - int(b.GetNodeIndex()) })
		slices.Sort(own.live)
		if mismatch == "" {
			return own, nil
		}
		r.n.log.Info("job: eligible sets differ, selecting again", "job", r.job.ID, "attempt", attempt+1)
	}
	return nil, failed("the nodes disagree on the eligible records after %d attempts (%s); nothing was aggregated", agreeAttempts, mismatch)
}

// aggregate collects every node's partial over the agreed cohort and
// reconstructs the coordinates' sums.
func (r *jobRun) aggregate(ctx context.Context, ds *dataset.Dataset, spec *cohortv1.JobSpec, own *selected, coords []int, at time.Time) ([]*big.Int, error) {
	mine, err := r.n.partial(ds, own, coords)
	if err != nil {
		return nil, err
	}
	enc, err := mine.MarshalBinary()
	if err != nil {
		return nil, err
	}
	st := partialStatement(r.job.ID, own.digest, coords, enc, r.n.opts.Index)
	r.nodeEvidence(r.n.opts.Index).PartialDigest = st.PartialDigest[:]
	r.nodeEvidence(r.n.opts.Index).PartialSignature = r.n.sign(st.Message())
	r.nodeEvidence(r.n.opts.Index).Partial = enc

	vals, errs := fanOut(ctx, r.n, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
		return c.ComputePartial(ctx, &cohortv1.ComputePartialRequest{JobId: r.job.ID, Spec: spec, JobTime: at.Unix(), SetDigest: own.digest[:]})
	})
	if err := peerErrors(ctx, errs, "compute its partial sum"); err != nil {
		return nil, err
	}
	sums := [][]fr.Element{mine.Sum()}
	for _, i := range r.n.others() {
		resp := vals[i]
		p, err := mpc.UnmarshalPartial(resp.GetPartial(), len(coords))
		if err != nil {
			return nil, failed("node %d sent a malformed partial sum: %v", i, err)
		}
		if p.Len() != len(coords) || p.Count() != own.sel.Cohort() {
			return nil, failed("node %d summed %d records over %d coordinates, want %d over %d", i, p.Count(), p.Len(), own.sel.Cohort(), len(coords))
		}
		pst := partialStatement(r.job.ID, own.digest, coords, resp.GetPartial(), i)
		if !slices.Equal(pst.Coordinates, resp.GetCoordinates()) {
			return nil, failed("node %d summed other coordinates than the job needs", i)
		}
		if err := r.n.verifySig(i, pst.Message(), resp.GetSignature()); err != nil {
			return nil, failed("node %d's partial-sum signature: %v", i, err)
		}
		r.nodeEvidence(i).PartialDigest = pst.PartialDigest[:]
		r.nodeEvidence(i).PartialSignature = resp.GetSignature()
		r.nodeEvidence(i).Partial = resp.GetPartial()
		sums = append(sums, p.Sum())
	}
	total, err := mpc.Reconstruct(sums...)
	if err != nil {
		return nil, err
	}
	// Honest sums are far below r (the dataset's bounds were checked at
	// creation); anything at 2^192 or above is a wrong partial.
	out, err := mpc.ToBig(total, new(big.Int).Lsh(big.NewInt(1), 192))
	if err != nil {
		return nil, failed("the reconstructed sums are out of range (a node sent a wrong partial): %v", err)
	}
	return out, nil
}

func (r *jobRun) nodeEvidence(i uint32) *cohortv1.NodeJobEvidence {
	for _, e := range r.ev.Nodes {
		if e.GetNodeIndex() == i {
			return e
		}
	}
	e := &cohortv1.NodeJobEvidence{NodeIndex: i}
	r.ev.Nodes = append(r.ev.Nodes, e)
	return e
}

// peerErrors turns the peers' failures into the job's failure: the MPC
// backend needs a partial from every node.
func peerErrors(ctx context.Context, errs map[uint32]error, what string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	idx := make([]uint32, 0, len(errs))
	for i := range errs {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		err := errs[i]
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded:
			return failed("node %d is unreachable and could not %s (%s); the MPC backend needs every node, nothing was released", i, what, status.Convert(err).Message())
		default:
			return failed("node %d refused to %s: %s; nothing was released", i, what, status.Convert(err).Message())
		}
	}
	return nil
}

// unreachableOK is peerErrors for the HE backend: a refusal still stops
// the job, but unreachable nodes are left out as long as live (the nodes
// that answered, this one included) reaches the threshold t.
func unreachableOK(ctx context.Context, errs map[uint32]error, what string, live, t int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	refusals := map[uint32]error{}
	var down []uint32
	for i, err := range errs {
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded:
			down = append(down, i)
		default:
			refusals[i] = err
		}
	}
	if err := peerErrors(ctx, refusals, what); err != nil {
		return err
	}
	if live < t {
		slices.Sort(down)
		return failed("nodes %v are unreachable and could not %s; %d of %d nodes answered, the HE backend needs %d, nothing was released", down, what, live, live+len(down), t)
	}
	return nil
}

// exclusionSummary says, in counts, why records were left out.
func exclusionSummary(s enclave.Selection) string {
	if x := s.Excluded.String(); x != "" {
		return fmt.Sprintf("%d eligible, %s", s.Eligible, x)
	}
	return fmt.Sprintf("%d eligible", s.Eligible)
}

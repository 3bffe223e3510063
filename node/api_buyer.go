package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/store"
)

// BuyerService: every call authenticates the buyer, who sees only its own
// jobs; a job lives on the node it was submitted to, which coordinates it.

// buyerService is BuyerService: every call authenticates the buyer, who
// sees only its own jobs.
type buyerService struct {
	cohortv1.UnimplementedBuyerServiceServer
	n *Node
}

func (s *buyerService) ListDatasets(ctx context.Context, req *cohortv1.ListDatasetsRequest) (*cohortv1.ListDatasetsResponse, error) {
	if _, err := buyerOf(ctx); err != nil {
		return nil, err
	}
	ds, next, err := s.n.listDatasets(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &cohortv1.ListDatasetsResponse{Datasets: ds, NextPageToken: next}, nil
}

// listDatasets is a page of the node's dataset descriptors, for buyers and
// contributors alike (descriptors are public).
func (n *Node) listDatasets(ctx context.Context, pageSizeReq int32, token string) ([]*cohortv1.DatasetDescriptor, string, error) {
	size, err := pageSize(pageSizeReq)
	if err != nil {
		return nil, "", err
	}
	rows, next, err := n.store.ListDatasets(ctx, token, size)
	if err != nil {
		return nil, "", n.listStatus("list datasets", err)
	}
	out := make([]*cohortv1.DatasetDescriptor, 0, len(rows))
	for _, r := range rows {
		d := new(cohortv1.DatasetDescriptor)
		if err := proto.Unmarshal(r.Descriptor, d); err != nil {
			return nil, "", n.internal("decode stored dataset", err)
		}
		out = append(out, d)
	}
	return out, next, nil
}

func (s *buyerService) SubmitJob(ctx context.Context, req *cohortv1.SubmitJobRequest) (*cohortv1.SubmitJobResponse, error) {
	b, err := buyerOf(ctx)
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
	priv, err := jobPrivacy(ds, spec)
	if err != nil {
		return nil, err
	}
	enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(spec)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "spec: %v", err)
	}
	// The job is the one the buyer signed (docs/design.md §8.2): every
	// node checks the same signature before it prepares the job, and the
	// job id is derived from it.
	sub := req.GetSubmission()
	if sub != nil && (sub.GetBuyerId() != b.ID || sub.GetRequestId() != req.GetRequestId()) {
		return nil, status.Errorf(codes.PermissionDenied, "the submission is signed for buyer %q and request %q, not for this call's buyer %q and request %q",
			truncate(sub.GetBuyerId(), 80), truncate(sub.GetRequestId(), 80), b.ID, req.GetRequestId())
	}
	st, err := s.n.checkSubmission(ctx, ds, spec, sub)
	if err != nil {
		return nil, err
	}
	if err := s.n.checkFresh(sub); err != nil {
		return nil, err
	}
	signed, err := encodeSubmission(sub)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submission: %v", err)
	}
	if len(signed) > store.MaxSubmissionBytes {
		return nil, status.Errorf(codes.InvalidArgument, "submission of %d bytes, at most %d", len(signed), store.MaxSubmissionBytes)
	}
	id := st.JobID()
	now := s.n.now().Truncate(time.Second)
	j := store.Job{
		ID: id, Buyer: b.ID, RequestID: req.GetRequestId(), DatasetID: spec.GetDatasetId(), Spec: enc,
		State: int32(cohortv1.JobState_JOB_STATE_SUBMITTED), Coordinator: s.n.opts.Index,
		SubmittedAt: now, UpdatedAt: now, Progress: "waiting to start", Submission: signed,
	}
	// The cap, the budget quote and the insert are one step in the store,
	// so concurrent submissions (on any replica sharing it) cannot pass it
	// together; a job the budget cannot pay is not stored.
	var (
		existing  *store.Job
		maxCharge uint64
	)
	// The escrow too: a job the buyer's balance cannot hold is not stored.
	err = s.n.store.InTx(ctx, func(tx store.Tx) error {
		var err error
		maxCharge = 0
		if existing, err = tx.AdmitJob(ctx, j, store.JobLimit{Max: MaxActiveJobs, Active: activeStates()}); err != nil || existing != nil {
			return err
		}
		if err := s.n.quote(ctx, tx, ds.Desc.GetId(), b.ID, priv); err != nil {
			return err
		}
		if !priced(ds) {
			return nil
		}
		e, err := tx.HoldEscrow(ctx, s.n.jobEscrow(ds, j.ID, b.ID))
		if err != nil {
			return s.n.fundsStatus(j.ID, err)
		}
		maxCharge = e.Held
		return nil
	})
	if errors.Is(err, store.ErrLimit) {
		return nil, status.Errorf(codes.ResourceExhausted, "buyer %q has %d active jobs on this node, the most allowed", b.ID, MaxActiveJobs)
	}
	if _, ok := status.FromError(err); ok && err != nil {
		return nil, err
	}
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
		resp := &cohortv1.SubmitJobResponse{Job: out}
		if e, err := s.n.store.GetEscrow(ctx, existing.ID); err == nil {
			resp.MaxCharge = e.Held
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, s.n.internal("read escrow", err)
		}
		return resp, nil
	}
	s.n.metrics.jobEvents.WithLabelValues("submitted").Inc()
	s.n.log.Info("job submitted", "job", id, "buyer", b.ID, "dataset", spec.GetDatasetId(), "outputs", len(spec.GetOutputs()), "max_charge", maxCharge)
	s.n.jobs.start(j)
	out, err := jobProto(&j)
	if err != nil {
		return nil, s.n.internal("job", err)
	}
	return &cohortv1.SubmitJobResponse{Job: out, MaxCharge: maxCharge}, nil
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
	var last *cohortv1.Job
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
		if !proto.Equal(out, last) {
			if err := stream.Send(&cohortv1.WatchJobResponse{Job: out}); err != nil {
				return err
			}
			last = out
		}
		if enclave.Final(out.GetState()) {
			return nil
		}
		select {
		case <-changed:
		case <-time.After(watchPoll):
			// Another process sharing the store (a replica of this node)
			// may have moved the job: the stored row is the truth.
		case <-ctx.Done():
			return ctx.Err()
		case <-s.n.ctx.Done():
			return status.Error(codes.Unavailable, "node is shutting down")
		}
	}
}

func (s *buyerService) ListJobs(ctx context.Context, req *cohortv1.ListJobsRequest) (*cohortv1.ListJobsResponse, error) {
	b, err := buyerOf(ctx)
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
	if err != nil {
		return nil, s.n.listStatus("list jobs", err)
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
		err := s.n.endJob(ctx, next, int32(from)) // refunds the job's escrow with the cancel
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
		s.n.jobs.ended(j.ID, cohortv1.JobState_JOB_STATE_CANCELLED)
		s.n.metrics.jobEvents.WithLabelValues("cancelled").Inc()
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

// ownJob returns the buyer's job: NotFound for an unknown id and for
// another buyer's job alike, so ids leak nothing.
func (n *Node) ownJob(ctx context.Context, id string) (*store.Job, error) {
	b, err := buyerOf(ctx)
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

// jobProto is the wire form of a stored job.
func jobProto(j *store.Job) (*cohortv1.Job, error) {
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(j.Spec, spec); err != nil {
		return nil, fmt.Errorf("stored spec: %w", err)
	}
	out := &cohortv1.Job{
		JobId: j.ID, Spec: spec, State: cohortv1.JobState(j.State), Reason: j.Reason, Coordinator: j.Coordinator,
		EligibleRecords: j.EligibleRecords, CohortSize: j.CohortSize, SubmittedAt: apiTime(j.SubmittedAt),
		UpdatedAt: apiTime(j.UpdatedAt), TranscriptId: j.TranscriptID, Progress: j.Progress,
	}
	if rho, err := enclave.SpecRho(spec); err == nil && !rho.IsZero() {
		out.Rho = rho.String()
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

func specOf(j *store.Job) *cohortv1.JobSpec {
	spec := new(cohortv1.JobSpec)
	if proto.Unmarshal(j.Spec, spec) != nil {
		return nil
	}
	return spec
}

// watchPoll is how often WatchJob re-reads a job it has not been told
// about: a change made by another process sharing the store wakes no
// in-process watcher.
const watchPoll = 2 * time.Second

// MaxActiveJobs bounds the jobs one buyer may have running on a node.
const MaxActiveJobs = 16

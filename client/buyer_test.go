package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/client/clienttest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

const testBuyerToken = "cohort-buyer-test-token"

// fakeBuyerService answers BuyerService calls from canned jobs, checking
// the bearer token on each.
type fakeBuyerService struct {
	cohortv1.UnimplementedBuyerServiceServer
	desc     *cohortv1.DatasetDescriptor // the one dataset GetDataset serves; nil for none
	key      *BuyerKey                   // the buyer's key SubmitJob checks; nil to check none
	mu       sync.Mutex
	requests []string          // request ids of SubmitJob calls
	watch    []*cohortv1.Job   // snapshots WatchJob streams
	results  map[string]string // job id → the job id the result names
	jobs     int               // jobs ListJobs pretends to hold
}

func (s *fakeBuyerService) auth(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer "+testBuyerToken {
		return status.Error(codes.Unauthenticated, "bad token")
	}
	return nil
}

func (s *fakeBuyerService) SubmitJob(ctx context.Context, req *cohortv1.SubmitJobRequest) (*cohortv1.SubmitJobResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.requests = append(s.requests, req.GetRequestId())
	s.mu.Unlock()
	if req.GetSpec().GetDatasetId() == "missing" {
		return nil, status.Error(codes.NotFound, "dataset \"missing\" not found")
	}
	if s.key != nil {
		sub := req.GetSubmission()
		sd, _ := audit.SpecDigest(req.GetSpec())
		dd, _ := audit.DescriptorDigest(s.desc)
		st := attest.JobSubmission{Buyer: sub.GetBuyerId(), RequestID: sub.GetRequestId(), DatasetID: req.GetSpec().GetDatasetId(),
			DescriptorDigest: dd, SpecDigest: sd, SubmittedAt: sub.GetSubmittedAt()}
		if sub.GetRequestId() != req.GetRequestId() || sub.GetBuyerId() != s.key.ID || attest.Verify(s.key.Public(), st, sub.GetSignature()) != nil {
			return nil, status.Error(codes.PermissionDenied, "the buyer's signature does not verify")
		}
	}
	return &cohortv1.SubmitJobResponse{Job: &cohortv1.Job{JobId: "job-1", Spec: req.GetSpec(), State: cohortv1.JobState_JOB_STATE_SUBMITTED}}, nil
}

// fakeDatasetService serves the fake's GetDataset on the contributor
// service, as a node does.
type fakeDatasetService struct {
	cohortv1.UnimplementedContributorServiceServer
	s *fakeBuyerService
}

func (f fakeDatasetService) GetDataset(ctx context.Context, req *cohortv1.GetDatasetRequest) (*cohortv1.GetDatasetResponse, error) {
	return f.s.GetDataset(ctx, req)
}

func (s *fakeBuyerService) GetDataset(_ context.Context, req *cohortv1.GetDatasetRequest) (*cohortv1.GetDatasetResponse, error) {
	if s.desc == nil || req.GetDatasetId() != s.desc.GetId() {
		return nil, status.Errorf(codes.NotFound, "dataset %q not found", req.GetDatasetId())
	}
	return &cohortv1.GetDatasetResponse{Dataset: s.desc}, nil
}

func (s *fakeBuyerService) GetJob(ctx context.Context, req *cohortv1.GetJobRequest) (*cohortv1.GetJobResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	id := req.GetJobId()
	if id == "job-other" {
		id = "job-1" // a node answering for another job
	}
	return &cohortv1.GetJobResponse{Job: &cohortv1.Job{JobId: id, State: cohortv1.JobState_JOB_STATE_ADMITTED}}, nil
}

func (s *fakeBuyerService) WatchJob(req *cohortv1.WatchJobRequest, stream cohortv1.BuyerService_WatchJobServer) error {
	if err := s.auth(stream.Context()); err != nil {
		return err
	}
	for _, j := range s.watch {
		if err := stream.Send(&cohortv1.WatchJobResponse{Job: j}); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeBuyerService) ListJobs(ctx context.Context, req *cohortv1.ListJobsRequest) (*cohortv1.ListJobsResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	start := 0
	if req.GetPageToken() != "" {
		fmt.Sscan(req.GetPageToken(), &start)
	}
	resp := &cohortv1.ListJobsResponse{}
	for i := start; i < s.jobs && len(resp.Jobs) < int(req.GetPageSize()); i++ {
		resp.Jobs = append(resp.Jobs, &cohortv1.Job{JobId: fmt.Sprintf("job-%d", i), Spec: &cohortv1.JobSpec{DatasetId: req.GetDatasetId()}})
	}
	if next := start + len(resp.Jobs); next < s.jobs {
		resp.NextPageToken = fmt.Sprint(next)
	}
	return resp, nil
}

func (s *fakeBuyerService) CancelJob(ctx context.Context, req *cohortv1.CancelJobRequest) (*cohortv1.CancelJobResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	if req.GetJobId() == "job-late" {
		return nil, status.Error(codes.FailedPrecondition, "job job-late is RELEASING")
	}
	return &cohortv1.CancelJobResponse{Job: &cohortv1.Job{JobId: req.GetJobId(), State: cohortv1.JobState_JOB_STATE_CANCELLED}}, nil
}

func (s *fakeBuyerService) GetResult(ctx context.Context, req *cohortv1.GetResultRequest) (*cohortv1.GetResultResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	named, ok := s.results[req.GetJobId()]
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "job is AGGREGATING, not DONE")
	}
	r := &cohortv1.Result{JobId: named, CohortSize: 44, Outputs: []*cohortv1.OutputValue{{
		Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Value: &cohortv1.OutputValue_Scalar{Scalar: &cohortv1.Number{Value: 44, Exact: "44"}},
	}}}
	if req.GetJobId() == "job-empty" {
		r.Outputs = append(r.Outputs, &cohortv1.OutputValue{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN})
	}
	return &cohortv1.GetResultResponse{Result: r}, nil
}

// serveBuyer starts the fake on loopback and returns a plaintext buyer
// client for it.
func serveBuyer(t *testing.T, s *fakeBuyerService, token string) *Buyer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cohortv1.RegisterBuyerServiceServer(srv, s)
	cohortv1.RegisterContributorServiceServer(srv, fakeDatasetService{s: s})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	opts := []DialOption{WithInsecure()}
	if s.key != nil {
		opts = append(opts, WithBuyerKey(s.key))
	}
	b, err := DialBuyer(lis.Addr().String(), token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestDialBuyerRefusesTokens(t *testing.T) {
	for _, tok := range []string{"", "with space", "tab\there", "new\nline", "é", strings.Repeat("x", MaxBuyerTokenLen+1)} {
		if b, err := DialBuyer("127.0.0.1:1", tok, WithInsecure()); !errors.Is(err, ErrInvalidOptions) {
			if b != nil {
				b.Close()
			}
			t.Errorf("token %q: %v", tok, err)
		}
	}
	if _, err := DialBuyer("127.0.0.1:1", testBuyerToken); err == nil {
		t.Error("dialled without a transport option")
	}
}

func TestBuyerSubmitAndToken(t *testing.T) {
	key, err := GenerateBuyerKey("lab-1")
	if err != nil {
		t.Fatal(err)
	}
	fed := clienttest.New(t, clienttest.Options{})
	s := &fakeBuyerService{desc: fed.Dataset.Desc, key: key}
	b := serveBuyer(t, s, testBuyerToken)
	ctx := testContext(t)
	spec := &cohortv1.JobSpec{DatasetId: fed.Dataset.Desc.GetId(), Purpose: "public-health"}

	j, err := b.SubmitJob(ctx, spec, "req-fixed")
	if err != nil || j.GetJobId() != "job-1" {
		t.Fatalf("submit: %v, %v", j, err)
	}
	if _, err := b.SubmitJob(ctx, spec, ""); err != nil {
		t.Fatal(err)
	}
	if s.requests[0] != "req-fixed" || !strings.HasPrefix(s.requests[1], "req-") || len(s.requests[1]) != 36 {
		t.Fatalf("request ids %q", s.requests)
	}
	if _, err := b.SubmitJob(ctx, nil, ""); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("nil spec: %v", err)
	}
	_, err = b.SubmitJob(ctx, &cohortv1.JobSpec{DatasetId: "missing"}, "")
	var re *RPCError
	if !errors.As(err, &re) || status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "fetching dataset missing") {
		t.Fatalf("unknown dataset: %v", err)
	}
	// Without a key nothing is sent: a node would refuse an unsigned job.
	unsigned := serveBuyer(t, &fakeBuyerService{desc: fed.Dataset.Desc}, testBuyerToken)
	if _, err := unsigned.SubmitJob(ctx, spec, ""); !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "no buyer key") {
		t.Fatalf("submit without a key: %v", err)
	}

	wrong := serveBuyer(t, s, "cohort-buyer-wrong")
	if _, err := wrong.Job(ctx, "job-1"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestBuyerJobChecksAnswers(t *testing.T) {
	b := serveBuyer(t, &fakeBuyerService{}, testBuyerToken)
	ctx := testContext(t)
	if j, err := b.Job(ctx, "job-7"); err != nil || j.GetState() != cohortv1.JobState_JOB_STATE_ADMITTED {
		t.Fatalf("job: %v, %v", j, err)
	}
	if _, err := b.Job(ctx, "job-other"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("answer for another job: %v", err)
	}
	if j, err := b.Cancel(ctx, "job-3"); err != nil || j.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("cancel: %v, %v", j, err)
	}
	if _, err := b.Cancel(ctx, "job-late"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("late cancel: %v", err)
	}
}

func TestBuyerWatchJob(t *testing.T) {
	state := func(s cohortv1.JobState, progress string) *cohortv1.Job {
		return &cohortv1.Job{JobId: "job-1", State: s, Progress: progress}
	}
	ctx := testContext(t)
	cases := []struct {
		name    string
		stream  []*cohortv1.Job
		seen    int
		final   cohortv1.JobState
		wantErr error
	}{
		{"done", []*cohortv1.Job{
			state(cohortv1.JobState_JOB_STATE_SUBMITTED, "waiting"),
			state(cohortv1.JobState_JOB_STATE_ADMITTED, "selecting"),
			state(cohortv1.JobState_JOB_STATE_AGGREGATING, "summing"),
			state(cohortv1.JobState_JOB_STATE_RELEASING, "computing"),
			state(cohortv1.JobState_JOB_STATE_DONE, ""),
		}, 5, cohortv1.JobState_JOB_STATE_DONE, nil},
		{"rejected", []*cohortv1.Job{
			state(cohortv1.JobState_JOB_STATE_ADMITTED, ""),
			{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_REJECTED, Reason: "cohort of 3 records is below the minimum of 20"},
		}, 2, cohortv1.JobState_JOB_STATE_REJECTED, nil},
		{"ends early", []*cohortv1.Job{state(cohortv1.JobState_JOB_STATE_ADMITTED, "")}, 1, 0, ErrBadResponse},
		{"another job", []*cohortv1.Job{{JobId: "job-2", State: cohortv1.JobState_JOB_STATE_DONE}}, 0, 0, ErrBadResponse},
		{"empty answer", []*cohortv1.Job{nil}, 0, 0, ErrBadResponse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := serveBuyer(t, &fakeBuyerService{watch: tc.stream}, testBuyerToken)
			var seen []cohortv1.JobState
			j, err := b.WatchJob(ctx, "job-1", func(j *cohortv1.Job) { seen = append(seen, j.GetState()) })
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || j != nil {
					t.Fatalf("%v, %v; want %v", j, err, tc.wantErr)
				}
			} else if err != nil || j.GetState() != tc.final {
				t.Fatalf("%v, %v; want %v", j, err, tc.final)
			}
			if len(seen) != tc.seen {
				t.Fatalf("callback saw %v", seen)
			}
		})
	}
}

func TestBuyerJobsPages(t *testing.T) {
	b := serveBuyer(t, &fakeBuyerService{jobs: 250}, testBuyerToken)
	ctx := testContext(t)
	for _, tc := range []struct{ limit, want int }{{0, 100}, {30, 30}, {240, 240}, {1000, 250}} {
		jobs, err := b.Jobs(ctx, JobFilter{DatasetID: "fitness-2026", Limit: tc.limit})
		if err != nil || len(jobs) != tc.want {
			t.Fatalf("limit %d: %d jobs, %v; want %d", tc.limit, len(jobs), err, tc.want)
		}
		for i, j := range jobs {
			if j.GetJobId() != fmt.Sprintf("job-%d", i) || j.GetSpec().GetDatasetId() != "fitness-2026" {
				t.Fatalf("job %d is %v", i, j)
			}
		}
	}
}

func TestBuyerResult(t *testing.T) {
	b := serveBuyer(t, &fakeBuyerService{results: map[string]string{"job-1": "job-1", "job-2": "job-9", "job-empty": "job-empty"}}, testBuyerToken)
	ctx := testContext(t)
	r, err := b.Result(ctx, "job-1")
	if err != nil || r.GetCohortSize() != 44 || r.GetOutputs()[0].GetScalar().GetExact() != "44" {
		t.Fatalf("result: %v, %v", r, err)
	}
	if _, err := b.Result(ctx, "job-2"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("result naming another job: %v", err)
	}
	if _, err := b.Result(ctx, "job-empty"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("output without a value: %v", err)
	}
	if _, err := b.Result(ctx, "job-3"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("unfinished job: %v", err)
	}
}

func TestJobError(t *testing.T) {
	cases := []struct {
		state cohortv1.JobState
		want  error
	}{
		{cohortv1.JobState_JOB_STATE_DONE, nil},
		{cohortv1.JobState_JOB_STATE_AGGREGATING, nil},
		{cohortv1.JobState_JOB_STATE_REJECTED, ErrJobRejected},
		{cohortv1.JobState_JOB_STATE_FAILED, ErrJobFailed},
		{cohortv1.JobState_JOB_STATE_CANCELLED, ErrJobCancelled},
	}
	for _, tc := range cases {
		err := JobError(&cohortv1.Job{JobId: "job-1", State: tc.state, Reason: "because"})
		if tc.want == nil {
			if err != nil {
				t.Errorf("%v: %v", tc.state, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "because") {
			t.Errorf("%v: %v", tc.state, err)
		}
		if !FinalState(tc.state) {
			t.Errorf("%v not final", tc.state)
		}
	}
}

func TestBuyerKeyFile(t *testing.T) {
	k, err := GenerateBuyerKey("lab-1")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/buyer.key"
	if err := WriteBuyerKey(path, k); err != nil {
		t.Fatal(err)
	}
	if err := WriteBuyerKey(path, k); err == nil {
		t.Error("an existing key file was replaced")
	}
	back, err := ReadBuyerKey(path)
	if err != nil || back.ID != k.ID || !back.Private.Equal(k.Private) {
		t.Fatalf("read back: %v, %v", back, err)
	}
	if _, err := GenerateBuyerKey("not/ok"); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("a malformed buyer id: %v", err)
	}
}

package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Sentinel errors of JobError: why a job ended without a result.
var (
	// ErrJobRejected: policy refused the job (Job.reason says why);
	// nothing was reconstructed.
	ErrJobRejected = errors.New("client: job rejected")
	// ErrJobFailed: the job failed (Job.reason says why); nothing was
	// released.
	ErrJobFailed = errors.New("client: job failed")
	// ErrJobCancelled: the buyer cancelled the job.
	ErrJobCancelled = errors.New("client: job cancelled")
)

// Bounds of the buyer API.
const (
	// MaxBuyerTokenLen is the longest bearer token DialBuyer accepts.
	MaxBuyerTokenLen = 256
	// maxListPages bounds the pages Datasets and Jobs follow, so a node
	// that keeps answering with a next page cannot keep the client busy.
	maxListPages = 100
)

// Buyer talks to one node's BuyerService with a buyer's bearer token. A
// job lives on the node it was submitted to: watch it, fetch its result and
// cancel it there. A Buyer is safe for concurrent use.
type Buyer struct {
	c     *Client
	api   cohortv1.BuyerServiceClient
	token string
}

// DialBuyer returns a buyer client for the node at addr with the buyer's
// token (from AdminService.CreateBuyer: "cohort-buyer-…"). The options are
// Dial's: WithCA is required in practice, as the token is sent with every
// call and WithInsecure would expose it to anyone on the path. Like Dial it
// does not connect; the first call does.
func DialBuyer(addr, token string, opts ...DialOption) (*Buyer, error) {
	if token == "" || len(token) > MaxBuyerTokenLen {
		return nil, fmt.Errorf("%w: buyer token of %d bytes, want 1..%d", ErrInvalidOptions, len(token), MaxBuyerTokenLen)
	}
	for _, r := range token {
		if r <= ' ' || r > '~' {
			return nil, fmt.Errorf("%w: buyer token holds a character that is not printable ASCII", ErrInvalidOptions)
		}
	}
	c, err := Dial(addr, opts...)
	if err != nil {
		return nil, err
	}
	return &Buyer{c: c, api: cohortv1.NewBuyerServiceClient(c.conn), token: token}, nil
}

// Address is the node address the buyer was dialled with.
func (b *Buyer) Address() string { return b.c.Address() }

// Close closes the connection.
func (b *Buyer) Close() error { return b.c.Close() }

// auth attaches the bearer token to a call.
func (b *Buyer) auth(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.token)
}

// Datasets lists the federation's datasets, ordered by id, following the
// node's pages.
func (b *Buyer) Datasets(ctx context.Context) ([]*cohortv1.DatasetDescriptor, error) {
	var out []*cohortv1.DatasetDescriptor
	tok := ""
	for range maxListPages {
		resp, err := b.api.ListDatasets(b.auth(ctx), &cohortv1.ListDatasetsRequest{PageSize: 100, PageToken: tok})
		if err != nil {
			return nil, rpcError("listing datasets", err)
		}
		out = append(out, resp.GetDatasets()...)
		if tok = resp.GetNextPageToken(); tok == "" {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: more than %d pages of datasets", ErrBadResponse, maxListPages)
}

// Dataset fetches and checks one dataset's descriptor, as Client.Dataset
// does (the call needs no token).
func (b *Buyer) Dataset(ctx context.Context, datasetID string) (*dataset.Dataset, error) {
	return b.c.Dataset(ctx, datasetID)
}

// CurrentEpoch returns the epoch of the dataset that contains now, by the
// dataset's epoch period. It suits ParseJobSpec's currentEpoch:
//
//	spec, err := client.ParseJobSpec(yaml, func(id string) (uint64, error) { return b.CurrentEpoch(ctx, id) })
func (b *Buyer) CurrentEpoch(ctx context.Context, datasetID string) (uint64, error) {
	ds, err := b.Dataset(ctx, datasetID)
	if err != nil {
		return 0, err
	}
	return ds.Schema.Epoch.Index(time.Now()), nil
}

// NewRequestID returns a fresh idempotency key for SubmitJob: "req-"
// followed by 32 hex digits from crypto/rand.
func NewRequestID() (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("client: request id: %w", err)
	}
	return "req-" + hex.EncodeToString(r[:]), nil
}

// SubmitJob signs a job with the buyer's key (WithBuyerKey) over the
// dataset's descriptor as the node serves it, and submits it. requestID is the idempotency key (1..64 bytes of
// [A-Za-z0-9-]): submitting again with the same key and spec returns the
// same job, which makes a retry after a lost answer safe; "" draws a fresh
// one (NewRequestID). The node validates the spec (InvalidArgument names
// the field) and returns the job in state SUBMITTED or later.
func (b *Buyer) SubmitJob(ctx context.Context, spec *cohortv1.JobSpec, requestID string) (*cohortv1.Job, error) {
	req, err := b.SignedRequest(ctx, spec, requestID)
	if err != nil {
		return nil, err
	}
	resp, err := b.api.SubmitJob(b.auth(ctx), req)
	if err != nil {
		return nil, rpcError("node refused the job", err)
	}
	if resp.GetJob().GetJobId() == "" {
		return nil, fmt.Errorf("%w: submitted job has no id", ErrBadResponse)
	}
	return resp.GetJob(), nil
}

// SignedRequest returns the SubmitJobRequest SubmitJob sends: spec, the
// request id (a fresh one when requestID is empty) and the submission
// signed with the buyer's key (WithBuyerKey). Another HTTP client can send
// it as the body of POST /v1/jobs (docs/design.md §8.6).
func (b *Buyer) SignedRequest(ctx context.Context, spec *cohortv1.JobSpec, requestID string) (*cohortv1.SubmitJobRequest, error) {
	if spec == nil {
		return nil, fmt.Errorf("%w: no job spec", ErrInvalidOptions)
	}
	if requestID == "" {
		var err error
		if requestID, err = NewRequestID(); err != nil {
			return nil, err
		}
	}
	sub, err := b.submission(ctx, spec, requestID)
	if err != nil {
		return nil, err
	}
	return &cohortv1.SubmitJobRequest{Spec: spec, RequestId: requestID, Submission: sub}, nil
}

// Job returns a job as it now stands.
func (b *Buyer) Job(ctx context.Context, jobID string) (*cohortv1.Job, error) {
	resp, err := b.api.GetJob(b.auth(ctx), &cohortv1.GetJobRequest{JobId: jobID})
	if err != nil {
		return nil, rpcError("fetching job "+jobID, err)
	}
	if err := checkJob(resp.GetJob(), jobID); err != nil {
		return nil, err
	}
	return resp.GetJob(), nil
}

// WatchJob follows a job until it reaches a final state and returns it
// then. Each snapshot the node streams (the current state at once, then one
// per change of state or progress) is passed to fn, if not nil, in order.
// A final job is returned with a nil error whatever its state: JobError
// tells a result from a refusal. A stream that ends before a final state
// is an error.
func (b *Buyer) WatchJob(ctx context.Context, jobID string, fn func(*cohortv1.Job)) (*cohortv1.Job, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := b.api.WatchJob(b.auth(ctx), &cohortv1.WatchJobRequest{JobId: jobID})
	if err != nil {
		return nil, rpcError("watching job "+jobID, err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the node ended the watch of job %s before it finished", ErrBadResponse, jobID)
		}
		if err != nil {
			return nil, rpcError("watching job "+jobID, err)
		}
		j := resp.GetJob()
		if err := checkJob(j, jobID); err != nil {
			return nil, err
		}
		if fn != nil {
			fn(j)
		}
		if FinalState(j.GetState()) {
			return j, nil
		}
	}
}

// JobFilter selects jobs for Jobs. The zero value selects every job, up to
// 100.
type JobFilter struct {
	DatasetID string              // only this dataset's jobs; "" for all
	States    []cohortv1.JobState // only jobs in these states; nil for all
	Limit     int                 // at most this many jobs; 0 means 100
}

// Jobs lists the buyer's jobs on this node, newest first.
func (b *Buyer) Jobs(ctx context.Context, f JobFilter) ([]*cohortv1.Job, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []*cohortv1.Job
	tok := ""
	for range maxListPages {
		size := min(limit-len(out), 100)
		resp, err := b.api.ListJobs(b.auth(ctx), &cohortv1.ListJobsRequest{
			States: f.States, DatasetId: f.DatasetID, PageSize: int32(size), PageToken: tok,
		})
		if err != nil {
			return nil, rpcError("listing jobs", err)
		}
		out = append(out, resp.GetJobs()...)
		if tok = resp.GetNextPageToken(); tok == "" || len(out) >= limit {
			if len(out) > limit {
				out = out[:limit]
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: more than %d pages of jobs", ErrBadResponse, maxListPages)
}

// Cancel cancels a job that has not reached RELEASING and returns it,
// CANCELLED. Later the node refuses with FailedPrecondition.
func (b *Buyer) Cancel(ctx context.Context, jobID string) (*cohortv1.Job, error) {
	resp, err := b.api.CancelJob(b.auth(ctx), &cohortv1.CancelJobRequest{JobId: jobID})
	if err != nil {
		return nil, rpcError("node refused to cancel job "+jobID, err)
	}
	if err := checkJob(resp.GetJob(), jobID); err != nil {
		return nil, err
	}
	return resp.GetJob(), nil
}

// Result fetches a DONE job's result; for a job in any other state the node
// answers FailedPrecondition. The result must name the job and carry one
// value per output of the spec; the values themselves are as released.
func (b *Buyer) Result(ctx context.Context, jobID string) (*cohortv1.Result, error) {
	resp, err := b.api.GetResult(b.auth(ctx), &cohortv1.GetResultRequest{JobId: jobID})
	if err != nil {
		return nil, rpcError("fetching the result of job "+jobID, err)
	}
	r := resp.GetResult()
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: no result for job %s", ErrBadResponse, jobID)
	case r.GetJobId() != jobID:
		return nil, fmt.Errorf("%w: asked for the result of job %s, got job %q's", ErrBadResponse, jobID, r.GetJobId())
	}
	for i, o := range r.GetOutputs() {
		if o == nil || o.GetValue() == nil {
			return nil, fmt.Errorf("%w: result of job %s: output %d has no value", ErrBadResponse, jobID, i)
		}
	}
	return r, nil
}

// Budget fetches the buyer's privacy budget on the epochs from..to of a
// dataset, as the node's ledger holds it: the policy, one entry per epoch
// and the most ρ a job over the range could spend now (empty for an exact
// policy).
func (b *Buyer) Budget(ctx context.Context, datasetID string, from, to uint64) (*cohortv1.GetBudgetResponse, error) {
	resp, err := b.api.GetBudget(b.auth(ctx), &cohortv1.GetBudgetRequest{DatasetId: datasetID, EpochFrom: from, EpochTo: to})
	if err != nil {
		return nil, rpcError("fetching the privacy budget on dataset "+datasetID, err)
	}
	if resp.GetPolicy() == nil {
		return nil, fmt.Errorf("%w: no privacy policy for dataset %s", ErrBadResponse, datasetID)
	}
	if n := uint64(len(resp.GetEpochs())); resp.GetAvailableRho() != "" && n != to-from+1 {
		return nil, fmt.Errorf("%w: %d epochs of budget for %d asked", ErrBadResponse, n, to-from+1)
	}
	return resp, nil
}

// Balance fetches the buyer's balance in the node's payment ledger, in
// micro-credits (docs/design.md §6.8), and, when jobID is not empty, what
// that job holds in escrow or was charged (nil for a free job).
func (b *Buyer) Balance(ctx context.Context, jobID string) (*cohortv1.GetBalanceResponse, error) {
	resp, err := b.api.GetBalance(b.auth(ctx), &cohortv1.GetBalanceRequest{JobId: jobID})
	if err != nil {
		return nil, rpcError("fetching the balance", err)
	}
	bal := resp.GetBalance()
	if bal == nil || bal.GetCharged() > bal.GetCredited() || bal.GetHeld() > bal.GetCredited()-bal.GetCharged() ||
		bal.GetAvailable() != bal.GetCredited()-bal.GetCharged()-bal.GetHeld() {
		return nil, fmt.Errorf("%w: inconsistent balance %v", ErrBadResponse, bal)
	}
	return resp, nil
}

// FinalState reports whether a job in state s will not change any more.
func FinalState(s cohortv1.JobState) bool {
	switch s {
	case cohortv1.JobState_JOB_STATE_DONE, cohortv1.JobState_JOB_STATE_REJECTED,
		cohortv1.JobState_JOB_STATE_FAILED, cohortv1.JobState_JOB_STATE_CANCELLED:
		return true
	}
	return false
}

// JobError says why a final job has no result: nil for DONE, and an error
// wrapping ErrJobRejected, ErrJobFailed or ErrJobCancelled with the job's
// reason otherwise. A job not yet final is not an error either.
func JobError(j *cohortv1.Job) error {
	var sentinel error
	switch j.GetState() {
	case cohortv1.JobState_JOB_STATE_REJECTED:
		sentinel = ErrJobRejected
	case cohortv1.JobState_JOB_STATE_FAILED:
		sentinel = ErrJobFailed
	case cohortv1.JobState_JOB_STATE_CANCELLED:
		sentinel = ErrJobCancelled
	default:
		return nil
	}
	if j.GetReason() == "" {
		return fmt.Errorf("%w: job %s", sentinel, j.GetJobId())
	}
	return fmt.Errorf("%w: job %s: %s", sentinel, j.GetJobId(), j.GetReason())
}

func checkJob(j *cohortv1.Job, jobID string) error {
	switch {
	case j == nil:
		return fmt.Errorf("%w: no job in the answer", ErrBadResponse)
	case j.GetJobId() != jobID:
		return fmt.Errorf("%w: asked for job %s, got %q", ErrBadResponse, jobID, j.GetJobId())
	}
	return nil
}

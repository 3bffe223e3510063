package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/enclave/stats/reference"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// releaseFault wraps a node's store: while fail is set, a transaction's
// move of a job to DONE fails after everything else in it was written.
type releaseFault struct {
	store.Store
	fail   atomic.Bool
	failed atomic.Int32
}

func (s *releaseFault) InTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.InTx(ctx, func(tx store.Tx) error {
		if s.fail.Load() {
			return fn(faultyTx{tx, s})
		}
		return fn(tx)
	})
}

type faultyTx struct {
	store.Tx
	s *releaseFault
}

func (tx faultyTx) UpdateJob(ctx context.Context, j store.Job, from int32) error {
	if j.State == int32(cohortv1.JobState_JOB_STATE_DONE) {
		tx.s.failed.Add(1)
		return errors.New("injected: the disk is full")
	}
	return tx.Tx.UpdateJob(ctx, j, from)
}

// buyer creates a buyer with a fresh key pair through node via's admin
// and returns a context carrying its token and its key, with which the
// test connections sign the buyer's SubmitJob calls as client.SubmitJob
// does (signSubmissions).
func (f *testFederation) buyer(t testing.TB, via int, id string) context.Context {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.admin(via).CreateBuyer(adminCtx(), &cohortv1.CreateBuyerRequest{BuyerId: id, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), buyerKeyCtx{}, &testBuyerKey{id: id, key: priv, clock: f.nodes[via].opts.Now})
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+resp.GetToken())
}

type buyerKeyCtx struct{}

// testBuyerKey is a test buyer's signing key, and the clock it signs by:
// the nodes' (a test may move them).
type testBuyerKey struct {
	id    string
	key   ed25519.PrivateKey
	clock func() time.Time
}

func (k *testBuyerKey) now() time.Time {
	if k.clock == nil {
		return time.Now()
	}
	return k.clock()
}

// signSubmissions signs a SubmitJob request that carries no submission
// with the key of the buyer its context names, over the descriptor the
// node serves, as client.SubmitJob does; other calls pass unchanged.
func signSubmissions(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	r, ok := req.(*cohortv1.SubmitJobRequest)
	k, _ := ctx.Value(buyerKeyCtx{}).(*testBuyerKey)
	if ok && k != nil && r.GetSubmission() == nil && r.GetSpec() != nil {
		// A dataset the node does not serve is left to the node to refuse.
		if desc, err := cohortv1.NewContributorServiceClient(cc).GetDataset(ctx, &cohortv1.GetDatasetRequest{DatasetId: r.GetSpec().GetDatasetId()}); err == nil {
			r = proto.Clone(r).(*cohortv1.SubmitJobRequest)
			if r.Submission, err = signSubmission(k, r.GetSpec(), desc.GetDataset(), r.GetRequestId(), k.now()); err != nil {
				return err
			}
			req = r
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// prepareRequest is the PrepareJob request a coordinator holding the
// buyer's genuine submission of spec (request id req) sends: the job id
// is the one the submission names.
func (f *testFederation) prepareRequest(t testing.TB, buyer context.Context, spec *cohortv1.JobSpec, req string, at int64) *cohortv1.PrepareJobRequest {
	t.Helper()
	k := buyer.Value(buyerKeyCtx{}).(*testBuyerKey)
	desc, err := f.contributor(0).GetDataset(context.Background(), &cohortv1.GetDatasetRequest{DatasetId: spec.GetDatasetId()})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := signSubmission(k, spec, desc.GetDataset(), req, k.now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := submissionStatement(sub, spec)
	if err != nil {
		t.Fatal(err)
	}
	return &cohortv1.PrepareJobRequest{JobId: st.JobID(), Spec: spec, JobTime: at, BuyerId: k.id, Submission: sub}
}

// signSubmission is the buyer's signed submission of spec.
func signSubmission(k *testBuyerKey, spec *cohortv1.JobSpec, desc *cohortv1.DatasetDescriptor, requestID string, at time.Time) (*cohortv1.JobSubmission, error) {
	sd, err := audit.SpecDigest(spec)
	if err != nil {
		return nil, err
	}
	dd, err := audit.DescriptorDigest(desc)
	if err != nil {
		return nil, err
	}
	st := attest.JobSubmission{Buyer: k.id, RequestID: requestID, DatasetID: spec.GetDatasetId(), DescriptorDigest: dd, SpecDigest: sd, SubmittedAt: at.Unix()}
	return &cohortv1.JobSubmission{BuyerId: k.id, RequestId: requestID, DescriptorDigest: dd[:], SubmittedAt: at.Unix(), Signature: attest.Sign(k.key, st)}, nil
}

func (f *testFederation) buyerClient(i int) cohortv1.BuyerServiceClient {
	return cohortv1.NewBuyerServiceClient(f.conns[i])
}

// awaitJob follows a job with WatchJob until it ends and returns the states
// seen, in order.
func (f *testFederation) awaitJob(t *testing.T, ctx context.Context, via int, id string) (*cohortv1.Job, []cohortv1.JobState) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w, err := f.buyerClient(via).WatchJob(ctx, &cohortv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	var (
		last   *cohortv1.Job
		states []cohortv1.JobState
	)
	for {
		m, err := w.Recv()
		if err == io.EOF {
			return last, states
		}
		if err != nil {
			t.Fatalf("watch %s: %v", id, err)
		}
		last = m.GetJob()
		if len(states) == 0 || states[len(states)-1] != last.GetState() {
			states = append(states, last.GetState())
		}
	}
}

// jobRecord is one record a job test contributes, and what should become
// of it.
type jobRecord struct {
	rec      schema.Record
	opts     payloadOptions
	revoke   bool
	eligible bool
}

func fitness(age, steps, hr int64, sleep int64, smoker bool, region string) schema.Record {
	return schema.Record{
		"age": schema.IntValue(age), "steps": schema.IntValue(steps), "resting_hr": schema.IntValue(hr),
		"sleep_h": schema.ScaledValue(sleep, 2), "smoker": schema.BoolValue(smoker), "region": schema.CategoryValue(region),
	}
}

// TestJobs runs jobs end to end on a 3-node federation over real gRPC:
// eligibility (revoked, expired, unconsented purpose, epoch outside the
// range and a contributor's own minimum all excluded), results against the
// plaintext, the release policy, buyer isolation, the active-job cap,
// cancellation, refusals by peers (one partial per job) and a node down.
func TestJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	fault := &releaseFault{}
	f := newTestFederation(t, 3, func(o *Options) {
		o.Now = clock
		if o.Index == 0 {
			fault.Store = o.Store
			o.Store = fault
		}
	})
	desc := f.installDataset(t)
	ctx := context.Background()
	s := testSchema()
	cur := s.Epoch.Index(time.Now())
	prev := cur - 1

	records := []jobRecord{
		{rec: fitness(25, 12000, 58, 720, false, "north"), eligible: true},
		{rec: fitness(37, 8000, 64, 655, true, "south"), eligible: true},
		{rec: fitness(52, 4000, 71, 810, false, "east"), eligible: true},
		{rec: fitness(61, 3000, 77, 590, true, "south"), eligible: true},
		{rec: fitness(44, 9500, 60, 700, false, "west"), eligible: true, opts: payloadOptions{minCohort: 5}},
		// Consented only to academic-research (bit 1), not public-health.
		{rec: fitness(30, 1000, 90, 500, false, "north"), opts: payloadOptions{purposes: 0b010}},
		// Revoked after upload.
		{rec: fitness(70, 500, 95, 400, true, "east"), revoke: true},
		// Consent expires in an hour; the job runs two hours later.
		{rec: fitness(19, 20000, 50, 900, false, "west"), opts: payloadOptions{expiry: time.Now().Add(time.Hour)}},
		// The previous epoch, outside the job's range.
		{rec: fitness(88, 100, 99, 300, true, "north"), opts: payloadOptions{epoch: &prev}},
		// Wants a cohort of at least 100.
		{rec: fitness(33, 7000, 66, 680, false, "south"), opts: payloadOptions{minCohort: 100}},
	}
	for i, r := range records {
		c := f.register(t, i%3)
		r.opts.record = r.rec
		p := f.payload(t, c, i%3, r.opts)
		if _, err := f.contributor(i%3).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: p}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.revoke {
			ep := cur
			if r.opts.epoch != nil {
				ep = *r.opts.epoch
			}
			rt := feBytes(circuits.RevocationTokenOf(c.secret, circuits.DatasetField(desc.GetId()), ep))
			if _, err := f.contributor(0).Revoke(ctx, &cohortv1.RevokeRequest{DatasetId: desc.GetId(), RevocationToken: rt[:]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	skew.Store(int64(2 * time.Hour))

	alice := f.buyer(t, 0, "alice")
	bob := f.buyer(t, 1, "bob")
	spec := &cohortv1.JobSpec{
		DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Fields: []string{"sleep_h"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"region"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, Fields: []string{"smoker"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, Fields: []string{"age", "steps"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age"}},
		},
	}
	var eligible []schema.Record
	for _, r := range records {
		if r.eligible {
			eligible = append(eligible, r.rec)
		}
	}

	var doneJob string
	t.Run("result equals the plaintext", func(t *testing.T) {
		sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "stats-1"})
		if err != nil {
			t.Fatal(err)
		}
		job, states := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
			t.Fatalf("job ended %s: %s", job.GetState(), job.GetReason())
		}
		for i := 1; i < len(states); i++ {
			if states[i] < states[i-1] {
				t.Errorf("states went backwards: %v", states)
			}
		}
		doneJob = job.GetJobId()
		x := job.GetExcluded()
		if x.GetPurpose() != 1 || x.GetRevoked() != 1 || x.GetExpired() != 1 || x.GetEpoch() != 1 || x.GetContributorMinimum() != 1 {
			t.Errorf("exclusions %v, want one of each", x)
		}
		if job.GetEligibleRecords() != 6 || job.GetCohortSize() != 5 {
			t.Errorf("eligible %d, cohort %d; want 6 and 5", job.GetEligibleRecords(), job.GetCohortSize())
		}
		res, err := f.buyerClient(0).GetResult(alice, &cohortv1.GetResultRequest{JobId: job.GetJobId()})
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstPlaintext(t, s, res.GetResult(), eligible)
		checkTranscript(t, f, res.GetResult())

		// The same request id and spec is the same job; another spec is refused.
		again, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "stats-1"})
		if err != nil || again.GetJob().GetJobId() != job.GetJobId() {
			t.Errorf("retry: %v, job %s", err, again.GetJob().GetJobId())
		}
		other := &cohortv1.JobSpec{DatasetId: spec.GetDatasetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
			Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
		_, err = f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: other, RequestId: "stats-1"})
		wantCode(t, "request id reused with another spec", err, codes.AlreadyExists)
	})

	t.Run("a release whose commit fails publishes nothing", func(t *testing.T) {
		fault.fail.Store(true)
		defer fault.fail.Store(false)
		carol := f.buyer(t, 0, "carol")
		sub, err := f.buyerClient(0).SubmitJob(carol, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "commit-fails"})
		if err != nil {
			t.Fatal(err)
		}
		id := sub.GetJob().GetJobId()
		job, _ := f.awaitJob(t, carol, 0, id)
		if job.GetState() != cohortv1.JobState_JOB_STATE_FAILED || !strings.Contains(job.GetReason(), "nothing was released") {
			t.Fatalf("job %s: %q", job.GetState(), job.GetReason())
		}
		if fault.failed.Load() == 0 {
			t.Fatal("the injected commit failure never ran")
		}
		if _, err := f.nodes[0].store.GetTranscript(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("transcript of a job whose release failed: %v", err)
		}
		row, err := f.nodes[0].store.GetJob(ctx, id)
		if err != nil || row.Result != nil || row.TranscriptID != "" {
			t.Fatalf("job row after a failed release: result %d bytes, transcript %q (%v)", len(row.Result), row.TranscriptID, err)
		}
		_, err = f.buyerClient(0).GetResult(carol, &cohortv1.GetResultRequest{JobId: id})
		wantCode(t, "result of a job whose release failed", err, codes.FailedPrecondition)
	})

	t.Run("another buyer sees nothing", func(t *testing.T) {
		if doneJob == "" {
			t.Skip("no job")
		}
		bc := f.buyerClient(0)
		_, err := bc.GetJob(bob, &cohortv1.GetJobRequest{JobId: doneJob})
		wantCode(t, "bob's GetJob", err, codes.NotFound)
		_, err = bc.GetResult(bob, &cohortv1.GetResultRequest{JobId: doneJob})
		wantCode(t, "bob's GetResult", err, codes.NotFound)
		_, err = bc.CancelJob(bob, &cohortv1.CancelJobRequest{JobId: doneJob})
		wantCode(t, "bob's CancelJob", err, codes.NotFound)
		w, err := bc.WatchJob(bob, &cohortv1.WatchJobRequest{JobId: doneJob})
		if err == nil {
			_, err = w.Recv()
		}
		wantCode(t, "bob's WatchJob", err, codes.NotFound)
		list, err := bc.ListJobs(bob, &cohortv1.ListJobsRequest{})
		if err != nil || len(list.GetJobs()) != 0 {
			t.Errorf("bob lists %d jobs (%v)", len(list.GetJobs()), err)
		}
		mine, err := bc.ListJobs(alice, &cohortv1.ListJobsRequest{})
		if err != nil || len(mine.GetJobs()) != 1 {
			t.Errorf("alice lists %d jobs (%v), want 1", len(mine.GetJobs()), err)
		}
		_, err = bc.GetJob(context.Background(), &cohortv1.GetJobRequest{JobId: doneJob})
		wantCode(t, "no token", err, codes.Unauthenticated)
		forged := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+BuyerTokenPrefix+"forged")
		_, err = bc.GetJob(forged, &cohortv1.GetJobRequest{JobId: doneJob})
		wantCode(t, "unknown token", err, codes.Unauthenticated)
		// The token works on every node; the job lives on its coordinator.
		_, err = f.buyerClient(2).GetJob(alice, &cohortv1.GetJobRequest{JobId: doneJob})
		wantCode(t, "job on another node", err, codes.NotFound)
		if _, err := f.buyerClient(2).ListDatasets(alice, &cohortv1.ListDatasetsRequest{}); err != nil {
			t.Errorf("alice's token on node 2: %v", err)
		}
	})

	t.Run("below the minimum cohort nothing is reconstructed", func(t *testing.T) {
		big := &cohortv1.JobSpec{DatasetId: spec.GetDatasetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
			MinCohort: 6, Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
		sub, err := f.buyerClient(1).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: big, RequestId: "too-small"})
		if err != nil {
			t.Fatal(err)
		}
		job, states := f.awaitJob(t, alice, 1, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_REJECTED || !strings.Contains(job.GetReason(), "below the minimum of 6") {
			t.Fatalf("job %s: %q", job.GetState(), job.GetReason())
		}
		for _, st := range states {
			if st == cohortv1.JobState_JOB_STATE_AGGREGATING || st == cohortv1.JobState_JOB_STATE_RELEASING {
				t.Errorf("a rejected job went through %s", st)
			}
		}
		row, err := f.nodes[1].store.GetJob(ctx, job.GetJobId())
		if err != nil {
			t.Fatal(err)
		}
		if row.Result != nil {
			t.Error("a rejected job has a result")
		}
		_, err = f.buyerClient(1).GetResult(alice, &cohortv1.GetResultRequest{JobId: job.GetJobId()})
		wantCode(t, "result of a rejected job", err, codes.FailedPrecondition)

		// A peer asked directly refuses to sum below the minimum.
		at := clock().Unix()
		direct := f.prepareRequest(t, alice, big, "direct", at)
		prep, err := call(ctx, f.nodes[0].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.PrepareJobResponse, error) {
			return c.PrepareJob(ctx, direct)
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = call(ctx, f.nodes[0].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
			return c.ComputePartial(ctx, &cohortv1.ComputePartialRequest{JobId: direct.GetJobId(), Spec: big, JobTime: at, SetDigest: prep.GetSet().GetDigest()})
		})
		wantCode(t, "partial below the minimum", err, codes.FailedPrecondition)
	})

	t.Run("peers refuse a partial they did not select", func(t *testing.T) {
		at := clock().Unix()
		call2 := func(req *cohortv1.ComputePartialRequest) error {
			_, err := call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
				return c.ComputePartial(ctx, req)
			})
			return err
		}
		wantCode(t, "wrong set digest", call2(&cohortv1.ComputePartialRequest{JobId: "job-x", Spec: spec, JobTime: at, SetDigest: make([]byte, 32)}), codes.FailedPrecondition)
		wantCode(t, "job time a day off", call2(&cohortv1.ComputePartialRequest{JobId: "job-x", Spec: spec, JobTime: at - 86400}), codes.FailedPrecondition)
		wantCode(t, "no spec", call2(&cohortv1.ComputePartialRequest{JobId: "job-x", JobTime: at}), codes.InvalidArgument)
		bad := &cohortv1.JobSpec{DatasetId: spec.GetDatasetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
			Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"region"}}}}
		wantCode(t, "invalid spec", call2(&cohortv1.ComputePartialRequest{JobId: "job-x", Spec: bad, JobTime: at}), codes.InvalidArgument)
	})

	t.Run("submit refusals", func(t *testing.T) {
		bc := f.buyerClient(0)
		cases := []struct {
			name string
			spec *cohortv1.JobSpec
			code codes.Code
			want string
		}{
			{"unknown dataset", &cohortv1.JobSpec{DatasetId: "nope", Purpose: "public-health",
				Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}, codes.NotFound, "nope"},
			{"mean of a category", &cohortv1.JobSpec{DatasetId: desc.GetId(), Purpose: "public-health",
				Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"region"}}}}, codes.InvalidArgument, "outputs[0]"},
			{"unknown purpose", &cohortv1.JobSpec{DatasetId: desc.GetId(), Purpose: "marketing",
				Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}, codes.InvalidArgument, "purpose"},
			{"no outputs", &cohortv1.JobSpec{DatasetId: desc.GetId(), Purpose: "public-health"}, codes.InvalidArgument, "outputs"},
		}
		for i, c := range cases {
			_, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: c.spec, RequestId: fmt.Sprintf("bad-%d", i)})
			wantCode(t, c.name, err, c.code)
			if !strings.Contains(status.Convert(err).Message(), c.want) {
				t.Errorf("%s: %q does not name %q", c.name, status.Convert(err).Message(), c.want)
			}
		}
		_, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "not/ok"})
		wantCode(t, "bad request id", err, codes.InvalidArgument)
		_, err = bc.SubmitJob(ctx, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "anon"})
		wantCode(t, "no token", err, codes.Unauthenticated)
	})

	t.Run("a buyer's active jobs are capped", func(t *testing.T) {
		// MaxActiveJobs jobs of dave's held at ADMITTED on node 1: the next
		// is refused and recorded nowhere; a retry is still answered.
		const via = 1
		dave := f.buyer(t, via, "dave")
		bc := f.buyerClient(via)
		count := &cohortv1.JobSpec{DatasetId: spec.GetDatasetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
			Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
		held, release := make(chan string, MaxActiveJobs), make(chan struct{})
		f.nodes[via].n.jobs.hook = func(id string, st cohortv1.JobState) {
			if st == cohortv1.JobState_JOB_STATE_ADMITTED {
				held <- id
				<-release
			}
		}
		var released bool
		unblock := func() {
			if !released {
				released = true
				close(release)
			}
		}
		defer func() {
			unblock()
			f.nodes[via].n.jobs.hook = nil
		}()
		var ids []string
		for i := range MaxActiveJobs {
			sub, err := bc.SubmitJob(dave, &cohortv1.SubmitJobRequest{Spec: count, RequestId: fmt.Sprintf("cap-%d", i)})
			if err != nil {
				t.Fatalf("job %d of %d: %v", i+1, MaxActiveJobs, err)
			}
			ids = append(ids, sub.GetJob().GetJobId())
		}
		for range MaxActiveJobs {
			<-held
		}
		listed := func() int {
			t.Helper()
			list, err := bc.ListJobs(dave, &cohortv1.ListJobsRequest{PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(list.GetJobs())
		}

		_, err := bc.SubmitJob(dave, &cohortv1.SubmitJobRequest{Spec: count, RequestId: "cap-over"})
		wantCode(t, "one job over the cap", err, codes.ResourceExhausted)
		wantMessage(t, "one job over the cap", err, `buyer "dave"`, fmt.Sprintf("%d active jobs", MaxActiveJobs))
		if n := listed(); n != MaxActiveJobs {
			t.Errorf("dave lists %d jobs after a refused submission, want %d", n, MaxActiveJobs)
		}
		again, err := bc.SubmitJob(dave, &cohortv1.SubmitJobRequest{Spec: count, RequestId: "cap-0"})
		if err != nil || again.GetJob().GetJobId() != ids[0] {
			t.Errorf("retry of an admitted request at the cap: %v, job %s, want %s", err, again.GetJob().GetJobId(), ids[0])
		}
		if n := listed(); n != MaxActiveJobs {
			t.Errorf("dave lists %d jobs after a retry, want %d", n, MaxActiveJobs)
		}

		unblock()
		for _, id := range ids {
			if job, _ := f.awaitJob(t, dave, via, id); job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
				t.Errorf("held job %s ended %s: %s", id, job.GetState(), job.GetReason())
			}
		}
	})

	t.Run("a peer releases one partial per job", func(t *testing.T) {
		at := clock().Unix()
		prepare := func(peer uint32, req string) (string, []byte) {
			t.Helper()
			pr := f.prepareRequest(t, alice, spec, req, at)
			prep, err := call(ctx, f.nodes[0].n, peer, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.PrepareJobResponse, error) {
				return c.PrepareJob(ctx, pr)
			})
			if err != nil {
				t.Fatalf("prepare %s on node %d: %v", pr.GetJobId(), peer, err)
			}
			return pr.GetJobId(), prep.GetSet().GetDigest()
		}
		partial := func(req *cohortv1.ComputePartialRequest) (*cohortv1.ComputePartialResponse, error) {
			return call(ctx, f.nodes[0].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
				return c.ComputePartial(ctx, req)
			})
		}
		id, digest := prepare(2, "once")
		req := &cohortv1.ComputePartialRequest{JobId: id, Spec: spec, JobTime: at, SetDigest: digest}
		first, err := partial(req)
		if err != nil || len(first.GetPartial()) == 0 {
			t.Fatalf("partial: %v (%d bytes)", err, len(first.GetPartial()))
		}
		again, err := partial(req)
		if err != nil || !bytes.Equal(again.GetPartial(), first.GetPartial()) || !slices.Equal(again.GetCoordinates(), first.GetCoordinates()) {
			t.Fatalf("the same request again: %v, %d bytes, the same: %t", err, len(again.GetPartial()), bytes.Equal(again.GetPartial(), first.GetPartial()))
		}
		rec, err := f.nodes[2].store.GetPeerJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != store.PeerJobPartialReleased || !bytes.Equal(rec.Partial, first.GetPartial()) ||
			rec.Coordinator != 0 || rec.SetDigest != [32]byte(digest) || rec.Cohort != 5 {
			t.Fatalf("node 2's record: %s, coordinator %d, cohort %d, %d bytes released, the partial answered: %t",
				rec.State, rec.Coordinator, rec.Cohort, len(rec.Partial), bytes.Equal(rec.Partial, first.GetPartial()))
		}

		// The same job id with another spec: refused, the record unchanged.
		other := &cohortv1.JobSpec{DatasetId: spec.GetDatasetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
			Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
		_, err = partial(&cohortv1.ComputePartialRequest{JobId: id, Spec: other, JobTime: at, SetDigest: digest})
		wantCode(t, "a partial for the job with another spec", err, codes.FailedPrecondition)
		wantMessage(t, "a partial for the job with another spec", err, id, "another spec")
		after, err := f.nodes[2].store.GetPeerJob(ctx, id)
		if err != nil || after.State != rec.State || !bytes.Equal(after.Partial, rec.Partial) || after.SpecDigest != rec.SpecDigest ||
			after.SetDigest != rec.SetDigest || !after.UpdatedAt.Equal(rec.UpdatedAt) {
			t.Fatalf("node 2's record changed after a refusal: %s, %d bytes (%v)", after.State, len(after.Partial), err)
		}

		// A coordinator that prepared node 1 but never node 2 gets nothing
		// from node 2, whose digest of the cohort is the same.
		unprepared, digest := prepare(1, "unprepared")
		_, err = partial(&cohortv1.ComputePartialRequest{JobId: unprepared, Spec: spec, JobTime: at, SetDigest: digest})
		wantCode(t, "a partial for a job never prepared", err, codes.FailedPrecondition)
		wantMessage(t, "a partial for a job never prepared", err, "node 2 did not prepare job "+unprepared)
		if _, err := f.nodes[2].store.GetPeerJob(ctx, unprepared); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("node 2's record of a job it refused: %v", err)
		}
	})

	t.Run("cancel a running job", func(t *testing.T) {
		held, release := make(chan string, 1), make(chan struct{})
		f.nodes[2].n.jobs.hook = func(id string, st cohortv1.JobState) {
			if st == cohortv1.JobState_JOB_STATE_ADMITTED {
				held <- id
				<-release
			}
		}
		defer func() { f.nodes[2].n.jobs.hook = nil }()
		sub, err := f.buyerClient(2).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "to-cancel"})
		if err != nil {
			t.Fatal(err)
		}
		id := <-held
		c, err := f.buyerClient(2).CancelJob(alice, &cohortv1.CancelJobRequest{JobId: id})
		close(release)
		if err != nil || c.GetJob().GetState() != cohortv1.JobState_JOB_STATE_CANCELLED {
			t.Fatalf("cancel: %v, %s", err, c.GetJob().GetState())
		}
		job, _ := f.awaitJob(t, alice, 2, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED {
			t.Fatalf("job ended %s after a cancel", job.GetState())
		}
		time.Sleep(200 * time.Millisecond) // let the runner notice
		row, err := f.nodes[2].store.GetJob(ctx, id)
		if err != nil || row.State != int32(cohortv1.JobState_JOB_STATE_CANCELLED) || row.Result != nil {
			t.Fatalf("after cancel: state %d, result %d bytes (%v)", row.State, len(row.Result), err)
		}
		_, err = f.buyerClient(0).CancelJob(alice, &cohortv1.CancelJobRequest{JobId: doneJob})
		wantCode(t, "cancel a DONE job", err, codes.FailedPrecondition)
	})

	t.Run("a node down fails the job", func(t *testing.T) {
		f.nodes[1].stop()
		sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "node-down"})
		if err != nil {
			t.Fatal(err)
		}
		job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_FAILED || !strings.Contains(job.GetReason(), "node 1 is unreachable") ||
			!strings.Contains(job.GetReason(), "needs every node") {
			t.Fatalf("job %s: %q", job.GetState(), job.GetReason())
		}
	})
}

// wantMessage checks that err's status message names every one of words.
func wantMessage(t *testing.T, what string, err error, words ...string) {
	t.Helper()
	msg := status.Convert(err).Message()
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: %q does not name %q", what, msg, w)
		}
	}
}

// checkTranscript fetches the job's transcript bundle from its coordinator
// and verifies it offline; it also has a peer refuse to sign the transcript
// with one record dropped.
func checkTranscript(t *testing.T, f *testFederation, res *cohortv1.Result) {
	t.Helper()
	ctx := context.Background()
	bundle := checkBundleVerifies(t, f, res)
	list, err := cohortv1.NewAuditServiceClient(f.conns[0]).ListTranscripts(ctx, &cohortv1.ListTranscriptsRequest{DatasetId: res.GetDatasetId()})
	if err != nil || len(list.GetTranscripts()) != 1 || list.GetTranscripts()[0].GetCohortSize() != res.GetCohortSize() {
		t.Fatalf("ListTranscripts: %v, %v", list, err)
	}

	// A peer checks the records as they stream past: against the witness
	// it took of its cohort when it summed it, or, without one (after a
	// restart), against its rows; and the tail against what they gave.
	const summed = "not the ones this node summed"
	for _, witness := range []bool{true, false} {
		if !witness {
			f.nodes[1].n.witness.drop(res.GetJobId())
		}
		for name, c := range map[string]struct {
			tamper          func(tr *audit.Transcript)
			rows, witnessed string
		}{
			"missing a record": {func(tr *audit.Transcript) { tr.Records = tr.Records[1:] }, "not the cohort this node selected", summed},
			"with a record not stored": {func(tr *audit.Transcript) {
				r := tr.Records[0]
				r.Nullifier = [32]byte{31: 1} // before every stored one
				tr.Records = append([]audit.Record{r}, tr.Records...)
			}, "is not stored here", summed},
			"with a record past the stored ones": {func(tr *audit.Transcript) {
				r := tr.Records[0]
				r.Nullifier = [32]byte{0: 0x30, 1: 0x64, 2: 0x4e, 3: 0x72} // after every stored one
				tr.Records = append(tr.Records, r)
			}, "is not stored here", summed},
			"with a changed proof": {func(tr *audit.Transcript) {
				tr.Records[1].Proof = bytes.Clone(tr.Records[1].Proof)
				tr.Records[1].Proof[5] ^= 1
			}, "differs from the one stored here", summed},
			"without its records' roots": {func(tr *audit.Transcript) { tr.Roots = nil }, "not among its registry roots", "not among its registry roots"},
		} {
			b := mustBundle(t, bundle)
			c.tamper(b.Transcript)
			enc, err := b.Transcript.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			_, err = call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
				return signTranscriptBytes(ctx, c, enc)
			})
			what := fmt.Sprintf("sign a transcript %s (witness: %t)", name, witness)
			wantCode(t, what, err, codes.FailedPrecondition)
			if witness {
				wantMessage(t, what, err, c.witnessed)
			} else {
				wantMessage(t, what, err, c.rows)
			}
		}
		// The transcript as released is signed either way.
		enc, err := mustBundle(t, bundle).Transcript.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
			return signTranscriptBytes(ctx, c, enc)
		}); err != nil {
			t.Fatalf("the released transcript is not signed again (witness: %t): %v", witness, err)
		}
	}
	// A stream whose bytes are not its header's, or that ends early, is
	// refused before anything is signed.
	enc, err := mustBundle(t, bundle).Transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	lying := blob.Header(enc)
	lying.Sha256[0] ^= 1
	_, err = call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
		return signTranscript(ctx, c, lying, bytes.NewReader(enc))
	})
	wantCode(t, "sign a transcript whose bytes are not its header's", err, codes.InvalidArgument)
	_, err = call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
		return signTranscript(ctx, c, blob.Header(enc), bytes.NewReader(enc[:len(enc)/2]))
	})
	wantCode(t, "sign a transcript cut short", err, codes.InvalidArgument)
	checkPublished(t, f, res, bundle)
}

// checkPublished checks that every node that took part in a job node 0
// coordinated serves its transcript, the same bundle as node 0's, and
// that a peer stores only the coordinator's bundle with every signature.
func checkPublished(t *testing.T, f *testFederation, res *cohortv1.Result, bundle []byte) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i < len(f.nodes); i++ {
		// The coordinator publishes right after the job is DONE.
		var got store.Transcript
		var err error
		for range 100 {
			if got, err = f.nodes[i].store.GetTranscript(ctx, res.GetJobId()); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil || !bytes.Equal(got.Bundle, bundle) {
			t.Fatalf("node %d's transcript of job %s: %v (the coordinator's bundle: %t)", i, res.GetJobId(), err, bytes.Equal(got.Bundle, bundle))
		}
		list, err := cohortv1.NewAuditServiceClient(f.conns[i]).ListTranscripts(ctx, &cohortv1.ListTranscriptsRequest{DatasetId: res.GetDatasetId()})
		if err != nil || !slices.ContainsFunc(list.GetTranscripts(), func(ti *cohortv1.TranscriptInfo) bool { return ti.GetTranscriptId() == res.GetJobId() }) {
			t.Fatalf("node %d does not list job %s: %v, %v", i, res.GetJobId(), list, err)
		}
	}
	// Node 1 may not publish node 0's job; nor node 0 a bundle missing a
	// signature. Node 2 keeps what it had.
	_, err := call(ctx, f.nodes[1].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.PublishTranscriptResponse, error) {
		return publishBundleBytes(ctx, c, bundle)
	})
	wantCode(t, "a transcript published by another node than its coordinator", err, codes.PermissionDenied)
	b, err := audit.UnmarshalBundle(bundle, audit.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	b.Signatures[2] = b.Signatures[1]
	forged, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(ctx, f.nodes[0].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.PublishTranscriptResponse, error) {
		return publishBundleBytes(ctx, c, forged)
	})
	wantCode(t, "a transcript with a signature that does not verify", err, codes.FailedPrecondition)
	wantMessage(t, "a transcript with a signature that does not verify", err, "node 2's signature does not verify")
	if got, err := f.nodes[2].store.GetTranscript(ctx, res.GetJobId()); err != nil || !bytes.Equal(got.Bundle, bundle) {
		t.Fatalf("node 2's transcript changed after refusals: %v", err)
	}
}

// mustBundle decodes a bundle.
func mustBundle(t *testing.T, enc []byte) *audit.Bundle {
	t.Helper()
	b, err := audit.UnmarshalBundle(enc, audit.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fetchBundle fetches a transcript's bundle, with or without its ceremony,
// from the node conn reaches.
func fetchBundle(t *testing.T, conn *grpc.ClientConn, id string, withoutCeremony bool) []byte {
	t.Helper()
	st, err := cohortv1.NewAuditServiceClient(conn).GetTranscript(context.Background(), &cohortv1.GetTranscriptRequest{TranscriptId: id, WithoutCeremony: withoutCeremony})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := blob.Receive(first.GetHeader(), 1<<30, func() (*cohortv1.Chunk, error) {
		m, err := st.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

// checkBundleVerifies fetches a released job's transcript bundle from node
// 0 and verifies it offline; it returns the bundle.
func checkBundleVerifies(t *testing.T, f *testFederation, res *cohortv1.Result) []byte {
	t.Helper()
	if res.GetTranscriptId() != res.GetJobId() {
		t.Fatalf("transcript id %q", res.GetTranscriptId())
	}
	bundle := fetchBundle(t, f.conns[0], res.GetTranscriptId(), false)
	rep := audit.VerifyEncoded(bundle, audit.DefaultLimits(), audit.AllowInsecureDevSetup())
	if !rep.OK() {
		t.Fatalf("the transcript does not verify:\n%s", rep)
	}
	return bundle
}

// checkAgainstPlaintext compares a result of TestJobs's spec with the same
// statistics computed from the records by package reference, in exact
// rationals: the count, the mean and the variance must match exactly, and
// every released float64 must be within a relative 1e-9 of the exact
// value rounded once.
func checkAgainstPlaintext(t *testing.T, s *schema.Schema, res *cohortv1.Result, recs []schema.Record) {
	t.Helper()
	ref, err := reference.New(s, recs)
	if err != nil {
		t.Fatal(err)
	}
	must := func(x *big.Rat, err error) *big.Rat {
		t.Helper()
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		return x
	}
	close := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	exact := func(what string, got *cohortv1.Number, want *big.Rat) {
		t.Helper()
		if got.GetExact() != want.RatString() {
			t.Errorf("%s exact %s, want %s", what, got.GetExact(), want.RatString())
		}
		w, _ := want.Float64()
		close(what, got.GetValue(), w)
	}
	outs := res.GetOutputs()
	if res.GetCohortSize() != uint64(ref.Len()) || len(outs) != 7 {
		t.Fatalf("cohort %d with %d outputs", res.GetCohortSize(), len(outs))
	}
	exact("count", outs[0].GetScalar(), big.NewRat(int64(ref.Len()), 1))
	exact("mean age", outs[1].GetScalar(), must(ref.Mean("age")))
	exact("variance sleep_h", outs[2].GetScalar(), must(ref.Variance("sleep_h")))
	for _, h := range []struct {
		i     int
		field string
	}{{3, "region"}, {4, "smoker"}} {
		i, field := h.i, h.field
		want, err := ref.Histogram(field)
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		var total uint64
		for _, b := range outs[i].GetHistogram().GetBins() {
			if b.GetCount() != want[b.GetValue()] {
				t.Errorf("%s %s: %d, want %d", field, b.GetValue(), b.GetCount(), want[b.GetValue()])
			}
			total += b.GetCount()
		}
		if total != uint64(ref.Len()) {
			t.Errorf("histogram of %s counts %d records, want %d", field, total, ref.Len())
		}
	}
	m := outs[5].GetMatrix().GetEntries()
	if len(m) != 4 {
		t.Fatalf("correlation matrix of %d entries, want 2×2", len(m))
	}
	r, err := ref.Correlation("age", "steps")
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	close("corr(age, steps)", m[1].GetValue(), r)
	reg := outs[6].GetRegression()
	fit, err := ref.LinearRegression("resting_hr", []string{"age"}, 0)
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	if len(reg.GetCoefficients()) != 1 {
		t.Fatalf("regression with %d coefficients, want 1", len(reg.GetCoefficients()))
	}
	close("slope", reg.GetCoefficients()[0], fit.Coefficients[0])
	close("intercept", reg.GetIntercept(), fit.Intercept)
	close("R²", reg.GetR2(), fit.R2)
}

package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// Buyer-signed job submissions (docs/design.md §8.2): every node checks
// the buyer's own signature over a job before it selects anything for it,
// so a node cannot run a job no buyer asked for under an existing buyer's
// name, nor reuse a submission for another job.

// How far a submission's time may lie from a node's clock when the node
// first prepares the job: a signed submission is good for MaxSubmissionAge.
const (
	MaxSubmissionAge  = time.Hour
	MaxSubmissionSkew = 5 * time.Minute
)

// submissionStatement is the statement sub signs for spec.
func submissionStatement(sub *cohortv1.JobSubmission, spec *cohortv1.JobSpec) (attest.JobSubmission, error) {
	sd, err := audit.SpecDigest(spec)
	if err != nil {
		return attest.JobSubmission{}, status.Errorf(codes.InvalidArgument, "spec: %v", err)
	}
	if len(sub.GetDescriptorDigest()) != 32 {
		return attest.JobSubmission{}, status.Errorf(codes.InvalidArgument, "submission: descriptor_digest of %d bytes, want 32", len(sub.GetDescriptorDigest()))
	}
	return attest.JobSubmission{
		Buyer: sub.GetBuyerId(), RequestID: sub.GetRequestId(), DatasetID: spec.GetDatasetId(),
		DescriptorDigest: [32]byte(sub.GetDescriptorDigest()), SpecDigest: sd, SubmittedAt: sub.GetSubmittedAt(),
	}, nil
}

// checkSubmission checks a job's signed submission: present, by a buyer
// this node stores with a public key, signed by that key over the spec
// and this node's descriptor of the dataset. It returns the statement;
// the job id it names is st.JobID(). It checks no freshness (see
// checkFresh) and stores nothing.
func (n *Node) checkSubmission(ctx context.Context, ds *dataset.Dataset, spec *cohortv1.JobSpec, sub *cohortv1.JobSubmission) (attest.JobSubmission, error) {
	if sub == nil || len(sub.GetSignature()) == 0 {
		return attest.JobSubmission{}, status.Errorf(codes.Unauthenticated, "node %d refuses a job that carries no submission signed by its buyer", n.opts.Index)
	}
	if !validBuyerID(sub.GetBuyerId()) || !validJobID(sub.GetRequestId()) {
		return attest.JobSubmission{}, status.Error(codes.InvalidArgument, "submission: buyer_id or request_id malformed")
	}
	st, err := submissionStatement(sub, spec)
	if err != nil {
		return attest.JobSubmission{}, err
	}
	b, err := n.store.GetBuyer(ctx, sub.GetBuyerId())
	if errors.Is(err, store.ErrNotFound) {
		return attest.JobSubmission{}, status.Errorf(codes.PermissionDenied, "buyer %q is not known to node %d", sub.GetBuyerId(), n.opts.Index)
	}
	if err != nil {
		return attest.JobSubmission{}, n.internal("read buyer", err)
	}
	if len(b.PublicKey) != ed25519.PublicKeySize {
		return attest.JobSubmission{}, status.Errorf(codes.PermissionDenied,
			"buyer %q has no public key on node %d, so it cannot submit jobs; create the account again with a key", b.ID, n.opts.Index)
	}
	want, err := audit.DescriptorDigest(ds.Desc)
	if err != nil {
		return attest.JobSubmission{}, n.internal("descriptor digest", err)
	}
	if st.DescriptorDigest != want {
		return attest.JobSubmission{}, status.Errorf(codes.FailedPrecondition,
			"the submission names another descriptor of dataset %q than node %d holds", spec.GetDatasetId(), n.opts.Index)
	}
	if err := attest.Verify(b.PublicKey, st, sub.GetSignature()); err != nil {
		return attest.JobSubmission{}, status.Errorf(codes.PermissionDenied, "buyer %q's signature over the job does not verify on node %d: %v", b.ID, n.opts.Index, err)
	}
	return st, nil
}

// checkFresh refuses a submission signed more than MaxSubmissionAge ago
// or more than MaxSubmissionSkew ahead of this node's clock.
func (n *Node) checkFresh(sub *cohortv1.JobSubmission) error {
	at, now := time.Unix(sub.GetSubmittedAt(), 0), n.now()
	if at.Before(now.Add(-MaxSubmissionAge)) || at.After(now.Add(MaxSubmissionSkew)) {
		return status.Errorf(codes.FailedPrecondition, "the submission was signed at %s, not within %s of node %d's clock; submit the job again",
			at.UTC().Format(time.RFC3339), MaxSubmissionAge, n.opts.Index)
	}
	return nil
}

// encodeSubmission is the stored form of a submission.
func encodeSubmission(sub *cohortv1.JobSubmission) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(sub)
}

// checkPrepareSubmission checks a PrepareJob's submission before anything
// is selected or stored (docs/design.md §8.2): signed by the buyer named
// as the job's, for this spec and this node's descriptor, naming this job
// id; fresh when the job is new here; and not prepared here already by
// another coordinator (a submission names one job, run by the node the
// buyer submitted it to).
func (n *Node) checkPrepareSubmission(ctx context.Context, from uint32, req *cohortv1.PrepareJobRequest) error {
	ds, err := n.jobDataset(ctx, req.GetSpec().GetDatasetId())
	if err != nil {
		return err
	}
	st, err := n.checkSubmission(ctx, ds, req.GetSpec(), req.GetSubmission())
	if err != nil {
		return err
	}
	if st.Buyer != req.GetBuyerId() {
		return status.Errorf(codes.PermissionDenied, "job %s is charged to buyer %q, but buyer %q signed it", truncate(req.GetJobId(), 80), truncate(req.GetBuyerId(), 80), st.Buyer)
	}
	if id := st.JobID(); id != req.GetJobId() {
		return status.Errorf(codes.PermissionDenied, "the buyer's submission names job %s, not %s", id, truncate(req.GetJobId(), 80))
	}
	rec, err := n.peerRecord(ctx, req.GetJobId())
	if err != nil {
		return err
	}
	if rec == nil {
		return n.checkFresh(req.GetSubmission())
	}
	if rec.Coordinator != from {
		return status.Errorf(codes.AlreadyExists, "node %d prepared job %s for coordinator %d already: a submission is run once", n.opts.Index, rec.JobID, rec.Coordinator)
	}
	return nil
}

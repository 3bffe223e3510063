package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// Transcripts on every node that took part (docs/design.md §9.1): once a
// job is released, its coordinator hands the signed bundle to every other
// node of the dataset; each checks it and stores it, so that its
// AuditService serves the job too and no coordinator alone can hide or
// lose a released job. A coordinator that does not publish cannot keep a
// peer from knowing the job happened: the peer's own record of the job
// (what it prepared and released, and the debit it signed) stays.

// publish hands the job's bundle to every other node now; a node that
// does not take it is sent it again every second, across restarts, until
// it confirms (notices.go). The job is released either way.
func (r *jobRun) publish(ctx context.Context) {
	r.n.sendJobNotices(ctx, r.n.jobNotices(r.job.ID, cohortv1.JobState_JOB_STATE_DONE))
}

// publishTranscript streams a stored bundle to a peer from the store's
// chunks.
func (n *Node) publishTranscript(ctx context.Context, c cohortv1.PeerServiceClient, t store.Transcript) (*cohortv1.PublishTranscriptResponse, error) {
	st, err := c.PublishTranscript(ctx)
	if err != nil {
		return nil, err
	}
	err = n.sendStoredBundle(ctx, t, false, func(hd *cohortv1.BlobHeader) error {
		return st.Send(&cohortv1.PublishTranscriptRequest{Part: &cohortv1.PublishTranscriptRequest_Header{Header: hd}})
	}, func(ch *cohortv1.Chunk) error {
		return st.Send(&cohortv1.PublishTranscriptRequest{Part: &cohortv1.PublishTranscriptRequest_Chunk{Chunk: ch}})
	})
	if err != nil {
		return nil, err
	}
	return st.CloseAndRecv()
}

// PublishTranscript stores a released job's bundle from its coordinator
// after checking it against this node's own record of the job. The
// bundle is spooled to a file as it arrives, read from there as a stream
// (audit.ReadBundleStream) and stored in chunks: nothing of it is held
// whole (docs/design.md §7.6).
func (s *peerService) PublishTranscript(stream cohortv1.PeerService_PublishTranscriptServer) error {
	n := s.n
	ctx := stream.Context()
	from, _ := callerPeer(ctx)
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	limit := n.opts.Limits.MaxTranscriptBytes
	src, err := blob.NewReader(first.GetHeader(), limit, func() (*cohortv1.Chunk, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return m.GetChunk(), nil
	})
	if err != nil {
		return blobStatus(err, first.GetHeader(), limit)
	}
	f, err := n.spoolFile("bundle-")
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := io.Copy(f, src)
	if err != nil {
		return transcriptStatus(err)
	}
	lim := audit.DefaultLimits()
	lim.MaxBytes = int64(limit)
	sb, err := audit.ReadBundleStream(f, size, lim)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "bundle: %v", err)
	}
	t := sb.Bundle.Transcript
	if err := n.checkPublished(ctx, from, sb); err != nil {
		n.log.Warn("published transcript refused", "job", t.JobID, "from", from, "error", err)
		return err
	}
	released := n.now()
	res := new(cohortv1.Result)
	if proto.Unmarshal(t.Result, res) == nil && res.GetReleasedAt() > 0 {
		released = time.Unix(res.GetReleasedAt(), 0)
	}
	err = n.store.PutTranscriptStream(ctx, store.Transcript{
		ID: t.JobID, DatasetID: t.DatasetID, Digest: sb.Digest, ReleasedAt: released, CohortSize: uint64(sb.Records),
		CeremonyOffset: uint64(sb.CeremonyOffset()),
	}, io.NewSectionReader(f, 0, size))
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Errorf(codes.AlreadyExists, "node %d holds another transcript of job %s", n.opts.Index, t.JobID)
	case err != nil:
		return n.internal("store published transcript", err)
	}
	n.log.Info("transcript stored", "job", t.JobID, "coordinator", from)
	return stream.SendAndClose(&cohortv1.PublishTranscriptResponse{})
}

// checkPublished checks a published bundle: from the job's coordinator,
// for a job this node prepared for it with the same dataset and spec,
// over this node's descriptor, every signature verifying under the
// nodes' keys (this node's own among them when it is a signer).
func (n *Node) checkPublished(ctx context.Context, from uint32, sb *audit.StreamedBundle) error {
	b, digest := sb.Bundle, sb.Digest
	t := b.Transcript
	if t.Coordinator != from {
		return status.Errorf(codes.PermissionDenied, "node %d publishes the transcript of job %s, which node %d coordinated", from, t.JobID, t.Coordinator)
	}
	refuse := func(format string, args ...any) error {
		return status.Errorf(codes.FailedPrecondition, "node %d will not store the transcript of %s: "+format, append([]any{n.opts.Index, t.JobID}, args...)...)
	}
	rec, err := n.peerRecord(ctx, t.JobID)
	if err != nil {
		return err
	}
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(t.Spec, spec); err != nil {
		return refuse("the spec does not decode")
	}
	sd, err := audit.SpecDigest(spec)
	if err != nil {
		return refuse("%v", err)
	}
	if rec == nil || rec.Coordinator != from || rec.DatasetID != t.DatasetID || rec.SpecDigest != sd {
		return refuse("this node did not prepare that job for node %d", from)
	}
	ds, err := n.jobDataset(ctx, t.DatasetID)
	if err != nil {
		return err
	}
	own, err := audit.DescriptorDigest(ds.Desc)
	if err != nil {
		return n.internal("descriptor digest", err)
	}
	mine, err := proto.MarshalOptions{Deterministic: true}.Marshal(ds.Desc)
	if err != nil {
		return n.internal("descriptor", err)
	}
	if t.DescriptorDigest != own || !bytes.Equal(b.Descriptor, mine) {
		return refuse("its dataset descriptor is not this node's")
	}
	if len(b.Signatures) != len(t.Nodes) {
		return refuse("%d signatures for %d nodes", len(b.Signatures), len(t.Nodes))
	}
	for k, e := range t.Nodes {
		if int(e.Index) >= len(n.opts.Members) {
			return refuse("node %d is not a member", e.Index)
		}
		st := audit.TranscriptStatement{JobID: t.JobID, Digest: digest, Node: e.Index}
		if attest.Verify(n.opts.Members[e.Index].Signing, st, b.Signatures[k]) != nil {
			return refuse("node %d's signature does not verify", e.Index)
		}
	}
	return nil
}

package node

import (
	"bytes"
	"context"
	"crypto/sha256"
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

// publish hands the job's bundle to every other node now, by its
// signatures sigs (the release's) where the node kept the transcript; a
// node that does not take it is sent it again every second, across
// restarts, until it confirms (notices.go). The job is released either
// way.
func (r *jobRun) publish(ctx context.Context, sigs [][]byte) {
	r.n.sendJobNotices(ctx, r.n.jobNotices(r.job.ID, cohortv1.JobState_JOB_STATE_DONE), sigs)
}

// publishTranscript publishes a stored bundle to a peer: by its
// signatures first (SignedTranscript; sigs as publishSignatures takes
// them), which a peer that kept the
// transcript it signed rebuilds the bundle from; whole, streamed from the
// store's chunks, when the peer keeps no such transcript (NotFound) or
// cannot rebuild this bundle from it (FailedPrecondition: it then says
// why, or refuses the whole bundle as it would have).
func (n *Node) publishTranscript(ctx context.Context, c cohortv1.PeerServiceClient, t store.Transcript, sigs [][]byte) (*cohortv1.PublishTranscriptResponse, error) {
	resp, err := n.publishSignatures(ctx, c, t, sigs)
	switch code := status.Code(err); code {
	case codes.NotFound, codes.FailedPrecondition:
		n.log.Debug("publish the whole bundle", "job", t.ID, "by-signatures", status.Convert(err).Message())
		return n.publishBundle(ctx, c, t)
	}
	return resp, err
}

// publishSignatures publishes a stored bundle by its signatures: sigs,
// the ones the bundle was written with, or, when nil, read from the
// store.
func (n *Node) publishSignatures(ctx context.Context, c cohortv1.PeerServiceClient, t store.Transcript, sigs [][]byte) (*cohortv1.PublishTranscriptResponse, error) {
	if sigs == nil {
		var err error
		if sigs, err = n.storedSignatures(ctx, t); err != nil {
			return nil, err
		}
	}
	hd := bundleHeader(t)
	st, err := c.PublishTranscript(ctx)
	if err != nil {
		return nil, err
	}
	err = st.Send(&cohortv1.PublishTranscriptRequest{Part: &cohortv1.PublishTranscriptRequest_Signed{Signed: &cohortv1.SignedTranscript{
		Bundle: hd, JobId: t.ID, Digest: t.Digest[:], Signatures: sigs,
	}}})
	if err != nil {
		return nil, err
	}
	return st.CloseAndRecv()
}

// storedSignatures reads the signatures of a stored bundle: its bytes up
// to them, the transcript's passed over as the store gives them.
func (n *Node) storedSignatures(ctx context.Context, t store.Transcript) ([][]byte, error) {
	lim := audit.DefaultLimits()
	lim.MaxBytes = int64(n.opts.Limits.MaxTranscriptBytes)
	var sigs [][]byte
	var err error
	if t.BundleSize == 0 {
		sigs, err = audit.ReadBundleSignatures(bytes.NewReader(t.Bundle), lim)
	} else {
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(n.store.ReadTranscriptBundle(ctx, t.ID, t.CeremonyOffset, func(chunk []byte) error {
				_, err := pw.Write(chunk)
				return err
			}))
		}()
		sigs, err = audit.ReadBundleSignatures(pr, lim)
		pr.CloseWithError(errors.New("the signatures are read"))
		<-done
	}
	if err != nil {
		return nil, n.internal("read the stored bundle's signatures", err)
	}
	return sigs, nil
}

// publishBundle streams a stored bundle to a peer from the store's
// chunks.
func (n *Node) publishBundle(ctx context.Context, c cohortv1.PeerServiceClient, t store.Transcript) (*cohortv1.PublishTranscriptResponse, error) {
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

// Forms of a published bundle, as the peer's metric counts them.
const (
	publishedWhole      = "bundle"
	publishedSignatures = "signatures"
)

// PublishTranscript stores a released job's bundle from its coordinator
// after checking it against this node's own record of the job. The
// bundle is spooled to a file as it arrives, or read around the
// transcript this node kept when it signed it, with the signatures the
// coordinator sends (SignedTranscript), without a copy; either way it is
// read as a stream (audit.ReadBundleStream) and stored in chunks: nothing
// of it is held whole (docs/design.md §7.6, §9.1).
func (s *peerService) PublishTranscript(stream cohortv1.PeerService_PublishTranscriptServer) error {
	n := s.n
	ctx := stream.Context()
	from, _ := callerPeer(ctx)
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if sg := first.GetSigned(); sg != nil {
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			if err == nil {
				return status.Error(codes.InvalidArgument, "a transcript published by its signatures is the stream's only message")
			}
			return err
		}
		if err := n.storeSigned(ctx, from, sg); err != nil {
			return err
		}
		return stream.SendAndClose(&cohortv1.PublishTranscriptResponse{})
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
	if err := n.storePublished(ctx, from, f, size, publishedWhole, nil); err != nil {
		return err
	}
	return stream.SendAndClose(&cohortv1.PublishTranscriptResponse{})
}

// storeSigned rebuilds the bundle sg describes from the transcript this
// node kept when it signed it, its own descriptor and ceremony and sg's
// signatures, requires it to be the coordinator's byte for byte, and
// stores it as a bundle sent whole (storePublished). The transcript stays
// kept unless the bundle is stored. A publish of the same transcript that
// arrives meanwhile (the coordinator's retry loop can overlap its first
// publish) is Aborted, to be retried once this one stored the bundle,
// rather than sent the whole bundle.
func (n *Node) storeSigned(ctx context.Context, from uint32, sg *cohortv1.SignedTranscript) error {
	hd, jobID := sg.GetBundle(), sg.GetJobId()
	limit := n.opts.Limits.MaxTranscriptBytes
	switch {
	case !validJobID(jobID):
		return status.Error(codes.InvalidArgument, "signed.job_id: want 1..64 bytes of [A-Za-z0-9-]")
	case len(sg.GetDigest()) != sha256.Size:
		return status.Errorf(codes.InvalidArgument, "signed.digest: %d bytes, want %d", len(sg.GetDigest()), sha256.Size)
	}
	if err := blob.CheckHeader(hd, limit); err != nil {
		return blobStatus(err, hd, limit)
	}
	digest := [32]byte(sg.GetDigest())
	rec, err := n.peerRecord(ctx, jobID)
	if err != nil {
		return err
	}
	if rec != nil && rec.Coordinator != from {
		return status.Errorf(codes.PermissionDenied, "node %d publishes the transcript of job %s, which node %d coordinated", from, jobID, rec.Coordinator)
	}
	held, err := n.store.GetTranscriptInfo(ctx, jobID)
	switch {
	case err == nil && held.Digest != digest:
		return status.Errorf(codes.AlreadyExists, "node %d holds another transcript of job %s", n.opts.Index, jobID)
	case err == nil && heldBundle(held, hd):
		return nil // published before
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return n.internal("read transcript", err)
	}
	k, busy := n.kept.take(jobID, digest)
	switch {
	case busy:
		return status.Errorf(codes.Aborted, "node %d is storing the transcript of job %s from another publish; try again", n.opts.Index, jobID)
	case k == nil:
		return status.Errorf(codes.NotFound, "node %d keeps no transcript of job %s with digest %x…; send the bundle", n.opts.Index, jobID, digest[:4])
	}
	stored := false
	defer func() { n.kept.release(k, stored) }()
	if k.coordinator != from {
		return status.Errorf(codes.PermissionDenied, "node %d publishes the transcript of job %s, which node %d coordinated", from, jobID, k.coordinator)
	}
	refuse := func(format string, args ...any) error {
		return status.Errorf(codes.FailedPrecondition, "node %d will not store the transcript of %s: "+format, append([]any{n.opts.Index, jobID}, args...)...)
	}
	ds, err := n.jobDataset(ctx, k.datasetID)
	if err != nil {
		return err
	}
	var ceremony []byte
	if ds.Desc.GetSetupKind() == cohortv1.SetupKind_SETUP_KIND_CEREMONY {
		keys, err := n.store.GetVerifyingKey(ctx, ds.Desc.GetId())
		if err != nil {
			return n.internal("read ceremony transcript", err)
		}
		ceremony = keys.Transcript
	}
	parts, err := audit.NewBundleParts(sg.GetSignatures(), ds.Desc, ceremony)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "signed: %v", err)
	}
	if size := parts.Size(k.size); size != int64(hd.GetTotalSize()) {
		return refuse("the bundle rebuilt from the transcript it signed has %d bytes, the coordinator's %d", size, hd.GetTotalSize())
	}
	// The bundle is read where its bytes lie, around the kept files,
	// without a copy of its own: once for its SHA-256, once to store it.
	enc, err := parts.Encoding(k.encoding())
	if err != nil {
		return n.internal("rebuild the published bundle", err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(enc, 0, enc.Size()), make([]byte, 256<<10)); err != nil {
		// A kept file that cannot be read will not be read later either:
		// it is dropped, and the coordinator sends the bundle whole in this
		// same publish, as to a node that keeps nothing.
		n.log.Warn("kept transcript unreadable, dropped", "job", jobID, "error", err)
		n.kept.drop(jobID)
		return status.Errorf(codes.FailedPrecondition, "node %d cannot read the transcript of job %s it kept; send the bundle", n.opts.Index, jobID)
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, hd.GetSha256()) {
		return refuse("the bundle rebuilt from the transcript it signed has SHA-256 %x…, the coordinator's %x…", sum[:4], hd.GetSha256()[:4])
	}
	// Its transcript is the one this node checked and signed: a records
	// section it wrote itself is not decoded again.
	var vouched *audit.Records
	if k.section != nil {
		vouched = &k.sectionRecs
	}
	if err := n.storePublished(ctx, from, enc, enc.Size(), publishedSignatures, vouched); err != nil {
		return err
	}
	stored = true
	return nil
}

// bundleHeader is the blob header of stored transcript t's bundle.
func bundleHeader(t store.Transcript) *cohortv1.BlobHeader {
	if t.BundleSize == 0 { // stored whole, before chunks
		return blob.Header(t.Bundle)
	}
	return blob.HeaderOf(t.BundleSize, t.BundleSHA256)
}

// heldBundle reports whether the stored transcript t has the bundle hd
// describes.
func heldBundle(t store.Transcript, hd *cohortv1.BlobHeader) bool {
	h := bundleHeader(t)
	return h.GetTotalSize() == hd.GetTotalSize() && bytes.Equal(h.GetSha256(), hd.GetSha256())
}

// storePublished reads the published bundle of size bytes r holds, checks
// it (checkPublished) and stores it; form says how it came (the peer's
// metric). vouched, when set, is the records section of a transcript this
// node checked and built the bundle around itself, which is not decoded
// again (audit.ReadVouchedBundleStream).
func (n *Node) storePublished(ctx context.Context, from uint32, r io.ReaderAt, size int64, form string, vouched *audit.Records) error {
	lim := audit.DefaultLimits()
	lim.MaxBytes = int64(n.opts.Limits.MaxTranscriptBytes)
	var (
		sb  *audit.StreamedBundle
		err error
	)
	if vouched != nil {
		sb, err = audit.ReadVouchedBundleStream(r, size, lim, *vouched)
	} else {
		sb, err = audit.ReadBundleStream(r, size, lim)
	}
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
	}, io.NewSectionReader(r, 0, size))
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Errorf(codes.AlreadyExists, "node %d holds another transcript of job %s", n.opts.Index, t.JobID)
	case err != nil:
		return n.internal("store published transcript", err)
	}
	n.metrics.published.WithLabelValues(form).Inc()
	n.log.Info("transcript stored", "job", t.JobID, "coordinator", from, "published-as", form)
	return nil
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

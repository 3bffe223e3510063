package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// transcriptRoots returns the registry history entries of the roots the
// cohort's records were proved against: the transcript carries only those.
func (n *Node) transcriptRoots(ctx context.Context, recs []audit.Record) ([]audit.Root, error) {
	seen := map[[32]byte]bool{}
	var out []audit.Root
	for _, r := range recs {
		var pub circuits.PublicInputs
		if err := pub.UnmarshalBinary(r.Public); err != nil {
			return nil, fmt.Errorf("stored public inputs: %w", err)
		}
		root := feBytes(pub.Root)
		if seen[root] {
			continue
		}
		seen[root] = true
		rr, err := n.store.FindRoot(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("root %x of a cohort record: %w", root[:4], err)
		}
		ar := audit.Root{Root: rr.Root, Version: rr.Version, SeenAt: rr.SeenAt.Unix()}
		if !rr.Current() {
			ar.SupersededAt = rr.SupersededAt.Unix()
		}
		out = append(out, ar)
	}
	return out, nil
}

// signTranscript sends an encoded transcript to a peer for its signature.
func signTranscript(ctx context.Context, c cohortv1.PeerServiceClient, enc []byte) (*cohortv1.SignTranscriptResponse, error) {
	st, err := c.SignTranscript(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Header{Header: blob.Header(enc)}}); err != nil {
		return nil, err
	}
	if err := blob.Send(enc, func(ch *cohortv1.Chunk) error {
		return st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Chunk{Chunk: ch}})
	}); err != nil {
		return nil, err
	}
	return st.CloseAndRecv()
}

func (n *Node) checkTranscript(ctx context.Context, t *audit.Transcript) error {
	refuse := func(format string, args ...any) error {
		return status.Errorf(codes.FailedPrecondition, "node %d will not sign the transcript of %s: %s", n.opts.Index, t.JobID, fmt.Sprintf(format, args...))
	}
	ds, err := n.jobDataset(ctx, t.DatasetID)
	if err != nil {
		return err
	}
	dd, err := audit.DescriptorDigest(ds.Desc)
	if err != nil {
		return n.internal("descriptor digest", err)
	}
	if dd != t.DescriptorDigest {
		return refuse("its dataset descriptor is not this node's")
	}
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(t.Spec, spec); err != nil {
		return refuse("the spec does not decode: %v", err)
	}
	sd, err := audit.SpecDigest(spec)
	if err != nil {
		return refuse("%v", err)
	}
	if err := n.checkTranscriptSubmission(ctx, t, sd); err != nil {
		return refuse("%s", err)
	}
	i := int(n.opts.Index)
	pos := slices.IndexFunc(t.Nodes, func(e audit.NodeEvidence) bool { return e.Index == n.opts.Index })
	if pos < 0 {
		return refuse("it lacks this node's evidence")
	}
	mine := t.Nodes[pos]
	set := attest.JobEligibleSet{JobID: t.JobID, DatasetID: t.DatasetID, SpecDigest: sd, JobTime: t.JobTime,
		Cohort: mine.Cohort, SetDigest: mine.SetDigest, Node: n.opts.Index}
	if attest.Verify(n.opts.Members[i].Signing, set, mine.SetSignature) != nil {
		return refuse("this node's eligible-set statement is not the one it signed")
	}
	be, err := backend.For(ds)
	if err != nil {
		return n.internal("dataset backend", err)
	}
	coords := make([]int, len(t.Sums))
	for k, sum := range t.Sums {
		coords[k] = int(sum.Coordinate)
	}
	partialSet, err := be.CheckPartialSet(t.DecryptionSet)
	if err != nil {
		return refuse("its backend is not the dataset's")
	}
	if slices.Contains(partialSet, n.opts.Index) && len(mine.Partial) == 0 {
		return refuse("it lacks this node's %s", be.Quorum().Partial)
	}
	if len(mine.Partial) > 0 {
		part := enclave.PartialStatement(t.JobID, mine.SetDigest, coords, mine.Partial, n.opts.Index)
		if attest.Verify(n.opts.Members[i].Signing, part, mine.PartialSignature) != nil {
			return refuse("this node's partial-sum statement is not the one it signed")
		}
	}
	recs := make([]enclave.Record, len(t.Records))
	for k, rec := range t.Records {
		c, err := n.store.GetContribution(ctx, t.DatasetID, rec.Nullifier)
		if errors.Is(err, store.ErrNotFound) {
			return refuse("record %x… is not stored here", rec.Nullifier[:4])
		}
		if err != nil {
			return n.internal("read contribution", err)
		}
		if c.PayloadDigest != rec.PayloadDigest || !bytes.Equal(c.Public, rec.Public) || !bytes.Equal(c.Proof, rec.Proof) ||
			!bytes.Equal(be.Published(c.Share), rec.Ciphertext) {
			return refuse("record %x… differs from the one stored here", rec.Nullifier[:4])
		}
		recs[k] = enclave.Record{Nullifier: rec.Nullifier, PayloadDigest: rec.PayloadDigest}
	}
	if uint64(len(recs)) != mine.Cohort || enclave.SetDigest(t.JobID, t.DatasetID, recs) != mine.SetDigest {
		return refuse("its records are not the cohort this node selected")
	}
	published := make([][]byte, len(t.Records))
	for k, rec := range t.Records {
		published[k] = rec.Ciphertext
	}
	agg, err := be.Aggregate(published)
	if err != nil {
		return refuse("%v", err)
	}
	if !bytes.Equal(agg, t.Aggregate) {
		return refuse("its aggregate ciphertext is not the sum of its records")
	}
	if root, err := audit.ClaimRootOf(t.Records); err != nil || root != t.ClaimRoot {
		return refuse("its claim root is not the root of its records' nullifier tree")
	}
	if want := audit.RewardOf(ds.Desc, t.Buyer); t.RewardPerRecord != want {
		return refuse("its reward of %d per record is not this node's price %d", t.RewardPerRecord, want)
	}
	for _, root := range t.Roots {
		rr, err := n.store.FindRoot(ctx, root.Root)
		if err != nil || rr.Version != root.Version {
			return refuse("root %x… is not in this node's registry history at version %d", root.Root[:4], root.Version)
		}
	}
	return nil
}

// auditRecords lists the cohort's records as a transcript holds them, read
// in one scan; the stored values are read only when the transcript
// publishes them (HE ciphertexts).
func (n *Node) auditRecords(ctx context.Context, s *selected, published func(stored []byte) []byte) ([]audit.Record, error) {
	fields := store.WithProof
	// A backend that publishes nothing of a stored value (MPC) gives nil
	// for any: its shares are then not read.
	if published([]byte{0}) != nil {
		fields |= store.WithShare
	}
	out := make([]audit.Record, 0, len(s.sel.Records))
	err := n.eachCohortRecord(ctx, s, fields, func(c *store.Contribution) error {
		rec := audit.Record{Nullifier: c.Nullifier, PayloadDigest: c.PayloadDigest, Public: bytes.Clone(c.Public), Proof: bytes.Clone(c.Proof)}
		if c.Share != nil {
			rec.Ciphertext = bytes.Clone(published(c.Share))
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkTranscriptSubmission checks the transcript's buyer submission as
// this node checked it before preparing the job: under the key it stores
// for the buyer, over the transcript's spec and descriptor, naming the
// transcript's job.
func (n *Node) checkTranscriptSubmission(ctx context.Context, t *audit.Transcript, specDigest [32]byte) error {
	s := t.Submission
	b, err := n.store.GetBuyer(ctx, s.Buyer)
	if err != nil || !bytes.Equal(b.PublicKey, s.PublicKey[:]) {
		return fmt.Errorf("buyer %q's key in it is not the one this node stores", s.Buyer)
	}
	st := attest.JobSubmission{Buyer: s.Buyer, RequestID: s.RequestID, DatasetID: t.DatasetID, DescriptorDigest: t.DescriptorDigest,
		SpecDigest: specDigest, SubmittedAt: s.SubmittedAt}
	if attest.Verify(b.PublicKey, st, s.Signature) != nil || st.JobID() != t.JobID {
		return fmt.Errorf("the job is not the one buyer %q signed", s.Buyer)
	}
	return nil
}

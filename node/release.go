package node

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// buildTranscript builds the job's transcript from the round's outcome:
// the cohort's records as this node holds them, the registry roots they
// were proved against, every node's evidence, the released sums and the
// result. Every node whose evidence it holds must sign it.
func (r *jobRun) buildTranscript(ctx context.Context, out *enclave.Outcome) (enclave.TranscriptBuilt, error) {
	n := r.n
	recs := r.own.auditRecords(r.be.Published)
	roots, err := n.transcriptRoots(ctx, recs)
	if err != nil {
		return enclave.TranscriptBuilt{}, err
	}
	ev := r.evidence(out)
	partials := make([][]byte, len(n.opts.Members))
	for _, e := range ev.GetNodes() {
		if int(e.GetNodeIndex()) < len(partials) {
			partials[e.GetNodeIndex()] = e.GetPartial()
		}
	}
	agg, err := r.be.Aggregate(r.own.stored())
	if err != nil {
		return enclave.TranscriptBuilt{}, fmt.Errorf("aggregate: %w", err)
	}
	r.releasedAt = n.now()
	t, err := audit.Build(audit.BuildInput{
		JobID: r.job.ID, Coordinator: n.opts.Index, Spec: r.spec, Descriptor: r.ds.Desc, Records: recs,
		Evidence: ev, Partials: partials, Result: r.result(out), Roots: roots,
		DecryptionSet: r.be.DecryptionSet(out.PartialSet), Aggregate: agg,
	})
	if err != nil {
		return enclave.TranscriptBuilt{}, fmt.Errorf("build transcript: %w", err)
	}
	digest, err := t.Digest()
	if err != nil {
		return enclave.TranscriptBuilt{}, err
	}
	enc, err := t.MarshalBinary()
	if err != nil {
		return enclave.TranscriptBuilt{}, err
	}
	r.digest = digest
	r.transcript = t
	signers := make([]uint32, len(t.Nodes))
	for k, e := range t.Nodes {
		signers[k] = e.Index
	}
	return enclave.TranscriptBuilt{Digest: digest, Encoded: enc, Signers: signers,
		Statement: func(i uint32) attest.Statement { return r.transcriptStatement(i) }}, nil
}

func (r *jobRun) transcriptStatement(i uint32) audit.TranscriptStatement {
	return audit.TranscriptStatement{JobID: r.job.ID, Digest: r.digest, Node: i}
}

// commit releases the job: the signed transcript bundle, the result and
// the move to DONE commit in one store transaction, so a transcript is
// never published for a job that did not release, nor a result without
// its transcript.
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
	b, err := audit.NewBundle(r.transcript, rel.Signatures, r.ds.Desc, ceremony)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	bb, err := b.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode bundle: %w", err)
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
		if err := tx.PutTranscript(ctx, store.Transcript{
			ID: r.job.ID, DatasetID: r.ds.Desc.GetId(), Digest: rel.Digest, ReleasedAt: n.now(), CohortSize: rel.Outcome.Cohort, Bundle: bb,
		}); err != nil {
			return fmt.Errorf("store transcript: %w", err)
		}
		if err := tx.UpdateJob(ctx, next, from); err != nil {
			return fmt.Errorf("release job: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.job = next
	n.jobs.notify(r.job.ID)
	if h := n.jobs.hook; h != nil {
		h(r.job.ID, cohortv1.JobState_JOB_STATE_DONE)
	}
	n.metrics.jobs.WithLabelValues("done").Inc()
	n.log.Info("job done", "job", r.job.ID, "cohort", rel.Outcome.Cohort, "outputs", len(rel.Outcome.Outputs))
	return nil
}

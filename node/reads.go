package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// One scan per job (docs/design.md §7.6). A node that prepares an MPC job
// reads, in the scan that selects the cohort, the records' shares (summed
// at the job's coordinates) and their proofs (the records section): the
// coordinator keeps them with its selection for the job, a peer keeps
// them here until ComputePartial. There the peer uses them only when a
// selection made then would be the same one: the dataset's committed
// records in the job's epochs and its revocations still have the counts
// taken before the scan (neither is ever deleted, so equal counts mean
// none was added). Otherwise — a record committed or revoked since, a
// node restarted, a read dropped for a newer one — the peer selects and
// sums again in one scan (cohortPass), as before.

// maxPreparedReads bounds the reads a peer keeps between PrepareJob and
// ComputePartial, each a sum and a spool file of its cohort's records
// section (about 500 bytes a record); the oldest is dropped first.
const maxPreparedReads = 4

// preparedRead is a peer's selection of a job that read its cohort's
// values, and the spec it was selected for.
type preparedRead struct {
	spec *cohortv1.JobSpec
	sel  *selected
}

// preparedReads are the reads a peer made of the cohorts of the jobs it
// prepared, by job id.
type preparedReads struct {
	mu    sync.Mutex
	m     map[string]preparedRead
	order []string
}

func newPreparedReads() *preparedReads { return &preparedReads{m: map[string]preparedRead{}} }

// put keeps sel, selected for spec, for job jobID, in place of any read
// kept for it before.
func (p *preparedReads) put(jobID string, spec *cohortv1.JobSpec, sel *selected) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(jobID)
	p.m[jobID] = preparedRead{spec: spec, sel: sel}
	p.order = append(p.order, jobID)
	for len(p.order) > maxPreparedReads {
		p.dropLocked(p.order[0])
	}
}

// take removes and returns the read kept for job jobID, if any.
func (p *preparedReads) take(jobID string) (preparedRead, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[jobID]
	if ok {
		delete(p.m, jobID)
		p.order = slices.DeleteFunc(p.order, func(id string) bool { return id == jobID })
	}
	return r, ok
}

// clear drops every read kept.
func (p *preparedReads) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.order) > 0 {
		p.dropLocked(p.order[0])
	}
}

func (p *preparedReads) dropLocked(jobID string) {
	if r, ok := p.m[jobID]; ok {
		r.sel.witness.discard()
		delete(p.m, jobID)
		p.order = slices.DeleteFunc(p.order, func(id string) bool { return id == jobID })
	}
}

// newCohortRead starts what a selection of an MPC job on ds reads of its
// cohort besides the ids: a sum at the spec's coordinates and a records
// section. It returns nil — the selection reads the eligibility columns
// alone — for an HE dataset (its ciphertexts are summed once the
// decryption set is known), outputs the layout does not have (the
// partial then refuses them) or a spool file that cannot be made.
func (n *Node) newCohortRead(ds *dataset.Dataset, spec *cohortv1.JobSpec) *cohortRead {
	be, err := backend.For(ds)
	if err != nil || be.Published([]byte{0}) != nil {
		return nil
	}
	coords, err := enclave.Coordinates(ds.Schema.Layout(), spec.GetOutputs())
	if err != nil {
		return nil
	}
	sum, err := be.NewSum(coords)
	if err != nil {
		return nil
	}
	sp, err := n.newRecordSpooler()
	if err != nil {
		return nil
	}
	return &cohortRead{sum: sum, coords: coords, sp: sp}
}

// preparedCohort returns the selection a peer made of job req when it
// prepared it, with its cohort's sum at coords and its records section,
// if it kept one and a selection made now, at job time at, would be the
// same: the same spec, dataset, prepared size and coordinates, and the
// counts its readMarks took still those of the store. nil otherwise.
func (n *Node) preparedCohort(ctx context.Context, ds *dataset.Dataset, req *cohortv1.ComputePartialRequest, at time.Time,
	rec *enclave.PeerRecord, coords []int) *selected {
	r, ok := n.reads.take(req.GetJobId())
	if !ok {
		return nil
	}
	s, spec := r.sel, req.GetSpec()
	same := proto.Equal(r.spec, spec) && s.ds.Desc.GetId() == ds.Desc.GetId() && s.at.Equal(at) &&
		s.cohort == rec.Cohort && s.sum != nil && slices.Equal(s.coords, coords)
	if same {
		rows, err := n.store.CountContributions(ctx, ds.Desc.GetId(), spec.GetEpochFrom(), spec.GetEpochTo())
		revoked, rerr := n.store.CountRevocations(ctx, ds.Desc.GetId())
		same = err == nil && rerr == nil && (readMarks{rows: rows, revocations: revoked}) == s.marks
	}
	if !same {
		s.witness.discard()
		return nil
	}
	return s
}

package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// datasets caches, per READY dataset, what ingest needs: the checked
// descriptor, the compiled circuit and the proof verifier. Compiling costs
// between a fraction of a second and several seconds, so it is done once
// per dataset and process.
type datasets struct {
	e     *env
	sem   chan struct{} // the node's ingest semaphore, shared by every dataset's proofBatcher
	mu    sync.Mutex
	ready map[string]*readyDataset
	locks map[string]*sync.Mutex
}

// readyDataset is a dataset that accepts contributions.
type readyDataset struct {
	ds     *dataset.Dataset
	be     backend.Backend
	proofs *proofBatcher // batches the verifier's work across concurrent uploads
	field  fr.Element    // circuits.DatasetField(id)
}

func newDatasets(e *env, sem chan struct{}) *datasets {
	return &datasets{e: e, sem: sem, ready: map[string]*readyDataset{}, locks: map[string]*sync.Mutex{}}
}

// descriptor reads a dataset's descriptor from the store: NotFound or
// InvalidArgument (bad id) as gRPC statuses.
func (d *datasets) descriptor(ctx context.Context, id string) (*cohortv1.DatasetDescriptor, error) {
	if !dataset.ValidID(id) {
		return nil, status.Errorf(codes.InvalidArgument, "dataset_id %q: want 1..64 bytes of [a-z0-9-]", id)
	}
	row, err := d.e.store.GetDataset(ctx, id)
	if err != nil {
		return nil, d.e.storeStatus("read dataset", err, fmt.Sprintf("dataset %q not found", id))
	}
	desc := new(cohortv1.DatasetDescriptor)
	if err := proto.Unmarshal(row.Descriptor, desc); err != nil {
		return nil, d.e.internal("decode stored dataset", err)
	}
	return desc, nil
}

// get returns a READY dataset: NotFound, or FailedPrecondition while it is
// in SETUP or FAILED.
func (d *datasets) get(ctx context.Context, id string) (*readyDataset, error) {
	d.mu.Lock()
	r, ok := d.ready[id]
	d.mu.Unlock()
	if ok {
		return r, nil
	}
	// Only a dataset that exists and is READY gets a lock entry: unknown ids
	// from callers never grow the map.
	desc, err := d.descriptor(ctx, id)
	if err != nil {
		return nil, err
	}
	if desc.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "dataset %q is %s, not READY", id, desc.GetState())
	}
	d.mu.Lock()
	l, ok := d.locks[id]
	if !ok {
		l = new(sync.Mutex)
		d.locks[id] = l
	}
	d.mu.Unlock()

	l.Lock()
	defer l.Unlock()
	d.mu.Lock()
	r, ok = d.ready[id]
	d.mu.Unlock()
	if ok {
		return r, nil
	}
	ds, err := dataset.From(desc)
	if err != nil {
		return nil, d.e.internal("stored dataset", err)
	}
	be, err := backend.For(ds)
	if err != nil {
		return nil, d.e.internal("dataset backend", err)
	}
	if err := be.Prepare(); err != nil {
		return nil, d.e.internal("compile dataset circuit", err)
	}
	v, err := circuits.NewVerifier(ds.VK, ds.NumPublic())
	if err != nil {
		return nil, d.e.internal("verifier", err)
	}
	r = &readyDataset{ds: ds, be: be, proofs: newProofBatcher(v, d.e.opts.Limits, d.sem, d.e.metrics.proofBatch), field: circuits.DatasetField(id)}
	d.mu.Lock()
	d.ready[id] = r
	d.mu.Unlock()
	return r, nil
}

// put stores a descriptor: a new dataset (create) or a state change.
func (d *datasets) put(ctx context.Context, desc *cohortv1.DatasetDescriptor, create bool) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(desc)
	if err != nil {
		return fmt.Errorf("encode descriptor: %w", err)
	}
	if create {
		return d.e.store.PutDataset(ctx, store.Dataset{ID: desc.GetId(), Descriptor: b, CreatedAt: d.e.now()})
	}
	return d.e.store.UpdateDataset(ctx, desc.GetId(), b)
}

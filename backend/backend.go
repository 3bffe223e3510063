package backend

import (
	"errors"
	"fmt"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
)

// ErrUnknown: the descriptor names a backend this build does not implement.
var ErrUnknown = errors.New("backend: unknown backend")

// Backend is everything that differs between the MPC and HE backends.
type Backend interface {
	// Kind is the backend's wire value.
	Kind() cohortv1.Backend
	// CollectiveKey is the digest of the collective public key the
	// dataset's records are encrypted under, which every node that holds
	// a share of its secret must recognise as the one it generated; ok is
	// false for a backend without one.
	CollectiveKey() (digest [32]byte, ok bool)
	Contributor
	Ingest
	Round
	Audit
}

// For returns the backend of a dataset, chosen once from its descriptor.
func For(ds *dataset.Dataset) (Backend, error) {
	switch ds.Desc.GetBackend() {
	case cohortv1.Backend_BACKEND_MPC:
		return &mpcBackend{ds: ds, lim: ds.PayloadLimits()}, nil
	case cohortv1.Backend_BACKEND_HE:
		if ds.HE == nil {
			return nil, fmt.Errorf("backend: dataset %q is HE but has no collective key", ds.Desc.GetId())
		}
		return &heBackend{ds: ds}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknown, ds.Desc.GetBackend())
}

// mpcBackend is additive secret sharing over the BN254 scalar field.
type mpcBackend struct {
	ds  *dataset.Dataset
	lim mpc.PayloadLimits // what a payload for the dataset must meet
}

func (*mpcBackend) Kind() cohortv1.Backend { return cohortv1.Backend_BACKEND_MPC }

func (*mpcBackend) CollectiveKey() ([32]byte, bool) { return [32]byte{}, false }

// heBackend is threshold BGV under the dataset's collective key.
type heBackend struct{ ds *dataset.Dataset }

func (*heBackend) Kind() cohortv1.Backend { return cohortv1.Backend_BACKEND_HE }

func (b *heBackend) CollectiveKey() ([32]byte, bool) { return b.ds.HE.KeyDigest, true }

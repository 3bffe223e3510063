package node

import (
	"context"
	"crypto/rand"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/store"
)

// Jobs on the HE backend (docs/design.md §4.3).
//
// Every node stores every accepted ciphertext, so any node can select a
// job's cohort and sum it on its own. After the live nodes agree on the
// cohort (as for MPC, but a node that does not answer is left out as long
// as t nodes remain), the coordinator asks the decryption set — the t
// lowest-numbered live nodes — for their decryption shares. Each node of
// the set sums the ciphertexts of the cohort it selected itself (never a
// ciphertext the coordinator sends: that could be one contributor's
// record), and answers its share of that aggregate at the job's
// coordinates only, with smudging noise.
//
// A node produces one decryption share per aggregate ciphertext, ever: it
// stores the share (sealed to itself) before answering, answers the same
// share when asked again with the same decryption set, and refuses any
// other set. Two shares of one ciphertext for different sets would let
// their difference cancel the smudging and leak key material (lattigo's
// SECURITY.md). A later job over the same cohort (the same aggregate)
// is served from the stored share while the same nodes are live; with
// another set live it fails with a clear reason.

// nodeParty is what this node lends its backend to compute a partial.
type nodeParty struct {
	n  *Node
	ds *dataset.Dataset
}

func (p nodeParty) Index() uint32 { return p.n.opts.Index }

func (p nodeParty) DecryptionShare(ctx context.Context, agg *he.Ciphertext, jobID string, set []uint32) (*he.DecryptionShare, error) {
	return p.n.heShare(ctx, p.ds, agg, jobID, set)
}

// heShare is this node's decryption share of agg, the aggregate
// of a cohort this node selected, for decryption set set: the stored one
// if this node produced it before for the same set, a fresh one (stored
// before it is returned) otherwise; FailedPrecondition if it produced one
// for another set.
func (n *Node) heShare(ctx context.Context, ds *dataset.Dataset, agg *he.Ciphertext, jobID string, set []uint32) (*he.DecryptionShare, error) {
	digest := agg.Digest()
	id := ds.Desc.GetId()
	share, err := n.storedShare(ctx, ds, digest, set)
	if err != nil {
		return nil, err
	}
	if share == nil {
		tk, err := n.thresholdKey(ctx, ds)
		if err != nil {
			return nil, n.internal("threshold key", err)
		}
		active := make([]int, len(set))
		for i, x := range set {
			active[i] = int(x)
		}
		fresh, err := tk.DecryptionShare(ds.HE.Params, agg, active, ds.HE.Budget, rand.Reader)
		if err != nil {
			return nil, n.internal("decryption share", err)
		}
		b, err := fresh.MarshalBinary()
		if err != nil {
			return nil, n.internal("encode decryption share", err)
		}
		sealed, err := seal.Seal(n.opts.Seal.Public(), sealInfoDecryptionShare, b, decryptionShareAAD(id, digest))
		clear(b)
		if err != nil {
			return nil, n.internal("seal decryption share", err)
		}
		prev, err := n.store.PutDecryptionShare(ctx, store.DecryptionShare{
			DatasetID: id, Aggregate: digest, Set: set, JobID: jobID, Share: sealed, CreatedAt: n.now(),
		})
		if err != nil {
			return nil, n.internal("store decryption share", err)
		}
		if prev != nil { // another job stored one first
			if share, err = n.openShare(ds, prev, set); err != nil {
				return nil, err
			}
		} else {
			share = fresh
		}
	}
	return share, nil
}

func decryptionShareAAD(datasetID string, aggregate [32]byte) []byte {
	return append(append([]byte(sealInfoDecryptionShare+"\x00"+datasetID+"\x00"), aggregate[:]...), 0)
}

// storedShare returns the share this node stored for an aggregate, nil if
// none, FailedPrecondition if it was for another decryption set.
func (n *Node) storedShare(ctx context.Context, ds *dataset.Dataset, digest [32]byte, set []uint32) (*he.DecryptionShare, error) {
	row, err := n.store.GetDecryptionShare(ctx, ds.Desc.GetId(), digest)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, n.internal("read decryption share", err)
	}
	return n.openShare(ds, &row, set)
}

func (n *Node) openShare(ds *dataset.Dataset, row *store.DecryptionShare, set []uint32) (*he.DecryptionShare, error) {
	if !store.SameSet(row.Set, set) {
		return nil, status.Errorf(codes.FailedPrecondition,
			"node %d already produced its decryption share of this aggregate for nodes %v (job %s); a share for another set (%v) would leak key material, so it is refused",
			n.opts.Index, row.Set, row.JobID, set)
	}
	b, err := seal.Open(n.opts.Seal, sealInfoDecryptionShare, row.Share, decryptionShareAAD(ds.Desc.GetId(), row.Aggregate))
	if err != nil {
		return nil, n.internal("open stored decryption share", err)
	}
	defer clear(b)
	s, err := he.UnmarshalDecryptionShare(ds.HE.Params, b)
	if err != nil {
		return nil, n.internal("decode stored decryption share", err)
	}
	return s, nil
}

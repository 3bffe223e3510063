package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/store"
)

// Jobs on the HE backend (DESIGN §5.4).
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

// heAggregate sums the ciphertexts of the selected cohort held by this node.
func heAggregate(ds *dataset.Dataset, s *selected) (*he.Ciphertext, error) {
	encs := make([][]byte, len(s.sel.Records))
	for k, r := range s.sel.Records {
		encs[k] = s.rows[r.Nullifier].Share
	}
	return sumCiphertexts(ds.HE.Params, encs)
}

// sumCiphertexts decodes encoded ciphertexts and sums them in one pass.
func sumCiphertexts(params *he.Params, encs [][]byte) (*he.Ciphertext, error) {
	if len(encs) == 0 {
		return nil, errors.New("empty cohort")
	}
	cts := make([]*he.Ciphertext, len(encs))
	for k, b := range encs {
		ct, err := he.UnmarshalCiphertext(params, b)
		if err != nil {
			return nil, fmt.Errorf("ciphertext %d of the cohort: %w", k, err)
		}
		cts[k] = ct
	}
	return he.Sum(params, cts)
}

// checkDecryptionSet checks a decryption set for a dataset of k nodes and
// threshold t: t distinct ascending node indices.
func checkDecryptionSet(set []uint32, k, t int) error {
	if len(set) != t {
		return fmt.Errorf("decryption set of %d nodes, the dataset's threshold is %d", len(set), t)
	}
	for i, x := range set {
		if int(x) >= k || (i > 0 && x <= set[i-1]) {
			return fmt.Errorf("decryption set %v is not ascending indices of this federation's %d nodes", set, k)
		}
	}
	return nil
}

// heShare is this node's decryption share at coords of agg, the aggregate
// of a cohort this node selected, for decryption set set: the stored one
// if this node produced it before for the same set, a fresh one (stored
// before it is returned) otherwise; FailedPrecondition if it produced one
// for another set.
func (n *Node) heShare(ctx context.Context, ds *dataset.Dataset, agg *he.Ciphertext, jobID string, coords []int, set []uint32) ([]byte, error) {
	if !slices.Contains(set, n.opts.Index) {
		return nil, status.Errorf(codes.InvalidArgument, "node %d is not in the decryption set %v", n.opts.Index, set)
	}
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
	part, err := share.Reveal(coords)
	if err != nil {
		return nil, n.internal("reveal decryption share", err)
	}
	enc, err := part.MarshalBinary()
	if err != nil {
		return nil, n.internal("encode partial decryption", err)
	}
	return enc, nil
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

// aggregateHE has the decryption set decrypt the cohort's aggregate at
// coords and returns the sums. live are the nodes that agreed on the
// cohort, ascending.
func (r *jobRun) aggregateHE(ctx context.Context, ds *dataset.Dataset, spec *cohortv1.JobSpec, own *selected, coords []int, live []uint32) ([]*big.Int, error) {
	t := ds.HE.Committee.Threshold
	if len(live) < t {
		return nil, failed("only %d nodes answered; decrypting needs %d", len(live), t)
	}
	set := live[:t]
	agg, err := heAggregate(ds, own)
	if err != nil {
		return nil, err
	}
	parts := make(map[uint32][]byte, t)
	sigs := make(map[uint32]*cohortv1.NodeSignature, t)
	var others []uint32
	for _, i := range set {
		if i != r.n.opts.Index {
			others = append(others, i)
			continue
		}
		enc, err := r.n.heShare(ctx, ds, agg, r.job.ID, coords, set)
		if err != nil {
			return nil, failed("decryption share of node %d: %s", i, status.Convert(err).Message())
		}
		parts[i] = enc
		sigs[i] = r.n.sign(partialStatement(r.job.ID, own.digest, coords, enc, i).Message())
	}
	answers, errs := fanOutTo(ctx, r.n, others, r.n.opts.Limits.PeerTimeout, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) (*cohortv1.ComputePartialResponse, error) {
		return c.ComputePartial(ctx, &cohortv1.ComputePartialRequest{
			JobId: r.job.ID, Spec: spec, JobTime: r.job.SubmittedAt.Unix(), SetDigest: own.digest[:], DecryptionSet: set,
		})
	})
	for _, i := range others {
		if err := errs[i]; err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, failed("node %d did not give its decryption share (%s: %s); the decryption set %v is fixed for this aggregate, so nothing was released",
				i, status.Code(err), status.Convert(err).Message(), set)
		}
		resp := answers[i]
		pst := partialStatement(r.job.ID, own.digest, coords, resp.GetPartial(), i)
		if !slices.Equal(pst.Coordinates, resp.GetCoordinates()) {
			return nil, failed("node %d decrypted other coordinates than the job needs", i)
		}
		if err := r.n.verifySig(i, pst.Message(), resp.GetSignature()); err != nil {
			return nil, failed("node %d's decryption-share signature: %v", i, err)
		}
		parts[i], sigs[i] = resp.GetPartial(), resp.GetSignature()
	}
	decoded := make([]*he.PartialDecryption, 0, t)
	for _, i := range set {
		enc := parts[i]
		p, err := he.UnmarshalPartialDecryption(ds.HE.Params, enc)
		if err != nil {
			return nil, failed("node %d sent a malformed decryption share: %v", i, err)
		}
		if p.Party() != int(i) || !slices.Equal(p.Coords(), coords) {
			return nil, failed("node %d's decryption share is for party %d at other coordinates", i, p.Party())
		}
		decoded = append(decoded, p)
		ev := r.nodeEvidence(i)
		st := partialStatement(r.job.ID, own.digest, coords, enc, i)
		ev.PartialDigest, ev.Partial, ev.PartialSignature = st.PartialDigest[:], enc, sigs[i]
	}
	vals, err := he.Combine(ds.HE.Params, agg, decoded, coords)
	if err != nil {
		return nil, failed("combining the decryption shares: %v", err)
	}
	if r.heAggregate, err = agg.MarshalBinary(); err != nil {
		return nil, err
	}
	r.heSet = set
	half := ds.HE.Params.T() / 2
	out := make([]*big.Int, len(vals))
	for i, v := range vals {
		// Honest sums are below t/2 (checked at dataset creation); anything
		// above is a wrong share or an inconsistent key.
		if v >= half {
			return nil, failed("decrypted sum at coordinate %d is out of range (a node sent a wrong decryption share)", coords[i])
		}
		out[i] = new(big.Int).SetUint64(v)
	}
	r.n.log.Info("he: aggregate decrypted", "job", r.job.ID, "decryption_set", fmt.Sprint(set), "coordinates", len(coords))
	return out, nil
}

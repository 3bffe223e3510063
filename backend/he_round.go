package backend

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/he"
)

func (b *heBackend) Quorum() enclave.Quorum {
	return enclave.Quorum{Backend: "HE", Need: b.ds.HE.Committee.Threshold, Partial: "decryption share"}
}

// CheckPartialSet checks a decryption set: t distinct ascending indices of
// the federation's nodes.
func (b *heBackend) CheckPartialSet(set []uint32) ([]uint32, error) {
	k, t := int(b.ds.Desc.GetNodeCount()), b.ds.HE.Committee.Threshold
	if len(set) != t {
		return nil, fmt.Errorf("decryption set of %d nodes, the dataset's threshold is %d", len(set), t)
	}
	for i, x := range set {
		if int(x) >= k || (i > 0 && x <= set[i-1]) {
			return nil, fmt.Errorf("decryption set %v is not ascending indices of this federation's %d nodes", set, k)
		}
	}
	return slices.Clone(set), nil
}

// sumBatch is how many ciphertexts a node holds decoded at once when it
// sums a cohort.
const sumBatch = 256

// sumCohort sums a cohort's encoded ciphertexts.
func sumCohort(params *he.Params, encs [][]byte) (*he.Ciphertext, error) {
	if len(encs) == 0 {
		return nil, errors.New("empty cohort")
	}
	sum, bad, err := SumCiphertexts(params, encs, sumBatch)
	if err != nil && bad >= 0 {
		return nil, fmt.Errorf("ciphertext %d of the cohort: %w", bad, err)
	}
	return sum, err
}

// streamBatch is how many ciphertexts a streaming sum holds decoded before
// it adds them to its running sum: 16 of 131 KB at the demo's parameters.
const streamBatch = 16

// heSum adds the cohort's ciphertexts as they are read: it holds the
// running sum and at most streamBatch decoded ciphertexts.
type heSum struct {
	params *he.Params
	acc    []*he.Ciphertext // the running sum first (once there is one), then the pending ciphertexts
	count  uint64
}

func (b *heBackend) NewSum([]int) (Sum, error) {
	return &heSum{params: b.ds.HE.Params, acc: make([]*he.Ciphertext, 0, streamBatch+1)}, nil
}

func (s *heSum) Add(stored []byte) error {
	ct, err := he.UnmarshalCiphertext(s.params, stored)
	if err != nil {
		return fmt.Errorf("ciphertext %d of the cohort: %w", s.count, err)
	}
	s.acc = append(s.acc, ct)
	s.count++
	if len(s.acc) == cap(s.acc) {
		return s.fold()
	}
	return nil
}

func (s *heSum) Count() uint64 { return s.count }

// fold adds the pending ciphertexts into the running sum.
func (s *heSum) fold() error {
	if len(s.acc) < 2 {
		return nil
	}
	sum, err := he.Sum(s.params, s.acc)
	if err != nil {
		return err
	}
	clear(s.acc)
	s.acc = append(s.acc[:0], sum)
	return nil
}

// aggregate is the sum of every ciphertext added.
func (s *heSum) aggregate() (*he.Ciphertext, error) {
	if s.count == 0 {
		return nil, errors.New("empty cohort")
	}
	if err := s.fold(); err != nil {
		return nil, err
	}
	return s.acc[0], nil
}

// Partial is this node's decryption share of the cohort's aggregate (which
// it sums itself, never a ciphertext the coordinator sends), revealing
// only the job's coordinates.
func (b *heBackend) Partial(ctx context.Context, in PartialInput, p Party) ([]byte, error) {
	if !slices.Contains(in.PartialSet, p.Index()) {
		return nil, fmt.Errorf("node %d is not in the decryption set %v", p.Index(), in.PartialSet)
	}
	s, ok := in.Sum.(*heSum)
	if !ok {
		return nil, errors.New("the cohort was not summed as ciphertexts")
	}
	if s.Count() != in.Cohort {
		return nil, fmt.Errorf("%d records summed for a cohort of %d", s.Count(), in.Cohort)
	}
	agg, err := s.aggregate()
	if err != nil {
		return nil, fmt.Errorf("aggregate ciphertexts: %w", err)
	}
	share, err := p.DecryptionShare(ctx, agg, in.JobID, in.PartialSet)
	if err != nil {
		return nil, err
	}
	part, err := share.Reveal(in.Coords)
	if err != nil {
		return nil, fmt.Errorf("reveal decryption share: %w", err)
	}
	// The mechanism's noise goes into the revealed values only: the stored
	// share, once per aggregate, stays the same for every job over it.
	if in.Noise != nil {
		if err := part.AddNoise(in.Noise); err != nil {
			return nil, err
		}
	}
	return part.MarshalBinary()
}

func (b *heBackend) Combiner(own Sum, _ uint64, coords []int) Combination {
	s, _ := own.(*heSum)
	return &heCombiner{params: b.ds.HE.Params, own: s, coords: coords}
}

type heCombiner struct {
	params *he.Params
	own    *heSum // the coordinator's cohort, summed
	coords []int
}

// aggregate is the cohort's sum.
func (c *heCombiner) aggregate() (*he.Ciphertext, error) {
	if c.own == nil {
		return nil, errors.New("aggregate ciphertexts: the cohort was not summed as ciphertexts")
	}
	agg, err := c.own.aggregate()
	if err != nil {
		return nil, fmt.Errorf("aggregate ciphertexts: %w", err)
	}
	return agg, nil
}

// Aggregate is the encoded sum the shares decrypted.
func (c *heCombiner) Aggregate() ([]byte, error) {
	agg, err := c.aggregate()
	if err != nil {
		return nil, err
	}
	return agg.MarshalBinary()
}

// Combine decrypts the cohort's aggregate at the coordinates from the
// decryption set's shares, read as centred integers in (−t/2, t/2): the
// release mechanism decides which sums are possible (a negative one is a
// wrong share when no noise was added).
func (c *heCombiner) Combine(parts map[uint32][]byte) ([]*big.Int, error) {
	agg, err := c.aggregate()
	if err != nil {
		return nil, err
	}
	idx := make([]uint32, 0, len(parts))
	for i := range parts {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	decoded := make([]*he.PartialDecryption, 0, len(parts))
	for _, i := range idx {
		p, err := he.UnmarshalPartialDecryption(c.params, parts[i])
		if err != nil {
			return nil, fmt.Errorf("node %d sent a malformed decryption share: %v", i, err)
		}
		if p.Party() != int(i) || !slices.Equal(p.Coords(), c.coords) {
			return nil, fmt.Errorf("node %d's decryption share is for party %d at other coordinates", i, p.Party())
		}
		decoded = append(decoded, p)
	}
	vals, err := he.Combine(c.params, agg, decoded, c.coords)
	if err != nil {
		return nil, fmt.Errorf("combining the decryption shares: %v", err)
	}
	out := make([]*big.Int, len(vals))
	for i, v := range vals {
		// Honest sums (with their noise) are below t/2 in absolute value:
		// the dataset's capacity was checked at creation.
		out[i] = centred(v, c.params.T())
	}
	return out, nil
}

func (*heBackend) Published(stored []byte) []byte { return stored }

func (b *heBackend) Aggregate(stored [][]byte) ([]byte, error) {
	agg, err := sumCohort(b.ds.HE.Params, stored)
	if err != nil {
		return nil, err
	}
	return agg.MarshalBinary()
}

func (*heBackend) AggregateOf(s Sum) ([]byte, error) {
	hs, ok := s.(*heSum)
	if !ok {
		return nil, errors.New("the cohort was not summed as ciphertexts")
	}
	agg, err := hs.aggregate()
	if err != nil {
		return nil, err
	}
	return agg.MarshalBinary()
}

func (*heBackend) DecryptionSet(set []uint32) []uint32 { return slices.Clone(set) }

func (b *heBackend) PartialSetOf(partial []byte) ([]uint32, error) {
	p, err := he.UnmarshalPartialDecryption(b.ds.HE.Params, partial)
	if err != nil {
		return nil, err
	}
	active := p.Active()
	out := make([]uint32, len(active))
	for i, a := range active {
		out[i] = uint32(a)
	}
	return out, nil
}

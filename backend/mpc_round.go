package backend

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/mpc"
)

// mpcSumBound bounds honest MPC sums, noise included, in absolute value:
// the dataset's bounds were checked at creation far below r, so a
// reconstructed value at 2^192 or above (read as a centred integer) is a
// wrong partial.
var mpcSumBound = new(big.Int).Lsh(big.NewInt(1), 192)

func (b *mpcBackend) nodes() int { return int(b.ds.Desc.GetNodeCount()) }

func (b *mpcBackend) Quorum() enclave.Quorum {
	return enclave.Quorum{Backend: "MPC", Need: b.nodes(), Partial: "partial sum"}
}

func (b *mpcBackend) CheckPartialSet(set []uint32) ([]uint32, error) {
	if len(set) != 0 {
		return nil, errors.New("only for HE datasets")
	}
	all := make([]uint32, b.nodes())
	for i := range all {
		all[i] = uint32(i)
	}
	return all, nil
}

// mpcSum sums the shares' values at the job's coordinates, decoding only
// those of each share (mpc.ShareSum).
type mpcSum struct {
	coords []int
	s      *mpc.ShareSum
}

func (b *mpcBackend) NewSum(coords []int) (Sum, error) {
	s, err := mpc.NewShareSum(b.ds.Schema.Layout().Len, coords)
	if err != nil {
		return nil, err
	}
	return &mpcSum{coords: coords, s: s}, nil
}

func (s *mpcSum) Add(stored []byte) error {
	if err := s.s.Add(stored); err != nil {
		return fmt.Errorf("stored share of a cohort record: %w", err)
	}
	return nil
}

func (s *mpcSum) Count() uint64 { return s.s.Count() }

// Partial is this node's sum of its shares over the cohort at the
// coordinates plus the mechanism's noise (mod r; a negative z as r − |z|).
func (b *mpcBackend) Partial(_ context.Context, in PartialInput, _ Party) ([]byte, error) {
	s, ok := in.Sum.(*mpcSum)
	if !ok || !slices.Equal(s.coords, in.Coords) {
		return nil, errors.New("the cohort was not summed at the job's coordinates")
	}
	if s.Count() != in.Cohort {
		return nil, fmt.Errorf("%d records summed for a cohort of %d", s.Count(), in.Cohort)
	}
	p := s.s.Partial() // a copy: the noise is not added to the sum
	if in.Noise != nil {
		if err := p.AddNoise(in.Noise); err != nil {
			return nil, err
		}
	}
	return p.MarshalBinary()
}

func (b *mpcBackend) Combiner(_ Sum, cohort uint64, coords []int) Combination {
	return mpcCombiner{cohort: cohort, coords: coords}
}

type mpcCombiner struct {
	cohort uint64
	coords []int
}

// Combine adds the k partial sums: the coordinates' sums over the cohort
// (plus the nodes' noise), read as centred integers in (−r/2, r/2); the
// release mechanism decides which sums are possible.
func (c mpcCombiner) Combine(parts map[uint32][]byte) ([]*big.Int, error) {
	idx := make([]uint32, 0, len(parts))
	for i := range parts {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	sums := make([][]fr.Element, 0, len(parts))
	for _, i := range idx {
		p, err := mpc.UnmarshalPartial(parts[i], len(c.coords))
		if err != nil {
			return nil, fmt.Errorf("node %d sent a malformed partial sum: %v", i, err)
		}
		if p.Len() != len(c.coords) || p.Count() != c.cohort {
			return nil, fmt.Errorf("node %d summed %d records over %d coordinates, want %d over %d", i, p.Count(), p.Len(), c.cohort, len(c.coords))
		}
		sums = append(sums, p.Sum())
	}
	total, err := mpc.Reconstruct(sums...)
	if err != nil {
		return nil, err
	}
	out, err := mpc.ToSigned(total, mpcSumBound)
	if err != nil {
		return nil, fmt.Errorf("the reconstructed sums are out of range (a node sent a wrong partial): %v", err)
	}
	return out, nil
}

func (*mpcBackend) Published([]byte) []byte { return nil }

func (*mpcBackend) Aggregate([][]byte) ([]byte, error) { return nil, nil }

func (*mpcBackend) AggregateOf(Sum) ([]byte, error) { return nil, nil }

// Aggregate is nil: an MPC transcript publishes every node's partial, no
// aggregate.
func (mpcCombiner) Aggregate() ([]byte, error) { return nil, nil }

func (*mpcBackend) DecryptionSet([]uint32) []uint32 { return nil }

func (b *mpcBackend) PartialSetOf([]byte) ([]uint32, error) { return b.CheckPartialSet(nil) }

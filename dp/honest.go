package dp

import (
	"errors"
	"fmt"
)

// ErrHonestNodes: a number of nodes assumed honest that is not supported.
var ErrHonestNodes = errors.New("dp: unsupported number of honest nodes")

// NodeVariance returns the variance each node draws its noise with so that
// the noise of any honest nodes alone gives the guarantee of the variance
// total (docs/design.md §6.6). Every node adds its own noise to its
// partial and no party learns the total.
//
// With honest = 1 each node adds the full N_Z(0, σ²): the sums released
// carry one honest node's discrete Gaussian plus other noise, which is
// post-processing of a ρ-zCDP release and so keeps its guarantee, whatever
// the other nodes drew or learned.
//
// honest > 1 is refused with ErrHonestNodes. Splitting σ² into h draws of
// σ²/h is not a discrete Gaussian of variance σ²: a sum of discrete
// Gaussians is only close to one, and CKS bound the gap with an extra term
// that depends on the variances and vanishes as they grow; that bound is
// not implemented here, and a mechanism that splits noise would rather use
// a distribution closed under sums (Skellam). honest < 1 is refused too:
// with no honest node no noise protects anyone.
func NodeVariance(total Variance, honest int) (Variance, error) {
	switch {
	case total.IsZero():
		return Variance{}, fmt.Errorf("%w: the zero discrete Gaussian variance", ErrParameter)
	case honest < 1:
		return Variance{}, fmt.Errorf("%w: %d honest nodes: the guarantee needs at least one", ErrHonestNodes, honest)
	case honest > 1:
		return Variance{}, fmt.Errorf("%w: %d honest nodes: a sum of discrete Gaussians is not a discrete Gaussian and its bound is not implemented; assume one honest node (each node adds the full noise)", ErrHonestNodes, honest)
	}
	return total, nil
}

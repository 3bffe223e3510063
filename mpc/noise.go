package mpc

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// AddNoise adds one integer to each coordinate of the partial, reduced
// mod r (a negative z becomes r − |z|). A release mechanism that adds
// noise uses it on a node's own partial before the partial leaves the
// node; the count is unchanged.
func (p *Partial) AddNoise(noise []*big.Int) error {
	if len(noise) != len(p.sum) {
		return fmt.Errorf("mpc: partial: %d noise values for %d coordinates", len(noise), len(p.sum))
	}
	var z fr.Element
	for i, v := range noise {
		if v == nil {
			return fmt.Errorf("mpc: partial: noise at coordinate %d is nil", i)
		}
		z.SetBigInt(v) // reduces mod r, negatives included
		p.sum[i].Add(&p.sum[i], &z)
	}
	return nil
}

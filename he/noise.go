package he

import (
	"fmt"
	"math/big"
)

// AddNoise adds one integer to the plaintext each revealed coordinate
// decrypts to: noise[k] is added, as z·Δ mod Q (Δ = t⁻¹ mod Q, the
// plaintext scaling of this package's encoding), to the value at the k-th
// revealed coordinate, so that Combine yields the sum plus z (mod t). A
// release mechanism that adds noise uses it on a node's own partial
// decryption before it leaves the node; the noise stays known to that node
// only. Decryption stays correct while |sum + total noise| < t/2 and the
// capacity check of Params.Check leaves room for it.
func (d *PartialDecryption) AddNoise(noise []*big.Int) error {
	if len(noise) != len(d.coords) {
		return fmt.Errorf("he: partial decryption: %d noise values for %d coordinates: %w", len(noise), len(d.coords), ErrInvalidArgument)
	}
	p := d.params
	l := p.limbs()
	var zd, r big.Int
	for k, z := range noise {
		if z == nil {
			return fmt.Errorf("he: partial decryption: noise at coordinate %d is nil: %w", d.coords[k], ErrInvalidArgument)
		}
		zd.Mul(z, p.delta)
		for i, q := range p.qs {
			r.Mod(&zd, new(big.Int).SetUint64(q)) // non-negative for q > 0
			v := d.values[k*l+i] + r.Uint64()
			if v >= q || v < d.values[k*l+i] {
				v -= q
			}
			d.values[k*l+i] = v
		}
	}
	return nil
}

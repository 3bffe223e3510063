package hash

import (
	"fmt"

	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/permutation/poseidon2"
)

// Hasher is the in-circuit form of Sum. Create one per circuit Define.
type Hasher struct {
	api   frontend.API
	perms map[int]*poseidon2.Permutation
}

// NewHasher returns a Hasher for api. The circuit's field must be BN254's.
func NewHasher(api frontend.API) (*Hasher, error) {
	h := &Hasher{api: api, perms: make(map[int]*poseidon2.Permutation, 2)}
	for _, w := range []int{3, 16} {
		f, p := rounds(w)
		perm, err := poseidon2.NewPoseidon2FromParameters(api, w, f, p)
		if err != nil {
			return nil, fmt.Errorf("hash: width %d: %w", w, err)
		}
		h.perms[w] = perm
	}
	return h, nil
}

// Sum constrains and returns the digest of xs in domain d; it equals the
// native Sum of the same values.
func (h *Hasher) Sum(d Domain, xs ...frontend.Variable) frontend.Variable {
	d.check(len(xs))
	p := h.perms[d.width]
	state := make([]frontend.Variable, d.width)
	state[0] = d.iv(len(xs))
	for j := 1; j < d.width; j++ {
		state[j] = 0
	}
	rate := d.width - 1
	for i := 0; ; i += rate {
		for j := 0; j < rate && i+j < len(xs); j++ {
			state[1+j] = h.api.Add(state[1+j], xs[i+j])
		}
		if err := p.Permutation(state); err != nil {
			panic(err) // wrong buffer size: impossible by construction
		}
		if i+rate >= len(xs) {
			break
		}
	}
	return state[1]
}

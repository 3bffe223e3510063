package merkle

import (
	"github.com/consensys/gnark/frontend"

	"github.com/cohort-dev/cohort/circuits/hash"
)

// AssertMembership constrains H_leaf(ic) to be at position index of a tree with
// root root, given one sibling per level (leaf first). The tree's depth is
// len(siblings); index is constrained to fit in that many bits.
func AssertMembership(api frontend.API, h *hash.Hasher, root, ic, index frontend.Variable, siblings []frontend.Variable) {
	AssertPath(api, h, root, h.Sum(hash.MerkleLeaf, ic), index, siblings)
}

// AssertPath constrains leaf, an already hashed leaf value, to be at
// position index of a tree with root root, as AssertMembership: for trees
// whose leaves are hashed in another domain.
func AssertPath(api frontend.API, h *hash.Hasher, root, leaf, index frontend.Variable, siblings []frontend.Variable) {
	bits := api.ToBinary(index, len(siblings))
	cur := leaf
	for lvl, s := range siblings {
		// bit 0: cur is the left child; bit 1: cur is the right child.
		left := api.Select(bits[lvl], s, cur)
		right := api.Select(bits[lvl], cur, s)
		cur = h.Sum(hash.MerkleNode, left, right)
	}
	api.AssertIsEqual(cur, root)
}

// Package merkle is the registry's Merkle tree of identity commitments, natively
// (nodes keep the tree and serve paths) and as a gadget (contributors prove
// membership without revealing their position).
//
// # Construction
//
// A tree of fixed depth d (default 20, about a million members) over the BN254
// scalar field. A member with identity commitment ic occupies the leaf
// H_leaf(ic); a parent is H_node(left, right); H_leaf and H_node are
// Poseidon2 in the distinct domains [hash.MerkleLeaf] and [hash.MerkleNode], so
// a leaf can never be presented as an inner node or the reverse (gnark's std
// merkle gadget has no such separation). An empty position holds 0, which is
// no one's leaf (it would need a Poseidon2 preimage of 0); the empty subtree of
// height h is Z_h with Z_0 = 0, Z_{h+1} = H_node(Z_h, Z_h). Removing a member
// sets its leaf back to 0.
//
// # Cost
//
// The gadget costs d+1 constraints to decompose the position into bits, 2 per
// level to order the children, and one width-3 permutation (240 constraints)
// per level plus one for the leaf: about 5.1k constraints at depth 20.
//
// A Tree is not safe for concurrent use; the registry serialises updates.
package merkle

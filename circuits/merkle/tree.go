package merkle

import (
	"errors"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/hash"
)

// DefaultDepth is the registry depth used unless a federation configures another.
const DefaultDepth = 20

// MaxDepth bounds the depth so positions fit in a uint64 and trees stay provable.
const MaxDepth = 32

var (
	// ErrFull is returned by Append when every position is taken.
	ErrFull = errors.New("merkle: tree is full")
	// ErrIndex is returned for a position outside the tree or not yet filled.
	ErrIndex = errors.New("merkle: position out of range")
)

// Leaf is the leaf value of identity commitment ic.
func Leaf(ic fr.Element) fr.Element { return hash.Sum(hash.MerkleLeaf, ic) }

// Node is the parent of left and right.
func Node(left, right fr.Element) fr.Element { return hash.Sum(hash.MerkleNode, left, right) }

// Tree is an append-only (with removal) Merkle tree of fixed depth.
type Tree struct {
	depth  int
	levels [][]fr.Element // levels[0] are leaves; levels[h] has ⌈n/2^h⌉ nodes
	zeros  []fr.Element   // zeros[h] is the root of an empty subtree of height h
}

// New returns an empty tree of the given depth (1..MaxDepth).
func New(depth int) (*Tree, error) {
	if depth < 1 || depth > MaxDepth {
		return nil, fmt.Errorf("merkle: depth %d outside 1..%d", depth, MaxDepth)
	}
	t := &Tree{depth: depth, levels: make([][]fr.Element, depth+1), zeros: Zeros(depth)}
	return t, nil
}

// Zeros returns Z_0..Z_depth, the roots of empty subtrees of each height.
func Zeros(depth int) []fr.Element {
	z := make([]fr.Element, depth+1)
	for h := 1; h <= depth; h++ {
		z[h] = Node(z[h-1], z[h-1])
	}
	return z
}

// Depth is the tree's depth.
func (t *Tree) Depth() int { return t.depth }

// Len is the number of positions used so far (removed members included).
func (t *Tree) Len() int { return len(t.levels[0]) }

// Root is the current root.
func (t *Tree) Root() fr.Element {
	if top := t.levels[t.depth]; len(top) > 0 {
		return top[0]
	}
	return t.zeros[t.depth]
}

// Append adds ic at the next free position and returns that position.
func (t *Tree) Append(ic fr.Element) (uint64, error) {
	if uint64(t.Len()) >= uint64(1)<<t.depth {
		return 0, ErrFull
	}
	i := uint64(t.Len())
	t.levels[0] = append(t.levels[0], Leaf(ic))
	t.update(i)
	return i, nil
}

// Remove empties position i; the member's proofs stop verifying against later roots.
func (t *Tree) Remove(i uint64) error {
	if i >= uint64(t.Len()) {
		return ErrIndex
	}
	t.levels[0][i] = fr.Element{}
	t.update(i)
	return nil
}

// update recomputes the ancestors of leaf i.
func (t *Tree) update(i uint64) {
	for h := 0; h < t.depth; h++ {
		parent := i / 2
		l, r := t.node(h, parent*2), t.node(h, parent*2+1)
		p := Node(l, r)
		if parent < uint64(len(t.levels[h+1])) {
			t.levels[h+1][parent] = p
		} else {
			t.levels[h+1] = append(t.levels[h+1], p)
		}
		i = parent
	}
}

func (t *Tree) node(h int, i uint64) fr.Element {
	if i < uint64(len(t.levels[h])) {
		return t.levels[h][i]
	}
	return t.zeros[h]
}

// Path is a membership witness: a position and one sibling per level, leaf first.
type Path struct {
	Index    uint64
	Siblings []fr.Element
}

// Path returns the membership path of position i.
func (t *Tree) Path(i uint64) (Path, error) {
	if i >= uint64(t.Len()) {
		return Path{}, ErrIndex
	}
	p := Path{Index: i, Siblings: make([]fr.Element, t.depth)}
	for h := 0; h < t.depth; h++ {
		p.Siblings[h] = t.node(h, i^1)
		i /= 2
	}
	return p, nil
}

// Root computes the root that path p yields for identity commitment ic.
func (p Path) Root(ic fr.Element) fr.Element {
	cur := Leaf(ic)
	i := p.Index
	for _, s := range p.Siblings {
		if i&1 == 0 {
			cur = Node(cur, s)
		} else {
			cur = Node(s, cur)
		}
		i /= 2
	}
	return cur
}

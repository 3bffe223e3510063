package audit

import (
	"crypto/sha256"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// Claim subtrees (docs/design.md §7.6). A job's claim tree hashes one
// internal node per record, and every node of a federation hashes it to
// sign the job: a quarter of a job's work at 100,000 records. Jobs over
// the same records are common (several statistics over one closed epoch),
// and a tree's aligned subtree of claimBatch leaves has the same root in
// every job whose cohort holds those leaves at the same place. A node
// keeps the roots of the subtrees it hashed, by a SHA-256 of their
// leaves, and takes a root from there instead of hashing the subtree
// again. A root comes only from the node's own hashing, so its trust in
// it is the same; an audit hashes everything itself.

// tagClaimSubtree separates a subtree's key from every other hash.
const tagClaimSubtree = "cohort/v1/audit/claim-subtree"

// ClaimSubtrees remembers the roots of claim-tree subtrees a node hashed
// (ClaimRootHasher.Subtrees), up to a bound, the oldest forgotten first.
// It is safe for concurrent use.
type ClaimSubtrees struct {
	mu    sync.Mutex
	max   int
	m     map[[32]byte]fr.Element
	order [][32]byte // keys, oldest first
	hits  int
}

// NewClaimSubtrees keeps up to max roots (32 + 32 bytes each, and
// claimBatch = 1,024 records' worth of hashing: a million roots stand for
// a billion records).
func NewClaimSubtrees(max int) *ClaimSubtrees {
	return &ClaimSubtrees{max: max, m: make(map[[32]byte]fr.Element)}
}

// Hits is how many subtrees were taken from the cache instead of hashed.
func (c *ClaimSubtrees) Hits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

// root is the root of the subtree of batch (raw as subtreeRoot takes it),
// from the cache or hashed and kept.
func (c *ClaimSubtrees) root(batch []fr.Element, raw []bool) fr.Element {
	key := subtreeKey(batch, raw)
	c.mu.Lock()
	r, ok := c.m[key]
	if ok {
		c.hits++
	}
	c.mu.Unlock()
	if ok {
		return r
	}
	r = subtreeRoot(batch, raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && c.max > 0 {
		c.m[key] = r
		c.order = append(c.order, key)
		for len(c.order) > c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	return r
}

// subtreeKey is a SHA-256 of a batch's entries, each a nullifier whose
// leaf is still to hash or a leaf given whole, told apart.
func subtreeKey(batch []fr.Element, raw []bool) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagClaimSubtree))
	var b [33]byte
	for i := range batch {
		b[0] = 0
		if raw[i] {
			b[0] = 1
		}
		e := batch[i].Bytes()
		copy(b[1:], e[:])
		h.Write(b[:])
	}
	return [32]byte(h.Sum(nil))
}

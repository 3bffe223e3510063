package audit

import (
	"crypto/sha256"
	"slices"
	"sync"

	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/he"
)

// maxCacheEntries bounds each map of a Cache; when one is full it is
// emptied.
const maxCacheEntries = 64

// Cache remembers, across calls to Verify, the circuits it compiled and the
// ceremony transcripts that re-verified, so that an auditor or a node
// checking many jobs of one dataset compiles its circuit and replays its
// ceremony once (replaying takes tens of seconds for a real circuit). Only
// successful results are kept, keyed by everything they depend on: a
// circuit by its shape (for HE, with the collective key's digest, since
// the key is a circuit constant), a ceremony by the SHA-256 of its exact
// bytes and the circuit's digest. Every other check still runs on every call. A
// Cache is safe for concurrent use; the zero value is not usable, call
// NewCache.
type Cache struct {
	mu         sync.Mutex
	circuits   map[circuitKey]compiled
	ceremonies map[[32]byte][]byte // ceremony key → verifying key it yields
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{circuits: map[circuitKey]compiled{}, ceremonies: map[[32]byte][]byte{}}
}

// circuitKey is what a contribution circuit depends on: for MPC the
// schema, node count and registry depth; for HE the schema, registry depth
// and the collective key (parameter set and key digest).
type circuitKey struct {
	schema       [32]byte
	nodes, depth int
	paramSet     he.ParamSetID // HE only
	key          [32]byte      // HE only: SHA-256 of the encoded public key
}

// compiled is a compiled circuit and its digest.
type compiled struct {
	ccs    constraint.ConstraintSystem
	digest [32]byte
}

func (c *Cache) circuit(k circuitKey) (compiled, bool) {
	if c == nil {
		return compiled{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.circuits[k]
	return v, ok
}

func (c *Cache) putCircuit(k circuitKey, v compiled) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.circuits) >= maxCacheEntries {
		clear(c.circuits)
	}
	c.circuits[k] = v
}

// ceremonyKey binds a ceremony transcript's exact bytes to the circuit it
// was replayed for.
func ceremonyKey(circuit [32]byte, ceremony []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("cohort/v1/audit-ceremony-cache\x00"))
	h.Write(circuit[:])
	h.Write(ceremony)
	return [32]byte(h.Sum(nil))
}

func (c *Cache) ceremony(k [32]byte) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.ceremonies[k]
	return v, ok
}

func (c *Cache) putCeremony(k [32]byte, vk []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ceremonies) >= maxCacheEntries {
		clear(c.ceremonies)
	}
	c.ceremonies[k] = slices.Clone(vk)
}

// compile compiles the MPC circuit of shape sh (of a schema with the
// given digest), through the cache when there is one.
func (c *Cache) compile(schemaDigest [32]byte, sh circuits.MPCShape) (compiled, error) {
	k := circuitKey{schema: schemaDigest, nodes: sh.Nodes, depth: sh.Depth}
	return c.compileWith(k, func() (constraint.ConstraintSystem, error) {
		sys, err := circuits.CompileMPC(sh)
		if err != nil {
			return nil, err
		}
		return sys.CCS, nil
	})
}

// compileHE compiles the HE circuit of shape sh (of a schema with the
// given digest, for the collective key with the given digest), through
// the cache when there is one.
func (c *Cache) compileHE(schemaDigest, keyDigest [32]byte, sh circuits.HEShape) (compiled, error) {
	k := circuitKey{schema: schemaDigest, depth: sh.Depth, paramSet: he.ParamSetID(sh.Key.ParamSet), key: keyDigest}
	return c.compileWith(k, func() (constraint.ConstraintSystem, error) {
		sys, err := circuits.CompileHE(sh)
		if err != nil {
			return nil, err
		}
		return sys.CCS, nil
	})
}

func (c *Cache) compileWith(k circuitKey, build func() (constraint.ConstraintSystem, error)) (compiled, error) {
	if v, ok := c.circuit(k); ok {
		return v, nil
	}
	ccs, err := build()
	if err != nil {
		return compiled{}, err
	}
	d, err := setup.CircuitDigest(ccs)
	if err != nil {
		return compiled{}, err
	}
	v := compiled{ccs: ccs, digest: d}
	c.putCircuit(k, v)
	return v, nil
}

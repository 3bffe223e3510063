package audit

import (
	"crypto/sha256"
	"slices"
	"sync"

	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits/setup"
)

// maxCacheEntries bounds each map of a Cache; when one is full it is
// emptied.
const maxCacheEntries = 64

// Cache remembers, across calls to Verify, the circuits it compiled and the
// ceremony transcripts that re-verified, so that an auditor or a node
// checking many jobs of one dataset compiles its circuit and replays its
// ceremony once (replaying takes tens of seconds for a real circuit). Only
// successful results are kept, keyed by everything they depend on: a
// circuit by backend.CircuitKey (for HE with the collective key's digest,
// since the key is a circuit constant), a ceremony by the SHA-256 of its
// exact bytes and the circuit's digest. Every other check still runs on
// every call. A Cache is safe for concurrent use; the zero value is not
// usable, call NewCache.
type Cache struct {
	mu         sync.Mutex
	circuits   map[backend.CircuitKey]compiled
	ceremonies map[[32]byte][]byte // ceremony key → verifying key it yields
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{circuits: map[backend.CircuitKey]compiled{}, ceremonies: map[[32]byte][]byte{}}
}

// compiled is a compiled circuit and its digest.
type compiled struct {
	ccs    constraint.ConstraintSystem
	digest [32]byte
}

func (c *Cache) circuit(k backend.CircuitKey) (compiled, bool) {
	if c == nil {
		return compiled{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.circuits[k]
	return v, ok
}

func (c *Cache) putCircuit(k backend.CircuitKey, v compiled) {
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

// compiler compiles a backend's circuit through the cache when there is
// one.
func (c *Cache) compiler() backend.Compiler {
	return func(k backend.CircuitKey, build func() (constraint.ConstraintSystem, error)) (constraint.ConstraintSystem, [32]byte, error) {
		if v, ok := c.circuit(k); ok {
			return v.ccs, v.digest, nil
		}
		ccs, err := build()
		if err != nil {
			return nil, [32]byte{}, err
		}
		d, err := setup.CircuitDigest(ccs)
		if err != nil {
			return nil, [32]byte{}, err
		}
		c.putCircuit(k, compiled{ccs: ccs, digest: d})
		return ccs, d, nil
	}
}

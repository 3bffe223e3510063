package node

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// ceremonies is a peer's state of the ceremonies it takes part in. It is
// kept in memory: a node restarted mid-ceremony makes that ceremony fail.
type ceremonies struct {
	mu sync.Mutex
	m  map[string]*ceremony
}

type ceremony struct {
	info        *cohortv1.CeremonyInfo
	desc        *cohortv1.DatasetDescriptor
	ds          *dataset.Dataset
	coordinator uint32
	mine        map[[2]int][32]byte // (phase, index) → SHA-256 of this node's contribution
	busy        bool
	sealing     bool // this node is deriving its keys: no abort meanwhile
	sealed      bool // this node sealed it: its keys are stored here
	// ready is the READY descriptor this node derived when it sealed,
	// waiting for every node's signature (DatasetReady); nil before.
	ready *cohortv1.DatasetDescriptor
	// claim marks the claim keys' ceremony (docs/design.md §5.9): no
	// dataset (desc and ds nil); claimReady is what this node derived when
	// it sealed, stored when every node's signature arrives
	// (DatasetReady), then installed is set.
	claim      bool
	claimReady *claimPending
	installed  bool
}

// isSealed reads sealed under mu, the lock of the ceremonies.
func (c *ceremony) isSealed(mu *sync.Mutex) bool {
	mu.Lock()
	defer mu.Unlock()
	return c.sealed
}

// beginSeal marks cer, known under id, as being sealed; it fails when cer
// is sealed or being sealed, or was aborted meanwhile.
func (c *ceremonies) beginSeal(id string, cer *ceremony) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[id] != cer {
		return status.Errorf(codes.NotFound, "ceremony %q was aborted", id)
	}
	if cer.sealed || cer.sealing {
		return status.Errorf(codes.FailedPrecondition, "ceremony %q is sealed or being sealed", id)
	}
	cer.sealing = true
	return nil
}

// endSeal records how sealing cer ended.
func (c *ceremonies) endSeal(cer *ceremony, sealed bool) {
	c.mu.Lock()
	cer.sealing, cer.sealed = false, sealed
	c.mu.Unlock()
}

func newCeremonies() *ceremonies { return &ceremonies{m: map[string]*ceremony{}} }

func (c *ceremonies) get(id string) (*ceremony, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cer, ok := c.m[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no ceremony %q on this node", id)
	}
	return cer, nil
}

package node

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
)

// keygens is a node's in-memory state of the key generations it is in,
// from round 1 until the ceremony of the dataset starts. A node restarted
// in between makes that generation (and so the dataset's creation) fail.
type keygens struct {
	mu sync.Mutex
	m  map[string]*keygen
}

// keygenPhase is where a node is in one key generation (docs/design.md
// §4.3). Each step of the protocol moves it one phase forward, only at the
// request of the node that started it (keygenNext).
type keygenPhase int

const (
	// keygenCommitted: round 1 answered with the signed commitment; the
	// public-key share is withheld.
	keygenCommitted keygenPhase = iota + 1
	// keygenRevealed: every node's signed commitment received and checked,
	// the share revealed.
	keygenRevealed
	// keygenFinishing: round 3 is running; it has one attempt.
	keygenFinishing
	// keygenFinished: the threshold share stored and the key signed; only
	// the generation's coordinator may start the dataset's ceremony.
	keygenFinished
)

func (p keygenPhase) String() string {
	switch p {
	case keygenCommitted:
		return "committed"
	case keygenRevealed:
		return "revealed"
	case keygenFinishing:
		return "finishing"
	case keygenFinished:
		return "finished"
	}
	return fmt.Sprintf("phase %d", int(p))
}

// keygenNext is the one place that says which transitions are legal: a
// phase moves to the next, and keygenFinished is the last.
func keygenNext(p keygenPhase) (keygenPhase, bool) {
	switch p {
	case keygenCommitted, keygenRevealed, keygenFinishing:
		return p + 1, true
	}
	return 0, false
}

// Refusals of a key-generation step; keygenStatus maps them to gRPC codes.
var (
	errKeygenUnknown        = errors.New("no key generation for this dataset on this node")
	errKeygenBusy           = errors.New("a key generation for this dataset is already running on this node")
	errKeygenNotCoordinator = errors.New("only the node that started the key generation may continue it")
	errKeygenOutOfOrder     = errors.New("the key generation is not at that step")
)

// keygenTTL bounds how long a generation waits for its next round;
// keygenCeremonyTTL how long a finished one waits for its ceremony (the
// coordinator compiles the circuit in between).
const (
	keygenTTL         = 10 * time.Minute
	keygenCeremonyTTL = time.Hour
)

type keygen struct {
	req         *cohortv1.HEKeygenRequest
	params      *he.Params
	party       *he.KeygenParty // nil once finished
	pkShare     []byte          // this node's share, withheld until revealed
	commitment  [32]byte        // this node's commitment to pkShare
	commitments [][32]byte      // every node's, from round 2
	from        uint32          // the coordinator
	phase       keygenPhase
	since       time.Time // when it entered its phase
}

func newKeygens() *keygens { return &keygens{m: map[string]*keygen{}} }

func (g *keygen) expired(now time.Time) bool {
	ttl := keygenTTL
	if g.phase == keygenFinished {
		ttl = keygenCeremonyTTL
	}
	return now.Sub(g.since) > ttl
}

// begin records a new generation in phase keygenCommitted; errKeygenBusy
// when one for the dataset is known, whoever started it.
func (ks *keygens) begin(id string, g *keygen, now time.Time) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for k, old := range ks.m {
		if old.expired(now) {
			delete(ks.m, k)
		}
	}
	if _, busy := ks.m[id]; busy {
		return errKeygenBusy
	}
	g.phase, g.since = keygenCommitted, now
	ks.m[id] = g
	return nil
}

// lookup returns the generation of id if caller from started it and it is
// in phase want. Call with ks.mu held.
func (ks *keygens) lookup(id string, from uint32, want keygenPhase, now time.Time) (*keygen, error) {
	g, ok := ks.m[id]
	if ok && g.expired(now) {
		delete(ks.m, id)
		ok = false
	}
	switch {
	case !ok:
		return nil, errKeygenUnknown
	case g.from != from:
		return nil, errKeygenNotCoordinator
	case g.phase != want:
		return nil, fmt.Errorf("%w: it is %s, not %s", errKeygenOutOfOrder, g.phase, want)
	}
	return g, nil
}

// step moves the generation of id from phase want to the next, for
// caller from, after check (when not nil) accepts it; nothing changes
// when any of that fails.
func (ks *keygens) step(id string, from uint32, want keygenPhase, now time.Time, check func(*keygen) error) (*keygen, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	g, err := ks.lookup(id, from, want, now)
	if err != nil {
		return nil, err
	}
	next, ok := keygenNext(want)
	if !ok {
		return nil, fmt.Errorf("%w: %s is the last phase", errKeygenOutOfOrder, want)
	}
	if check != nil {
		if err := check(g); err != nil {
			return nil, err
		}
	}
	g.phase, g.since = next, now
	return g, nil
}

// mayStartCeremony checks that caller from finished the generation of id
// with this node, so may start its ceremony.
func (ks *keygens) mayStartCeremony(id string, from uint32, now time.Time) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	_, err := ks.lookup(id, from, keygenFinished, now)
	return err
}

// pending reports whether a generation of id is known, in any phase.
func (ks *keygens) pending(id string, now time.Time) bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	g, ok := ks.m[id]
	return ok && !g.expired(now)
}

// drop forgets the generation of id.
func (ks *keygens) drop(id string) {
	ks.mu.Lock()
	delete(ks.m, id)
	ks.mu.Unlock()
}

// keygenStatus is the gRPC status of a refused step on node self; a
// check's own status passes as it is.
func keygenStatus(err error, id string, self uint32) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.FailedPrecondition
	if errors.Is(err, errKeygenNotCoordinator) {
		code = codes.PermissionDenied
	}
	return status.Errorf(code, "key generation of dataset %q on node %d: %v", id, self, err)
}

package node

import (
	"sync"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
)

// keygens is a node's in-memory state of the key generations it is in,
// between round 1 and round 2. A node restarted in between makes that
// generation (and so the dataset's creation) fail.
type keygens struct {
	mu sync.Mutex
	m  map[string]*keygen
}

type keygen struct {
	req     *cohortv1.HEKeygenRequest
	params  *he.Params
	party   *he.KeygenParty
	pkShare []byte
	from    uint32
	started time.Time
}

func newKeygens() *keygens { return &keygens{m: map[string]*keygen{}} }

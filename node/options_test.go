package node

import (
	"strings"
	"testing"
)

// A message limit that a blob chunk and its framing do not fit in is
// refused before anything starts: a transcript or key larger than a chunk
// could never be sent.
func TestOptionsMessageLimit(t *testing.T) {
	o := Options{Limits: Limits{MaxMessageBytes: 1 << 20}}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "max message bytes") {
		t.Fatalf("a 1 MiB message limit: %v", err)
	}
	for _, m := range []int{0, MinMessageBytes, 16 << 20} {
		o.Limits.MaxMessageBytes = m
		if err := o.validate(); err == nil || strings.Contains(err.Error(), "max message bytes") {
			t.Errorf("limit %d refused for its size: %v", m, err)
		}
	}
}

// A replica id outside 1..64 bytes of [A-Za-z0-9._-] is refused before
// anything starts; an empty one is a random id.
func TestOptionsReplicaID(t *testing.T) {
	for _, id := range []string{"r 1", "r/1", strings.Repeat("r", 65), "ré"} {
		o := Options{ReplicaID: id}
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), "replica id") {
			t.Errorf("replica id %q: %v", id, err)
		}
	}
	for _, id := range []string{"", "node-0.a_1", strings.Repeat("r", 64)} {
		o := Options{ReplicaID: id}
		if err := o.validate(); err == nil || strings.Contains(err.Error(), "replica id") {
			t.Errorf("replica id %q refused for itself: %v", id, err)
		}
	}
	id, err := newReplicaID()
	if err != nil || checkReplicaID(id) != nil {
		t.Fatalf("random replica id %q: %v", id, err)
	}
}

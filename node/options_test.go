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

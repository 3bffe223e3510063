package node

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// apiTime is t as the public API's google.protobuf.Timestamp
// (docs/design.md §8.6): whole seconds, as the store keeps them; nil for
// the zero time, which the API leaves unset.
func apiTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t.Truncate(time.Second))
}

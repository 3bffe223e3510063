package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// TestRootWindow: a proof made against a root that a later registration
// superseded is accepted within the federation's window and refused after.
func TestRootWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records")
	}
	var skew atomic.Int64 // added to every node's clock
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	f := newTestFederation(t, 3, func(o *Options) { o.Now, o.RootWindow = clock, time.Hour })
	desc := f.installDataset(t)
	ctx := context.Background()

	a, b := f.register(t, 0), f.register(t, 1)
	early := f.payload(t, a, 0, payloadOptions{}) // against the root with a and b
	f.register(t, 2)                              // supersedes that root
	late := f.payload(t, b, 0, payloadOptions{})  // against the newest root

	skew.Store(int64(2 * time.Hour))
	_, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: early})
	wantCode(t, "root superseded two hours ago", err, codes.FailedPrecondition)
	f.wantStored(t, 0)
	// The current root has no age limit.
	if _, err := f.contributor(1).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: late}); err != nil {
		t.Fatal(err)
	}
	// Within the window the superseded root is fine.
	skew.Store(int64(30 * time.Minute))
	if _, err := f.contributor(2).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: early}); err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, 2)
	// Once stored, a record's retry gets its receipt even after its root
	// left the window.
	skew.Store(int64(3 * time.Hour))
	if _, err := f.contributor(1).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: early}); err != nil {
		t.Fatalf("retry after the window: %v", err)
	}
}

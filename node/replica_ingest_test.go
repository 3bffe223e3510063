package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// TestReplicaIngestTakenOver: replica A of node 0 is paused in an upload
// after every peer acknowledged, before it decides, for longer than its
// lock on the record; the contributor retries through replica B, which
// takes the record over (docs/design.md §3.4). Whatever B decides — the
// commit, or the rollback when a peer is down — A's decision, once it
// wakes, is refused with Aborted and writes and sends nothing: the record
// is committed once everywhere, or removed everywhere, and no rollback is
// left owed.
func TestReplicaIngestTakenOver(t *testing.T) {
	f, b := newReplicaFederation(t)
	ctx := context.Background()
	desc := f.installReplicaDataset(t)
	id := desc.GetId()
	a := f.nodes[0]
	contribute := func(via int, p []byte) (*cohortv1.ContributeResponse, error) {
		return f.contributor(via).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: p})
	}
	// uploadPausedInA starts an upload of p through A and waits until it
	// is paused before it decides; it stays paused until resume is
	// closed, and done gives its answer.
	uploadPausedInA := func(p []byte) (done chan error, resume chan struct{}) {
		t.Helper()
		paused, resume := make(chan struct{}), make(chan struct{})
		var once bool
		a.n.records.beforeDecide = func(recordKey) {
			if once {
				return
			}
			once = true
			close(paused)
			<-resume
		}
		done = make(chan error, 1)
		go func() {
			_, err := contribute(0, p)
			done <- err
		}()
		select {
		case <-paused:
		case err := <-done:
			t.Fatalf("replica A's upload ended before it decided: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("replica A's upload never reached its decision")
		}
		return done, resume
	}
	wantLoser := func(err error) {
		t.Helper()
		wantCode(t, "replica A's upload, taken over while it was paused", err, codes.Aborted)
		if !strings.Contains(status.Convert(err).Message(), "another replica") {
			t.Fatalf("replica A's refusal does not say another replica took the record over: %v", err)
		}
	}
	nothingOwed := func(nf [32]byte) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			owed, err := a.store.ListRollbacks(ctx, 10)
			if err == nil && len(owed) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rollbacks still owed: %+v (%v)", owed, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if l, err := a.store.GetRecordLock(ctx, id, nf); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the record's lock is still held: %+v (%v)", l, err)
		}
	}
	key := func(nf []byte) (k [32]byte) {
		copy(k[:], nf)
		return k
	}

	t.Run("the retry commits", func(t *testing.T) {
		p := f.payload(t, f.register(t, 0), 0, payloadOptions{})
		nf := f.nfOf(t, id, p)
		done, resume := uploadPausedInA(p)
		// B waits for A's lock to expire (a lease after A last renewed
		// it), takes the record over and commits it everywhere.
		held, err := a.store.GetRecordLock(ctx, id, key(nf))
		if err != nil || held.Replica != a.opts.ReplicaID {
			t.Fatalf("the record's lock while A is paused: %+v (%v), want A's", held, err)
		}
		resp, err := contribute(viaB, p)
		if err != nil {
			t.Fatalf("the retry through replica B: %v", err)
		}
		if now := time.Now(); now.Before(held.Expires) {
			t.Errorf("replica B took the record over at %s, before A's lock expired at %s", now.Format(time.StampMilli), held.Expires.Format(time.StampMilli))
		}
		f.awaitHeld(t, id, nf, true)
		close(resume)
		wantLoser(<-done)
		// A's refusal changed nothing: committed once on every node, the
		// receipt B gave is the one a retry through A gets.
		f.awaitHeld(t, id, nf, true)
		for i, n := range f.stored(t) {
			if n != 1 {
				t.Errorf("node %d holds %d records, want 1", i, n)
			}
		}
		row, err := a.store.GetContribution(ctx, id, key(nf))
		if err != nil || row.Pending || row.Incomplete || row.Replica != "" {
			t.Fatalf("node 0's row: pending %v, incomplete %v, replica %q (%v)", row.Pending, row.Incomplete, row.Replica, err)
		}
		nothingOwed(key(nf))
		again, err := contribute(0, p)
		if err != nil || !proto.Equal(again.GetReceipt(), resp.GetReceipt()) {
			t.Fatalf("a retry through replica A: %v; the same receipt as B's: %t", err, proto.Equal(again.GetReceipt(), resp.GetReceipt()))
		}
	})

	t.Run("the retry rolls back", func(t *testing.T) {
		p := f.payload(t, f.register(t, 0), 0, payloadOptions{})
		nf := f.nfOf(t, id, p)
		done, resume := uploadPausedInA(p)
		// Node 2 goes down; B, holding no payload for a node that is down
		// (no backlog), takes the record over and decides its rollback:
		// node 1's row goes at once, node 2's is owed.
		f.nodes[2].stop()
		b.n.opts.Limits.MaxCatchUpBacklog = -1
		_, err := contribute(viaB, p)
		wantCode(t, "the retry through replica B with node 2 down", err, codes.Unavailable)
		if held, _ := f.held(t, id, nf); held[0] || held[1] || !held[2] {
			t.Fatalf("after B's rollback: held %v; want node 2's row only (it is down)", held)
		}
		close(resume)
		wantLoser(<-done)
		// A wrote nothing: node 0 still holds no row.
		if held, _ := f.held(t, id, nf); held[0] || held[1] {
			t.Fatalf("after A's refused decision: held %v; want the record gone from nodes 0 and 1", held)
		}
		relisten(t, f.nodes[2])
		f.start(f.nodes[2])
		f.awaitHeld(t, id, nf, false)
		nothingOwed(key(nf))
		for i, n := range f.stored(t) {
			if n != 1 {
				t.Errorf("node %d holds %d records, want 1 (the first subtest's)", i, n)
			}
		}
	})
}

package node

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/store"
)

// TestRegistryFollowsTheStore: a member appended to the store by another
// process sharing it (a replica of this node) is in the paths and the
// head this node answers with next, without a restart.
func TestRegistryFollowsTheStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(t.TempDir(), "cohort.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{opts: Options{RegistryDepth: testDepth}, log: slog.New(slog.DiscardHandler), store: st, now: time.Now,
		metrics: m, ctx: ctx, bg: new(sync.WaitGroup)}
	r, err := loadRegistry(ctx, e, newPeers(e))
	if err != nil {
		t.Fatal(err)
	}

	// The other process appends two members.
	other, err := merkle.New(testDepth)
	if err != nil {
		t.Fatal(err)
	}
	var ics []fr.Element
	for k := range 2 {
		var ic fr.Element
		ic.SetUint64(uint64(1000 + k))
		if _, err := other.Append(ic); err != nil {
			t.Fatal(err)
		}
		head, err := st.RegistryHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendMember(ctx, head.Version, feBytes(ic), feBytes(other.Root()), time.Now()); err != nil {
			t.Fatal(err)
		}
		ics = append(ics, ic)
	}

	resp, err := r.path(ctx, 1)
	if err != nil {
		t.Fatalf("path of a member another process added: %v", err)
	}
	want := feBytes(other.Root())
	if string(resp.GetRoot()) != string(want[:]) || resp.GetSequence() != 2 {
		t.Fatalf("path under root %x at sequence %d, want %x at 2", resp.GetRoot()[:4], resp.GetSequence(), want[:4])
	}
	p := merkle.Path{Index: 1}
	for _, s := range resp.GetSiblings() {
		var e fr.Element
		e.SetBytes(s)
		p.Siblings = append(p.Siblings, e)
	}
	if feBytes(p.Root(ics[1])) != want {
		t.Fatal("the answered path does not lead to the store's root")
	}
	head, root, err := r.current(ctx)
	if err != nil || head.Size != 2 || root != want {
		t.Fatalf("current: size %d, root %x (%v)", head.Size, root[:4], err)
	}
	if _, err := r.path(ctx, 2); err == nil {
		t.Fatal("a path for a position no one holds")
	}
}

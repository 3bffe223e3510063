package node

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// TestRegistryFollowsTheStore: a member appended to the store by another
// process sharing it (a replica of this node) is in the paths and the
// head this node answers with next, without a restart.
func TestRegistryFollowsTheStore(t *testing.T) {
	ctx := context.Background()
	st := registryStore(t)
	e := registryEnv(t, st)
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

// TestRegisterDuplicateDoesNotBlock: with a peer that accepts connections
// but never answers, a registration waits for it (and fails after the peer
// timeout), but holds no lock meanwhile: a commitment already registered
// is answered at once with its membership, and another new registration
// is ordered at once.
func TestRegisterDuplicateDoesNotBlock(t *testing.T) {
	f := newTestFederation(t, 3)
	ctx := context.Background()
	x := f.register(t, 0)

	// Node 2 stops; a listener that never answers takes its peer address.
	addr := f.nodes[2].peerLis.Addr().String()
	f.nodes[2].stop()
	hole, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	t.Cleanup(func() { hole.Close(); held.Wait() })
	held.Add(1)
	go func() {
		defer held.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	invites, err := f.admin(0).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: 3, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	newIC := func() []byte {
		var s fr.Element
		if _, err := s.SetRandom(); err != nil {
			t.Fatal(err)
		}
		ic := feBytes(circuits.IdentityCommitment(s))
		return ic[:]
	}
	timeout := f.nodes[0].opts.Limits.PeerTimeout
	slow := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := f.contributor(0).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: newIC(), InviteToken: invites.GetTokens()[0]})
		slow <- err
	}()
	waitHead := func(version uint64) {
		t.Helper()
		for time.Now().Before(start.Add(timeout / 2)) {
			if h, err := f.nodes[0].store.RegistryHead(ctx); err == nil && h.Version >= version {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("registration %d not ordered within %s while another waits on a silent peer", version, timeout/2)
	}
	waitHead(2)

	ic := feBytes(circuits.IdentityCommitment(x.secret))
	t0 := time.Now()
	resp, err := f.contributor(0).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: invites.GetTokens()[1]})
	took := time.Since(t0)
	if err != nil || resp.GetMemberIndex() != x.index || resp.GetSequence() != 2 {
		t.Fatalf("duplicate registration: index %d at sequence %d (%v), want %d at 2", resp.GetMemberIndex(), resp.GetSequence(), err, x.index)
	}
	if took > timeout/4 {
		t.Fatalf("duplicate registration took %s with a silent peer (peer timeout %s)", took, timeout)
	}
	if h, _ := f.nodes[0].store.RegistryHead(ctx); h.Size != 2 {
		t.Fatalf("a duplicate registration changed the registry: %d members, want 2", h.Size)
	}

	third := make(chan error, 1)
	go func() {
		_, err := f.contributor(0).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: newIC(), InviteToken: invites.GetTokens()[2]})
		third <- err
	}()
	waitHead(3)
	select {
	case err := <-slow:
		t.Fatalf("the registration waiting on the silent peer ended early: %v", err)
	default:
	}
	wantCode(t, "a registration a silent peer has not applied", <-slow, codes.Unavailable)
	wantCode(t, "another registration a silent peer has not applied", <-third, codes.Unavailable)
	if h, _ := f.nodes[1].store.RegistryHead(ctx); h.Version != 3 {
		t.Fatalf("the live peer is at %d, want 3", h.Version)
	}
}

// registryStore is a store of its own for a registry test, closed at its
// end.
func registryStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Path: filepath.Join(t.TempDir(), "cohort.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// registryEnv is the environment a registry tree needs, over st.
func registryEnv(t *testing.T, st store.Store) *env {
	t.Helper()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{opts: Options{RegistryDepth: testDepth}, log: slog.New(slog.DiscardHandler), store: st, now: time.Now,
		metrics: m, ctx: context.Background(), bg: new(sync.WaitGroup)}
}

// staleHead answers RegistryHead with an older head the first times it
// is asked, as a store does when another replica appends between a read
// of the head and a read of the members.
type staleHead struct {
	store.Store
	old   store.RegistryHead
	stale int
}

func (s *staleHead) RegistryHead(ctx context.Context) (store.RegistryHead, error) {
	if s.stale > 0 {
		s.stale--
		return s.old, nil
	}
	return s.Store.RegistryHead(ctx)
}

// TestRegistryReloadWhileAppending: a tree read while another replica
// appends (its head older than the members read) is read again and
// follows the store; a store whose root is not its members' is refused.
func TestRegistryReloadWhileAppending(t *testing.T) {
	ctx := context.Background()
	st := registryStore(t)
	other, err := merkle.New(testDepth)
	if err != nil {
		t.Fatal(err)
	}
	var heads []store.RegistryHead
	for k := range 3 {
		var ic fr.Element
		ic.SetUint64(uint64(2000 + k))
		if _, err := other.Append(ic); err != nil {
			t.Fatal(err)
		}
		head, err := st.RegistryHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, head)
		if _, err := st.AppendMember(ctx, head.Version, feBytes(ic), feBytes(other.Root()), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// The head as it was before the last append: the members are read up
	// to its size, a consistent older tree, which sync brings up to the
	// store.
	stale := &staleHead{Store: st, old: heads[2], stale: 1}
	e := registryEnv(t, stale)
	r, err := loadRegistry(ctx, e, newPeers(e))
	if err != nil {
		t.Fatalf("a registry read while it grew: %v", err)
	}
	if r.head.Version != 2 || r.tree.Len() != 2 {
		t.Fatalf("read at version %d with %d members, want the head's 2 and 2", r.head.Version, r.tree.Len())
	}
	if err := r.sync(ctx); err != nil || r.head.Version != 3 || feBytes(r.tree.Root()) != feBytes(other.Root()) {
		t.Fatalf("synced to version %d (%v), want 3 with the store's root", r.head.Version, err)
	}
	// A head whose root the members read do not give (a member removed
	// between the two reads, say) is read again, with the members, until
	// they agree.
	moved := heads[2]
	moved.Root = [32]byte{1}
	stale.old, stale.stale = moved, 1
	if err := r.reload(ctx); err != nil || r.head.Version != 3 || feBytes(r.tree.Root()) != feBytes(other.Root()) {
		t.Fatalf("a registry that changed while it was read: version %d, %v", r.head.Version, err)
	}

	// A root that is not the members' is refused, however often read.
	var ic fr.Element
	ic.SetUint64(9999)
	if _, err := st.AppendMember(ctx, 3, feBytes(ic), feBytes(other.Root()), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.reload(ctx); err == nil || !strings.Contains(err.Error(), "differs from the stored root") {
		t.Fatalf("a stored root that is not its members': %v", err)
	}
}

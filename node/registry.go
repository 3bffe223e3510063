package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/circuits/merkle"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// registryTree is this node's copy of the federation's registry: the Merkle
// tree of identity commitments, mirrored from the store. Every node applies
// the same updates in the same order (the sequencer orders them), so every
// node computes the same roots. mu serialises updates and guards tree.
type registryTree struct {
	e     *env
	peers *peerConns
	mu    sync.Mutex
	tree  *merkle.Tree
	head  store.RegistryHead
	// repushing is set while a background push to a peer behind runs.
	repushing atomic.Bool
}

// loadRegistry rebuilds the tree from the store and checks it yields the
// stored root.
func loadRegistry(ctx context.Context, e *env, p *peerConns) (*registryTree, error) {
	r := &registryTree{e: e, peers: p}
	if err := r.reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// reload rebuilds the tree from the store; callers hold mu (or are alone).
func (r *registryTree) reload(ctx context.Context) error {
	// The head and the members are read in separate statements: another
	// replica of this node may append or remove between them
	// (docs/design.md §3.4), and the tree is then read again.
	for attempt := 1; ; attempt++ {
		tree, head, err := r.read(ctx)
		if err != nil {
			return err
		}
		if head.Version == 0 || feBytes(tree.Root()) == head.Root {
			r.tree, r.head = tree, head
			r.e.metrics.registryMembers.Set(float64(tree.Len()))
			return nil
		}
		now, err := r.e.store.RegistryHead(ctx)
		if err != nil {
			return fmt.Errorf("node: registry: %w", err)
		}
		if now.Version == head.Version || attempt == maxReloadAttempts {
			return fmt.Errorf("node: registry: rebuilt root differs from the stored root at version %d", head.Version)
		}
	}
}

// maxReloadAttempts bounds how often reload reads the registry again
// because it changed while it was read.
const maxReloadAttempts = 8

// read rebuilds the tree from the store's members up to the head's size.
func (r *registryTree) read(ctx context.Context) (*merkle.Tree, store.RegistryHead, error) {
	tree, err := merkle.New(r.e.opts.RegistryDepth)
	if err != nil {
		return nil, store.RegistryHead{}, err
	}
	head, err := r.e.store.RegistryHead(ctx)
	if err != nil {
		return nil, store.RegistryHead{}, fmt.Errorf("node: registry: %w", err)
	}
	for from := uint64(0); from < head.Size; {
		ms, err := r.e.store.Members(ctx, from, store.MaxPageSize)
		if err != nil {
			return nil, store.RegistryHead{}, fmt.Errorf("node: registry: %w", err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if m.Index >= head.Size {
				break // appended after the head was read
			}
			var ic fr.Element
			if err := ic.SetBytesCanonical(m.IC[:]); err != nil {
				return nil, store.RegistryHead{}, fmt.Errorf("node: registry: member %d: %w", m.Index, err)
			}
			if _, err := tree.Append(ic); err != nil {
				return nil, store.RegistryHead{}, fmt.Errorf("node: registry: member %d: %w", m.Index, err)
			}
			if m.Removed() {
				if err := tree.Remove(m.Index); err != nil {
					return nil, store.RegistryHead{}, fmt.Errorf("node: registry: member %d: %w", m.Index, err)
				}
			}
		}
		from = ms[len(ms)-1].Index + 1
	}
	return tree, head, nil
}

// root is the current root (the empty tree's root before any member).
func (r *registryTree) root() [32]byte { return feBytes(r.tree.Root()) }

// feBytes is the 32-byte big-endian canonical encoding of a field element
// (callable on a value, unlike fr.Element.Bytes).
func feBytes(e fr.Element) [32]byte { return e.Bytes() }

// fieldBytes parses a 32-byte big-endian canonical BN254 scalar.
func fieldBytes(b []byte, what string) (fr.Element, error) {
	var e fr.Element
	if len(b) != fr.Bytes {
		return e, status.Errorf(codes.InvalidArgument, "%s: %d bytes, want 32", what, len(b))
	}
	if err := e.SetBytesCanonical(b); err != nil {
		return e, status.Errorf(codes.InvalidArgument, "%s: not a canonical BN254 scalar", what)
	}
	return e, nil
}

// register admits ic, on the sequencer. A commitment already in the
// registry is answered with its membership at once (existing). A new one
// is appended under mu, and mu is released before the update is pushed to
// the peers: no lock is held across a peer call, so a peer that is down
// or slow delays only the registrations that wait for it (docs/design.md
// §8.4).
func (r *registryTree) register(ctx context.Context, icb []byte, token string) (*cohortv1.ProposeRegistrationResponse, error) {
	ic, err := fieldBytes(icb, "identity_commitment")
	if err != nil {
		return nil, err
	}
	if ic.IsZero() {
		return nil, status.Error(codes.InvalidArgument, "identity_commitment: zero is no one's commitment")
	}
	if len(token) > 128 {
		return nil, status.Error(codes.InvalidArgument, "invite_token: longer than 128 bytes")
	}
	key := ic.Bytes()
	if resp, err := r.existing(ctx, key); resp != nil || err != nil {
		return resp, err
	}
	resp, err := r.admit(ctx, ic, token)
	if err != nil {
		return nil, err
	}
	if resp == nil { // admitted by a concurrent call meanwhile
		if resp, err = r.existing(ctx, key); resp == nil && err == nil {
			err = r.e.internal("registry", errors.New("a member found under the lock is gone"))
		}
		return resp, err
	}
	if err := r.push(ctx, resp.GetSequence()); err != nil {
		return nil, err
	}
	return resp, nil
}

// existing answers a commitment already in the registry with its
// membership under the current root, from the store, without waiting on
// any peer; it returns nil, nil for a commitment not in the registry. A
// peer not known to have applied the latest update is sent it in the
// background, so that one that missed it catches up.
func (r *registryTree) existing(ctx context.Context, key [32]byte) (*cohortv1.ProposeRegistrationResponse, error) {
	m, err := r.e.store.FindMember(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, r.e.internal("find member", err)
	}
	head, root, err := r.current(ctx)
	if err != nil {
		return nil, r.e.internal("registry", err)
	}
	r.repushBehind(head.Version)
	return &cohortv1.ProposeRegistrationResponse{MemberIndex: m.Index, Root: bytesOf(root), Sequence: head.Version}, nil
}

// maxAppendAttempts bounds how often admit appends again after a replica
// sharing the store appended first.
const maxAppendAttempts = 8

// admit checks the invite and appends ic under mu, touching only the store;
// it returns nil, nil when ic was admitted meanwhile. The tree is first
// brought up to the store's registry, which another replica of this node
// may have changed (docs/design.md §3.4); an append that loses the race
// with another replica's is made again on the registry as it then stands,
// with the invite already taken.
func (r *registryTree) admit(ctx context.Context, ic fr.Element, token string) (*cohortv1.ProposeRegistrationResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sync(ctx); err != nil {
		return nil, r.e.internal("registry", err)
	}
	key := ic.Bytes()
	if _, err := r.e.store.FindMember(ctx, key); err == nil {
		return nil, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, r.e.internal("find member", err)
	}
	switch {
	case token == "" && r.e.opts.OpenAdmission:
	case token == "":
		return nil, status.Error(codes.PermissionDenied, "invite_token is required (this federation admits by invitation)")
	default:
		h := sha256.Sum256([]byte(token))
		err := r.e.store.UseInvite(ctx, h, r.e.now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, status.Error(codes.PermissionDenied, "unknown invite token")
		case errors.Is(err, store.ErrConflict):
			return nil, status.Error(codes.PermissionDenied, "invite token already used or expired")
		case err != nil:
			return nil, r.e.internal("use invite", err)
		}
	}
	for attempt := 1; ; attempt++ {
		at := time.Unix(r.e.now().Unix(), 0)
		if _, err := r.tree.Append(ic); err != nil {
			return nil, status.Errorf(codes.ResourceExhausted, "registry full: %v", err)
		}
		root := r.root()
		idx, err := r.e.store.AppendMember(ctx, r.head.Version, key, root, at)
		if err == nil {
			r.head = store.RegistryHead{Version: r.head.Version + 1, Size: idx + 1, Root: root, At: at}
			r.e.metrics.registryMembers.Set(float64(r.tree.Len()))
			r.e.log.Info("registry: member admitted", "index", idx, "sequence", r.head.Version)
			return &cohortv1.ProposeRegistrationResponse{MemberIndex: idx, Root: bytesOf(root), Sequence: r.head.Version}, nil
		}
		if rerr := r.reload(ctx); rerr != nil {
			return nil, r.e.internal("append member", errors.Join(err, rerr))
		}
		switch {
		case errors.Is(err, store.ErrAlreadyExists):
			return nil, nil // admitted through another replica meanwhile
		case errors.Is(err, store.ErrConflict) && attempt < maxAppendAttempts:
			continue // another replica appended first
		}
		return nil, r.e.internal("append member", err)
	}
}

// push sends update version to every peer and waits for all of them: a
// peer behind by more than one update fetches the rest from the sequencer.
// Callers do not hold mu: updates are read from the store, and a peer
// applies them in order whatever order the pushes arrive in.
func (r *registryTree) push(ctx context.Context, version uint64) error {
	if version == 0 {
		return nil
	}
	u, err := r.update(ctx, version)
	if err != nil {
		return err
	}
	_, errs := fanOut(ctx, r.peers, func(ctx context.Context, i uint32, c cohortv1.PeerServiceClient) (*cohortv1.ApplyRegistrationResponse, error) {
		resp, err := c.ApplyRegistration(ctx, &cohortv1.ApplyRegistrationRequest{Update: u})
		if err == nil {
			r.peers.noteSequence(i, resp.GetSequence())
		}
		return resp, err
	})
	for i, err := range errs {
		return status.Errorf(codes.Unavailable, "registration is ordered (sequence %d) but node %d has not applied it: %v; a retried Register answers with the membership and sends the update again",
			version, i, status.Convert(err).Message())
	}
	return nil
}

// repushBehind pushes update version in the background when a peer is not
// known to have applied it; one such push runs at a time, and the caller
// does not wait for it.
func (r *registryTree) repushBehind(version uint64) {
	behind := false
	for _, i := range r.e.others() {
		if r.peers.status(i).sequence < version {
			behind = true
		}
	}
	if !behind || !r.repushing.CompareAndSwap(false, true) {
		return
	}
	r.e.bg.Add(1)
	go func() {
		defer r.e.bg.Done()
		defer r.repushing.Store(false)
		if err := r.push(r.e.ctx, version); err != nil {
			r.e.log.Debug("registry: push to a peer behind", "sequence", version, "error", err)
		}
	}()
}

// update reconstructs the update of a version from the store's log.
func (r *registryTree) update(ctx context.Context, version uint64) (*cohortv1.RegistryUpdate, error) {
	us, err := r.updates(ctx, version-1, 1)
	if err != nil {
		return nil, err
	}
	if len(us) != 1 {
		return nil, r.e.internal("registry log", fmt.Errorf("version %d missing", version))
	}
	return us[0], nil
}

// updates returns up to limit updates after version after, from the store.
func (r *registryTree) updates(ctx context.Context, after uint64, limit int) ([]*cohortv1.RegistryUpdate, error) {
	var prev [32]byte
	from := after
	if after == 0 {
		prev = feBytes(circuitsEmptyRoot(r.e.opts.RegistryDepth))
	} else {
		from = after - 1
	}
	roots, err := r.e.store.Roots(ctx, from, limit+1)
	if err != nil {
		return nil, r.e.internal("registry log", err)
	}
	var out []*cohortv1.RegistryUpdate
	var prevSize uint64
	for k, rr := range roots {
		if after > 0 && k == 0 {
			prev, prevSize = rr.Root, rr.Size
			continue
		}
		if len(out) == limit {
			break
		}
		if rr.Size != prevSize+1 {
			return nil, r.e.internal("registry log", fmt.Errorf("version %d is not an addition", rr.Version))
		}
		ms, err := r.e.store.Members(ctx, rr.Size-1, 1)
		if err != nil || len(ms) != 1 {
			return nil, r.e.internal("registry log", fmt.Errorf("member %d: %v", rr.Size-1, err))
		}
		out = append(out, &cohortv1.RegistryUpdate{
			Sequence:           rr.Version,
			Kind:               cohortv1.RegistryUpdateKind_REGISTRY_UPDATE_KIND_ADD,
			MemberIndex:        rr.Size - 1,
			IdentityCommitment: bytesOf(ms[0].IC),
			PreviousRoot:       bytesOf(prev),
			Root:               bytesOf(rr.Root),
			OrderedAt:          rr.SeenAt.Unix(),
		})
		prev, prevSize = rr.Root, rr.Size
	}
	return out, nil
}

// apply applies one update from the sequencer; callers hold mu.
func (r *registryTree) apply(ctx context.Context, u *cohortv1.RegistryUpdate) error {
	if u.GetSequence() <= r.head.Version {
		if len(u.GetRoot()) != 32 {
			return status.Errorf(codes.InvalidArgument, "update %d: root of %d bytes, want 32", u.GetSequence(), len(u.GetRoot()))
		}
		rr, err := r.e.store.FindRoot(ctx, [32]byte(u.GetRoot()))
		if err != nil || rr.Version != u.GetSequence() {
			return status.Errorf(codes.InvalidArgument, "update %d: this node recorded another root at that sequence", u.GetSequence())
		}
		return nil // applied already
	}
	if u.GetSequence() != r.head.Version+1 {
		return status.Errorf(codes.FailedPrecondition, "update %d: this node is at %d", u.GetSequence(), r.head.Version)
	}
	if u.GetKind() != cohortv1.RegistryUpdateKind_REGISTRY_UPDATE_KIND_ADD {
		return status.Errorf(codes.InvalidArgument, "update %d: kind %s is not supported", u.GetSequence(), u.GetKind())
	}
	if prev := r.root(); len(u.GetPreviousRoot()) != 32 || [32]byte(u.GetPreviousRoot()) != prev {
		return status.Errorf(codes.FailedPrecondition, "update %d: previous root is not this node's root", u.GetSequence())
	}
	if u.GetMemberIndex() != uint64(r.tree.Len()) {
		return status.Errorf(codes.FailedPrecondition, "update %d: member index %d, this node's next is %d", u.GetSequence(), u.GetMemberIndex(), r.tree.Len())
	}
	ic, err := fieldBytes(u.GetIdentityCommitment(), "identity_commitment")
	if err != nil {
		return err
	}
	if _, err := r.tree.Append(ic); err != nil {
		_ = r.reload(ctx)
		return status.Errorf(codes.ResourceExhausted, "registry full: %v", err)
	}
	root := r.root()
	if len(u.GetRoot()) != 32 || [32]byte(u.GetRoot()) != root {
		_ = r.reload(ctx)
		return status.Errorf(codes.InvalidArgument, "update %d: recomputed root differs from the update's", u.GetSequence())
	}
	at := time.Unix(u.GetOrderedAt(), 0)
	if _, err := r.e.store.AppendMember(ctx, r.head.Version, ic.Bytes(), root, at); err != nil {
		_ = r.reload(ctx)
		return r.e.internal("append member", err)
	}
	r.head = store.RegistryHead{Version: u.GetSequence(), Size: uint64(r.tree.Len()), Root: root, At: at}
	r.e.metrics.registryMembers.Set(float64(r.tree.Len()))
	return nil
}

// catchUp fetches and applies every update the sequencer has and this node
// lacks. Callers do not hold mu: it is taken to read the head and to apply
// each page, never across the call to the sequencer; updates applied
// meanwhile by a push are skipped by apply.
func (r *registryTree) catchUp(ctx context.Context) error {
	seq := r.e.opts.Sequencer
	for {
		r.mu.Lock()
		after := r.head.Version
		r.mu.Unlock()
		resp, err := call(ctx, r.peers, seq, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.GetRegistryStateResponse, error) {
			return c.GetRegistryState(ctx, &cohortv1.GetRegistryStateRequest{AfterSequence: after, PageSize: 1000})
		})
		if err != nil {
			return err
		}
		if len(resp.GetUpdates()) == 0 {
			return nil
		}
		if err := r.applyAll(ctx, resp.GetUpdates()); err != nil {
			return err
		}
	}
}

// applyAll applies updates in order under mu.
func (r *registryTree) applyAll(ctx context.Context, us []*cohortv1.RegistryUpdate) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range us {
		if err := r.apply(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// catchUpLoop brings a non-sequencer node up to date after a start, retrying
// until it succeeds once or the node stops.
func (r *registryTree) catchUpLoop(ctx context.Context) {
	for delay := 200 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := r.catchUp(ctx)
		if err == nil {
			return
		}
		r.e.log.Debug("registry: catch-up", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// rootValid decides whether a proof made against root may be accepted now:
// the current root always, a superseded one for RootWindow after it was
// superseded.
func (r *registryTree) rootValid(ctx context.Context, root [32]byte) error {
	rr, err := r.e.store.FindRoot(ctx, root)
	if errors.Is(err, store.ErrNotFound) {
		return status.Error(codes.FailedPrecondition, "unknown registry root: the proof was made against a root this federation never had")
	}
	if err != nil {
		return r.e.internal("find root", err)
	}
	if !rr.Current() && r.e.now().Sub(rr.SupersededAt) > r.e.opts.RootWindow {
		return status.Errorf(codes.FailedPrecondition, "registry root expired: superseded at %s, older than the %s window; fetch a fresh membership path",
			rr.SupersededAt.UTC().Format(time.RFC3339), r.e.opts.RootWindow)
	}
	return nil
}

// sync brings the tree up to the store's registry when another process
// sharing the store (a replica of this node) changed it; callers hold mu.
// The store is the registry's truth; the tree is a cache of it.
func (r *registryTree) sync(ctx context.Context) error {
	head, err := r.e.store.RegistryHead(ctx)
	if err != nil {
		return fmt.Errorf("node: registry: %w", err)
	}
	if head.Version == r.head.Version {
		return nil
	}
	return r.reload(ctx)
}

// current returns the registry's head and root as the store has them.
func (r *registryTree) current(ctx context.Context) (store.RegistryHead, [32]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sync(ctx); err != nil {
		return store.RegistryHead{}, [32]byte{}, err
	}
	return r.head, r.root(), nil
}

// path returns a member's Merkle path under the current root, as the
// store has the registry now.
func (r *registryTree) path(ctx context.Context, index uint64) (*cohortv1.GetMembershipPathResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sync(ctx); err != nil {
		return nil, r.e.internal("registry", err)
	}
	if index >= uint64(r.tree.Len()) {
		return nil, status.Errorf(codes.NotFound, "no member at index %d (registry has %d positions)", index, r.tree.Len())
	}
	p, err := r.tree.Path(index)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "member %d: %v", index, err)
	}
	resp := &cohortv1.GetMembershipPathResponse{Root: bytesOf(r.root()), Sequence: r.head.Version}
	for _, s := range p.Siblings {
		resp.Siblings = append(resp.Siblings, bytesOf(s.Bytes()))
	}
	return resp, nil
}

func bytesOf(b [32]byte) []byte { return b[:] }

// circuitsEmptyRoot is the root of an empty registry of the given depth.
func circuitsEmptyRoot(depth int) fr.Element {
	zs := merkle.Zeros(depth)
	return zs[len(zs)-1]
}

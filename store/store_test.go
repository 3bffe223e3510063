package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"
)

// t0 is a fixed time with whole microseconds, the stored precision.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func h32(parts ...any) [32]byte {
	var out [32]byte
	copy(out[:], fmt.Sprint(parts...))
	out[31] = 1 // never the zero value
	return out
}

func testContribution(dataset string, i int, epoch uint64) Contribution {
	return Contribution{
		DatasetID:            dataset,
		Epoch:                epoch,
		Nullifier:            h32("nf", i),
		PayloadDigest:        h32("digest", i),
		Public:               []byte(fmt.Sprintf("public-%d", i)),
		Proof:                []byte(fmt.Sprintf("proof-%d", i)),
		Share:                []byte(fmt.Sprintf("share-%d", i)),
		Purposes:             1<<63 | uint64(i), // the high bit must survive
		Expiry:               t0.Add(30 * 24 * time.Hour),
		MinCohort:            math.MaxUint32,
		RevocationCommitment: h32("rc", i),
		ReceivedAt:           t0.Add(time.Duration(i) * time.Second),
		Receipt:              []byte(fmt.Sprintf("receipt-%d", i)),
	}
}

// diffContribution describes how got differs from want ("" if equal).
func diffContribution(got, want Contribution) string {
	var d []string
	add := func(ok bool, field string) {
		if !ok {
			d = append(d, field)
		}
	}
	add(got.DatasetID == want.DatasetID, "DatasetID")
	add(got.Epoch == want.Epoch, "Epoch")
	add(got.Nullifier == want.Nullifier, "Nullifier")
	add(got.PayloadDigest == want.PayloadDigest, "PayloadDigest")
	add(bytes.Equal(got.Public, want.Public), "Public")
	add(bytes.Equal(got.Proof, want.Proof), "Proof")
	add(bytes.Equal(got.Share, want.Share), "Share")
	add(got.Purposes == want.Purposes, "Purposes")
	add(got.Expiry.Equal(want.Expiry), "Expiry")
	add(got.MinCohort == want.MinCohort, "MinCohort")
	add(got.RevocationCommitment == want.RevocationCommitment, "RevocationCommitment")
	add(got.ReceivedAt.Equal(want.ReceivedAt), "ReceivedAt")
	add(bytes.Equal(got.Receipt, want.Receipt), "Receipt")
	add(got.RevokedAt.Equal(want.RevokedAt), "RevokedAt")
	add(got.Pending == want.Pending, "Pending")
	add(got.Forwarder == want.Forwarder, "Forwarder")
	add(got.PendingSince.Equal(want.PendingSince), "PendingSince")
	add(got.Replica == want.Replica, "Replica")
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("fields differ: %v\n got %+v\nwant %+v", d, got, want)
}

func mustPutDataset(t *testing.T, s Store, id string) {
	t.Helper()
	if err := s.PutDataset(context.Background(), Dataset{ID: id, Descriptor: []byte("descriptor of " + id), CreatedAt: t0}); err != nil {
		t.Fatalf("PutDataset(%q): %v", id, err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func TestDatasets(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		d := Dataset{ID: "fitness", Descriptor: []byte{0, 1, 2, 255}, CreatedAt: t0}
		if err := s.PutDataset(ctx, d); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetDataset(ctx, "fitness")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != d.ID || !bytes.Equal(got.Descriptor, d.Descriptor) || !got.CreatedAt.Equal(t0) {
			t.Fatalf("GetDataset = %+v, want %+v", got, d)
		}
		wantErr(t, "duplicate PutDataset", s.PutDataset(ctx, Dataset{ID: "fitness", Descriptor: []byte("other"), CreatedAt: t0}), ErrAlreadyExists)
		if got, _ := s.GetDataset(ctx, "fitness"); !bytes.Equal(got.Descriptor, d.Descriptor) {
			t.Fatal("duplicate PutDataset changed the descriptor")
		}
		_, err = s.GetDataset(ctx, "absent")
		wantErr(t, "GetDataset(absent)", err, ErrNotFound)
		wantErr(t, "PutDataset(empty id)", s.PutDataset(ctx, Dataset{}), ErrInvalid)
		if err := s.UpdateDataset(ctx, "fitness", []byte("ready")); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetDataset(ctx, "fitness"); string(got.Descriptor) != "ready" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("after UpdateDataset: %+v", got)
		}
		wantErr(t, "UpdateDataset(absent)", s.UpdateDataset(ctx, "absent", []byte("x")), ErrNotFound)
	})
}

func TestListDatasetsPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		ids := []string{"e", "a", "d", "b", "c"}
		for _, id := range ids {
			mustPutDataset(t, s, id)
		}
		var seen []string
		pages := 0
		token := ""
		for {
			page, next, err := s.ListDatasets(ctx, token, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("page of %d datasets, limit 2", len(page))
			}
			for _, d := range page {
				seen = append(seen, d.ID)
				if !bytes.Equal(d.Descriptor, []byte("descriptor of "+d.ID)) {
					t.Fatalf("dataset %q: descriptor %q", d.ID, d.Descriptor)
				}
			}
			pages++
			if next == "" {
				break
			}
			token = next
		}
		if fmt.Sprint(seen) != "[a b c d e]" || pages != 3 {
			t.Fatalf("listed %v in %d pages, want [a b c d e] in 3", seen, pages)
		}
		// An exact fit leaves no next page.
		page, next, err := s.ListDatasets(ctx, "c", 2)
		if err != nil || len(page) != 2 || next != "" {
			t.Fatalf("ListDatasets(after c, 2) = %d datasets, next %q, %v; want 2, \"\"", len(page), next, err)
		}
		// limit ≤ 0 reads as MaxPageSize.
		page, next, err = s.ListDatasets(ctx, "", 0)
		if err != nil || len(page) != 5 || next != "" {
			t.Fatalf("ListDatasets(limit 0) = %d datasets, next %q, %v", len(page), next, err)
		}
	})
}

func TestPageSize(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-1, MaxPageSize}, {0, MaxPageSize}, {1, 1}, {MaxPageSize, MaxPageSize}, {MaxPageSize + 1, MaxPageSize}, {math.MaxInt, MaxPageSize},
	} {
		if got := pageSize(tc.in); got != tc.want {
			t.Errorf("pageSize(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestDatasetKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		wantErr(t, "PutDatasetKeys(no dataset)", s.PutDatasetKeys(ctx, "fitness", []byte("pk"), []byte("vk"), []byte("tr")), ErrNotFound)
		mustPutDataset(t, s, "fitness")
		_, err := s.GetDatasetKeys(ctx, "fitness")
		wantErr(t, "GetDatasetKeys(before put)", err, ErrNotFound)

		size := 32 << 20 // proving keys run to tens of MB
		if testing.Short() {
			size = 1 << 20
		}
		pk := make([]byte, size)
		for i := range pk {
			pk[i] = byte(i * 7)
		}
		vk, tr := []byte("verifying key"), []byte("ceremony transcript")
		if err := s.PutDatasetKeys(ctx, "fitness", pk, vk, tr); err != nil {
			t.Fatal(err)
		}
		k, err := s.GetDatasetKeys(ctx, "fitness")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.ProvingKey, pk) || !bytes.Equal(k.VerifyingKey, vk) || !bytes.Equal(k.Transcript, tr) {
			t.Fatal("GetDatasetKeys did not return what was put")
		}
		v, err := s.GetVerifyingKey(ctx, "fitness")
		if err != nil {
			t.Fatal(err)
		}
		if v.ProvingKey != nil || !bytes.Equal(v.VerifyingKey, vk) || !bytes.Equal(v.Transcript, tr) {
			t.Fatalf("GetVerifyingKey = %d-byte pk, vk %q, transcript %q", len(v.ProvingKey), v.VerifyingKey, v.Transcript)
		}
		wantErr(t, "PutDatasetKeys(again)", s.PutDatasetKeys(ctx, "fitness", []byte("pk2"), vk, tr), ErrAlreadyExists)
		if k, _ := s.GetDatasetKeys(ctx, "fitness"); !bytes.Equal(k.ProvingKey, pk) {
			t.Fatal("second PutDatasetKeys replaced the proving key")
		}
		_, err = s.GetVerifyingKey(ctx, "absent")
		wantErr(t, "GetVerifyingKey(absent)", err, ErrNotFound)
	})
}

func TestInvites(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		tok, expired := h32("invite"), h32("expired")
		expires := t0.Add(time.Hour)
		if err := s.PutInvite(ctx, tok, expires); err != nil {
			t.Fatal(err)
		}
		if err := s.PutInvite(ctx, expired, expires); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "PutInvite(duplicate)", s.PutInvite(ctx, tok, expires), ErrAlreadyExists)
		wantErr(t, "UseInvite(unknown)", s.UseInvite(ctx, h32("unknown"), t0), ErrNotFound)
		wantErr(t, "UseInvite(at expiry)", s.UseInvite(ctx, expired, expires), ErrConflict)
		wantErr(t, "UseInvite(after expiry)", s.UseInvite(ctx, expired, expires.Add(time.Second)), ErrConflict)
		if err := s.UseInvite(ctx, tok, expires.Add(-time.Microsecond)); err != nil {
			t.Fatalf("UseInvite just before expiry: %v", err)
		}
		wantErr(t, "UseInvite(second use)", s.UseInvite(ctx, tok, t0), ErrConflict)
	})
}

func TestInviteConcurrentUse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		tok := h32("invite")
		if err := s.PutInvite(ctx, tok, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = s.UseInvite(ctx, tok, t0) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrConflict):
				t.Fatalf("UseInvite: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent uses succeeded, want 1", ok)
		}
	})
}

// fakeRoot stands for the root of a tree of size members whose last one is
// ic: what matters here is that it is determined by the index.
func fakeRoot(size uint64, ic [32]byte) [32]byte { return h32("root", size, ic) }

func TestRegistry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		head, err := s.RegistryHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head != (RegistryHead{}) {
			t.Fatalf("empty registry head = %+v", head)
		}
		ics := [][32]byte{h32("ic", 0), h32("ic", 1), h32("ic", 2)}
		r0 := fakeRoot(1, ics[0])
		idx, err := s.AppendMember(ctx, 0, ics[0], r0, t0)
		if err != nil || idx != 0 {
			t.Fatalf("AppendMember = %d, %v; want 0", idx, err)
		}
		_, err = s.AppendMember(ctx, 0, ics[1], fakeRoot(1, ics[1]), t0)
		wantErr(t, "AppendMember(stale version)", err, ErrConflict)
		_, err = s.AppendMember(ctx, 1, ics[0], fakeRoot(2, ics[0]), t0)
		wantErr(t, "AppendMember(registered ic)", err, ErrAlreadyExists)

		t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
		r1 := fakeRoot(2, ics[1])
		if idx, err := s.AppendMember(ctx, 1, ics[1], r1, t1); err != nil || idx != 1 {
			t.Fatalf("AppendMember = %d, %v; want 1", idx, err)
		}
		r2 := fakeRoot(3, ics[2])
		if idx, err := s.AppendMember(ctx, 2, ics[2], r2, t2); err != nil || idx != 2 {
			t.Fatalf("AppendMember = %d, %v; want 2", idx, err)
		}
		log, err := s.Roots(ctx, 1, 10)
		if err != nil || len(log) != 2 || log[0].Version != 2 || log[0].Root != r1 || log[1].Size != 3 || log[1].Root != r2 || !log[1].Current() || log[0].Current() {
			t.Fatalf("Roots(after 1) = %+v, %v", log, err)
		}
		head, err = s.RegistryHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (RegistryHead{Version: 3, Size: 3, Root: r2, At: t2}); head.Version != want.Version || head.Size != want.Size || head.Root != want.Root || !head.At.Equal(want.At) {
			t.Fatalf("head = %+v, want %+v", head, want)
		}

		// Root history: r0 was superseded at t1, r2 is current.
		rec, err := s.FindRoot(ctx, r0)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Version != 1 || rec.Size != 1 || !rec.SeenAt.Equal(t0) || !rec.SupersededAt.Equal(t1) || rec.Current() {
			t.Fatalf("FindRoot(r0) = %+v", rec)
		}
		if rec, err := s.FindRoot(ctx, r2); err != nil || !rec.Current() || !rec.SeenAt.Equal(t2) {
			t.Fatalf("FindRoot(r2) = %+v, %v", rec, err)
		}
		_, err = s.FindRoot(ctx, h32("never"))
		wantErr(t, "FindRoot(never a root)", err, ErrNotFound)

		// Removal.
		r3 := h32("root after removing 1")
		wantErr(t, "RemoveMember(stale)", s.RemoveMember(ctx, 2, 1, r3, t3), ErrConflict)
		wantErr(t, "RemoveMember(no such index)", s.RemoveMember(ctx, 3, 3, r3, t3), ErrNotFound)
		if err := s.RemoveMember(ctx, 3, 1, r3, t3); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "RemoveMember(again)", s.RemoveMember(ctx, 4, 1, h32("x"), t3), ErrConflict)
		head, _ = s.RegistryHead(ctx)
		if head.Version != 4 || head.Size != 3 || head.Root != r3 {
			t.Fatalf("head after removal = %+v", head)
		}
		if rec, _ := s.FindRoot(ctx, r2); !rec.SupersededAt.Equal(t3) {
			t.Fatalf("r2 superseded at %v, want %v", rec.SupersededAt, t3)
		}
		// The removed commitment stays registered.
		_, err = s.AppendMember(ctx, 4, ics[1], h32("y"), t3)
		wantErr(t, "AppendMember(removed ic)", err, ErrAlreadyExists)

		m, err := s.FindMember(ctx, ics[1])
		if err != nil || m.Index != 1 || !m.Removed() || !m.RemovedAt.Equal(t3) || !m.AddedAt.Equal(t1) {
			t.Fatalf("FindMember = %+v, %v", m, err)
		}
		_, err = s.FindMember(ctx, h32("stranger"))
		wantErr(t, "FindMember(stranger)", err, ErrNotFound)

		// Members pages by index.
		ms, err := s.Members(ctx, 1, 1)
		if err != nil || len(ms) != 1 || ms[0].Index != 1 || ms[0].IC != ics[1] || !ms[0].Removed() {
			t.Fatalf("Members(1, 1) = %+v, %v", ms, err)
		}
		ms, err = s.Members(ctx, 0, 0)
		if err != nil || len(ms) != 3 {
			t.Fatalf("Members(0, 0) = %d members, %v", len(ms), err)
		}
		for i, m := range ms {
			if m.Index != uint64(i) || m.IC != ics[i] || m.Removed() != (i == 1) {
				t.Fatalf("member %d = %+v", i, m)
			}
		}
		if ms, err := s.Members(ctx, 3, 10); err != nil || len(ms) != 0 {
			t.Fatalf("Members(3) = %+v, %v", ms, err)
		}
	})
}

// TestAppendMemberConcurrent has 8 writers register at once, each retrying
// on ErrConflict after re-reading the head: indices 0..7 each exactly once,
// and each recorded root is the one computed for its index.
//
// The writers share two Store values opened on the same database, as two
// replicas of a node would.
func TestAppendMemberConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		const n = 8
		indices := make([]uint64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for g := range n {
			wg.Go(func() {
				s := replicas[g%len(replicas)]
				ic := h32("ic", g)
				for {
					head, err := s.RegistryHead(ctx)
					if err != nil {
						errs[g] = err
						return
					}
					idx, err := s.AppendMember(ctx, head.Version, ic, fakeRoot(head.Size+1, ic), t0)
					if errors.Is(err, ErrConflict) {
						continue
					}
					indices[g], errs[g] = idx, err
					return
				}
			})
		}
		wg.Wait()
		for g, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", g, err)
			}
		}
		sorted := append([]uint64(nil), indices...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		for i, idx := range sorted {
			if idx != uint64(i) {
				t.Fatalf("indices %v, want 0..%d each once", sorted, n-1)
			}
		}
		ms, err := s.Members(ctx, 0, 100)
		if err != nil || len(ms) != n {
			t.Fatalf("Members = %d, %v; want %d", len(ms), err, n)
		}
		for g, idx := range indices {
			if ms[idx].Index != idx || ms[idx].IC != h32("ic", g) {
				t.Fatalf("member %d is %+v, want writer %d's commitment", idx, ms[idx], g)
			}
		}
		for _, m := range ms {
			rec, err := s.FindRoot(ctx, fakeRoot(m.Index+1, m.IC))
			if err != nil {
				t.Fatalf("root for index %d: %v", m.Index, err)
			}
			if rec.Version != m.Index+1 || rec.Size != m.Index+1 {
				t.Fatalf("root for index %d recorded at version %d size %d", m.Index, rec.Version, rec.Size)
			}
		}
		head, err := s.RegistryHead(ctx)
		if err != nil || head.Version != n || head.Size != n {
			t.Fatalf("head = %+v, %v; want version and size %d", head, err, n)
		}
	})
}

func TestContributions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		c := testContribution("fitness", 1, 7)
		_, err := s.PutContribution(ctx, c)
		wantErr(t, "PutContribution(no dataset)", err, ErrNotFound)
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")

		existing, err := s.PutContribution(ctx, c)
		if err != nil || existing != nil {
			t.Fatalf("PutContribution = %v, %v; want nil, nil", existing, err)
		}
		got, err := s.GetContribution(ctx, "fitness", c.Nullifier)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffContribution(got, c); d != "" {
			t.Fatal(d)
		}

		// A retry with the same digest returns the stored row, whatever the
		// rest of the retry says, and changes nothing.
		retry := c
		retry.Receipt, retry.ReceivedAt, retry.Share = []byte("another receipt"), t0.Add(time.Hour), []byte("x")
		existing, err = s.PutContribution(ctx, retry)
		if err != nil || existing == nil {
			t.Fatalf("PutContribution(retry) = %v, %v; want the existing row", existing, err)
		}
		if d := diffContribution(*existing, c); d != "" {
			t.Fatal("existing: " + d)
		}
		// Another payload under the same nullifier is refused.
		other := c
		other.PayloadDigest = h32("another payload")
		existing, err = s.PutContribution(ctx, other)
		wantErr(t, "PutContribution(other digest)", err, ErrAlreadyExists)
		if existing != nil {
			t.Fatal("a row returned beside an error")
		}
		if got, _ := s.GetContribution(ctx, "fitness", c.Nullifier); diffContribution(got, c) != "" {
			t.Fatal("refused PutContribution changed the row")
		}

		// Nullifiers are unique per dataset only.
		inSleep := c
		inSleep.DatasetID, inSleep.PayloadDigest = "sleep", h32("sleep payload")
		if existing, err := s.PutContribution(ctx, inSleep); err != nil || existing != nil {
			t.Fatalf("same nullifier in another dataset = %v, %v", existing, err)
		}
		if n, err := s.CountContributions(ctx, "fitness", 0, math.MaxUint64); err != nil || n != 1 {
			t.Fatalf("CountContributions(fitness) = %d, %v; want 1", n, err)
		}

		// A committed row is never rolled back.
		wantErr(t, "RollBackContribution(committed)", s.RollBackContribution(ctx, "fitness", c.Nullifier, 0, time.Time{}), ErrConflict)
		// A rollback removes one dataset's pending row only, and frees the
		// nullifier.
		pend := testContribution("fitness", 5, 7)
		pend.Pending, pend.Forwarder, pend.PendingSince = true, 2, t0
		pendSleep := pend
		pendSleep.DatasetID = "sleep"
		for _, p := range []Contribution{pend, pendSleep} {
			if existing, err := s.PutContribution(ctx, p); err != nil || existing != nil {
				t.Fatalf("PutContribution(pending %s) = %v, %v", p.DatasetID, existing, err)
			}
		}
		if err := s.RollBackContribution(ctx, "fitness", pend.Nullifier, 2, time.Time{}); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetContribution(ctx, "fitness", pend.Nullifier)
		wantErr(t, "GetContribution(rolled back)", err, ErrNotFound)
		wantErr(t, "RollBackContribution(again)", s.RollBackContribution(ctx, "fitness", pend.Nullifier, 2, time.Time{}), ErrNotFound)
		if _, err := s.GetContribution(ctx, "sleep", pend.Nullifier); err != nil {
			t.Fatalf("rollback reached another dataset: %v", err)
		}
		otherPend := pend
		otherPend.PayloadDigest = h32("another payload")
		if existing, err := s.PutContribution(ctx, otherPend); err != nil || existing != nil {
			t.Fatalf("PutContribution after rollback = %v, %v", existing, err)
		}

		// Refused before the database.
		zero := testContribution("fitness", 2, 1)
		zero.Nullifier = [32]byte{}
		_, err = s.PutContribution(ctx, zero)
		wantErr(t, "PutContribution(zero nullifier)", err, ErrInvalid)
		big := testContribution("fitness", 3, math.MaxInt64+1)
		_, err = s.PutContribution(ctx, big)
		wantErr(t, "PutContribution(epoch > MaxInt64)", err, ErrInvalid)
		// Empty blobs are stored as empty, not refused as NULL.
		empty := testContribution("fitness", 4, 1)
		empty.Public, empty.Proof, empty.Share, empty.Receipt = nil, nil, nil, nil
		if _, err := s.PutContribution(ctx, empty); err != nil {
			t.Fatalf("PutContribution(empty blobs): %v", err)
		}
	})
}

func TestPutContributionConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, cfg Config) {
		ctx := context.Background()
		replicas := []Store{s, openStore(t, cfg)}
		mustPutDataset(t, s, "fitness")
		c := testContribution("fitness", 1, 1)
		const n = 8
		existing := make([]*Contribution, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { existing[i], errs[i] = replicas[i%2].PutContribution(ctx, c) })
		}
		wg.Wait()
		inserted := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("PutContribution %d: %v", i, errs[i])
			}
			if existing[i] == nil {
				inserted++
			} else if d := diffContribution(*existing[i], c); d != "" {
				t.Fatal(d)
			}
		}
		if inserted != 1 {
			t.Fatalf("%d concurrent puts inserted, want 1", inserted)
		}
	})
}

func TestListContributions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		const n = 25
		want := map[uint64][][32]byte{} // epoch → nullifiers
		for i := range n {
			epoch := uint64(i%3 + 1)
			c := testContribution("fitness", i, epoch)
			if _, err := s.PutContribution(ctx, c); err != nil {
				t.Fatal(err)
			}
			want[epoch] = append(want[epoch], c.Nullifier)
		}
		if _, err := s.PutContribution(ctx, testContribution("sleep", 100, 1)); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			from, to uint64
			epochs   []uint64
		}{
			{0, math.MaxUint64, []uint64{1, 2, 3}},
			{1, 1, []uint64{1}},
			{2, 3, []uint64{2, 3}},
			{4, 9, nil},
			{3, 2, nil}, // empty range
		} {
			var expect [][32]byte
			for _, e := range tc.epochs {
				expect = append(expect, want[e]...)
			}
			sort.Slice(expect, func(i, j int) bool { return bytes.Compare(expect[i][:], expect[j][:]) < 0 })

			var got [][32]byte
			var after [32]byte
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatal("paging does not end")
				}
				page, err := s.ListContributions(ctx, "fitness", tc.from, tc.to, after, 4)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > 4 {
					t.Fatalf("page of %d, limit 4", len(page))
				}
				for _, c := range page {
					if c.Epoch < tc.from || c.Epoch > tc.to || c.DatasetID != "fitness" {
						t.Fatalf("listed epoch %d of %q outside [%d, %d]", c.Epoch, c.DatasetID, tc.from, tc.to)
					}
					got = append(got, c.Nullifier)
				}
				if len(page) < 4 {
					break
				}
				after = page[len(page)-1].Nullifier
			}
			if fmt.Sprint(got) != fmt.Sprint(expect) {
				t.Fatalf("epochs [%d, %d]: listed %d nullifiers out of order or wrong, want %d", tc.from, tc.to, len(got), len(expect))
			}
			count, err := s.CountContributions(ctx, "fitness", tc.from, tc.to)
			if err != nil || count != uint64(len(expect)) {
				t.Fatalf("CountContributions(%d, %d) = %d, %v; want %d", tc.from, tc.to, count, err, len(expect))
			}
		}
		// The listed rows are complete.
		page, err := s.ListContributions(ctx, "fitness", 0, math.MaxUint64, [32]byte{}, 0)
		if err != nil || len(page) != n {
			t.Fatalf("ListContributions(limit 0) = %d, %v; want %d", len(page), err, n)
		}
		for _, c := range page {
			i := int(c.ReceivedAt.Sub(t0) / time.Second)
			if d := diffContribution(c, testContribution("fitness", i, uint64(i%3+1))); d != "" {
				t.Fatal(d)
			}
		}
	})
}

func TestRevocation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		c := testContribution("fitness", 1, 1)
		if _, err := s.PutContribution(ctx, c); err != nil {
			t.Fatal(err)
		}
		token := h32("token")
		if got, err := s.FindByRevocation(ctx, "fitness", c.RevocationCommitment); err != nil || got.Nullifier != c.Nullifier {
			t.Fatalf("FindByRevocation = %x, %v", got.Nullifier, err)
		}
		_, err := s.FindByRevocation(ctx, "sleep", c.RevocationCommitment)
		wantErr(t, "FindByRevocation(other dataset)", err, ErrNotFound)
		wantErr(t, "Revoke(unknown commitment)", s.Revoke(ctx, "fitness", h32("other rc"), token, t0), ErrNotFound)
		wantErr(t, "Revoke(other dataset)", s.Revoke(ctx, "sleep", c.RevocationCommitment, token, t0), ErrNotFound)
		if revoked, err := s.IsRevoked(ctx, "fitness", c.RevocationCommitment); err != nil || revoked {
			t.Fatalf("IsRevoked before = %v, %v", revoked, err)
		}
		wantRevocations := func(what, id string, want uint64) {
			t.Helper()
			if n, err := s.CountRevocations(ctx, id); err != nil || n != want {
				t.Fatalf("CountRevocations(%s, %s) = %d, %v; want %d", id, what, n, err, want)
			}
		}
		wantRevocations("before", "fitness", 0)
		t1 := t0.Add(time.Hour)
		if err := s.Revoke(ctx, "fitness", c.RevocationCommitment, token, t1); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, "fitness", c.RevocationCommitment, token, t1.Add(time.Hour)); err != nil {
			t.Fatalf("Revoke(again, same token): %v", err)
		}
		wantErr(t, "Revoke(another token)", s.Revoke(ctx, "fitness", c.RevocationCommitment, h32("forged"), t1), ErrConflict)
		// Once per commitment, whatever the retries and refusals.
		wantRevocations("after", "fitness", 1)
		wantRevocations("after", "sleep", 0)
		if revoked, err := s.IsRevoked(ctx, "fitness", c.RevocationCommitment); err != nil || !revoked {
			t.Fatalf("IsRevoked after = %v, %v", revoked, err)
		}
		if revoked, err := s.IsRevoked(ctx, "sleep", c.RevocationCommitment); err != nil || revoked {
			t.Fatalf("IsRevoked(other dataset) = %v, %v", revoked, err)
		}
		got, err := s.GetContribution(ctx, "fitness", c.Nullifier)
		if err != nil || !got.Revoked() || !got.RevokedAt.Equal(t1) {
			t.Fatalf("GetContribution after revoke: RevokedAt %v, %v; want %v", got.RevokedAt, err, t1)
		}
		page, err := s.ListContributions(ctx, "fitness", 0, 10, [32]byte{}, 10)
		if err != nil || len(page) != 1 || !page[0].Revoked() {
			t.Fatalf("ListContributions after revoke = %+v, %v", page, err)
		}
		// A retried ingest of a revoked record does not clear the revocation.
		existing, err := s.PutContribution(ctx, c)
		if err != nil || existing == nil || !existing.Revoked() {
			t.Fatalf("PutContribution(retry of revoked) = %+v, %v", existing, err)
		}
	})
}

// TestReopen closes a store and opens it again: every committed row is
// there, and the migrations are not applied twice.
func TestReopen(t *testing.T) {
	for _, e := range engines(t) {
		e.run(t, func(t *testing.T, cfg Config) {
			ctx := context.Background()
			s, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustPutDataset(t, s, "fitness")
			if err := s.PutDatasetKeys(ctx, "fitness", []byte("pk"), []byte("vk"), []byte("tr")); err != nil {
				t.Fatal(err)
			}
			if err := s.PutInvite(ctx, h32("invite"), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			root := h32("root")
			if _, err := s.AppendMember(ctx, 0, h32("ic"), root, t0); err != nil {
				t.Fatal(err)
			}
			c := testContribution("fitness", 1, 1)
			if _, err := s.PutContribution(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := s.Revoke(ctx, "fitness", c.RevocationCommitment, h32("token"), t0); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			for range 2 {
				s = openStore(t, cfg)
				if _, err := s.GetDataset(ctx, "fitness"); err != nil {
					t.Fatal(err)
				}
				if k, err := s.GetDatasetKeys(ctx, "fitness"); err != nil || string(k.ProvingKey) != "pk" {
					t.Fatalf("keys after reopen: %q, %v", k.ProvingKey, err)
				}
				wantErr(t, "PutInvite after reopen", s.PutInvite(ctx, h32("invite"), t0), ErrAlreadyExists)
				if head, err := s.RegistryHead(ctx); err != nil || head.Version != 1 || head.Root != root {
					t.Fatalf("head after reopen = %+v, %v", head, err)
				}
				got, err := s.GetContribution(ctx, "fitness", c.Nullifier)
				if err != nil || !got.Revoked() {
					t.Fatalf("contribution after reopen: revoked %v, %v", got.Revoked(), err)
				}
				ss := s.(*sqlStore)
				var rows int
				if err := ss.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				want, _ := loadMigrations(e.name)
				if v, err := ss.schemaVersion(ctx); err != nil || v != int64(len(want)) || rows != len(want) {
					t.Fatalf("schema version %d (%v) with %d rows; want %d", v, err, rows, len(want))
				}
				if err := s.Ping(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestConcurrentOpen: replicas starting together on an empty database
// migrate it once.
func TestConcurrentOpen(t *testing.T) {
	for _, e := range engines(t) {
		e.run(t, func(t *testing.T, cfg Config) {
			ctx := context.Background()
			const n = 4
			stores := make([]Store, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { stores[i], errs[i] = Open(ctx, cfg) })
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("Open %d: %v", i, errs[i])
				}
				defer stores[i].Close()
			}
			var rows int
			if err := stores[0].(*sqlStore).r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if want, _ := loadMigrations(e.name); rows != len(want) {
				t.Fatalf("%d migration rows, want %d", rows, len(want))
			}
		})
	}
}

// TestNewerSchemaRefused: a database migrated by a newer binary is not used.
func TestNewerSchemaRefused(t *testing.T) {
	for _, e := range engines(t) {
		e.run(t, func(t *testing.T, cfg Config) {
			ctx := context.Background()
			s := openStore(t, cfg)
			if _, err := s.(*sqlStore).w.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(ctx, cfg)
			if err == nil {
				s2.Close()
				t.Fatal("opened a database with a newer schema")
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{Driver: "mysql"},
		{Driver: DriverSQLite},
		{Path: "a?mode=memory"},
		{Driver: DriverPostgres},
		{Driver: DriverPostgres, DSN: "postgres://%zz"},
	} {
		s, err := Open(ctx, cfg)
		if s != nil {
			s.Close()
		}
		wantErr(t, fmt.Sprintf("Open(%+v)", cfg), err, ErrInvalid)
		if s != nil {
			t.Fatalf("Open(%+v) returned a store beside its error", cfg)
		}
	}
}

// TestSQLitePragmas: every connection of the three pools runs with the
// durability settings and maps the database file, the writer leaves
// checkpoints to the checkpointer, and a connection without them is
// refused.
func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/cohort.db"
	s := openStore(t, Config{Path: path}).(*sqlStore)
	if err := checkPragma(ctx, s.w, "wal_autocheckpoint", 0); err != nil {
		t.Fatal(err)
	}
	for _, db := range []*sql.DB{s.w, s.r, s.checkpoints.db} {
		if err := checkSQLitePragmas(ctx, db); err != nil {
			t.Fatal(err)
		}
		// Reads map the file up to SQLite's largest mapping.
		var mmap int64
		if err := db.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&mmap); err != nil || mmap != sqliteMmapBytes {
			t.Fatalf("mmap_size %d, %v; want %d", mmap, err, sqliteMmapBytes)
		}
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM datasets`); err == nil {
		t.Fatal("the read pool accepted a write")
	}
	bare, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if err := checkSQLitePragmas(ctx, bare); err == nil {
		t.Fatal("a connection without synchronous=FULL and foreign keys passed the check")
	}
}

func TestStoredValueDecoding(t *testing.T) {
	for _, n := range []int{0, 31, 33} {
		if _, err := bytes32(make([]byte, n), "x"); err == nil {
			t.Errorf("bytes32 accepted %d bytes", n)
		}
	}
	if _, err := unsigned(-1, "x"); err == nil {
		t.Error("unsigned accepted -1")
	}
	if _, err := signed(math.MaxInt64+1, "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("signed(MaxInt64+1) = %v", err)
	}
	if got := fromMicros(micros(time.Time{})); !got.IsZero() {
		t.Errorf("zero time round-trips to %v", got)
	}
}

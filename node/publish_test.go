package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"

	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// publishGate wraps a coordinator's store: while closed, the transcripts
// it owes the other nodes cannot be read, so its publishes wait (they are
// retried every second once it opens).
type publishGate struct {
	store.Store
	closed atomic.Bool
}

func (g *publishGate) GetTranscriptInfo(ctx context.Context, id string) (store.Transcript, error) {
	if g.closed.Load() {
		return store.Transcript{}, errors.New("publishing held by the test")
	}
	return g.Store.GetTranscriptInfo(ctx, id)
}

// gatedFederation is a federation of three whose coordinator (node 0)
// publishes through a publishGate.
func gatedFederation(t *testing.T) (*testFederation, *publishGate) {
	t.Helper()
	gate := &publishGate{}
	f := newTestFederation(t, 3, func(o *Options) {
		if o.Index == 0 {
			gate.Store = o.Store
			o.Store = gate
		}
	})
	return f, gate
}

// publishSigned publishes a bundle to a peer by its signatures alone.
func publishSigned(ctx context.Context, c cohortv1.PeerServiceClient, sg *cohortv1.SignedTranscript) (*cohortv1.PublishTranscriptResponse, error) {
	st, err := c.PublishTranscript(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&cohortv1.PublishTranscriptRequest{Part: &cohortv1.PublishTranscriptRequest_Signed{Signed: sg}}); err != nil {
		return nil, err
	}
	return st.CloseAndRecv()
}

// published is how many transcripts node n stored in form.
func published(t *testing.T, n *Node, form string) int {
	t.Helper()
	var m dto.Metric
	if err := n.metrics.published.WithLabelValues(form).Write(&m); err != nil {
		t.Fatal(err)
	}
	return int(m.GetCounter().GetValue())
}

// waitStored waits for node i of f to store the transcript of job id and
// returns its bundle.
func waitStored(t *testing.T, f *testFederation, i int, id string) []byte {
	t.Helper()
	var got store.Transcript
	var err error
	for range 200 {
		if got, err = f.nodes[i].store.GetTranscript(context.Background(), id); err == nil {
			return got.Bundle
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("node %d never stored the transcript of job %s: %v", i, id, err)
	return nil
}

// TestPublishBySignatures: a released job's bundle reaches each peer as
// its signatures alone, rebuilt by the peer from the transcript it kept
// when it signed it, byte for byte the coordinator's, and the bundle is
// not streamed; a peer that lost its kept transcript is sent the whole
// bundle in the same publish. A signatures-only publish from another node
// than the coordinator, with a bundle header the rebuilt bundle does not
// match, with a forged signature, or for a transcript the peer never
// signed is refused, and nothing is stored.
func TestPublishBySignatures(t *testing.T) {
	const records = 30
	f, gate := gatedFederation(t)
	desc := f.installDatasetWith(t, exactPolicy())
	f.seedContributions(t, desc.GetId(), records)
	buyer := f.benchBuyer(t, "publish")
	spec := statisticsSpec(testSchema(), testSchema().Epoch.Index(time.Now()), "")
	ctx := context.Background()

	// The job is released; its publish waits while the peers are probed.
	gate.closed.Store(true)
	id := f.runJob(t, buyer, spec, "publish-1")
	info, err := f.nodes[0].store.GetTranscriptInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.nodes[0].store.GetTranscript(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	bundle := stored.Bundle
	b := mustBundle(t, bundle)
	signed := func() *cohortv1.SignedTranscript {
		return &cohortv1.SignedTranscript{
			Bundle: blob.HeaderOf(info.BundleSize, info.BundleSHA256), JobId: id, Digest: bytes.Clone(info.Digest[:]),
			Signatures: b.Signatures,
		}
	}
	forgedBundle := mustBundle(t, bundle)
	forgedBundle.Signatures[2] = forgedBundle.Signatures[1]
	forged, err := forgedBundle.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		from  int
		edit  func(sg *cohortv1.SignedTranscript)
		code  codes.Code
		words []string
	}{
		{"from a node that is not the coordinator", 1, func(*cohortv1.SignedTranscript) {}, codes.PermissionDenied, []string{"node 0 coordinated"}},
		{"with another SHA-256", 0, func(sg *cohortv1.SignedTranscript) { sg.Bundle.Sha256[0] ^= 1 }, codes.FailedPrecondition, []string{"SHA-256"}},
		{"with another size", 0, func(sg *cohortv1.SignedTranscript) { sg.Bundle.TotalSize++ }, codes.FailedPrecondition, []string{"bytes"}},
		{"with a forged signature", 0, func(sg *cohortv1.SignedTranscript) {
			sg.Bundle = blob.Header(forged)
			sg.Signatures = forgedBundle.Signatures
		}, codes.FailedPrecondition, []string{"node 2's signature does not verify"}},
		{"for a digest it never signed", 0, func(sg *cohortv1.SignedTranscript) { sg.Digest[0] ^= 1 }, codes.NotFound, []string{"keeps no transcript", "send the bundle"}},
		{"for a job it never signed", 0, func(sg *cohortv1.SignedTranscript) { sg.JobId = "job-never-run" }, codes.NotFound, []string{"keeps no transcript"}},
		{"with a malformed digest", 0, func(sg *cohortv1.SignedTranscript) { sg.Digest = sg.Digest[:31] }, codes.InvalidArgument, []string{"digest"}},
		{"with a missing signature", 0, func(sg *cohortv1.SignedTranscript) { sg.Signatures = sg.Signatures[:2] }, codes.FailedPrecondition, []string{"bytes"}},
	} {
		sg := signed()
		c.edit(sg)
		_, err := call(ctx, f.nodes[c.from].n, 2, func(ctx context.Context, pc cohortv1.PeerServiceClient) (*cohortv1.PublishTranscriptResponse, error) {
			return publishSigned(ctx, pc, sg)
		})
		what := "a transcript published by its signatures " + c.name
		wantCode(t, what, err, c.code)
		wantMessage(t, what, err, c.words...)
		if _, err := f.nodes[2].store.GetTranscriptInfo(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: node 2 stored a transcript: %v", what, err)
		}
		if n := published(t, f.nodes[2].n, publishedSignatures) + published(t, f.nodes[2].n, publishedWhole); n != 0 {
			t.Fatalf("%s: node 2 counts %d transcripts stored", what, n)
		}
	}

	// Node 1 lost the transcript it kept (as after a restart): it is sent
	// the whole bundle; node 2 rebuilds it from its signatures.
	f.nodes[1].n.kept.drop(id)
	gate.closed.Store(false)
	for i := 1; i < 3; i++ {
		if got := waitStored(t, f, i, id); !bytes.Equal(got, bundle) {
			t.Fatalf("node %d's bundle of job %s differs from the coordinator's", i, id)
		}
	}
	wantPublished := func(what string, want [3][2]int) {
		t.Helper()
		for i := 1; i < 3; i++ {
			n := f.nodes[i].n
			if s, w := published(t, n, publishedSignatures), published(t, n, publishedWhole); s != want[i][0] || w != want[i][1] {
				t.Fatalf("%s: node %d stored %d transcripts by signatures and %d whole, want %d and %d", what, i, s, w, want[i][0], want[i][1])
			}
		}
	}
	wantPublished("a peer that lost its kept transcript", [3][2]int{1: {0, 1}, 2: {1, 0}})

	// A job published at once: by signatures to both peers, which keep
	// nothing after.
	id2 := f.runJob(t, buyer, spec, "publish-2")
	want, err := f.nodes[0].store.GetTranscript(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if got := waitStored(t, f, i, id2); !bytes.Equal(got, want.Bundle) {
			t.Fatalf("node %d's bundle of job %s differs from the coordinator's", i, id2)
		}
	}
	wantPublished("a job published at once", [3][2]int{1: {1, 1}, 2: {2, 0}})
	for i := 1; i < 3; i++ {
		if n := len(f.nodes[i].n.kept.list); n != 0 {
			t.Fatalf("node %d keeps %d transcripts after they were published", i, n)
		}
	}

	// A peer whose kept transcript cannot be read refuses to rebuild the
	// bundle, drops what it kept and stores nothing; the coordinator then
	// sends it the bundle whole.
	gate.closed.Store(true)
	id3 := f.runJob(t, buyer, spec, "publish-3")
	info3, err := f.nodes[0].store.GetTranscriptInfo(ctx, id3)
	if err != nil {
		t.Fatal(err)
	}
	want3, err := f.nodes[0].store.GetTranscript(ctx, id3)
	if err != nil {
		t.Fatal(err)
	}
	kept2 := f.nodes[2].n.kept
	kept2.mu.Lock()
	for _, k := range kept2.list {
		if k.jobID == id3 {
			k.file.Close()
		}
	}
	kept2.mu.Unlock()
	_, err = call(ctx, f.nodes[0].n, 2, func(ctx context.Context, pc cohortv1.PeerServiceClient) (*cohortv1.PublishTranscriptResponse, error) {
		return publishSigned(ctx, pc, &cohortv1.SignedTranscript{
			Bundle: blob.HeaderOf(info3.BundleSize, info3.BundleSHA256), JobId: id3, Digest: bytes.Clone(info3.Digest[:]),
			Signatures: mustBundle(t, want3.Bundle).Signatures,
		})
	})
	wantCode(t, "a publish by signatures to a peer whose kept transcript is unreadable", err, codes.FailedPrecondition)
	wantMessage(t, "a publish by signatures to a peer whose kept transcript is unreadable", err, "cannot read the transcript", "send the bundle")
	if _, err := f.nodes[2].store.GetTranscriptInfo(ctx, id3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("node 2 stored the transcript it could not read: %v", err)
	}
	if k, _ := kept2.take(id3, info3.Digest); k != nil {
		t.Fatal("node 2 still keeps the transcript it could not read")
	}
	gate.closed.Store(false)
	for i := 1; i < 3; i++ {
		if got := waitStored(t, f, i, id3); !bytes.Equal(got, want3.Bundle) {
			t.Fatalf("node %d's bundle of job %s differs from the coordinator's", i, id3)
		}
	}
	wantPublished("a peer whose kept transcript is unreadable", [3][2]int{1: {2, 1}, 2: {2, 1}})

	// Publishing a stored bundle again is a no-op, by signatures too.
	if _, err := call(ctx, f.nodes[0].n, 2, func(ctx context.Context, pc cohortv1.PeerServiceClient) (*cohortv1.PublishTranscriptResponse, error) {
		return publishSigned(ctx, pc, signed())
	}); err != nil {
		t.Fatalf("publish a stored bundle again: %v", err)
	}
	wantPublished("a bundle published again", [3][2]int{1: {2, 1}, 2: {2, 1}})
}

// TestKeptTranscripts: the table keeps the newest transcripts, one per
// job, closing the files of those it drops — once no publish reads them;
// take hands out only the transcript of the job and digest asked for, to
// one publish at a time, and a transcript whose bundle is stored is
// forgotten.
func TestKeptTranscripts(t *testing.T) {
	ks := newKeptTranscripts()
	newKept := func(job string, digest byte) *keptTranscript {
		f := fileWith(t, "kept-", []byte(job))
		return &keptTranscript{jobID: job, digest: [32]byte{digest}, file: f, size: int64(len(job))}
	}
	closed := func(k *keptTranscript) bool { _, err := k.file.Write([]byte{0}); return errors.Is(err, os.ErrClosed) }
	take := func(job string, digest byte) (*keptTranscript, bool) { return ks.take(job, [32]byte{digest}) }
	first := newKept("job-0", 0)
	ks.put(first)
	var rest []*keptTranscript
	for i := 1; i <= maxKept; i++ {
		k := newKept(fmt.Sprintf("job-%d", i), byte(i))
		rest = append(rest, k)
		ks.put(k)
	}
	if k, _ := take("job-0", 0); k != nil || !closed(first) {
		t.Fatal("the oldest transcript is still kept, or its file open")
	}
	if k, busy := take("job-1", 9); k != nil || busy {
		t.Fatal("a transcript is taken under another digest")
	}
	// One publish at a time; a newer transcript of the job replaces it,
	// closed once the publish hands it back.
	k, busy := take("job-1", 1)
	if k != rest[0] || busy {
		t.Fatal("the kept transcript is not taken")
	}
	if again, busy := take("job-1", 1); again != nil || !busy {
		t.Fatal("a transcript is taken by two publishes at once")
	}
	newer := newKept("job-1", 7)
	ks.put(newer)
	if closed(k) {
		t.Fatal("a transcript a publish reads is closed")
	}
	ks.release(k, false)
	if !closed(k) {
		t.Fatal("a replaced transcript is open once its publish is done")
	}
	// Stored: forgotten. Not stored: kept for the next publish.
	if k, _ := take("job-1", 7); k != newer {
		t.Fatal("the newer transcript of the job is not kept")
	} else if ks.release(k, true); !closed(k) {
		t.Fatal("a transcript whose bundle is stored is still open")
	}
	if k, busy := take("job-1", 7); k != nil || busy {
		t.Fatal("a transcript whose bundle is stored is still kept")
	}
	k, _ = take("job-2", 2)
	ks.release(k, false)
	if k2, busy := take("job-2", 2); k2 != k || busy || closed(k) {
		t.Fatal("a transcript whose publish failed is not kept")
	}
	ks.release(k, false)
	ks.drop("job-2")
	if k, _ := take("job-2", 2); k != nil || !closed(rest[1]) {
		t.Fatal("a dropped transcript is still kept, or its file open")
	}
	// Once the node stops, every file is closed (one being read once its
	// publish is done), and one put after too.
	reading, _ := take("job-3", 3)
	ks.close()
	if !closed(rest[3]) || closed(reading) {
		t.Fatal("a kept file is open after the node stopped, or one being read is closed")
	}
	ks.release(reading, false)
	if !closed(reading) {
		t.Fatal("a transcript read as the node stopped is open after")
	}
	late := newKept("job-9", 9)
	ks.put(late)
	if k, _ := take("job-9", 9); k != nil || !closed(late) {
		t.Fatal("a transcript put after the node stopped is kept")
	}
}

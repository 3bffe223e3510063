package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"

	"github.com/cohort-dev/cohort/circuits"
)

// recordingVerifier refuses statements whose first public input is 1,
// records the size of every batch it is given and, while hold is not nil,
// blocks each batch until hold is closed.
type recordingVerifier struct {
	mu      sync.Mutex
	batches []int
	hold    chan struct{}
	started chan struct{} // receives once per batch, if not nil
}

var errRefused = errors.New("refused")

func (v *recordingVerifier) VerifyBatch(stmts []circuits.Statement) []error {
	v.mu.Lock()
	v.batches = append(v.batches, len(stmts))
	hold, started := v.hold, v.started
	v.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	errs := make([]error, len(stmts))
	for i, s := range stmts {
		if s.Public[0].IsOne() {
			errs[i] = fmt.Errorf("%w: statement %d of the batch", errRefused, i)
		}
	}
	return errs
}

func (v *recordingVerifier) sizes() []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.batches)
}

func statement(bad bool) circuits.Statement {
	var x fr.Element
	if bad {
		x.SetOne()
	}
	return circuits.Statement{Public: []fr.Element{x}}
}

// newTestBatcher is a batcher of v with slots ingest slots of its own and
// its batch sizes observed by a histogram of its own.
func newTestBatcher(v circuits.BatchVerifier, l Limits, slots int) *proofBatcher {
	return newProofBatcher(v, l, make(chan struct{}, slots), prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_proof_batch_size"}))
}

func (b *proofBatcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// TestProofBatcher: a proof that arrives while no batch runs is verified
// at once, alone; those that arrive meanwhile queue and go in batches of
// at most max; each caller gets its own statement's verdict.
func TestProofBatcher(t *testing.T) {
	v := &recordingVerifier{hold: make(chan struct{}), started: make(chan struct{}, 16)}
	b := newTestBatcher(v, Limits{IngestBatch: 4}, 2)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	call := func(i int) { wg.Go(func() { errs[i] = b.verify(context.Background(), statement(i%3 == 1)) }) }
	call(0)
	<-v.started // the first batch runs, held
	for i := 1; i < n; i++ {
		call(i)
	}
	for b.queued() != n-1 {
		runtime.Gosched()
	}
	close(v.hold)
	wg.Wait()
	if got, want := v.sizes(), []int{1, 4, 4, 1}; !slices.Equal(got, want) {
		t.Errorf("batch sizes %v, want %v", got, want)
	}
	for i, err := range errs {
		if bad := i%3 == 1; bad != errors.Is(err, errRefused) || (!bad && err != nil) {
			t.Errorf("caller %d: got %v, bad=%v", i, err, bad)
		}
	}
	if b.queued() != 0 {
		t.Fatal("queue not empty")
	}
}

// TestProofBatcherAlone: a lone statement is verified at once; with
// IngestBatch 1 every statement is verified alone.
func TestProofBatcherAlone(t *testing.T) {
	v := &recordingVerifier{}
	b := newTestBatcher(v, Limits{IngestBatch: 32}, 1)
	if err := b.verify(context.Background(), statement(false)); err != nil {
		t.Fatal(err)
	}
	if err := b.verify(context.Background(), statement(true)); !errors.Is(err, errRefused) {
		t.Fatalf("bad statement: got %v", err)
	}
	one := newTestBatcher(v, Limits{IngestBatch: 1}, 1)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := one.verify(context.Background(), statement(false)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, want := v.sizes(), []int{1, 1, 1, 1, 1}; !slices.Equal(got, want) {
		t.Fatalf("batch sizes %v, want %v", got, want)
	}
}

// TestProofBatcherCancelled: a caller whose context ends gets the context's
// error; the batch is still verified for the others.
func TestProofBatcherCancelled(t *testing.T) {
	v := &recordingVerifier{hold: make(chan struct{}), started: make(chan struct{}, 4)}
	b := newTestBatcher(v, Limits{IngestBatch: 4}, 1)
	first := make(chan error)
	go func() { first <- b.verify(context.Background(), statement(true)) }()
	<-v.started
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error)
	go func() { cancelled <- b.verify(ctx, statement(false)) }()
	for b.queued() != 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: got %v", err)
	}
	close(v.hold)
	if err := <-first; !errors.Is(err, errRefused) {
		t.Fatalf("first caller: got %v", err)
	}
	for len(v.sizes()) < 2 {
		runtime.Gosched()
	}
	if got, want := v.sizes(), []int{1, 1}; !slices.Equal(got, want) {
		t.Fatalf("batch sizes %v, want %v", got, want)
	}
}

// TestProofBatcherLinger: a batch that follows another waits for its queue
// to fill to max, up to the linger, and is cut as soon as it is full; one
// that the linger runs out on goes with what it has. The first proof is
// verified at once: with an hour's linger, any wait would hang the test.
func TestProofBatcherLinger(t *testing.T) {
	if l := (Limits{}).withDefaults().IngestLinger; l != 2*time.Millisecond {
		t.Errorf("default linger %v, want 2ms", l)
	}
	if b := newTestBatcher(&recordingVerifier{}, Limits{IngestBatch: 4, IngestLinger: -1}.withDefaults(), 1); b.linger != 0 {
		t.Errorf("a negative linger gives %v, want none", b.linger)
	}
	for _, tc := range []struct {
		name   string
		linger time.Duration
		later  int // proofs sent once the first batch is done
		want   []int
	}{
		{"filled", time.Hour, 2, []int{1, 4}},
		{"linger runs out", 20 * time.Millisecond, 0, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &recordingVerifier{hold: make(chan struct{}), started: make(chan struct{}, 16)}
			b := newTestBatcher(v, Limits{IngestBatch: 4, IngestLinger: tc.linger}, 1)
			var wg sync.WaitGroup
			call := func() {
				wg.Go(func() {
					if err := b.verify(context.Background(), statement(false)); err != nil {
						t.Error(err)
					}
				})
			}
			first := make(chan error, 1)
			go func() { first <- b.verify(context.Background(), statement(false)) }()
			<-v.started // verified at once, alone
			call()
			call()
			for b.queued() != 2 {
				runtime.Gosched()
			}
			close(v.hold)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			for range tc.later {
				call()
			}
			wg.Wait()
			if got := v.sizes(); !slices.Equal(got, tc.want) {
				t.Errorf("batch sizes %v, want %v", got, tc.want)
			}
		})
	}
}

// TestIngestBatchesConcurrentUploads: uploads arriving together are
// verified in shared batches; each payload whose proof does not match its
// public inputs is refused by name, the others are stored.
func TestIngestBatchesConcurrentUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records")
	}
	f := newTestFederation(t, 3, func(o *Options) {
		o.Limits.IngestBatch = 4
	})
	desc := f.installDataset(t)
	const n = 6
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = f.payload(t, f.register(t, 0), 0, payloadOptions{})
	}
	// Payloads 1 and 4 carry the proof of another payload: it decodes, and
	// is valid, but for other public inputs.
	lim := mpc.PayloadLimits{Nodes: 3, Len: testSchema().Layout().Len}
	proofOf := func(p []byte) []byte {
		d, err := mpc.UnmarshalPayload(p, lim)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := d.Proof.MarshalBinary()
		return b
	}
	bad := map[int]bool{1: true, 4: true}
	for i := range bad {
		own, other := proofOf(payloads[i]), proofOf(payloads[(i+1)%n])
		payloads[i] = bytes.Replace(payloads[i], own, other, 1)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range payloads {
		wg.Go(func() {
			_, errs[i] = f.contributor(i%3).Contribute(context.Background(), &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: payloads[i]})
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case bad[i]:
			wantCode(t, fmt.Sprintf("payload %d", i), err, codes.InvalidArgument)
			if !strings.Contains(err.Error(), "proof does not verify") {
				t.Errorf("payload %d: %v, want a proof refusal", i, err)
			}
		case err != nil:
			t.Errorf("payload %d: %v", i, err)
		}
	}
	f.wantStored(t, n-uint64(len(bad)))
}

// signallingVerifier tells verified of every batch before verifying it
// with v.
type signallingVerifier struct {
	v        circuits.BatchVerifier
	verified chan<- int
}

func (s signallingVerifier) VerifyBatch(stmts []circuits.Statement) []error {
	s.verified <- len(stmts)
	return s.v.VerifyBatch(stmts)
}

// TestContributeVerifiesWhileLocking: the coordinator verifies an upload's
// proof while it waits for the record's lock, and stores the record only
// once it holds the lock; an upload whose proof does not verify is refused
// after the lock is taken, and nothing of it is stored.
func TestContributeVerifiesWhileLocking(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records")
	}
	f := newTestFederation(t, 3)
	desc := f.installDataset(t)
	ctx := context.Background()
	n := f.nodes[0].n
	rd, err := n.datasets.get(ctx, desc.GetId())
	if err != nil {
		t.Fatal(err)
	}
	verified := make(chan int, 4)
	rd.proofs.v = signallingVerifier{v: rd.proofs.v, verified: verified}
	lim := mpc.PayloadLimits{Nodes: 3, Len: testSchema().Layout().Len}
	good := f.payload(t, f.register(t, 0), 0, payloadOptions{})
	bad := f.payload(t, f.register(t, 0), 0, payloadOptions{})
	// bad carries good's proof: valid, but for other public inputs.
	proofOf := func(p []byte) ([]byte, [32]byte) {
		d, err := mpc.UnmarshalPayload(p, lim)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := d.Proof.MarshalBinary()
		return b, d.Public.Nullifier.Bytes()
	}
	goodProof, _ := proofOf(good)
	badProof, _ := proofOf(bad)
	bad = bytes.Replace(bad, badProof, goodProof, 1)

	for i, tc := range []struct {
		payload []byte
		want    codes.Code
	}{{good, codes.OK}, {bad, codes.InvalidArgument}} {
		_, nf := proofOf(tc.payload)
		unlock, err := n.records.lock(ctx, recordKey{desc.GetId(), nf})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := f.contributor(0).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: tc.payload})
			done <- err
		}()
		select {
		case <-verified:
		case err := <-done:
			t.Fatalf("upload %d returned %v while its record was locked", i, err)
		case <-time.After(time.Minute):
			t.Fatalf("upload %d: proof not verified while its record was locked", i)
		}
		select {
		case err := <-done:
			t.Fatalf("upload %d returned %v while its record was locked", i, err)
		case <-time.After(100 * time.Millisecond):
		}
		unlock()
		err = <-done
		wantCode(t, fmt.Sprintf("upload %d", i), err, tc.want)
		if tc.want == codes.InvalidArgument && !strings.Contains(err.Error(), "proof does not verify") {
			t.Errorf("upload %d: %v, want a proof refusal", i, err)
		}
		f.wantStored(t, 1)
		select {
		case k := <-verified:
			t.Errorf("upload %d: its proof was verified again (a batch of %d) on the coordinator", i, k)
		default:
		}
	}
}

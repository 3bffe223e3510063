package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"

	"github.com/cohort-dev/cohort/circuits"
)

// recordingVerifier refuses statements whose first public input is 1 and
// records the size of every batch it is given.
type recordingVerifier struct {
	mu      sync.Mutex
	batches []int
}

var errRefused = errors.New("refused")

func (v *recordingVerifier) VerifyBatch(stmts []circuits.Statement) []error {
	v.mu.Lock()
	v.batches = append(v.batches, len(stmts))
	v.mu.Unlock()
	errs := make([]error, len(stmts))
	for i, s := range stmts {
		if s.Public[0].IsOne() {
			errs[i] = fmt.Errorf("%w: statement %d of the batch", errRefused, i)
		}
	}
	return errs
}

func statement(bad bool) circuits.Statement {
	var x fr.Element
	if bad {
		x.SetOne()
	}
	return circuits.Statement{Public: []fr.Element{x}}
}

// TestProofBatcher: concurrent callers share batches of at most max
// statements, each caller gets its own statement's verdict, and a full
// batch does not wait for the timer.
func TestProofBatcher(t *testing.T) {
	v := &recordingVerifier{}
	// The timer never fires within the test: only full batches go.
	b := newProofBatcher(v, Limits{IngestBatch: 4, IngestBatchWait: time.Hour}, make(chan struct{}, 2))
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = b.verify(context.Background(), statement(i%5 == 0)) })
	}
	wg.Wait()
	for i, err := range errs {
		if bad := i%5 == 0; bad != errors.Is(err, errRefused) || (!bad && err != nil) {
			t.Errorf("caller %d: got %v, bad=%v", i, err, bad)
		}
	}
	for _, s := range v.batches {
		if s != 4 {
			t.Errorf("batch sizes %v, want 4 each", v.batches)
			break
		}
	}
}

// TestProofBatcherAlone: a lone statement is verified once the wait ends;
// with IngestBatch 1 every statement is verified alone.
func TestProofBatcherAlone(t *testing.T) {
	v := &recordingVerifier{}
	b := newProofBatcher(v, Limits{IngestBatch: 32, IngestBatchWait: time.Millisecond}, make(chan struct{}, 1))
	if err := b.verify(context.Background(), statement(false)); err != nil {
		t.Fatal(err)
	}
	if err := b.verify(context.Background(), statement(true)); !errors.Is(err, errRefused) {
		t.Fatalf("bad statement: got %v", err)
	}
	one := newProofBatcher(v, Limits{IngestBatch: 1}, make(chan struct{}, 1))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := one.verify(context.Background(), statement(false)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if want := []int{1, 1, 1, 1, 1}; fmt.Sprint(v.batches) != fmt.Sprint(want) {
		t.Fatalf("batch sizes %v, want %v", v.batches, want)
	}
}

// TestProofBatcherCancelled: a caller whose context ends gets the context's
// error; the batch it opened is still verified for the others.
func TestProofBatcherCancelled(t *testing.T) {
	v := &recordingVerifier{}
	b := newProofBatcher(v, Limits{IngestBatch: 2, IngestBatchWait: time.Hour}, make(chan struct{}, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error)
	go func() { done <- b.verify(ctx, statement(false)) }()
	if err := b.verify(context.Background(), statement(true)); !errors.Is(err, errRefused) {
		t.Fatalf("second caller: got %v", err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: got %v", err)
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
		o.Limits.IngestBatchWait = 200 * time.Millisecond
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

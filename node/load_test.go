package node

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// loadIdentities bounds the contributors TestIngestLoad registers (the
// test registry holds 2^testDepth); each contributes once per epoch, over
// as many recent epochs as the uploads need.
const loadIdentities = 200

// loadMaxInFlight bounds the uploads TestIngestLoad has outstanding; an
// upload due while that many are is counted as an error (the federation
// did not keep up), not queued.
const loadMaxInFlight = 1024

// TestIngestLoad holds a stated upload rate against three nodes on
// loopback (real gRPC, mTLS between peers, SQLite) with payloads proved
// beforehand, open loop: upload i is sent at start + i/rate whatever the
// answers to the others, spread over the three nodes, and its latency is
// measured from that moment to its acknowledgment. It reports the rate
// held, p50/p99/max latency, errors and the peak heap in use (the three
// nodes and the client share the process), and requires no error and
// every acknowledged record committed on every node.
//
// COHORT_LOAD_RATE (uploads per second, 10 by default; a comma separated
// list holds each rate in turn) and COHORT_LOAD_SECONDS (per rate, 5 by
// default) set the load; proving the payloads beforehand takes about
// 0.2 s of CPU each. The public rate limit is
// raised so that the federation, not the per-client bucket, is measured.
//
//	COHORT_LOAD_RATE=10,20,40 COHORT_LOAD_SECONDS=10 go test ./node/ -run TestIngestLoad -v -timeout 60m
func TestIngestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("proves payloads and runs a federation")
	}
	rates := loadRates(t)
	secs := loadEnv(t, "COHORT_LOAD_SECONDS", 5)
	n := 0
	for _, r := range rates {
		n += r * secs
	}
	ids := min(n, loadIdentities)
	epochs := (n + ids - 1) / ids
	f := newTestFederation(t, 3, func(o *Options) {
		o.Logger = nil
		o.Limits.PublicRate, o.Limits.PublicBurst = 1e6, 1<<20
		o.Limits.EpochGrace = uint64(epochs)
	})
	desc := f.installDataset(t)
	ctx := context.Background()

	provingStart := time.Now()
	payloads := f.proveLoad(t, ids, n)
	for _, tn := range f.nodes {
		// Each node compiles the dataset's circuit on its first upload.
		if _, err := tn.n.datasets.get(ctx, desc.GetId()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d payloads from %d contributors over %d epochs proved in %s", n, ids, epochs, time.Since(provingStart).Round(time.Second))

	sent := 0
	for _, rate := range rates {
		batch := payloads[sent : sent+rate*secs]
		sent += len(batch)
		holdRate(t, f, desc.GetId(), rate, batch)
		if t.Failed() {
			return
		}
	}
	f.wantStored(t, uint64(n))
}

// holdRate uploads payloads at rate per second, open loop, and reports
// the latencies, errors and heap; it fails t if any upload failed.
func holdRate(t *testing.T, f *testFederation, id string, rate int, payloads [][]byte) {
	t.Helper()
	ctx := context.Background()
	n := len(payloads)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse
	var peakHeap atomic.Uint64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peakHeap.Load() {
					peakHeap.Store(m.HeapInuse)
				}
			}
		}
	})

	lat := make([]time.Duration, n)
	errs := make([]error, n)
	inFlight := make(chan struct{}, loadMaxInFlight)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		select {
		case inFlight <- struct{}{}:
		default:
			errs[i] = fmt.Errorf("%d uploads outstanding when upload %d was due", loadMaxInFlight, i)
			continue
		}
		wg.Go(func() {
			defer func() { <-inFlight }()
			_, errs[i] = f.contributor(i%len(f.nodes)).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: payloads[i]})
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	sampler.Wait()

	var failed int
	var ok []time.Duration
	for i, err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("upload %d: %v", i, err)
			}
			continue
		}
		ok = append(ok, lat[i])
	}
	slices.Sort(ok)
	q := func(p float64) time.Duration {
		if len(ok) == 0 {
			return 0
		}
		return ok[min(len(ok)-1, int(p*float64(len(ok))))]
	}
	t.Logf("%d uploads at %d/s over %s (%.1f/s held): p50 %s, p99 %s, max %s; %d errors; heap in use %.0f MB before, %.0f MB at peak",
		n, rate, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		q(0.50).Round(time.Millisecond), q(0.99).Round(time.Millisecond), q(1).Round(time.Millisecond), failed,
		float64(baseHeap)/(1<<20), float64(peakHeap.Load())/(1<<20))
	if failed > 0 {
		t.Errorf("%d of %d uploads at %d/s failed", failed, n, rate)
	}
}

// loadRates reads COHORT_LOAD_RATE: uploads per second, or a comma
// separated list of rates held one after the other; 10 by default.
func loadRates(t *testing.T) []int {
	t.Helper()
	v := os.Getenv("COHORT_LOAD_RATE")
	if v == "" {
		return []int{10}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r < 1 {
			t.Fatalf("COHORT_LOAD_RATE=%q: want rates per second, comma separated", v)
		}
		out = append(out, r)
	}
	return out
}

// loadEnv reads a positive count from the environment, def when unset.
func loadEnv(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// proveLoad registers ids contributors and proves n payloads, each
// contributor's one per epoch going back from the current one, on
// GOMAXPROCS provers.
func (f *testFederation) proveLoad(t *testing.T, ids, n int) [][]byte {
	t.Helper()
	inv, err := f.admin(0).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: uint32(ids), ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	cs := make([]*testContributor, ids)
	for i := range cs {
		c := &testContributor{}
		if _, err := c.secret.SetRandom(); err != nil {
			t.Fatal(err)
		}
		ic := feBytes(circuits.IdentityCommitment(c.secret))
		resp, err := f.contributor(0).Register(context.Background(), &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[i]})
		if err != nil {
			t.Fatal(err)
		}
		c.index = resp.GetMemberIndex()
		cs[i] = c
	}
	loadTestKeys(t, len(f.nodes))
	cur := testSchema().Epoch.Index(time.Now())
	out := make([][]byte, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				epoch := cur - uint64(i/ids)
				out[i] = f.payload(t, cs[i%ids], 0, payloadOptions{epoch: &epoch})
			}
		})
	}
	wg.Wait()
	return out
}

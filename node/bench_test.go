package node

import (
	"context"
	"flag"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
)

// BenchmarkIngest measures ingest throughput: three nodes on loopback (real
// gRPC, mTLS between peers, SQLite), payloads proved beforehand, uploaded by
// 8 concurrent clients (-ingest.clients) spread over the nodes. Each contribution costs every
// node one Groth16 verification, one HPKE open and one durable commit, and
// the coordinator two peer round trips. "verify=each" verifies each proof
// alone with gnark's verifier (Limits.IngestBatch = 1), "verify=batch"
// batches the proofs of concurrent uploads (the default). Run with a fixed
// count, e.g. -benchtime=200x: every iteration needs its own proved payload.
// Besides the rate it reports cpu-ms/contribution, the CPU time of the
// three nodes and the clients per contribution: on a shared machine, a
// steadier measure than the rate; and proofs/batch, the mean size of the
// nodes' proof batches (-ingest.linger sets Limits.IngestLinger).
func BenchmarkIngest(b *testing.B) {
	for _, tc := range []struct {
		name  string
		batch int
	}{{"verify=each", 1}, {"verify=batch", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			benchmarkIngest(b, func(o *Options) { o.Limits.IngestBatch, o.Limits.IngestLinger = tc.batch, *ingestLinger })
		})
	}
}

// ingestProfile names a file for a CPU profile of BenchmarkIngest's uploads
// alone (go test's -cpuprofile would also record the proving beforehand);
// each sub-benchmark writes its own, suffixed with its name. go test runs a
// sub-benchmark once with b.N = 1, then with the -benchtime count: each run
// starts the file afresh, so it holds every upload of the last run, and no
// more (its Duration is their wall time, e.g. 200 uploads at 193/s, 1.04 s).
// The test registry holds 256 members, which bounds -benchtime (250x runs).
var ingestProfile = flag.String("ingest.cpuprofile", "", "write a CPU profile of BenchmarkIngest's uploads to this file")

// ingestClients is how many clients upload at once in BenchmarkIngest.
var ingestClients = flag.Int("ingest.clients", 8, "concurrent uploading clients in BenchmarkIngest")

// ingestLinger sets Limits.IngestLinger in BenchmarkIngest (0: the
// default; negative: none).
var ingestLinger = flag.Duration("ingest.linger", 0, "Limits.IngestLinger of BenchmarkIngest's nodes (0: the default, negative: none)")

func benchmarkIngest(b *testing.B, opt func(*Options)) {
	f := newBenchFederation(b, opt)
	payloads := f.proveMany(b, b.N)
	// Each node compiles the dataset's circuit on its first contribution;
	// that is done here, outside the timed uploads.
	for _, tn := range f.nodes {
		if _, err := tn.n.datasets.get(context.Background(), testSchema().ID); err != nil {
			b.Fatal(err)
		}
	}
	if *ingestProfile != "" {
		name := *ingestProfile + "." + strings.NewReplacer("/", "_", "=", "-").Replace(b.Name())
		out, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	batches0, proofs0 := f.proofBatches(b)
	start, cpu0 := time.Now(), processCPU(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range *ingestClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cohortv1.NewContributorServiceClient(f.conns[w%len(f.conns)])
			for {
				i := next.Add(1) - 1
				if i >= int64(len(payloads)) {
					return
				}
				if _, err := c.Contribute(context.Background(), &cohortv1.ContributeRequest{DatasetId: testSchema().ID, Payload: payloads[i]}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "contributions/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/contribution")
	if batches, proofs := f.proofBatches(b); batches > batches0 {
		b.ReportMetric((proofs-proofs0)/(batches-batches0), "proofs/batch")
	}
}

// proofBatches is how many proof batches the nodes verified, and how many
// proofs they held, from their cohort_proof_batch_size histograms.
func (f *testFederation) proofBatches(tb testing.TB) (batches, proofs float64) {
	tb.Helper()
	for _, tn := range f.nodes {
		var m dto.Metric
		if err := tn.n.metrics.proofBatch.(prometheus.Metric).Write(&m); err != nil {
			tb.Fatal(err)
		}
		batches += float64(m.GetHistogram().GetSampleCount())
		proofs += m.GetHistogram().GetSampleSum()
	}
	return batches, proofs
}

// BenchmarkIngestStages times the per-node work of one contribution, one
// stage at a time, to show where ingest time goes.
func BenchmarkIngestStages(b *testing.B) {
	f := newBenchFederation(b)
	payloads := f.proveMany(b, 64)
	tn := f.nodes[0]
	rd, err := tn.n.datasets.get(context.Background(), testSchema().ID)
	if err != nil {
		b.Fatal(err)
	}
	lim := rd.ds.PayloadLimits()
	decoded := make([]*mpc.Payload, len(payloads))
	for i, p := range payloads {
		if decoded[i], err = mpc.UnmarshalPayload(p, lim); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("decode", func(b *testing.B) {
		for i := range b.N {
			if _, err := mpc.UnmarshalPayload(payloads[i%len(payloads)], lim); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify-proof", func(b *testing.B) {
		for i := range b.N {
			if errs := rd.proofs.v.VerifyBatch([]circuits.Statement{decoded[i%len(decoded)].Statement()}); errs[0] != nil {
				b.Fatal(errs[0])
			}
		}
	})
	b.Run("verify-proof-in-batch-of-32", func(b *testing.B) {
		batch := make([]circuits.Statement, 32)
		for i := range batch {
			batch[i] = decoded[i%len(decoded)].Statement()
		}
		for range (b.N + len(batch) - 1) / len(batch) {
			for _, err := range rd.proofs.v.VerifyBatch(batch) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("open-share", func(b *testing.B) {
		for i := range b.N {
			if _, err := mpc.OpenPayload(tn.seal, 0, lim.Len, decoded[i%len(decoded)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	var stored uint64
	b.Run("store-commit", func(b *testing.B) {
		share, err := mpc.OpenPayload(tn.seal, 0, lim.Len, decoded[0])
		if err != nil {
			b.Fatal(err)
		}
		sb, err := mpc.MarshalShare(share)
		if err != nil {
			b.Fatal(err)
		}
		c := &checked{rd: rd, pub: &decoded[0].Public, proof: decoded[0].Proof}
		// go test runs this function more than once (b.N = 1, then the
		// count it settles on) against the one store: every row of every
		// run gets a nullifier of its own.
		for range b.N {
			stored++
			var nf fr.Element
			nf.SetUint64(stored)
			c.nf = nf.Bytes()
			c.digest[0], c.digest[1], c.digest[2] = byte(stored), byte(stored>>8), byte(stored>>16)
			if _, err := tn.n.storeShare(context.Background(), nil, c, sb, tn.n.opts.Index); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func newBenchFederation(b *testing.B, opts ...func(*Options)) *testFederation {
	b.Helper()
	f := newTestFederation(b, 3, func(o *Options) {
		o.Logger = nil
		// The benchmarks measure the federation, not the public API's
		// per-address limit: every client here has the one loopback
		// address, and 100 calls a second a node would cap ingest at 300.
		o.Limits.PublicRate, o.Limits.PublicBurst = 1e9, 1<<30
		for _, opt := range opts {
			opt(o)
		}
	})
	f.installDataset(b)
	return f
}

// proveMany registers n contributors and proves one payload for each.
func (f *testFederation) proveMany(b *testing.B, n int) [][]byte {
	b.Helper()
	inv, err := f.admin(0).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: uint32(n), ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		b.Fatal(err)
	}
	cs := make([]*testContributor, n)
	for i := range cs {
		c := &testContributor{}
		if _, err := c.secret.SetRandom(); err != nil {
			b.Fatal(err)
		}
		ic := feBytes(circuits.IdentityCommitment(c.secret))
		resp, err := f.contributor(0).Register(context.Background(), &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[i]})
		if err != nil {
			b.Fatal(err)
		}
		c.index = resp.GetMemberIndex()
		cs[i] = c
	}
	out := make([][]byte, n)
	for i, c := range cs {
		out[i] = f.payload(b, c, 0, payloadOptions{})
	}
	return out
}

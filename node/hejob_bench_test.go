package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// heJobRecords are the cohort sizes BenchmarkHEJob seeds, comma separated.
var heJobRecords = flag.String("hejob.records", "1000", "cohort sizes of BenchmarkHEJob")

// heJobParams is the parameter set of BenchmarkHEJob's dataset.
var heJobParams = flag.String("hejob.params", string(he.BGVN12Q109), "HE parameter set of BenchmarkHEJob")

// heJobSchema is BenchmarkHEJob's schema: "bench" (heBenchSchemaYAML, the
// default) or "demo", the demo schema itself with max_cohort 10,000, which
// only bgv-n13-q132 carries (-hejob.params bgv-n13-q132).
var heJobSchema = flag.String("hejob.schema", "bench", `schema of BenchmarkHEJob: "bench" (the demo's without steps among the moments) or "demo"`)

// heBenchMaxCohort is the max_cohort of BenchmarkHEJob's schema: the
// largest cohort its sizes may take.
const heBenchMaxCohort = 10_000

// heDemoSmudgingBits is the smudging of BenchmarkHEJob's dataset with
// -hejob.schema demo: the demo's (bgv-n13-q132 decrypts 10,000 of its
// records with 8 bits to spare).
const heDemoSmudgingBits = 40

// heBenchSmudgingBits is the smudging of BenchmarkHEJob's dataset: the
// largest λ at which bgv-n12-q109 decrypts an aggregate of 10,000 records
// of heBenchSchemaYAML (Params.Check: 35 bits is one bit short).
const heBenchSmudgingBits = 34

// heBenchSchemaYAML is the demo schema with max_cohort 10,000 and steps
// left out of the moments. The demo schema's largest coordinate, steps²
// (3.6·10^9), summed over 10,000 records reaches 2^45: beyond t/2 of every
// parameter set with t < 2^40, so only bgv-n13-q132 (N = 8192) carries it
// (bgv-n13-q218 has no HE circuit for it: 8·Q·N·(1 + 3.6·10^9) ≈ 2^266 is
// not below the BN254 scalar field, circuits.HEFieldFits). Without steps
// among the moments the largest coordinate is sleep_h² (1600², 22 bits),
// and bgv-n12-q109 sums 10,000 records with 12 bits to spare below t/2.
// With -hejob.schema demo, steps stays among the moments.
func heBenchSchemaYAML(tb testing.TB) string {
	tb.Helper()
	y := defaultSchemaYAML(tb)
	edits := [][2]string{
		{"moments: [age, steps, resting_hr, sleep_h, smoker]", "moments: [age, resting_hr, sleep_h, smoker]"},
		{"min_cohort: 20", fmt.Sprintf("min_cohort: 20\nmax_cohort: %d", heBenchMaxCohort)},
	}
	switch *heJobSchema {
	case "bench":
	case "demo":
		edits = edits[1:]
	default:
		tb.Fatalf("-hejob.schema %q: want bench or demo", *heJobSchema)
	}
	for _, r := range edits {
		if !strings.Contains(y, r[0]) {
			tb.Fatalf("the demo schema has no %q line", r[0])
		}
		y = strings.Replace(y, r[0], r[1], 1)
	}
	return y
}

// BenchmarkHEJob measures a whole HE job against the cohort's size: three
// nodes on loopback (real gRPC, mTLS between peers, SQLite), a 2-of-3
// collective key on bgv-n12-q109 (-hejob.params), the statistics job of
// heBenchSchemaYAML under the exact development policy, from SubmitJob to
// DONE — admission, every node's selection, the decryption set's sums of
// the cohort's ciphertexts and decryption shares, combination, release,
// the transcript (every record's ciphertext included) built and signed by
// every live node, the result stored. One federation and dataset serve
// every size; the dataset is set up as CreateDataset sets up any dataset
// with insecure_dev_setup (collective key generation, then the
// one-participant ceremony of its HE circuit, re-verified by every peer
// from the transcript), which the benchmark logs the time of and does not
// count. Before each size, seedHERecords tops its records up to the size:
// one proved and ingested, the others encrypted under the collective key
// and written as ingest would have written them. Sizes: -hejob.records,
// ascending (1,000 by default; 10,000 is the schema's max_cohort). A job's
// memory does not grow with its records beyond their ids (docs/design.md
// §7.6 gives the figures). -hejob.schema demo takes the demo schema itself
// at 40 bits of smudging, with -hejob.params bgv-n13-q132, the one set
// that carries its sums over 10,000 records.
//
// It reports, as BenchmarkJob does, the time per job, cpu-s/op (all three
// nodes) and peak-heap-MB (the three nodes together, above the heap in use
// before the jobs).
//
//	go test ./node/ -run '^$' -bench 'BenchmarkHEJob$' -benchtime=1x -hejob.records 1000,10000
func BenchmarkHEJob(b *testing.B) {
	// The federation is b's: a sub-benchmark's would be closed at its end.
	hb := newHEBench(b)
	benchSizes(b, "hejob.records", *heJobRecords, func(b *testing.B, records int) {
		if records > heBenchMaxCohort {
			b.Fatalf("%d records: the schema's max_cohort is %d", records, heBenchMaxCohort)
		}
		hb.run(b, records)
	})
}

// heBench is BenchmarkHEJob's federation, dataset and seeded records.
type heBench struct {
	h      *heFixture
	buyer  context.Context
	spec   *cohortv1.JobSpec
	proved store.Contribution // the ingested record, whose columns the seeded ones copy
	jobs   int
	// setup is how long the federation and the dataset's setup took; the
	// runs of the first size log it (go test prints no log of a benchmark
	// that has sub-benchmarks).
	setup time.Duration
	first int
}

func newHEBench(tb testing.TB) *heBench {
	// The default message limit (the harness's 1 MiB is below a transcript
	// chunk with its framing); a peer checks the whole transcript in one
	// SignTranscript call, which holds every record's ciphertext: 131 KB
	// each on bgv-n12-q109, far above the default transcript limit and
	// the harness's 5 s.
	var smudging uint32 = heBenchSmudgingBits
	if *heJobSchema == "demo" {
		smudging = heDemoSmudgingBits
	}
	start := time.Now()
	h := newHEFixtureOn(tb, heDataset{
		schemaYAML: heBenchSchemaYAML(tb), params: he.ParamSetID(*heJobParams),
		smudgingBits: smudging, policy: exactPolicy(), setup: 3 * time.Hour,
	}, func(o *Options) {
		o.Logger, o.Limits.MaxMessageBytes, o.Limits.PeerTimeout = nil, 0, 10*time.Minute
		o.Limits.MaxTranscriptBytes = 1 << 40
	})
	hb := &heBench{h: h, buyer: h.f.benchBuyer(tb, "bench"), spec: statisticsSpec(h.ds.Schema, h.cur, ""), setup: time.Since(start)}
	hb.spec.DatasetId = h.ds.Desc.GetId()
	return hb
}

// run seeds the dataset up to records and measures jobs over them.
func (hb *heBench) run(b *testing.B, records int) {
	if records < len(hb.h.recs) {
		b.Fatalf("-hejob.records must ascend: %d after %d", records, len(hb.h.recs))
	}
	if hb.first == 0 {
		hb.first = records
	}
	if records == hb.first { // go test prints the last run's log of each size
		b.Logf("%s, %s schema: the federation and the dataset's setup (key generation, ceremony) took %v", *heJobParams, *heJobSchema, hb.setup.Round(time.Second))
	}
	start := time.Now()
	hb.seedHERecords(b, records)
	b.Logf("seeding up to %d records took %v", records, time.Since(start).Round(time.Second))
	peak := startHeapSampler()
	cpu0 := processCPU(b)
	b.ReportAllocs()
	b.ResetTimer()
	jobs := 0
	for b.Loop() {
		id := hb.h.f.runJob(b, hb.buyer, hb.spec, fmt.Sprintf("he-job-%d", hb.jobs))
		hb.jobs++
		res, err := hb.h.f.buyerClient(0).GetResult(hb.buyer, &cohortv1.GetResultRequest{JobId: id})
		if err != nil {
			b.Fatal(err)
		}
		if got := res.GetResult().GetCohortSize(); got != uint64(records) {
			b.Fatalf("job %s released over %d records, want %d", id, got, records)
		}
		jobs++
	}
	b.StopTimer()
	b.ReportMetric(float64(records), "records")
	b.ReportMetric(peak(), "peak-heap-MB")
	b.ReportMetric((processCPU(b)-cpu0).Seconds()/float64(jobs), "cpu-s/op")
}

// seedHERecords gives the dataset n records of the current epoch on every
// node: the first proved and ingested through Contribute, the others
// written into each node's store directly, as ingest would have written
// them. A seeded record is a random record of the schema (fixed seed)
// encrypted under the collective key (he.PublicKey.Encrypt, a fresh
// encryption each), stored under its own nullifier with the ingested
// record's public inputs, proof and terms: selection, sums and decryption
// read only the stored columns and ciphertexts, so a job runs on seeded
// records as on ingested ones, but their proofs do not bind their
// ciphertexts (their transcript would not pass an audit). Records already
// seeded stay; h.recs lists them all.
func (hb *heBench) seedHERecords(tb testing.TB, n int) {
	tb.Helper()
	h := hb.h
	ctx := context.Background()
	if len(h.recs) == 0 {
		h.contribute(tb, 0, fitness(40, 8000, 60, 750, false, "north"))
		rows, err := h.f.nodes[0].store.ListContributions(ctx, h.ds.Desc.GetId(), 0, 1<<62, [32]byte{}, 1)
		if err != nil || len(rows) != 1 {
			tb.Fatalf("the ingested record: %v, %v", rows, err)
		}
		hb.proved = rows[0]
	}
	from := len(h.recs)
	rng := mrand.New(mrand.NewPCG(2, uint64(from)))
	for range n - from {
		h.recs = append(h.recs, h.ds.Schema.RandomRecord(rng))
	}
	const batch = 500
	for start := from; start < n; start += batch {
		end := min(start+batch, n)
		out := make([]store.Contribution, end-start)
		// Encryption (with the witness Encrypt also returns) is most of
		// the seeding: spread it over the cores.
		var (
			wg   sync.WaitGroup
			once sync.Once
			fail error
		)
		workers := runtime.GOMAXPROCS(0)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := start + w; k < end; k += workers {
					row, err := h.seededRow(hb.proved, k, h.recs[k])
					if err != nil {
						once.Do(func() { fail = err })
						return
					}
					out[k-start] = row
				}
			}()
		}
		wg.Wait()
		if fail != nil {
			tb.Fatal(fail)
		}
		for _, tn := range h.f.nodes {
			err := tn.store.InTx(ctx, func(tx store.Tx) error {
				for _, row := range out {
					if _, err := tx.PutContribution(ctx, row); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
	for j, got := range h.f.stored(tb) {
		if got != uint64(n) {
			tb.Fatalf("node %d holds %d records, want %d", j, got, n)
		}
	}
}

// seededRow is the row of seeded record k: rec encrypted under the
// collective key, with proved's columns under nullifier k.
func (h *heFixture) seededRow(proved store.Contribution, k int, rec schema.Record) (store.Contribution, error) {
	v, err := h.ds.Schema.Encode(rec)
	if err != nil {
		return store.Contribution{}, err
	}
	ct, _, err := h.ds.HE.Key.Encrypt(h.ds.HE.Params, v, rand.Reader)
	if err != nil {
		return store.Contribution{}, err
	}
	row := proved
	if row.Share, err = ct.MarshalBinary(); err != nil {
		return store.Contribution{}, err
	}
	var nf fr.Element
	nf.SetUint64(uint64(k))
	row.Nullifier, row.ClaimLeaf = nf.Bytes(), claimLeaf(nf)
	row.PayloadDigest = sha256.Sum256(row.Nullifier[:])
	return row, nil
}

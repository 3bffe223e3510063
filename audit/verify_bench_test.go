package audit

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/mpc"
)

var (
	auditRecords = flag.String("audit.records", "256", "cohort sizes of BenchmarkAuditVerify (each record is proven once per run)")
	streamSizes  = flag.String("audit.stream.records", "10000,100000,1000000", "transcript sizes of BenchmarkTranscriptStream")
	repeatSizes  = flag.String("audit.repeat.records", "100000", "transcript sizes of BenchmarkAuditVerifyRepeated")
	repeatProofs = flag.Int("audit.repeat.proofs", 64, "distinct proofs BenchmarkAuditVerifyRepeated proves and repeats")
)

// sizes parses a comma-separated list of record counts.
func sizes(b *testing.B, name, list string) []int {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("-%s: %q is not a number of records", name, f)
		}
		out = append(out, n)
	}
	return out
}

// heapPeak samples the heap in use every millisecond from its call until
// the returned function is called, which reports the peak above the heap
// in use at the start (peak-heap-MB), garbage not yet collected included.
func heapPeak(b *testing.B) func() {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var (
		peak atomic.Uint64
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		p := peak.Load()
		b.ReportMetric(float64(max(p, base.HeapAlloc)-base.HeapAlloc)/(1<<20), "peak-heap-MB")
	}
}

// BenchmarkTranscriptStream writes a transcript of n records to a file
// with TranscriptWriter and reads it back with TranscriptReader, checking
// every record, its digest and its tail: what a coordinator, a signing
// peer and an auditor do with a transcript's bytes, without its proofs
// verified. The records carry the fixture's public inputs and proof
// bytes under distinct nullifiers (nothing here decodes them). It reports
// records/s for the write and the read together, the file's size and the
// peak heap, which does not grow with n. Sizes: -audit.stream.records.
//
//	go test ./audit/ -run '^$' -bench BenchmarkTranscriptStream -benchtime=1x
func BenchmarkTranscriptStream(b *testing.B) {
	f := getFixture(b, devSetup)
	head := *f.bundle.Transcript
	like := head.Records[0]
	head.Records, head.ClaimRoot = nil, [32]byte{}
	for _, n := range sizes(b, "audit.stream.records", *streamSizes) {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "transcript")
			done := heapPeak(b)
			var size int64
			for b.Loop() {
				size = streamRoundTrip(b, path, &head, like, n)
			}
			done()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(size)/(1<<20), "file-MB")
		})
	}
}

// streamRoundTrip writes and reads back a transcript of n records like
// like, and returns its size.
func streamRoundTrip(b *testing.B, path string, head *Transcript, like Record, n int) int64 {
	file, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	w, err := NewTranscriptWriter(file, head, n)
	if err != nil {
		b.Fatal(err)
	}
	rec := like
	for i := range n {
		rec.Nullifier = [32]byte{}
		binary.BigEndian.PutUint64(rec.Nullifier[24:], uint64(i+1))
		if err := w.Record(&rec); err != nil {
			b.Fatal(err)
		}
	}
	digest, _, err := w.Close()
	if err != nil {
		b.Fatal(err)
	}
	size, err := file.Seek(0, io.SeekCurrent)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		b.Fatal(err)
	}
	r, err := NewTranscriptReader(file, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
	}
	if _, d, err := r.Tail(); err != nil || d != digest {
		b.Fatalf("read back: %v (digest %x…, written %x…)", err, d[:4], digest[:4])
	}
	return size
}

// BenchmarkAuditVerify verifies a bundle of n records, each with its own
// real proof, from a file with VerifyStream ("stream") and from memory
// with VerifyEncoded ("memory"), on the dev fixture's dataset (the demo
// schema, three nodes, every output kind). The records are proven in the
// benchmark, once per run, by the fixture's eight registered members over
// ⌈n/8⌉ epochs: that takes most of the run (2,048 records took about 25
// minutes on 2 loaded cores, docs/design.md §7.6). It reports proofs/s over the whole audit (every check, the
// circuit compiled once beforehand) and the peak heap during it. Sizes:
// -audit.records.
//
//	go test ./audit/ -run '^$' -bench BenchmarkAuditVerify -benchtime=5x -audit.records=2048,256
func BenchmarkAuditVerify(b *testing.B) {
	ns := sizes(b, "audit.records", *auditRecords)
	largest := slices.Max(ns)
	f, err := newFixtureOf(devSetup, uint64(max(largest, 6)))
	if err != nil {
		b.Fatal(err)
	}
	recs := proveRecords(b, f, largest)
	for _, n := range ns {
		span := uint64((n + len(f.members) - 1) / len(f.members))
		spec := testSpec(f.schema.ID, f.epoch+span-1)
		spec.EpochFrom = f.epoch
		bundle, err := f.assemble(spec, recs[:n], f.roots)
		if err != nil {
			b.Fatal(err)
		}
		path, enc := bundleFile(b, bundle)
		bundle = nil
		if rep := VerifyEncoded(enc, DefaultLimits(), f.opts...); !rep.OK() { // compiles the circuit into f's cache
			b.Fatalf("the bundle does not verify:\n%s", rep)
		}
		b.Run(fmt.Sprintf("records=%d/stream", n), func(b *testing.B) {
			file, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer file.Close()
			done := heapPeak(b)
			for b.Loop() {
				if rep := VerifyStream(file, int64(len(enc)), DefaultLimits(), f.opts...); !rep.OK() {
					b.Fatalf("does not verify:\n%s", rep)
				}
			}
			done()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
		b.Run(fmt.Sprintf("records=%d/memory", n), func(b *testing.B) {
			done := heapPeak(b)
			for b.Loop() {
				data, err := os.ReadFile(path)
				if err != nil {
					b.Fatal(err)
				}
				if rep := VerifyEncoded(data, DefaultLimits(), f.opts...); !rep.OK() {
					b.Fatalf("does not verify:\n%s", rep)
				}
			}
			done()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
		enc = nil
	}
}

// BenchmarkAuditVerifyRepeated runs VerifyStream over a bundle of n
// records (100,000 by default, -audit.repeat.records) whose proofs and
// public inputs repeat -audit.repeat.proofs real ones: proving 100,000
// records is out of reach here (hours), and the verifier's work does not
// depend on the proofs being distinct (each statement gets its own random
// weight; nothing is cached across statements). Each record keeps its
// proof and public inputs but gets a nullifier of its own, so the
// transcript lists n distinct records in nullifier order and the nodes'
// evidence, sums and signatures are over them. The report then fails one
// check only, the record terms, since each record's public inputs carry
// another nullifier than the one listed; every proof verifies, and every
// other check passes. It reports proofs/s over the whole audit from a file
// (every check; the circuit compiled once beforehand), the CPU time of the
// process per record and the peak heap.
//
//	go test ./audit/ -run '^$' -bench BenchmarkAuditVerifyRepeated -benchtime=2x
func BenchmarkAuditVerifyRepeated(b *testing.B) {
	ns := sizes(b, "audit.repeat.records", *repeatSizes)
	k := *repeatProofs
	if k < 1 {
		b.Fatal("-audit.repeat.proofs must be at least 1")
	}
	f, err := newFixtureOf(devSetup, uint64(max(slices.Max(ns), 6)))
	if err != nil {
		b.Fatal(err)
	}
	recs := proveRecords(b, f, k)
	span := uint64((k + len(f.members) - 1) / len(f.members))
	spec := testSpec(f.schema.ID, f.epoch+span-1)
	spec.EpochFrom = f.epoch
	for _, n := range ns {
		many := make([]proved, n)
		for i := range many {
			many[i] = recs[i%k]
			many[i].rec.Nullifier = [32]byte{}
			binary.BigEndian.PutUint64(many[i].rec.Nullifier[24:], uint64(i+1))
		}
		bundle, err := f.assemble(spec, many, f.roots)
		if err != nil {
			b.Fatal(err)
		}
		many = nil
		path, enc := bundleFile(b, bundle)
		bundle = nil
		size := int64(len(enc))
		enc = nil
		file, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer file.Close()
		check := func(rep *Report) {
			for _, c := range rep.Checks {
				switch {
				case c.Name == CheckRecordTerms:
					if c.Status != Fail {
						b.Fatalf("the record terms pass, with every nullifier changed:\n%s", rep)
					}
				case !c.OK():
					b.Fatalf("check %s fails:\n%s", c.Name, rep)
				}
			}
		}
		check(VerifyStream(file, size, DefaultLimits(), f.opts...)) // compiles the circuit into f's cache
		b.Run(fmt.Sprintf("records=%d/proofs=%d", n, k), func(b *testing.B) {
			done := heapPeak(b)
			cpu := processCPU(b)
			for b.Loop() {
				check(VerifyStream(file, size, DefaultLimits(), f.opts...))
			}
			b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(n*b.N), "cpu-µs/proof")
			done()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
	}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// proveRecords proves n records of the fixture's dataset, in parallel:
// record i is member i mod 8's at epoch f.epoch + i/8, so every record
// has its own nullifier and the first m records span ⌈m/8⌉ epochs.
func proveRecords(b *testing.B, f *fixture, n int) []proved {
	start := time.Now()
	out := make([]proved, n)
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				m := f.members[i%len(f.members)]
				v, err := f.schema.Encode(testRecord(i))
				if err == nil {
					var p *mpc.Payload
					terms := goodTerms(f.schema.ID, f.epoch+uint64(i/len(f.members)))
					if p, err = f.prover.Build(mpc.Contribution{Secret: m.secret, Root: m.root, Path: m.path, Terms: terms, Record: v}, nil); err == nil {
						out[i], err = provedOf(p, f.seal, f.schema.Layout().Len)
					}
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("record %d: %w", i, err):
					default:
					}
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.Logf("proved %d records in %v", n, time.Since(start).Round(time.Second))
	return out
}

// bundleFile writes bundle's encoding to a file in b's temporary
// directory and returns the file's path and the encoding.
func bundleFile(b *testing.B, bundle *Bundle) (string, []byte) {
	b.Helper()
	enc, err := bundle.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bundle")
	if err := os.WriteFile(path, enc, 0o600); err != nil {
		b.Fatal(err)
	}
	return path, enc
}

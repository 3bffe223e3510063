package audit

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"testing"
)

var heAuditRecords = flag.String("audit.he.records", "1000,10000", "cohort sizes of BenchmarkAuditVerifyHE")

// BenchmarkAuditVerifyHE verifies an HE bundle of n records from a file
// with VerifyStream ("stream") and from memory with VerifyEncoded
// ("memory"), and reports the peak heap of each and records/s over the
// whole audit. The bundle is the HE fixture's (bgv-test-n8-insecure,
// N = 256: 8,217-byte ciphertexts) with its five records repeated under
// distinct nullifiers and signed again: every check does a real audit's
// work — each proof verified against its ciphertext's coefficients, each
// ciphertext decoded, its payload digest rebuilt and the ciphertext added
// to the running sum — and the report fails, as it must, the checks that
// compare the repeated records with the job (their terms' nullifiers, the
// cohort, the eligible sets, the aggregate, the released sums). Sizes:
// -audit.he.records.
//
//	go test ./audit/ -run '^$' -bench BenchmarkAuditVerifyHE -benchtime=1x
func BenchmarkAuditVerifyHE(b *testing.B) {
	f := getHEFixture(b)
	for _, n := range sizes(b, "audit.he.records", *heAuditRecords) {
		bundle := f.clone(b, f.bundle)
		t := bundle.Transcript
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = f.records[i%len(f.records)]
			recs[i].Nullifier = [32]byte{}
			binary.BigEndian.PutUint64(recs[i].Nullifier[24:], uint64(i+1))
		}
		t.Records = recs
		root, err := ClaimRootOf(recs)
		if err != nil {
			b.Fatal(err)
		}
		t.ClaimRoot = root
		if err := f.signTranscript(bundle); err != nil {
			b.Fatal(err)
		}
		path, enc := bundleFile(b, bundle)
		bundle, t, recs = nil, nil, nil
		size := len(enc)
		enc = nil
		// The proofs verify and the ciphertexts check: only what compares
		// the records with the job fails.
		check := func(b *testing.B, rep *Report) {
			for _, c := range rep.Checks {
				if (c.Name == CheckProofs || c.Name == CheckCiphertexts) && c.Status != Pass {
					b.Fatalf("%s: %s %q", c.Name, c.Status, c.Detail)
				}
			}
		}
		b.Run(fmt.Sprintf("records=%d/stream", n), func(b *testing.B) {
			file, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer file.Close()
			done := heapPeak(b)
			for b.Loop() {
				check(b, VerifyStream(file, int64(size), DefaultLimits(), f.opts...))
			}
			done()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(size)/(1<<20), "bundle-MB")
		})
		b.Run(fmt.Sprintf("records=%d/memory", n), func(b *testing.B) {
			done := heapPeak(b)
			for b.Loop() {
				data, err := os.ReadFile(path)
				if err != nil {
					b.Fatal(err)
				}
				check(b, VerifyEncoded(data, DefaultLimits(), f.opts...))
			}
			done()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(size)/(1<<20), "bundle-MB")
		})
	}
}

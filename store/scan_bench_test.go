package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"testing"
)

// scanRecords is how many records BenchmarkScanContributions stores.
var scanRecords = flag.Int("scan.records", 100_000, "records of one epoch BenchmarkScanContributions stores")

// BenchmarkScanContributions measures the scan a job makes of one epoch on
// SQLite, alone: the eligibility columns, share, proof and claim leaf of
// -scan.records records of the demo's sizes (an 839-byte share, 254 bytes
// of public inputs, a 194-byte proof), stored in no order of theirs (a
// nullifier is a hash), read in nullifier order. It reports records/s.
//
//	go test ./store -run '^$' -bench BenchmarkScanContributions -benchtime 5x
func BenchmarkScanContributions(b *testing.B) {
	ctx := context.Background()
	s := openBenchStore(b)
	c := testContribution("fitness", 0, 2970)
	c.Share, c.Public, c.Proof = make([]byte, 839), make([]byte, 254), make([]byte, 194)
	const batch = 1000
	for start := 0; start < *scanRecords; start += batch {
		if err := s.InTx(ctx, func(tx Tx) error {
			for i := start; i < min(start+batch, *scanRecords); i++ {
				c.Nullifier = sha256.Sum256(binary.BigEndian.AppendUint64([]byte("scan"), uint64(i)))
				c.PayloadDigest, c.ClaimLeaf = c.Nullifier, c.Nullifier
				if _, err := tx.PutContribution(ctx, c); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := s.ScanContributions(ctx, "fitness", 2970, 2970, WithShare|WithProof|WithClaimLeaf, func(c *Contribution) error {
			n += len(c.Share)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if n != 839**scanRecords {
			b.Fatalf("scanned %d bytes of shares", n)
		}
	}
	b.ReportMetric(float64(*scanRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

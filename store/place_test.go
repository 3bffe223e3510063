package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"path/filepath"
	"slices"
	"testing"
)

// TestContributionsPlaced checks SQLite's layout of the contributions
// table: records stored in no order lie in (epoch, nullifier) order of
// rowid; two records whose places collide are both stored, the second
// elsewhere; and a scan returns every record in nullifier order whatever
// its place.
func TestContributionsPlaced(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "cohort.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustPutDataset(t, s, "fitness")
	type key struct {
		epoch uint64
		nf    [32]byte
	}
	var keys []key
	for i := range 64 {
		c := testContribution("fitness", i, uint64(7+i%2))
		c.Nullifier = sha256.Sum256(binary.BigEndian.AppendUint32([]byte("placed"), uint32(i)))
		keys = append(keys, key{c.Epoch, c.Nullifier})
		if _, err := s.PutContribution(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Same epoch, same first 48 bits as the first record, another nullifier:
	// the same place.
	clash := testContribution("fitness", 100, keys[0].epoch)
	clash.Nullifier = keys[0].nf
	clash.Nullifier[31] ^= 1
	if rowPlace(clash.Epoch, clash.Nullifier) != rowPlace(keys[0].epoch, keys[0].nf) {
		t.Fatal("the clashing record has another place")
	}
	if _, err := s.PutContribution(ctx, clash); err != nil {
		t.Fatalf("a record whose place is taken: %v", err)
	}

	db := s.(*sqlStore).w
	rows, err := db.QueryContext(ctx, `SELECT rowid, epoch, nullifier FROM contributions ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	var stored []key
	for rows.Next() {
		var (
			rowid, epoch int64
			nf           []byte
		)
		if err := rows.Scan(&rowid, &epoch, &nf); err != nil {
			t.Fatal(err)
		}
		k := key{uint64(epoch), [32]byte(nf)}
		if k.nf == clash.Nullifier {
			if rowid == rowPlace(k.epoch, k.nf) {
				t.Error("the clashing record took the place of the first")
			}
			continue
		}
		if want := rowPlace(k.epoch, k.nf); rowid != want {
			t.Errorf("record %x… of epoch %d at rowid %d, want %d", k.nf[:4], k.epoch, rowid, want)
		}
		stored = append(stored, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	slices.SortFunc(keys, func(a, b key) int {
		if a.epoch != b.epoch {
			return int(a.epoch) - int(b.epoch)
		}
		return bytes.Compare(a.nf[:], b.nf[:])
	})
	if !slices.Equal(stored, keys) {
		t.Errorf("rowid order is not (epoch, nullifier) order:\n got %x\nwant %x", stored, keys)
	}

	var scanned [][32]byte
	if err := s.ScanContributions(ctx, "fitness", keys[0].epoch, keys[0].epoch, WithShare, func(c *Contribution) error {
		scanned = append(scanned, c.Nullifier)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var want [][32]byte
	for _, k := range keys {
		if k.epoch == keys[0].epoch {
			want = append(want, k.nf)
		}
	}
	want = append(want, clash.Nullifier)
	slices.SortFunc(want, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	if !slices.Equal(scanned, want) {
		t.Errorf("scan of epoch %d: %d records, want %d in nullifier order", keys[0].epoch, len(scanned), len(want))
	}
}

// TestRowPlace checks the place's bits: the epoch's low 15 above the
// nullifier's first 48, never negative.
func TestRowPlace(t *testing.T) {
	var nf [32]byte
	for i := range nf {
		nf[i] = 0xff
	}
	for _, tc := range []struct {
		epoch uint64
		nf    [32]byte
		want  int64
	}{
		{0, [32]byte{}, 0},
		{1, [32]byte{}, 1 << 48},
		{0, [32]byte{0: 0x12, 5: 0x34, 6: 0xff}, 0x120000000034},
		{1<<15 - 1, nf, 1<<63 - 1},
		{1 << 15, nf, 1<<48 - 1},
		{1<<64 - 1, nf, 1<<63 - 1},
	} {
		if got := rowPlace(tc.epoch, tc.nf); got != tc.want {
			t.Errorf("rowPlace(%d, %x…) = %#x, want %#x", tc.epoch, tc.nf[:8], got, tc.want)
		}
	}
}

// scanRecords is how many records BenchmarkScanContributions stores.
var scanRecords = flag.Int("scan.records", 100_000, "records of one epoch BenchmarkScanContributions stores")

// BenchmarkScanContributions measures the scan a job makes of one epoch
// on SQLite (eligibility columns, share, proof and claim leaf, in
// nullifier order) over -scan.records records of the demo's sizes (an
// 839-byte share, 254 bytes of public inputs, a 194-byte proof) stored in
// no order of theirs, with each table layout: "placed", rows at their
// place (rowPlace), and "arrival", rowids in arrival order, as before
// places. It reports records/s.
//
//	go test ./store -run '^$' -bench BenchmarkScanContributions -benchtime 5x
func BenchmarkScanContributions(b *testing.B) {
	for _, layout := range []struct {
		name   string
		places bool
	}{{"arrival", false}, {"placed", true}} {
		b.Run("layout="+layout.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "cohort.db")})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if !layout.places {
				ss := s.(*sqlStore)
				ss.d.placesRows, ss.d.insertContribution = false, insertContributionPostgres
			}
			if err := s.PutDataset(ctx, Dataset{ID: "fitness", CreatedAt: t0}); err != nil {
				b.Fatal(err)
			}
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
		})
	}
}

package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// TestScanContributions checks the streaming read against ListContributions:
// the same rows in the same order, with the eligibility columns always
// and only the byte columns asked for; an error from the callback stops
// the scan.
func TestScanContributions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "sleep")
		const n = 30
		// Every other row is stored with a claim leaf, the others without
		// (as rows written before claim leaves were stored).
		leaves := map[[32]byte][32]byte{}
		for i := range n {
			c := testContribution("fitness", i, uint64(i%3+1))
			if i%2 == 0 {
				c.ClaimLeaf = h32(fmt.Sprint("leaf", i))
			}
			leaves[c.Nullifier] = c.ClaimLeaf
			if _, err := s.PutContribution(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.PutContribution(ctx, testContribution("sleep", 100, 1)); err != nil {
			t.Fatal(err)
		}
		revoked := testContribution("fitness", 4, 2)
		if err := s.Revoke(ctx, "fitness", revoked.RevocationCommitment, h32("token"), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			from, to uint64
			fields   ContributionFields
		}{
			{0, math.MaxUint64, 0},
			{0, math.MaxUint64, WithShare},
			{2, 3, WithProof},
			{1, 1, WithShare | WithProof},
			{0, math.MaxUint64, WithClaimLeaf},
			{2, 3, WithProof | WithClaimLeaf},
			{4, 9, WithShare},
			{3, 2, WithShare}, // empty range
		} {
			want, err := s.ListContributions(ctx, "fitness", tc.from, tc.to, [32]byte{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			k := 0
			err = s.ScanContributions(ctx, "fitness", tc.from, tc.to, tc.fields, func(c *Contribution) error {
				if k >= len(want) {
					t.Fatalf("epochs [%d, %d]: scanned more than the %d listed rows", tc.from, tc.to, len(want))
				}
				w := want[k]
				k++
				if c.DatasetID != "fitness" || c.Nullifier != w.Nullifier || c.PayloadDigest != w.PayloadDigest || c.Epoch != w.Epoch ||
					c.Purposes != w.Purposes || !c.Expiry.Equal(w.Expiry) || c.MinCohort != w.MinCohort ||
					c.RevocationCommitment != w.RevocationCommitment || !c.RevokedAt.Equal(w.RevokedAt) {
					t.Fatalf("epochs [%d, %d]: row %d scanned as %+v, listed as %+v", tc.from, tc.to, k-1, *c, w)
				}
				if c.Receipt != nil || !c.ReceivedAt.IsZero() {
					t.Fatalf("row %d: the receipt was read", k-1)
				}
				if got, ok := c.Share, tc.fields&WithShare != 0; ok != (got != nil) || ok && !bytes.Equal(got, w.Share) {
					t.Fatalf("fields %b: share %q, stored %q", tc.fields, got, w.Share)
				}
				ok := tc.fields&WithProof != 0
				if ok != (c.Public != nil) || ok != (c.Proof != nil) || ok && (!bytes.Equal(c.Public, w.Public) || !bytes.Equal(c.Proof, w.Proof)) {
					t.Fatalf("fields %b: public inputs %q and proof %q, stored %q and %q", tc.fields, c.Public, c.Proof, w.Public, w.Proof)
				}
				wantLeaf := [32]byte{}
				if tc.fields&WithClaimLeaf != 0 {
					wantLeaf = leaves[c.Nullifier]
				}
				if c.ClaimLeaf != wantLeaf {
					t.Fatalf("fields %b: row %d claim leaf %x…, want %x…", tc.fields, k-1, c.ClaimLeaf[:4], wantLeaf[:4])
				}
				return nil
			})
			if err != nil || k != len(want) {
				t.Fatalf("epochs [%d, %d]: scanned %d rows, %v; want %d", tc.from, tc.to, k, err, len(want))
			}
		}
		stop := errors.New("enough")
		calls := 0
		err := s.ScanContributions(ctx, "fitness", 0, math.MaxUint64, WithShare, func(*Contribution) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("scan whose callback fails: %d calls, %v; want 1, %v", calls, err, stop)
		}
		// The store is usable after a scan stopped early.
		if got, err := s.CountContributions(ctx, "fitness", 0, math.MaxUint64); err != nil || got != n {
			t.Fatalf("CountContributions after a stopped scan = %d, %v; want %d", got, err, n)
		}
	})
}

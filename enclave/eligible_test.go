package enclave

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

var jobTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rec returns an eligible record (epoch 5, purposes {0, 1}, expiring a day
// after jobTime, any cohort) with nullifier and payload digest from id.
func rec(id byte) Record {
	var r Record
	r.Nullifier[0], r.Nullifier[31] = id, 0xAA
	r.PayloadDigest[0] = ^id
	r.Epoch = 5
	r.Purposes = 0b11
	r.Expiry = jobTime.Add(24 * time.Hour)
	return r
}

func selectDefault(records []Record) Selection {
	return Select(records, 1, 4, 6, jobTime)
}

func TestSelectRules(t *testing.T) {
	with := func(id byte, change func(*Record)) Record {
		r := rec(id)
		change(&r)
		return r
	}
	tests := []struct {
		name string
		r    Record
		want Exclusions // zero: eligible
	}{
		{"eligible", rec(1), Exclusions{}},
		{"first epoch", with(1, func(r *Record) { r.Epoch = 4 }), Exclusions{}},
		{"last epoch", with(1, func(r *Record) { r.Epoch = 6 }), Exclusions{}},
		{"epoch before", with(1, func(r *Record) { r.Epoch = 3 }), Exclusions{Epoch: 1}},
		{"epoch after", with(1, func(r *Record) { r.Epoch = 7 }), Exclusions{Epoch: 1}},
		{"other purpose", with(1, func(r *Record) { r.Purposes = 0b101 }), Exclusions{Purpose: 1}},
		{"no purpose", with(1, func(r *Record) { r.Purposes = 0 }), Exclusions{Purpose: 1}},
		{"expires at job time", with(1, func(r *Record) { r.Expiry = jobTime }), Exclusions{}},
		{"expires at job time, other zone", with(1, func(r *Record) { r.Expiry = jobTime.In(time.FixedZone("x", 3600)) }), Exclusions{}},
		{"expired a nanosecond before", with(1, func(r *Record) { r.Expiry = jobTime.Add(-time.Nanosecond) }), Exclusions{Expired: 1}},
		{"zero expiry", with(1, func(r *Record) { r.Expiry = time.Time{} }), Exclusions{Expired: 1}},
		{"revoked", with(1, func(r *Record) { r.Revoked = true }), Exclusions{Revoked: 1}},
		{"contributor minimum", with(1, func(r *Record) { r.MinCohort = 2 }), Exclusions{ContributorMinimum: 1}},
		{"minimum of one", with(1, func(r *Record) { r.MinCohort = 1 }), Exclusions{}},
		// The first failing rule counts.
		{"epoch before purpose", with(1, func(r *Record) { r.Epoch, r.Purposes = 9, 0 }), Exclusions{Epoch: 1}},
		{"purpose before expiry", with(1, func(r *Record) { r.Purposes, r.Expiry = 0, time.Time{} }), Exclusions{Purpose: 1}},
		{"expiry before revocation", with(1, func(r *Record) { r.Expiry, r.Revoked = time.Time{}, true }), Exclusions{Expired: 1}},
		{"revocation before minimum", with(1, func(r *Record) { r.Revoked, r.MinCohort = true, 9 }), Exclusions{Revoked: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel := selectDefault([]Record{tc.r})
			if sel.Excluded != tc.want {
				t.Errorf("Excluded = %+v, want %+v", sel.Excluded, tc.want)
			}
			eligible := tc.want == Exclusions{} || tc.want == Exclusions{ContributorMinimum: 1}
			if (sel.Eligible == 1) != eligible {
				t.Errorf("Eligible = %d", sel.Eligible)
			}
			if (sel.Cohort() == 1) != (tc.want == Exclusions{}) {
				t.Errorf("Cohort = %d", sel.Cohort())
			}
		})
	}
	// A purpose bit beyond the mask matches nothing.
	all := rec(1)
	all.Purposes = ^uint64(0)
	for _, bit := range []uint{64, 65, 1 << 20} {
		if sel := Select([]Record{all}, bit, 0, 10, jobTime); sel.Excluded.Purpose != 1 {
			t.Errorf("purpose bit %d: %+v", bit, sel.Excluded)
		}
	}
	if sel := Select([]Record{all}, 63, 0, 10, jobTime); sel.Cohort() != 1 {
		t.Errorf("purpose bit 63: %+v", sel.Excluded)
	}
}

// withMins returns eligible records with the given contributor minimums.
func withMins(mins ...uint32) []Record {
	out := make([]Record, len(mins))
	for i, m := range mins {
		out[i] = rec(byte(i))
		out[i].MinCohort = m
	}
	return out
}

// naiveFixpoint is the rule as stated: n = |E|; drop every record with
// MinCohort > n; repeat until nothing drops.
func naiveFixpoint(mins []uint32) int {
	for {
		n := len(mins)
		kept := mins[:0:0]
		for _, m := range mins {
			if int(m) <= n {
				kept = append(kept, m)
			}
		}
		if len(kept) == n {
			return n
		}
		mins = kept
	}
}

func TestSelectContributorMinimums(t *testing.T) {
	tests := []struct {
		name string
		mins []uint32
		want uint64
	}{
		{"none", nil, 0},
		{"all zero", []uint32{0, 0, 0}, 3},
		{"one greedy", []uint32{0, 0, 5, 5, 5, 5, 100}, 6},                   // 7 → drop 100 → 6, all ≤ 6
		{"exactly enough", []uint32{6, 6, 6, 6, 6, 6}, 6},                    // every minimum met exactly
		{"one short", []uint32{7, 7, 7, 7, 7, 7}, 0},                         // nobody's minimum is met
		{"cascade", []uint32{1, 1, 1, 5, 6, 7}, 3},                           // 6 → drop 7 → 5 → drop 6 → 4 → drop 5 → 3
		{"cascade to nothing", []uint32{3, 3, 4, 5, 6}, 0},                   // 5 → 4 → 3 → 2 → 0
		{"cascade stops at a plateau", []uint32{2, 2, 4, 4, 4, 4, 9, 10}, 6}, // 8 → drop 9, 10 → 6
		{"single record", []uint32{1}, 1},
		{"single greedy record", []uint32{2}, 0},
		{"the largest set wins", []uint32{0, 0, 3, 3, 3}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := withMins(tc.mins...)
			sel := selectDefault(recs)
			minOf := map[[32]byte]uint32{}
			for _, r := range recs {
				minOf[r.Nullifier] = r.MinCohort
			}
			if sel.Cohort() != tc.want {
				t.Errorf("cohort %d, want %d", sel.Cohort(), tc.want)
			}
			if naive := naiveFixpoint(tc.mins); uint64(naive) != tc.want {
				t.Fatalf("the test's own fixpoint gives %d, want %d", naive, tc.want)
			}
			if sel.Eligible != uint64(len(tc.mins)) || sel.Excluded.ContributorMinimum != sel.Eligible-sel.Cohort() {
				t.Errorf("Eligible %d, ContributorMinimum %d", sel.Eligible, sel.Excluded.ContributorMinimum)
			}
			for _, r := range sel.Records {
				if m, ok := minOf[r.Nullifier]; !ok || uint64(m) > sel.Cohort() {
					t.Errorf("record with minimum %d (given: %v) in a cohort of %d", m, ok, sel.Cohort())
				}
			}
		})
	}
	// Random cases against the stated fixpoint.
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		n := rng.IntN(40)
		mins := make([]uint32, n)
		for i := range mins {
			mins[i] = uint32(rng.IntN(n + 5))
		}
		if got, want := selectDefault(withMins(mins...)).Cohort(), naiveFixpoint(mins); got != uint64(want) {
			t.Fatalf("trial %d, mins %v: cohort %d, fixpoint %d", trial, mins, got, want)
		}
	}
}

// mixedRecords returns n records failing various rules.
func mixedRecords(rng *rand.Rand, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		r := rec(0)
		for k := range 4 {
			binary.BigEndian.PutUint64(r.Nullifier[8*k:], rng.Uint64())
			binary.BigEndian.PutUint64(r.PayloadDigest[8*k:], rng.Uint64())
		}
		r.Epoch = uint64(rng.IntN(9))
		r.Purposes = rng.Uint64N(8)
		r.Expiry = jobTime.Add(time.Duration(rng.IntN(21)-5) * time.Hour)
		r.Revoked = rng.IntN(10) == 0
		r.MinCohort = uint32(rng.IntN(n/2 + 1))
		out[i] = r
	}
	return out
}

func TestSelectOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	records := mixedRecords(rng, 300)
	original := slices.Clone(records)
	want := selectDefault(records)
	if !reflect.DeepEqual(records, original) {
		t.Fatal("Select modified its input")
	}
	total := want.Cohort() + want.Excluded.Epoch + want.Excluded.Purpose + want.Excluded.Expired +
		want.Excluded.Revoked + want.Excluded.ContributorMinimum
	if total != uint64(len(records)) || want.Eligible != want.Cohort()+want.Excluded.ContributorMinimum {
		t.Fatalf("counts do not add up: %+v", want)
	}
	if want.Cohort() == 0 || want.Excluded.ContributorMinimum == 0 || want.Excluded.Revoked == 0 {
		t.Fatalf("test data does not exercise every rule: %+v", want)
	}
	if !slices.IsSortedFunc(want.Records, func(a, b Member) int { return bytes.Compare(a.Nullifier[:], b.Nullifier[:]) }) {
		t.Error("cohort not sorted by nullifier")
	}
	for range 10 {
		rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
		if got := selectDefault(records); !reflect.DeepEqual(got, want) {
			t.Fatal("the selection depends on the input order")
		}
	}
	// A repeated nullifier (outside the contract) still gives an
	// order-independent result, with the record counted once.
	dup := append(slices.Clone(records[:50]), records[7])
	dup[50].Revoked = !dup[50].Revoked
	first := selectDefault(dup)
	slices.Reverse(dup)
	if second := selectDefault(dup); !reflect.DeepEqual(first, second) {
		t.Error("a repeated nullifier makes the selection order-dependent")
	}
	if c := first.Eligible + first.Excluded.Epoch + first.Excluded.Purpose + first.Excluded.Expired + first.Excluded.Revoked; c != 50 {
		t.Errorf("a repeated nullifier counted %d times in all", c)
	}
}

func TestSetDigest(t *testing.T) {
	records := []Record{rec(3), rec(1), rec(2)}
	base := SetDigest("job-1", "fitness-2026", members(records))

	// Known answer: the encoding spelled out.
	var enc []byte
	enc = append(enc, "cohort/v1/job-eligible-set"...)
	enc = binary.BigEndian.AppendUint64(enc, 5)
	enc = append(enc, "job-1"...)
	enc = binary.BigEndian.AppendUint64(enc, 12)
	enc = append(enc, "fitness-2026"...)
	enc = binary.BigEndian.AppendUint64(enc, 3)
	for _, id := range []byte{1, 2, 3} {
		r := rec(id)
		enc = append(enc, r.Nullifier[:]...)
		enc = append(enc, r.PayloadDigest[:]...)
	}
	if base != sha256.Sum256(enc) {
		t.Fatal("SetDigest does not follow its documented encoding")
	}

	if SetDigest("job-1", "fitness-2026", members([]Record{rec(2), rec(3), rec(1)})) != base {
		t.Error("digest depends on the input order")
	}
	// Fields other than the nullifier and payload digest do not count.
	other := []Record{rec(3), rec(1), rec(2)}
	other[0].Epoch, other[1].MinCohort, other[2].Revoked = 99, 7, true
	if SetDigest("job-1", "fitness-2026", members(other)) != base {
		t.Error("digest depends on metadata it should not bind")
	}

	changes := map[string]func() [32]byte{
		"job id":     func() [32]byte { return SetDigest("job-2", "fitness-2026", members(records)) },
		"dataset id": func() [32]byte { return SetDigest("job-1", "fitness-2027", members(records)) },
		"id split": func() [32]byte {
			return SetDigest("job-1f", "itness-2026", members(records))
		},
		"a record dropped": func() [32]byte { return SetDigest("job-1", "fitness-2026", members(records[:2])) },
		"a record added": func() [32]byte {
			return SetDigest("job-1", "fitness-2026", members(append(slices.Clone(records), rec(4))))
		},
		"no records": func() [32]byte { return SetDigest("job-1", "fitness-2026", members(nil)) },
		"a nullifier": func() [32]byte {
			r := slices.Clone(records)
			r[1].Nullifier[17] ^= 1
			return SetDigest("job-1", "fitness-2026", members(r))
		},
		"a payload digest": func() [32]byte {
			r := slices.Clone(records)
			r[2].PayloadDigest[31] ^= 0x80
			return SetDigest("job-1", "fitness-2026", members(r))
		},
		"payload digests swapped": func() [32]byte {
			r := slices.Clone(records)
			r[0].PayloadDigest, r[1].PayloadDigest = r[1].PayloadDigest, r[0].PayloadDigest
			return SetDigest("job-1", "fitness-2026", members(r))
		},
	}
	seen := map[[32]byte]string{base: "base"}
	for name, digest := range changes {
		d := digest()
		if prev, dup := seen[d]; dup {
			t.Errorf("%s: same digest as %s", name, prev)
		}
		seen[d] = name
	}
}

func BenchmarkSelect(b *testing.B) {
	records := mixedRecords(rand.New(rand.NewPCG(5, 6)), 100_000)
	b.ResetTimer()
	for b.Loop() {
		selectDefault(records)
	}
}

// members is what a cohort keeps of records.
func members(records []Record) []Member {
	if records == nil {
		return nil
	}
	ms := make([]Member, len(records))
	for i, r := range records {
		ms[i] = r.Member()
	}
	return ms
}

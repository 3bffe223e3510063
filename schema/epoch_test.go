package schema

import (
	"math/rand/v2"
	"testing"
	"time"
)

func date(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func TestEpochIndex(t *testing.T) {
	kiribati := time.FixedZone("UTC+14", 14*3600)
	tests := []struct {
		p    EpochPeriod
		t    time.Time
		want uint64
	}{
		{Daily, date(1970, 1, 1, 0), 0},
		{Daily, date(1970, 1, 1, 23), 0},
		{Daily, date(1970, 1, 2, 0), 1},
		{Daily, date(2026, 1, 1, 12), 20454},
		{Daily, date(1969, 12, 31, 23), 0},                          // before the origin
		{Daily, time.Date(2026, 1, 2, 5, 0, 0, 0, kiribati), 20454}, // still 1 January in UTC
		{Weekly, date(1970, 1, 1, 0), 0},
		{Weekly, date(1970, 1, 5, 0), 0}, // first Monday
		{Weekly, date(1970, 1, 11, 23), 0},
		{Weekly, date(1970, 1, 12, 0), 1},
		{Weekly, date(2026, 1, 4, 23), 2921},                        // Sunday
		{Weekly, date(2026, 1, 5, 0), 2922},                         // Monday
		{Weekly, time.Date(2026, 1, 5, 9, 0, 0, 0, kiribati), 2921}, // Monday there, Sunday in UTC
		{Monthly, date(1970, 1, 31, 23), 0},
		{Monthly, date(1970, 2, 1, 0), 1},
		{Monthly, date(2026, 3, 15, 0), 56*12 + 2},
		{Monthly, date(1969, 12, 31, 0), 0},
		{0, date(2026, 3, 15, 0), 0},
	}
	for _, tc := range tests {
		if got := tc.p.Index(tc.t); got != tc.want {
			t.Errorf("%v.Index(%v) = %d, want %d", tc.p, tc.t, got, tc.want)
		}
	}
}

func TestEpochStart(t *testing.T) {
	tests := []struct {
		p    EpochPeriod
		idx  uint64
		want time.Time
	}{
		{Daily, 0, date(1970, 1, 1, 0)},
		{Daily, 20454, date(2026, 1, 1, 0)},
		{Weekly, 0, date(1970, 1, 5, 0)},
		{Weekly, 2922, date(2026, 1, 5, 0)},
		{Monthly, 0, date(1970, 1, 1, 0)},
		{Monthly, 56*12 + 2, date(2026, 3, 1, 0)},
		{Monthly, 11, date(1970, 12, 1, 0)},
		{0, 5, time.Time{}},
	}
	for _, tc := range tests {
		if got := tc.p.Start(tc.idx); !got.Equal(tc.want) {
			t.Errorf("%v.Start(%d) = %v, want %v", tc.p, tc.idx, got, tc.want)
		}
	}
	if wd := Weekly.Start(1234).Weekday(); wd != time.Monday {
		t.Errorf("weekly epochs start on %v", wd)
	}
}

// Start(Index(t)) ≤ t < Start(Index(t)+1) for instants after the origin.
func TestEpochIndexStartAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []EpochPeriod{Daily, Weekly, Monthly} {
		for range 2000 {
			tt := time.Unix(int64(r.Uint64N(uint64(date(2200, 1, 1, 0).Unix())))+7*86400, 0)
			idx := p.Index(tt)
			if lo, hi := p.Start(idx), p.Start(idx+1); tt.Before(lo) || !tt.Before(hi) {
				t.Fatalf("%v: %v in epoch %d = [%v, %v)", p, tt, idx, lo, hi)
			}
		}
	}
}

func TestEpochNames(t *testing.T) {
	for _, p := range []EpochPeriod{Daily, Weekly, Monthly} {
		got, err := ParseEpochPeriod(p.String())
		if err != nil || got != p {
			t.Errorf("ParseEpochPeriod(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParseEpochPeriod("Weekly"); err == nil {
		t.Error("ParseEpochPeriod is not case-sensitive")
	}
	if s := EpochPeriod(0).String(); s != "EpochPeriod(0)" {
		t.Errorf("zero period prints as %q", s)
	}
}

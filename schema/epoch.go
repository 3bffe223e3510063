package schema

import (
	"fmt"
	"time"
)

// EpochPeriod is how often a contributor may contribute one record to a
// dataset. The zero value is invalid.
type EpochPeriod int

// Epoch periods.
const (
	// Daily epochs are days since 1970-01-01 UTC.
	Daily EpochPeriod = iota + 1
	// Weekly epochs are ISO weeks (Monday to Sunday, UTC) counted from the
	// first Monday of the Unix era, 1970-01-05: week 0 starts then.
	Weekly
	// Monthly epochs are calendar months (UTC) since January 1970.
	Monthly
)

var epochNames = map[EpochPeriod]string{Daily: "daily", Weekly: "weekly", Monthly: "monthly"}

// String returns the YAML name ("daily", "weekly", "monthly").
func (p EpochPeriod) String() string {
	if n, ok := epochNames[p]; ok {
		return n
	}
	return fmt.Sprintf("EpochPeriod(%d)", int(p))
}

// ParseEpochPeriod returns the period named by its YAML name.
func ParseEpochPeriod(name string) (EpochPeriod, error) {
	for p, n := range epochNames {
		if n == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown epoch %q (want daily, weekly or monthly)", name)
}

const (
	secondsPerDay = 86400
	// firstMonday is 1970-01-05, day 4 of the Unix era.
	firstMonday = 4
)

// Index returns the epoch that contains t (taken in UTC): days since
// 1970-01-01, weeks since Monday 1970-01-05, or months since January 1970.
// Instants before the origin of the count (including 1970-01-01..04 for
// Weekly) map to epoch 0, as does every instant for an invalid period.
func (p EpochPeriod) Index(t time.Time) uint64 {
	sec := t.Unix()
	days := sec / secondsPerDay
	if sec%secondsPerDay < 0 {
		days-- // floor division
	}
	switch p {
	case Daily:
		if days < 0 {
			return 0
		}
		return uint64(days)
	case Weekly:
		if days < firstMonday {
			return 0
		}
		return uint64(days-firstMonday) / 7
	case Monthly:
		u := t.UTC()
		if u.Year() < 1970 {
			return 0
		}
		return uint64(u.Year()-1970)*12 + uint64(u.Month()-1)
	}
	return 0
}

// Start returns the first instant (UTC) of epoch idx, so that
// Start(Index(t)) ≤ t < Start(Index(t)+1) for every t after the origin.
// It is meaningful for epochs that start before the year 10000; for an
// invalid period it returns the zero time.
func (p EpochPeriod) Start(idx uint64) time.Time {
	const maxIdx = 1 << 32 // well beyond year 10000 in days; keeps int conversions exact
	if idx > maxIdx {
		idx = maxIdx
	}
	switch p {
	case Daily:
		return time.Date(1970, time.January, 1+int(idx), 0, 0, 0, 0, time.UTC)
	case Weekly:
		return time.Date(1970, time.January, 1+firstMonday+7*int(idx), 0, 0, 0, 0, time.UTC)
	case Monthly:
		return time.Date(1970+int(idx/12), time.Month(1+idx%12), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

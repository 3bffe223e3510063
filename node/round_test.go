package node

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestPhaseClock checks that a round's phases are timed in their order
// only: a phase entered again (a selection made again) or one before the
// current one extends the current phase, a phase skipped is not observed,
// and nothing is observed once the clock has ended.
func TestPhaseClock(t *testing.T) {
	obs := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "phases"}, []string{"phase"})
	count := func(p int) uint64 {
		var m dto.Metric
		if err := obs.WithLabelValues(phaseNames[p]).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	c := phaseClock{obs: obs}
	c.enter(phaseSelect)
	c.enter(phaseSelect) // selecting again
	c.enter(phasePartial)
	c.enter(phaseSelect) // behind: ignored
	c.enter(phaseSign)   // the transcript phase skipped
	c.end()
	c.enter(phaseRelease) // after the end: ignored
	c.end()
	for p, want := range []uint64{1, 1, 0, 1, 0} {
		if got := count(p); got != want {
			t.Errorf("phase %s observed %d times, want %d", phaseNames[p], got, want)
		}
	}
	var idle phaseClock // a run without metrics
	idle.enter(phaseSelect)
	idle.end()
}

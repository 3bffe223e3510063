package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// workers is how many contributors prove and upload at once.
const workers = 2

// contributorSet are the demo's contributors: one identity per record,
// each talking to node i mod n.
type contributorSet struct {
	fed     *localFederation
	ds      *dataset.Dataset
	recs    []person
	ids     []*client.Identity
	epoch   uint64
	expiry  time.Time
	pkCache string
	timings *stageTimings
}

func (d *contributorSet) client(i int) *client.Client { return d.fed.clients[i%len(d.fed.clients)] }

// run registers every contributor with an invite from node 0 and
// contributes its record, workers at a time, drawing a progress bar.
func (d *contributorSet) run(ctx context.Context, out io.Writer) error {
	n := len(d.recs)
	api, actx, done, err := d.fed.admin(ctx, 0)
	if err != nil {
		return err
	}
	inv, err := api.IssueInvites(actx, &cohortv1.IssueInvitesRequest{Count: uint32(n), ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	done()
	if err != nil {
		return rpcErr("issue invites", err)
	}
	if len(inv.GetTokens()) != n {
		return fmt.Errorf("demo: asked for %d invites, got %d", n, len(inv.GetTokens()))
	}
	d.ids = make([]*client.Identity, n)
	d.timings = newStageTimings()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		finished int
	)
	bar := newProgressBar(out, n)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				err := d.contribute(ctx, i, inv.GetTokens()[i])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("demo: contributor %d (node %d): %w", i, i%len(d.fed.clients), err)
					cancel()
				}
				if err == nil {
					finished++
					bar.set(finished)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	bar.done()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// contribute runs one contributor: a fresh identity, registration with its
// invite, and the contribution of its record.
func (d *contributorSet) contribute(ctx context.Context, i int, invite string) error {
	rec := d.recs[i]
	c := d.client(i)
	id, err := client.NewIdentity(nil)
	if err != nil {
		return err
	}
	start := time.Now()
	m, err := c.Register(ctx, id, invite)
	if err != nil {
		return err
	}
	d.timings.add("register", time.Since(start))
	id.Member = &m
	d.ids[i] = id
	_, err = c.Contribute(ctx, id, client.ContributeOptions{
		Dataset:   d.ds,
		Epoch:     d.epoch,
		Record:    rec.record(),
		Purposes:  rec.Purposes,
		Expiry:    d.expiry,
		MinCohort: d.ds.Schema.MinCohort,
		CacheDir:  d.pkCache,
		Progress:  d.timings.progress(),
	})
	return err
}

// revoke revokes the records of the first count contributors who consented
// to purpose, and marks them revoked.
func (d *contributorSet) revoke(ctx context.Context, purpose string, count int) ([]int, error) {
	var done []int
	for i := range d.recs {
		if len(done) == count {
			break
		}
		if !d.recs[i].consents(purpose) {
			continue
		}
		if _, err := d.client(i).Revoke(ctx, d.ids[i], d.ds.Desc.GetId(), d.epoch); err != nil {
			return nil, fmt.Errorf("demo: revoking contributor %d's record: %w", i, err)
		}
		d.recs[i].Revoked = true
		done = append(done, i)
	}
	return done, nil
}

// stageTimings adds up, over all contributions, the time spent in each
// stage of client.Contribute (and in registration).
type stageTimings struct {
	mu    sync.Mutex
	total map[string]time.Duration
	count map[string]int
	order []string
}

func newStageTimings() *stageTimings {
	return &stageTimings{total: map[string]time.Duration{}, count: map[string]int{}}
}

func (s *stageTimings) add(stage string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.total[stage]; !ok {
		s.order = append(s.order, stage)
	}
	s.total[stage] += d
	s.count[stage]++
}

// progress returns a ContributeOptions.Progress callback for one
// contribution that times each stage from its first call to done = total.
func (s *stageTimings) progress() func(stage string, done, total int) {
	started := map[string]time.Time{}
	return func(stage string, done, total int) {
		t, ok := started[stage]
		if !ok {
			started[stage] = time.Now()
			return
		}
		if total > 0 && done >= total {
			s.add(stage, time.Since(t))
		}
	}
}

// String gives the mean time per contribution of each stage.
func (s *stageTimings) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := make([]string, 0, len(s.order))
	for _, st := range s.order {
		mean := s.total[st] / time.Duration(max(s.count[st], 1))
		parts = append(parts, fmt.Sprintf("%s %s", st, mean.Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// progressBar draws "[#####.....] k/n" in place on a terminal, and a line
// every tenth elsewhere.
type progressBar struct {
	w        io.Writer
	n        int
	tty      bool
	start    time.Time
	lastTick int
}

func newProgressBar(w io.Writer, n int) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, n: n, tty: tty, start: time.Now()}
}

func (p *progressBar) set(k int) {
	const width = 30
	rate := time.Since(p.start).Seconds() / float64(max(k, 1))
	if p.tty {
		filled := width * k / p.n
		fmt.Fprintf(p.w, "\r           [%s%s] %d/%d contributions (%.2f s each)", strings.Repeat("#", filled), strings.Repeat(".", width-filled), k, p.n, rate)
		return
	}
	if tick := 10 * k / p.n; tick > p.lastTick || k == p.n {
		p.lastTick = tick
		fmt.Fprintf(p.w, "           %d/%d contributions (%.2f s each)\n", k, p.n, rate)
	}
}

func (p *progressBar) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

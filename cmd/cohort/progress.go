package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/cohort-dev/cohort/client"
)

// progress shows the stages of long client work (client.ContributeOptions.
// Progress): bars with an ETA on a terminal, plain lines otherwise (a file,
// a pipe, a test), so logs stay readable.
type progress interface {
	update(stage string, done, total int)
	// finish completes what is drawn; it is idempotent.
	finish()
}

// newProgress returns bars when w is a terminal, else a progressPrinter.
func newProgress(w io.Writer) progress {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return newProgressBars(w)
	}
	return &progressPrinter{w: w, start: time.Now()}
}

// progressBars draws one bar per stage: the proving key's download with its
// size, percentage and an ETA from a moving average, the other stages with
// their elapsed time.
type progressBars struct {
	p     *mpb.Progress
	stage string
	bar   *mpb.Bar
	done  bool
}

func newProgressBars(w io.Writer, opts ...mpb.ContainerOption) *progressBars {
	opts = append([]mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150 * time.Millisecond)}, opts...)
	return &progressBars{p: mpb.New(opts...)}
}

func (b *progressBars) update(stage string, done, total int) {
	if b.done {
		return
	}
	if stage != b.stage {
		b.completeBar()
		b.stage = stage
		name := decor.Name(fmt.Sprintf("%-16s", stage))
		if stage == client.StageProvingKey && total > 1 {
			b.bar = b.p.AddBar(int64(total),
				mpb.PrependDecorators(name, decor.CountersKibiByte("% .1f / % .1f")),
				mpb.AppendDecorators(decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30), "done"), decor.Name(" "), decor.Percentage()))
		} else {
			b.bar = b.p.AddBar(1,
				mpb.PrependDecorators(name),
				mpb.AppendDecorators(decor.OnComplete(decor.Elapsed(decor.ET_STYLE_GO), "done")))
		}
	}
	if b.bar == nil || total <= 0 {
		return
	}
	if stage == client.StageProvingKey && total > 1 {
		b.bar.SetTotal(int64(total), false)
		b.bar.SetCurrent(int64(done))
	}
	if done >= total {
		b.completeBar()
	}
}

func (b *progressBars) completeBar() {
	if b.bar != nil && !b.bar.Completed() {
		b.bar.SetTotal(-1, true)
	}
	b.bar = nil
}

func (b *progressBars) finish() {
	if b.done {
		return
	}
	b.done = true
	if b.bar != nil {
		// A stage cut short (an error) is shown as such, not as done.
		b.bar.Abort(false)
		b.bar = nil
	}
	b.p.Wait()
}

// progressPrinter writes one line when a stage starts and one when it ends,
// with the time since the first stage, and the proving key's download in
// steps of a tenth.
type progressPrinter struct {
	w          io.Writer
	start      time.Time
	stage      string
	stageStart time.Time
	tenths     int
}

func (p *progressPrinter) update(stage string, done, total int) {
	now := time.Now()
	if stage != p.stage {
		p.stage, p.stageStart, p.tenths = stage, now, 0
		fmt.Fprintf(p.w, "[%6.1fs] %s…\n", now.Sub(p.start).Seconds(), stage)
	}
	if total <= 0 {
		return
	}
	if done >= total {
		fmt.Fprintf(p.w, "[%6.1fs] %s done in %s\n", now.Sub(p.start).Seconds(), stage, now.Sub(p.stageStart).Round(10*time.Millisecond))
		return
	}
	if stage == client.StageProvingKey {
		if t := done * 10 / total; t > p.tenths {
			p.tenths = t
			fmt.Fprintf(p.w, "           %3d%% of %.1f MiB\n", t*10, float64(total)/(1<<20))
		}
	}
}

func (p *progressPrinter) finish() {}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"github.com/cohort-dev/cohort/client"
)

// TestProgressBars drives the terminal bars through a contribution's stages
// and checks what they draw: each stage, the proving key's size, and every
// stage done at the end.
func TestProgressBars(t *testing.T) {
	var out bytes.Buffer
	b := newProgressBars(&out, mpb.ForceTTY(), mpb.ForceAutoRefresh(), mpb.WithRefreshRate(time.Millisecond))
	const size = 3 << 20
	b.update(client.StageDataset, 0, 1)
	b.update(client.StageDataset, 1, 1)
	for done := 0; done <= size; done += size / 4 {
		b.update(client.StageProvingKey, done, size)
	}
	b.update(client.StageProving, 0, 1)
	b.update(client.StageProving, 1, 1)
	b.finish()
	b.finish()             // idempotent
	b.update("late", 0, 1) // ignored after finish
	s := out.String()
	for _, want := range []string{"dataset", "proving key", "3.0 MiB", "proving", "done"} {
		if !strings.Contains(s, want) {
			t.Errorf("bars lack %q:\n%q", want, s)
		}
	}
	if strings.Contains(s, "late") {
		t.Error("a stage after finish was drawn")
	}
}

// TestProgressPlain: on a pipe or a file the stages are plain lines.
func TestProgressPlain(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out)
	if _, ok := p.(*progressPrinter); !ok {
		t.Fatalf("a buffer got %T, want plain lines", p)
	}
	p.update(client.StageProving, 0, 1)
	p.update(client.StageProving, 1, 1)
	p.finish()
	if s := out.String(); !strings.Contains(s, "proving…") || !strings.Contains(s, "proving done in") || strings.Contains(s, "\x1b[") {
		t.Fatalf("plain progress:\n%q", s)
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "man", "--dir", dir)
	for _, page := range []string{"cohort.1", "cohort-buyer-submit.1", "cohort-contributor-contribute.1", "cohort-audit-verify.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(".TH \"COHORT\"")) {
			t.Errorf("%s has no man header:\n%.300s", page, b)
		}
	}
}

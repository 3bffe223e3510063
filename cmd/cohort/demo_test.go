package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo runs the demo end to end with a small registry and a few
// contributors: ceremony, transcript check, proving, node-side verification
// and opening, and the exact comparison with the plaintext (runDemo fails if
// any reconstructed sum differs).
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("ceremony and proving in the long tier")
	}
	var out bytes.Buffer
	if err := runDemo(&out, demoOptions{contributors: 4, nodes: 3, depth: 4}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"ceremony transcript re-verified",
		"node 2 refuses payload 4",
		"4 of 5 payloads accepted by every node",
		"all sums equal the plaintext exactly",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDemoRefusesNoContributors(t *testing.T) {
	if err := runDemo(&bytes.Buffer{}, demoOptions{contributors: 0, nodes: 3, depth: 4}); err == nil {
		t.Fatal("demo with no contributors ran")
	}
}

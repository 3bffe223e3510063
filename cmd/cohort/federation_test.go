package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/federation"
)

func runFederation(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newFederationCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestFederationInitCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "D")
	out, err := runFederation(t, "init", "--dir", dir, "--nodes", "3", "--base-port", "17400", "--name", "test-fed")
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	for _, want := range []string{
		`Federation "test-fed": 3 nodes, admission invite`,
		filepath.Join(dir, "federation.yaml"),
		filepath.Join(dir, "ca-key.pem"),
		"CA private key (secret): move it offline",
		"node-2  API 127.0.0.1:17420  peer 127.0.0.1:17421  metrics 127.0.0.1:17422",
		"cohort node --config " + filepath.Join(dir, "node-0", "node.yaml"),
		"cohort node --config " + filepath.Join(dir, "node-2", "node.yaml"),
		"grpcurl -cacert " + filepath.Join(dir, "ca.pem") + " 127.0.0.1:17400 list",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	token, err := os.ReadFile(filepath.Join(dir, "node-0", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, strings.TrimSpace(string(token))) {
		t.Error("init printed an admin token")
	}

	var configs []string
	for i := range 3 {
		configs = append(configs, filepath.Join(dir, "node-"+strconv.Itoa(i), "node.yaml"))
	}
	out, err = runFederation(t, append([]string{"check"}, configs...)...)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if strings.Count(out, ": ok: ") != 3 {
		t.Errorf("check output:\n%s", out)
	}

	// A second init into the same directory needs --force.
	_, err = runFederation(t, "init", "--dir", dir)
	if !errors.Is(err, federation.ErrNotEmpty) {
		t.Errorf("init into a non-empty directory: %v", err)
	}

	// check reports a key file others can read.
	key := filepath.Join(dir, "node-1", "seal.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runFederation(t, append([]string{"check"}, configs...)...)
	if err == nil || !strings.Contains(out, "chmod 600") || strings.Count(out, ": ok: ") != 2 {
		t.Errorf("check with a loose key: %v\n%s", err, out)
	}
}

func TestFederationInitRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"open admission without dev flag", []string{"--admission", "open"}, federation.ErrInsecureDevSetup},
		{"one node", []string{"--nodes", "1"}, federation.ErrInvalid},
		{"zero nodes", []string{"--nodes", "0"}, federation.ErrInvalid},
		{"zero base port", []string{"--base-port", "0"}, federation.ErrInvalid},
		{"zero root window", []string{"--root-window", "0s"}, federation.ErrInvalid},
		{"bad name", []string{"--name", "My Federation"}, federation.ErrInvalid},
		{"hosts count", []string{"--hosts", "a.example,b.example"}, federation.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "D")
			_, err := runFederation(t, append([]string{"init", "--dir", dir}, tc.args...)...)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := runFederation(t, "init"); err == nil {
		t.Error("init without --dir succeeded")
	}

	dir := filepath.Join(t.TempDir(), "D")
	out, err := runFederation(t, "init", "--dir", dir, "--nodes", "2", "--admission", "open", "--allow-insecure-dev-setup", "--no-metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "WARNING: open admission") || !strings.Contains(out, "metrics off") {
		t.Errorf("output:\n%s", out)
	}
}

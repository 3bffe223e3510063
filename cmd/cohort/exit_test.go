package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client"
)

func TestExitCodes(t *testing.T) {
	rpc := func(c codes.Code) error {
		return fmt.Errorf("submit: %w", &client.RPCError{Op: "node refused the job", Status: status.New(c, "x")})
	}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"plain", fmt.Errorf("audit: 2 checks failed"), exitFailure},
		{"invalid argument", rpc(codes.InvalidArgument), exitUsage},
		{"not found", rpc(codes.NotFound), exitNotFound},
		{"unauthenticated", rpc(codes.Unauthenticated), exitAuth},
		{"permission denied", rpc(codes.PermissionDenied), exitAuth},
		{"budget spent", rpc(codes.FailedPrecondition), exitRefused},
		{"replay", rpc(codes.AlreadyExists), exitRefused},
		{"rate limited", rpc(codes.ResourceExhausted), exitRefused},
		{"unavailable", rpc(codes.Unavailable), exitUnavailable},
		{"deadline", rpc(codes.DeadlineExceeded), exitUnavailable},
		{"internal", rpc(codes.Internal), exitFailure},
		{"bare status", status.Error(codes.NotFound, "no such job"), exitNotFound},
		{"missing file", fmt.Errorf("read spec: %w", fs.ErrNotExist), exitNotFound},
		{"bad options", fmt.Errorf("%w: no purpose", client.ErrInvalidOptions), exitUsage},
		{"not registered", client.ErrNotRegistered, exitRefused},
		{"dataset not ready", client.ErrDatasetNotReady, exitRefused},
	}
	for _, c := range cases {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", c.name, c.err, got, c.want)
		}
	}
}

// TestExitUsage runs the real command tree on command lines it cannot
// accept: each must fail before doing anything, with exit status 2.
func TestExitUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"buyer", "submit", "a", "b", "c"},
		{"version", "extra"},
		{"audit", "verify", "--json=maybe"},
	} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		if err == nil {
			t.Fatalf("%v: accepted", args)
		}
		if got := exitCode(err); got != exitUsage {
			t.Errorf("%v: exit %d (%v), want %d", args, got, err, exitUsage)
		}
	}
}

func TestVersion(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var b buildInfo
	if err := json.Unmarshal(out.Bytes(), &b); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out.String())
	}
	if b.Version == "" || !strings.HasPrefix(b.Go, "go") {
		t.Fatalf("version --json = %+v: want a version and the Go version", b)
	}

	root = newRootCmd()
	out.Reset()
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "cohort "+b.Version) || !strings.Contains(got, b.Go) {
		t.Fatalf("--version printed %q", got)
	}
}

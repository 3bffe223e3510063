package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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

// TestFederationKeygenAssemble sets a federation up in two steps as
// separate operators do — keygen in each node's own directory, assemble
// from the public requests with a CA kept elsewhere, install — and runs
// it: the assembler's directory holds no secret, a tampered request is
// refused, and the nodes start and call each other over mutual TLS (an
// invite issued on node 2 is stored on the registry sequencer, node 0).
func TestFederationKeygenAssemble(t *testing.T) {
	root := t.TempDir()
	lis := make([]*nodeListeners, 3)
	var requests, configs []string
	for i := range lis {
		api, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peer, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[i] = &nodeListeners{api: api, peer: peer}
		dir := filepath.Join(root, "operator-"+strconv.Itoa(i))
		out, err := runFederation(t, "keygen", "--dir", dir, "--federation", "two-step", "--index", strconv.Itoa(i),
			"--api", api.Addr().String(), "--peer", peer.Addr().String())
		if err != nil {
			t.Fatalf("keygen %d: %v\n%s", i, err, out)
		}
		if !strings.Contains(out, "fingerprint") || !strings.Contains(out, filepath.Join(dir, "node-request.yaml")) {
			t.Errorf("keygen output:\n%s", out)
		}
		if token, err := os.ReadFile(filepath.Join(dir, "admin.token")); err != nil || strings.Contains(out, strings.TrimSpace(string(token))) {
			t.Errorf("keygen printed the admin token (%v)", err)
		}
		requests = append(requests, filepath.Join(dir, "node-request.yaml"))
		configs = append(configs, filepath.Join(dir, "node.yaml"))
	}
	caDir := filepath.Join(root, "ca")
	if out, err := runFederation(t, "ca", "--dir", caDir, "--federation", "two-step"); err != nil {
		t.Fatalf("ca: %v\n%s", err, out)
	}

	// A request altered in transit: node 1's peer address moved.
	tampered := filepath.Join(root, "tampered.yaml")
	data, err := os.ReadFile(requests[1])
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(lis[1].peer.Addr().String())
	if err := os.WriteFile(tampered, bytes.Replace(data, []byte(":"+port), []byte(":1"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(root, "refused")
	if _, err := runFederation(t, "assemble", "--ca", caDir, "--out", refused, requests[0], tampered, requests[2]); !errors.Is(err, federation.ErrBadRequest) {
		t.Fatalf("assemble with a tampered request: %v, want ErrBadRequest", err)
	}
	if _, err := os.Stat(refused); err == nil {
		t.Error("a refused assembly wrote its directory")
	}

	pub := filepath.Join(root, "public")
	out, err := runFederation(t, append([]string{"assemble", "--ca", caDir, "--out", pub}, requests...)...)
	if err != nil {
		t.Fatalf("assemble: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Every request's signature verifies") || strings.Count(out, "fingerprint") != 3 {
		t.Errorf("assemble output:\n%s", out)
	}
	entries, err := os.ReadDir(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(pub, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e.Name(), "key") || strings.Contains(e.Name(), "token") || bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("the assembler's output holds a secret: %s", e.Name())
		}
	}
	for i, cfg := range configs {
		out, err := runFederation(t, "install", "--config", cfg, "--federation", filepath.Join(pub, "federation.yaml"),
			"--cert", filepath.Join(pub, "node-"+strconv.Itoa(i)+".crt"))
		if err != nil {
			t.Fatalf("install %d: %v\n%s", i, err, out)
		}
	}
	if out, err := runFederation(t, append([]string{"check"}, configs...)...); err != nil || strings.Count(out, ": ok: ") != 3 {
		t.Fatalf("check: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(lis))
	for i := range lis {
		go func() { done <- runNode(ctx, configs[i], io.Discard, lis[i]) }()
	}
	defer func() {
		cancel()
		for range lis {
			if err := <-done; err != nil {
				t.Errorf("node: %v", err)
			}
		}
	}()
	// Every node serves its API over TLS under the assembled CA.
	caPEM, err := os.ReadFile(filepath.Join(pub, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := federation.ClientTLS(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lis {
		conn, err := grpc.NewClient(lis[i].api.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			t.Fatal(err)
		}
		hctx, hcancel := context.WithTimeout(ctx, 30*time.Second)
		hc, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		hcancel()
		conn.Close()
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("node %d health = %v, %v", i, hc, err)
		}
	}
	admin := func(i int, args ...string) string {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		dir := filepath.Dir(configs[i])
		root.SetArgs(append(args, "--node", lis[i].api.Addr().String(), "--ca", filepath.Join(pub, "ca.pem"),
			"--admin-token-file", filepath.Join(dir, "admin.token")))
		if err := root.Execute(); err != nil {
			t.Fatalf("cohort %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	if tokens := strings.Fields(admin(2, "admin", "invites", "--count", "2")); len(tokens) != 2 {
		t.Fatalf("invites = %q", tokens)
	}
	if st := admin(0, "admin", "status"); !strings.Contains(st, "node 0") {
		t.Fatalf("status:\n%s", st)
	}
}

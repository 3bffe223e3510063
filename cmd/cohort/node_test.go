package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cohort-dev/cohort/federation"
)

// TestNodeCommand starts a three-node federation from "federation init"
// output with the node command's own wiring (keys, TLS, store, logs), then
// drives it with the admin commands: health over TLS, invites, status, and
// a graceful stop.
func TestNodeCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fed")
	lis := make([]*nodeListeners, 3)
	addrs := make([]federation.NodeAddresses, 3)
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
		addrs[i] = federation.NodeAddresses{API: api.Addr().String(), Peer: peer.Addr().String(), Metrics: freeAddr(t), HTTP: freeAddr(t)}
	}
	if _, err := federation.Init(dir, federation.InitOptions{Nodes: 3, Addresses: addrs, RegistryDepth: 8}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	var logs [3]bytes.Buffer
	for i := range lis {
		go func() {
			done <- runNode(ctx, filepath.Join(dir, "node-"+string(rune('0'+i)), "node.yaml"), &lockedWriter{w: &logs[i]}, lis[i])
		}()
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range lis {
			if err := <-done; err != nil {
				t.Errorf("node: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	// Health over TLS with the federation CA.
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := federation.ClientTLS(pem)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addrs[1].API, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", hc, err)
	}

	// The metrics listener serves /metrics with the build, /healthz and
	// /readyz; the peers may take a moment to answer each other.
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addrs[1].Metrics + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "cohort_build_info{") || !strings.Contains(body, "go_build_info{") ||
		!strings.Contains(body, `grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary",surface="api"}`) ||
		!strings.Contains(body, `grpc_server_handling_seconds_bucket{grpc_method="PrepareJob",grpc_service="cohort.v1.PeerService",grpc_type="unary",surface="peer"`) {
		t.Fatalf("/metrics = %d without the build info:\n%.2000s", code, body)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get("/readyz")
		if code == http.StatusOK && strings.Contains(body, `"ready":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The HTTP/JSON API over TLS with the federation CA: public routes need
	// nothing, the admin status needs the admin token.
	hc2 := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	httpGet := func(path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+addrs[1].HTTP+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := hc2.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := httpGet("/v1/datasets/none", ""); code != http.StatusNotFound || !strings.Contains(body, `"code":5`) {
		t.Fatalf("HTTP GET an unknown dataset: %d %s", code, body)
	}
	if code, body := httpGet("/v1/admin/status", ""); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("HTTP admin status without a token: %d %s", code, body)
	}
	adminTok, err := os.ReadFile(filepath.Join(dir, "node-1", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := httpGet("/v1/admin/status", strings.TrimSpace(string(adminTok))); code != http.StatusOK || !strings.Contains(body, `"nodeIndex":1`) {
		t.Fatalf("HTTP admin status: %d %s", code, body)
	}

	run := func(args ...string) string {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("cohort %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	// Invites issued on node 2 are stored on the sequencer (node 0).
	tokens := strings.Fields(run("admin", "invites", "--dir", dir, "--index", "2", "--count", "3"))
	if len(tokens) != 3 || len(tokens[0]) != 43 {
		t.Fatalf("invites = %q", tokens)
	}
	st := run("admin", "status", "--dir", dir, "--index", "2")
	if !strings.Contains(st, "node 2") || !strings.Contains(st, "registry: 0 members") {
		t.Fatalf("status:\n%s", st)
	}
	// A wrong admin token is refused.
	bad := filepath.Join(t.TempDir(), "bad.token")
	os.WriteFile(bad, []byte("nope\n"), 0o600)
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"admin", "status", "--dir", dir, "--admin-token-file", bad})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Fatalf("wrong token: %v", err)
	}

	stop()
	for i := range logs {
		if s := logs[i].String(); !strings.Contains(s, "msg=serving") || !strings.Contains(s, "msg=stopped") {
			t.Errorf("node %d logs:\n%s", i, s)
		}
		for _, secret := range []string{"BEGIN", "admin.token"} {
			if strings.Contains(logs[i].String(), secret) {
				t.Errorf("node %d logged %q", i, secret)
			}
		}
	}
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedWriter serialises writes from a node's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestReplicaIDDefault(t *testing.T) {
	if got := replicaIDOr("slot-1", "127.0.0.1:7000"); got != "slot-1" {
		t.Fatalf("an explicit replica id was replaced: %q", got)
	}
	a, b := replicaIDOr("", "127.0.0.1:7000"), replicaIDOr("", "127.0.0.1:7000")
	if a != b {
		t.Fatalf("the default replica id changes between starts: %q, %q", a, b)
	}
	if c := replicaIDOr("", "127.0.0.1:7010"); c == a {
		t.Fatalf("two listen addresses share the default replica id %q", a)
	}
	long := replicaIDOr("", "["+strings.Repeat("f", 80)+"]:7000")
	for _, id := range []string{a, long} {
		if !regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(id) {
			t.Fatalf("default replica id %q is not in the replica id alphabet", id)
		}
	}
}

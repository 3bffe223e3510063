package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestReadiness: a node is ready while its store and every peer answer;
// /readyz turns 503 naming the peer when one stops, and naming the store
// when the store is closed, while /healthz stays 200.
func TestReadiness(t *testing.T) {
	f := newTestFederation(t, 3)
	n0 := f.nodes[0].n
	srv := httptest.NewServer(n0.HealthHandler())
	defer srv.Close()

	readyz := func() (int, Readiness) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r Readiness
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("/readyz body: %v", err)
		}
		return resp.StatusCode, r
	}
	if code, r := readyz(); code != http.StatusOK || !r.Ready || r.PeersUp != 2 || r.PeersNeeded != 2 || r.Store != "" {
		t.Fatalf("all up: /readyz = %d %+v", code, r)
	}

	f.nodes[2].stop()
	code, r := readyz()
	if code != http.StatusServiceUnavailable || r.Ready || r.PeersUp != 1 || r.Peers[2] == "" || r.Peers[1] != "" {
		t.Fatalf("node 2 down: /readyz = %d %+v", code, r)
	}

	// The gRPC health service follows readiness under ReadinessService.
	n0.readinessOnce(context.Background())
	h, err := healthpb.NewHealthClient(f.conns[0]).Check(context.Background(), &healthpb.HealthCheckRequest{Service: ReadinessService})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC readiness with node 2 down: %v, %v", h.GetStatus(), err)
	}

	if err := f.nodes[0].store.Close(); err != nil {
		t.Fatal(err)
	}
	code, r = readyz()
	if code != http.StatusServiceUnavailable || r.Ready || r.Store == "" {
		t.Fatalf("store closed: /readyz = %d %+v", code, r)
	}

	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body.String()) != "ok" {
		t.Fatalf("/healthz = %d %q", resp.StatusCode, body.String())
	}
}

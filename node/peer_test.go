package node

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// TestPeerAPIRequiresMutualTLS: the peer API answers only nodes of the
// federation: plaintext, TLS without a client certificate and a
// certificate from another CA are all refused before any handler runs, and
// nothing reaches the registry.
func TestPeerAPIRequiresMutualTLS(t *testing.T) {
	f := newTestFederation(t, 3)
	addr := f.nodes[0].opts.Members[0].PeerAddress
	other := newTestCA(t)
	// The clients skip checking the server: what is tested is that the
	// server refuses them.
	cases := map[string]credentials.TransportCredentials{
		"plaintext":          insecure.NewCredentials(),
		"no client cert":     credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}),
		"cert of another CA": credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{other.issue(t, 1)}}),
	}
	for name, creds := range cases {
		t.Run(name, func(t *testing.T) {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = cohortv1.NewPeerServiceClient(conn).ApplyRegistration(ctx, &cohortv1.ApplyRegistrationRequest{Update: &cohortv1.RegistryUpdate{Sequence: 1}})
			if err == nil {
				t.Fatal("peer API answered a caller without a federation certificate")
			}
			t.Logf("%s: %v", name, err)
		})
	}
	head, err := f.nodes[0].store.RegistryHead(context.Background())
	if err != nil || head.Version != 0 {
		t.Fatalf("registry changed: %+v, %v", head, err)
	}
}

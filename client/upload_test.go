package client

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// flakyNode answers Contribute with fail for its first failures calls,
// then with a receipt.
type flakyNode struct {
	cohortv1.UnimplementedContributorServiceServer
	fail     codes.Code
	failures int32
	calls    atomic.Int32
}

func (f *flakyNode) Contribute(_ context.Context, req *cohortv1.ContributeRequest) (*cohortv1.ContributeResponse, error) {
	if f.calls.Add(1) <= f.failures {
		return nil, status.Error(f.fail, "not now")
	}
	return &cohortv1.ContributeResponse{Receipt: &cohortv1.Receipt{DatasetId: req.GetDatasetId()}}, nil
}

func serveFlaky(t *testing.T, f *flakyNode) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cohortv1.RegisterContributorServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// uploadClient is a client of addr that pinned a federation of nodes.
func uploadClient(t *testing.T, addr string, nodes ...string) *Client {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &Client{addr: addr, conn: conn, api: cohortv1.NewContributorServiceClient(conn),
		cfg: dialConfig{creds: insecure.NewCredentials(), maxBytes: DefaultMaxMessageBytes}}
	if len(nodes) > 0 {
		c.anchor = &federation.Descriptor{}
		for i, n := range nodes {
			c.anchor.Nodes = append(c.anchor.Nodes, federation.NodeEntry{Index: uint32(i), APIAddress: n})
		}
	}
	return c
}

// TestUploadRetries: an upload answered Unavailable or Aborted is sent
// again with backoff until it is accepted; any other refusal is final at
// once; a node that keeps failing is given up after uploadAttempts.
func TestUploadRetries(t *testing.T) {
	req := &cohortv1.ContributeRequest{DatasetId: "d", Payload: []byte{1}}
	for _, c := range []struct {
		name      string
		fail      codes.Code
		failures  int32
		wantCalls int32
		wantCode  codes.Code
	}{
		{"two unavailable", codes.Unavailable, 2, 3, codes.OK},
		{"a lost race", codes.Aborted, 1, 2, codes.OK},
		{"a replay", codes.AlreadyExists, 1, 1, codes.AlreadyExists},
		{"a bad proof", codes.InvalidArgument, 1, 1, codes.InvalidArgument},
		{"down for good", codes.Unavailable, 100, uploadAttempts, codes.Unavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &flakyNode{fail: c.fail, failures: c.failures}
			cl := uploadClient(t, serveFlaky(t, f))
			_, err := cl.upload(context.Background(), req)
			if status.Code(err) != c.wantCode || f.calls.Load() != c.wantCalls {
				t.Fatalf("err %v after %d calls; want %s after %d", err, f.calls.Load(), c.wantCode, c.wantCalls)
			}
		})
	}
}

// TestUploadFailsOver: when the node the client talks to does not answer,
// the upload goes to the pinned federation's next node; without a pinned
// federation it is not sent anywhere else.
func TestUploadFailsOver(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now
	live := &flakyNode{}
	liveAddr := serveFlaky(t, live)
	req := &cohortv1.ContributeRequest{DatasetId: "d", Payload: []byte{1}}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := uploadClient(t, deadAddr, deadAddr, liveAddr).upload(ctx, req)
	if err != nil || resp.GetReceipt().GetDatasetId() != "d" || live.calls.Load() != 1 {
		t.Fatalf("failover: %v, %v, %d calls to the live node", resp, err, live.calls.Load())
	}
	if _, err := uploadClient(t, deadAddr).upload(ctx, req); status.Code(err) != codes.Unavailable || live.calls.Load() != 1 {
		t.Fatalf("without a pinned federation: %v, %d calls to the live node", err, live.calls.Load())
	}
}

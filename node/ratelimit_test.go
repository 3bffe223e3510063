package node

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// dialFrom connects to a node's public API from the loopback address
// local, so that a test can act as several client addresses.
func dialFrom(t *testing.T, addr, local string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantExhausted checks a ResourceExhausted refusal that says when to retry.
func wantExhausted(t *testing.T, what string, err error) {
	t.Helper()
	wantCode(t, what, err, codes.ResourceExhausted)
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
			return
		}
	}
	t.Fatalf("%s: no RetryInfo with a positive delay in %v", what, err)
}

// TestRateLimitPublic: a client address over its burst is refused with
// ResourceExhausted and a retry delay, and the refused call stores
// nothing (a Register consumes neither its invite nor a registry
// position); another address, the admin API and the peers are still
// served.
func TestRateLimitPublic(t *testing.T) {
	const burst = 5
	f := newTestFederation(t, 2, func(o *Options) { o.Limits.PublicRate, o.Limits.PublicBurst = 0.01, burst })
	ctx := context.Background()
	inv, err := f.admin(0).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: 1, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	a := cohortv1.NewContributorServiceClient(dialFrom(t, f.nodes[0].api, "127.0.0.1"))
	for k := range burst {
		if _, err := a.GetMembershipPath(ctx, &cohortv1.GetMembershipPathRequest{MemberIndex: 0}); status.Code(err) != codes.NotFound {
			t.Fatalf("call %d within the burst: %v, want NotFound (an empty registry)", k, err)
		}
	}
	_, err = a.GetMembershipPath(ctx, &cohortv1.GetMembershipPathRequest{MemberIndex: 0})
	wantExhausted(t, "a call over the burst", err)

	var secret fr.Element
	if _, err := secret.SetRandom(); err != nil {
		t.Fatal(err)
	}
	ic := feBytes(circuits.IdentityCommitment(secret))
	_, err = a.Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[0]})
	wantExhausted(t, "a registration over the burst", err)
	head, err := f.nodes[0].store.RegistryHead(ctx)
	if err != nil || head.Size != 0 {
		t.Fatalf("a refused registration changed the registry: size %d (%v)", head.Size, err)
	}
	st, err := cohortv1.NewAuditServiceClient(dialFrom(t, f.nodes[0].api, "127.0.0.1")).GetTranscript(ctx, &cohortv1.GetTranscriptRequest{TranscriptId: "job-1"})
	if err == nil {
		_, err = st.Recv()
	}
	wantExhausted(t, "a stream from the same address on a new connection", err)

	if _, err := f.admin(0).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: 1, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
		t.Fatalf("the admin API is not rate limited: %v", err)
	}
	b := cohortv1.NewContributorServiceClient(dialFrom(t, f.nodes[0].api, "127.0.0.2"))
	resp, err := b.Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[0]})
	if err != nil {
		t.Fatalf("another address, with the invite the refused call did not consume: %v", err)
	}
	if resp.GetMemberIndex() != 0 {
		t.Fatalf("member index %d, want 0", resp.GetMemberIndex())
	}
	if h, err := f.nodes[1].store.RegistryHead(ctx); err != nil || h.Size != 1 {
		t.Fatalf("the peer did not apply the registration: size %d (%v)", h.Size, err)
	}
}

// TestHeavyStreamLimit: whole-blob streams are bounded per client address
// and per node; a refused one is ResourceExhausted before anything is
// read, light calls of the same address are still served, and a slot is
// free again when its stream ends.
func TestHeavyStreamLimit(t *testing.T) {
	f := newTestFederation(t, 2, func(o *Options) { o.Limits.HeavyStreams, o.Limits.HeavyStreamsPerClient = 3, 2 })
	d := f.installDataset(t)
	// A fixed 64 KiB window: a stream whose client does not read stays
	// open on the server, holding its slot.
	slow := []grpc.DialOption{grpc.WithInitialWindowSize(1 << 16), grpc.WithInitialConnWindowSize(1 << 16)}
	open := func(c *grpc.ClientConn) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := cohortv1.NewContributorServiceClient(c).GetProvingKey(ctx, &cohortv1.GetProvingKeyRequest{DatasetId: d.GetId()})
		if err == nil {
			_, err = st.Recv()
		}
		if err != nil {
			cancel()
		}
		return cancel, err
	}
	a := dialFrom(t, f.nodes[0].api, "127.0.0.1", slow...)
	var cancels []context.CancelFunc
	for k := range 2 {
		cancel, err := open(a)
		if err != nil {
			t.Fatalf("heavy stream %d of a client allowed 2: %v", k, err)
		}
		cancels = append(cancels, cancel)
	}
	_, err := open(a)
	wantExhausted(t, "a third heavy stream of one client", err)
	if _, err := cohortv1.NewContributorServiceClient(a).GetDataset(context.Background(), &cohortv1.GetDatasetRequest{DatasetId: d.GetId()}); err != nil {
		t.Fatalf("a light call of a client at its heavy-stream limit: %v", err)
	}
	cancel, err := open(dialFrom(t, f.nodes[0].api, "127.0.0.2", slow...))
	if err != nil {
		t.Fatalf("another client's heavy stream: %v", err)
	}
	cancels = append(cancels, cancel)
	if k := f.nodes[0].n.blobs.inFlight(); k != 1 {
		t.Fatalf("three streams of one proving key hold %d copies of it, want 1", k)
	}
	c := dialFrom(t, f.nodes[0].api, "127.0.0.3")
	_, err = open(c)
	wantExhausted(t, "a heavy stream beyond the node's limit", err)

	for _, cancel := range cancels {
		cancel()
	}
	// The slots are released as the server sees the cancellations.
	var got []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, err = fetchProvingKey(c, d.GetId())
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !bytes.Equal(got, testKeys.pkb) {
		t.Fatalf("the whole key once the other streams ended: %d bytes, %v", len(got), err)
	}
	for deadline := time.Now().Add(10 * time.Second); f.nodes[0].n.blobs.inFlight() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d blobs held after every stream ended", f.nodes[0].n.blobs.inFlight())
		}
	}
}

func fetchProvingKey(c *grpc.ClientConn, id string) ([]byte, error) {
	st, err := cohortv1.NewContributorServiceClient(c).GetProvingKey(context.Background(), &cohortv1.GetProvingKeyRequest{DatasetId: id},
		grpc.MaxCallRecvMsgSize(4<<20))
	if err != nil {
		return nil, err
	}
	first, err := st.Recv()
	if err != nil {
		return nil, err
	}
	return blob.Receive(first.GetHeader(), 1<<30, func() (*cohortv1.Chunk, error) {
		m, err := st.Recv()
		return m.GetChunk(), err
	})
}

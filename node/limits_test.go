package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestLimitDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.MaxTranscriptBytes != DefaultMaxTranscriptBytes || l.PublicRate <= 0 || l.PublicBurst <= 0 ||
		l.HeavyStreams <= 0 || l.HeavyStreamsPerClient <= 0 || l.HeavyStreamsPerClient > l.HeavyStreams || l.MaxAPIStreams == 0 {
		t.Fatalf("defaults leave a bound off: %+v", l)
	}
}

// TestSignTranscriptTooLarge: a transcript declared larger than the peer's
// MaxTranscriptBytes is refused with ResourceExhausted from its header
// alone (no chunk is sent), and the peer still serves.
func TestSignTranscriptTooLarge(t *testing.T) {
	const limit = 2 << 20
	f := newTestFederation(t, 2, func(o *Options) { o.Limits.MaxTranscriptBytes = limit })
	ctx := context.Background()
	for _, size := range []uint64{limit + 1, 1 << 30, 1 << 62} {
		_, err := call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
			st, err := c.SignTranscript(ctx)
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(nil)
			h := &cohortv1.BlobHeader{TotalSize: size, Sha256: sum[:]}
			if err := st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Header{Header: h}}); err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return st.CloseAndRecv()
		})
		wantCode(t, "a transcript header over the limit", err, codes.ResourceExhausted)
	}
	// Within the limit, the same peer reads the transcript and judges it.
	_, err := call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
		return signTranscriptBytes(ctx, c, []byte("not a transcript"))
	})
	wantCode(t, "a small transcript that does not decode", err, codes.InvalidArgument)
}

// TestSignTranscriptPerPeer: one peer has at most transcriptsPerPeer
// transcripts received for signing at once; a further one waits and ends
// with its call, while another peer is served, and the slots are free
// again when the streams end.
func TestSignTranscriptPerPeer(t *testing.T) {
	f := newTestFederation(t, 3)
	c, err := f.nodes[0].n.peers.conn(1)
	if err != nil {
		t.Fatal(err)
	}
	held, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range transcriptsPerPeer {
		st, err := c.SignTranscript(held)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("0123456789"))
		h := &cohortv1.BlobHeader{TotalSize: 10, Sha256: sum[:]}
		if err := st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Header{Header: h}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the server takes the slots
	ctx, done := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer done()
	_, err = signTranscriptBytes(ctx, c, []byte("not a transcript"))
	wantCode(t, "a transcript beyond the peer's slots", err, codes.DeadlineExceeded)

	_, err = call(context.Background(), f.nodes[2].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
		return signTranscriptBytes(ctx, c, []byte("not a transcript"))
	})
	wantCode(t, "another peer's transcript", err, codes.InvalidArgument)

	cancel()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, done := context.WithTimeout(context.Background(), time.Second)
		_, err = signTranscriptBytes(ctx, c, []byte("not a transcript"))
		done()
		if status.Code(err) != codes.DeadlineExceeded || time.Now().After(deadline) {
			break
		}
	}
	wantCode(t, "a transcript once the held streams ended", err, codes.InvalidArgument)
}

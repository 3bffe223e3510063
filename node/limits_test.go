package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc/codes"

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
		return signTranscript(ctx, c, []byte("not a transcript"))
	})
	wantCode(t, "a small transcript that does not decode", err, codes.InvalidArgument)
}

package node

import (
	"bytes"
	"context"

	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// signTranscriptBytes sends an encoded transcript held in memory to a
// peer for its signature, as a coordinator sends its spool file.
func signTranscriptBytes(ctx context.Context, c cohortv1.PeerServiceClient, enc []byte) (*cohortv1.SignTranscriptResponse, error) {
	return signTranscript(ctx, c, blob.Header(enc), bytes.NewReader(enc))
}

// publishBundleBytes publishes an encoded bundle held in memory to a
// peer, as a coordinator publishes a stored one.
func publishBundleBytes(ctx context.Context, c cohortv1.PeerServiceClient, enc []byte) (*cohortv1.PublishTranscriptResponse, error) {
	st, err := c.PublishTranscript(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&cohortv1.PublishTranscriptRequest{Part: &cohortv1.PublishTranscriptRequest_Header{Header: blob.Header(enc)}}); err != nil {
		return nil, err
	}
	if err := blob.Send(enc, func(ch *cohortv1.Chunk) error {
		return st.Send(&cohortv1.PublishTranscriptRequest{Part: &cohortv1.PublishTranscriptRequest_Chunk{Chunk: ch}})
	}); err != nil {
		return nil, err
	}
	return st.CloseAndRecv()
}

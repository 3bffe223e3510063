package client

import (
	"context"
	"fmt"

	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// MaxBundleSize bounds a transcript bundle Transcript accepts (about 1 KiB
// per record of the cohort).
const MaxBundleSize = 1 << 30

// Transcript downloads a job's transcript bundle (package audit's encoding)
// from the node that coordinated the job. The bundle is checked against the
// size and SHA-256 of its stream header; whether it is true is for
// audit.Verify to say, offline.
func (c *Client) Transcript(ctx context.Context, transcriptID string) ([]byte, error) {
	st, err := cohortv1.NewAuditServiceClient(c.conn).GetTranscript(ctx, &cohortv1.GetTranscriptRequest{TranscriptId: transcriptID})
	if err != nil {
		return nil, rpcError("get transcript", err)
	}
	first, err := st.Recv()
	if err != nil {
		return nil, rpcError("get transcript", err)
	}
	b, err := blob.Receive(first.GetHeader(), MaxBundleSize, func() (*cohortv1.Chunk, error) {
		m, err := st.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		return nil, fmt.Errorf("client: get transcript %s: %w", transcriptID, err)
	}
	return b, nil
}

// Transcripts lists every released transcript of a dataset on this node,
// newest first.
func (c *Client) Transcripts(ctx context.Context, datasetID string) ([]*cohortv1.TranscriptInfo, error) {
	api := cohortv1.NewAuditServiceClient(c.conn)
	var out []*cohortv1.TranscriptInfo
	for tok := ""; ; {
		resp, err := api.ListTranscripts(ctx, &cohortv1.ListTranscriptsRequest{DatasetId: datasetID, PageSize: 100, PageToken: tok})
		if err != nil {
			return nil, rpcError("list transcripts", err)
		}
		out = append(out, resp.GetTranscripts()...)
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		tok = resp.GetNextPageToken()
	}
}

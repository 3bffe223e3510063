package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/audit"

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
	return c.transcript(ctx, transcriptID, false)
}

// TranscriptWithoutCeremony downloads a job's bundle without its ceremony
// transcript (the same for every job of a dataset, and most of a bundle's
// size): what a search of the counted records needs. TranscriptBundle
// attaches the ceremony for an offline audit.
func (c *Client) TranscriptWithoutCeremony(ctx context.Context, transcriptID string) ([]byte, error) {
	return c.transcript(ctx, transcriptID, true)
}

// TranscriptBundle downloads a job's complete bundle, fetching its
// dataset's ceremony transcript only once: the bundle comes without it, and
// the ceremony is read from cacheDir (a file named by its digest) or
// fetched with GetCeremony and kept there ("" keeps nothing). The result is
// the bundle the node stored, checked by audit.AttachCeremony to hold the
// ceremony its descriptor names.
func (c *Client) TranscriptBundle(ctx context.Context, transcriptID, cacheDir string) ([]byte, error) {
	light, err := c.TranscriptWithoutCeremony(ctx, transcriptID)
	if err != nil {
		return nil, err
	}
	b, err := audit.UnmarshalBundle(light, audit.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("%w: transcript %s: %w", ErrBadResponse, transcriptID, err)
	}
	var desc cohortv1.DatasetDescriptor
	if err := proto.Unmarshal(b.Descriptor, &desc); err != nil {
		return nil, fmt.Errorf("%w: transcript %s: descriptor: %w", ErrBadResponse, transcriptID, err)
	}
	digest := desc.GetCeremonyTranscriptDigest()
	if desc.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY || len(digest) == 0 {
		return light, nil // a development setup's bundle holds no ceremony
	}
	var path string
	if cacheDir != "" {
		path = filepath.Join(cacheDir, "ceremony-"+hex.EncodeToString(digest)+".bin")
		if cer, err := os.ReadFile(path); err == nil {
			if full, err := b.WithCeremony(cer); err == nil {
				return full, nil
			}
			// A damaged cache entry is fetched again below.
		}
	}
	cer, err := c.Ceremony(ctx, desc.GetId())
	if err != nil {
		return nil, err
	}
	full, err := b.WithCeremony(cer)
	if err != nil {
		return nil, fmt.Errorf("%w: transcript %s: %w", ErrBadResponse, transcriptID, err)
	}
	if path != "" {
		if err := writeCacheFile(path, cer); err != nil {
			return nil, fmt.Errorf("client: keep the ceremony transcript: %w", err)
		}
	}
	return full, nil
}

// Ceremony downloads a dataset's ceremony transcript (GetCeremony), checked
// against its stream header's size and SHA-256.
func (c *Client) Ceremony(ctx context.Context, datasetID string) ([]byte, error) {
	st, err := cohortv1.NewAuditServiceClient(c.conn).GetCeremony(ctx, &cohortv1.GetCeremonyRequest{DatasetId: datasetID})
	if err != nil {
		return nil, rpcError("get ceremony", err)
	}
	first, err := st.Recv()
	if err != nil {
		return nil, rpcError("get ceremony", err)
	}
	b, err := blob.Receive(first.GetHeader().GetBlob(), MaxBundleSize, func() (*cohortv1.Chunk, error) {
		m, err := st.Recv()
		return m.GetChunk(), err
	})
	if err != nil {
		return nil, fmt.Errorf("client: get ceremony of %s: %w", datasetID, err)
	}
	return b, nil
}

// writeCacheFile writes data to path through a temporary file and a
// rename, so that a reader never sees half a file.
func writeCacheFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ceremony-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (c *Client) transcript(ctx context.Context, transcriptID string, withoutCeremony bool) ([]byte, error) {
	st, err := cohortv1.NewAuditServiceClient(c.conn).GetTranscript(ctx, &cohortv1.GetTranscriptRequest{TranscriptId: transcriptID, WithoutCeremony: withoutCeremony})
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

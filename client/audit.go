package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
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
// the bundle the node stored, checked by audit.Bundle.CheckCeremony to hold
// the ceremony its descriptor names. WriteTranscriptBundle writes it to a
// file instead, without holding it.
func (c *Client) TranscriptBundle(ctx context.Context, transcriptID, cacheDir string) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := c.WriteTranscriptBundle(ctx, transcriptID, cacheDir, "", &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTranscriptBundle writes what TranscriptBundle returns to w as it
// arrives: the bundle without its ceremony is spooled to a file in
// spoolDir ("" for the system's temporary directory) whose name is
// removed at once, read back as a stream (audit.ReadBundleStream), and
// copied to w with the ceremony attached. It holds one chunk and the
// ceremony at a time, whatever the bundle's size (docs/design.md §7.6),
// and returns the bytes written.
func (c *Client) WriteTranscriptBundle(ctx context.Context, transcriptID, cacheDir, spoolDir string, w io.Writer) (int64, error) {
	f, err := os.CreateTemp(spoolDir, "bundle-")
	if err != nil {
		return 0, fmt.Errorf("client: spool transcript %s: %w", transcriptID, err)
	}
	defer f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return 0, fmt.Errorf("client: spool transcript %s: %w", transcriptID, err)
	}
	size, err := c.transcriptTo(ctx, transcriptID, true, f)
	if err != nil {
		return 0, err
	}
	lim := audit.DefaultLimits()
	lim.MaxBytes = MaxBundleSize
	sb, err := audit.ReadBundleStream(f, size, lim)
	if err != nil {
		return 0, fmt.Errorf("%w: transcript %s: %w", ErrBadResponse, transcriptID, err)
	}
	b := sb.Bundle
	var desc cohortv1.DatasetDescriptor
	if err := proto.Unmarshal(b.Descriptor, &desc); err != nil {
		return 0, fmt.Errorf("%w: transcript %s: descriptor: %w", ErrBadResponse, transcriptID, err)
	}
	digest := desc.GetCeremonyTranscriptDigest()
	if desc.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY || len(digest) == 0 {
		// A development setup's bundle holds no ceremony.
		return io.Copy(w, io.NewSectionReader(f, 0, size))
	}
	cer, err := c.cachedCeremony(ctx, &desc, b, cacheDir)
	if err != nil {
		return 0, fmt.Errorf("%w: transcript %s: %w", ErrBadResponse, transcriptID, err)
	}
	// The bundle without its ceremony ends with the ceremony's zero
	// length: the complete one has the length and the ceremony instead.
	n, err := io.Copy(w, io.NewSectionReader(f, 0, sb.CeremonyOffset()))
	if err == nil {
		var k int
		k, err = w.Write(binary.BigEndian.AppendUint64(nil, uint64(len(cer))))
		n += int64(k)
		if err == nil {
			k, err = w.Write(cer)
			n += int64(k)
		}
	}
	if err != nil {
		return n, fmt.Errorf("client: write transcript %s: %w", transcriptID, err)
	}
	return n, nil
}

// cachedCeremony returns the ceremony transcript of desc's dataset, checked
// to be the one b's descriptor names: from cacheDir when it holds it
// (a damaged entry is fetched again), else fetched and kept there.
func (c *Client) cachedCeremony(ctx context.Context, desc *cohortv1.DatasetDescriptor, b *audit.Bundle, cacheDir string) ([]byte, error) {
	var path string
	if cacheDir != "" {
		path = filepath.Join(cacheDir, "ceremony-"+hex.EncodeToString(desc.GetCeremonyTranscriptDigest())+".bin")
		if cer, err := os.ReadFile(path); err == nil && b.CheckCeremony(cer) == nil {
			return cer, nil
		}
	}
	cer, err := c.Ceremony(ctx, desc.GetId())
	if err != nil {
		return nil, err
	}
	if err := b.CheckCeremony(cer); err != nil {
		return nil, err
	}
	if path != "" {
		if err := writeCacheFile(path, cer); err != nil {
			return nil, fmt.Errorf("client: keep the ceremony transcript: %w", err)
		}
	}
	return cer, nil
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
	var buf bytes.Buffer
	if _, err := c.transcriptTo(ctx, transcriptID, withoutCeremony, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// transcriptTo writes a bundle to w as its chunks arrive, checked against
// its stream header's size and SHA-256 (at most MaxBundleSize), and
// returns its size. What was written before an error is not the bundle.
func (c *Client) transcriptTo(ctx context.Context, transcriptID string, withoutCeremony bool, w io.Writer) (int64, error) {
	st, err := cohortv1.NewAuditServiceClient(c.conn).GetTranscript(ctx, &cohortv1.GetTranscriptRequest{TranscriptId: transcriptID, WithoutCeremony: withoutCeremony})
	if err != nil {
		return 0, rpcError("get transcript", err)
	}
	first, err := st.Recv()
	if err != nil {
		return 0, rpcError("get transcript", err)
	}
	src, err := blob.NewReader(first.GetHeader(), MaxBundleSize, func() (*cohortv1.Chunk, error) {
		m, err := st.Recv()
		if err != nil {
			return nil, err
		}
		return m.GetChunk(), nil
	})
	if err != nil {
		return 0, fmt.Errorf("client: get transcript %s: %w", transcriptID, err)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return 0, fmt.Errorf("client: get transcript %s: %w", transcriptID, err)
	}
	return n, nil
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

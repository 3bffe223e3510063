package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Spliced transcripts (docs/design.md §7.6). A job's transcript is about
// 1 KB a record, nearly all of it the records section, and a peer that
// summed its cohort wrote that very section from its own rows (witness.go).
// When the coordinator's section has the same SHA-256 as the one the peer
// reported with its partial, SignTranscript sends the header, then the
// transcript's bytes on either side of the section, and the peer puts its
// own section back in between. The blob header still names the whole
// transcript's size and SHA-256, so the peer signs only bytes that are,
// to the last one, the coordinator's transcript.

// spliceFor is the splice that leaves this transcript's records section
// out of SignTranscript for a peer that wrote peer of the job; nil when
// the peer's section is not this transcript's, or there is none.
func (b *builtTranscript) spliceFor(jobID string, peer *cohortv1.TranscriptRecords) *cohortv1.RecordsSplice {
	if b.recs == nil || b.recs.Count == 0 || !sameSection(peer, *b.recs) {
		return nil
	}
	return &cohortv1.RecordsSplice{JobId: jobID, Offset: uint64(b.recordsAt), Records: peer}
}

// sameSection reports whether p describes records section r (nil: none).
func sameSection(p *cohortv1.TranscriptRecords, r audit.Records) bool {
	return p != nil && p.GetCount() == uint64(r.Count) && p.GetSize() == uint64(r.Size) && bytes.Equal(p.GetSha256(), r.SHA256[:])
}

// signTranscriptSpliced is signTranscript without the records section
// that sp names: the header, the splice, and the bytes before and after
// the section, read from the spool file.
func signTranscriptSpliced(ctx context.Context, c cohortv1.PeerServiceClient, b *builtTranscript, sp *cohortv1.RecordsSplice) (*cohortv1.SignTranscriptResponse, error) {
	st, err := c.SignTranscript(ctx)
	if err != nil {
		return nil, err
	}
	send := func(m *cohortv1.SignTranscriptRequest) error { return st.Send(m) }
	chunk := func(ch *cohortv1.Chunk) error {
		return send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Chunk{Chunk: ch}})
	}
	end := b.recordsAt + b.recs.Size
	err = send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Splice{Splice: sp}})
	if err == nil {
		err = send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Header{Header: b.header()}})
	}
	if err == nil {
		_, err = blob.SendFromAt(io.NewSectionReader(b.file, 0, b.recordsAt), 0, chunk)
	}
	if err == nil {
		_, err = blob.SendFromAt(io.NewSectionReader(b.file, end, b.size-end), uint64(end), chunk)
	}
	return closeSign(st, err)
}

// signBuilt has peer c sign b: without the records section the peer wrote
// itself when sp describes it, and whole when sp is nil or the peer
// refuses the splice. NotFound is the expected refusal (the peer no
// longer keeps its section); any other, from a peer that cannot splice or
// whose section disagrees with sp, is given to refused before the
// transcript is sent whole: the peer then checks every byte itself, and
// its answer to that is the one returned. A context that ends is returned
// as it is.
func signBuilt(ctx context.Context, c cohortv1.PeerServiceClient, b *builtTranscript, sp *cohortv1.RecordsSplice, refused func(error)) (*cohortv1.SignTranscriptResponse, error) {
	if sp != nil {
		resp, err := signTranscriptSpliced(ctx, c, b, sp)
		if err == nil || ctx.Err() != nil {
			return resp, err
		}
		if status.Code(err) != codes.NotFound && refused != nil {
			refused(err)
		}
	}
	return signTranscript(ctx, c, b.header(), b.reader())
}

// closeSign ends a SignTranscript stream whose sending ended with err:
// the peer's answer, or its status when it ended the call early (Send
// then gives io.EOF: a NotFound splice, a refusal mid-stream).
func closeSign(st cohortv1.PeerService_SignTranscriptClient, err error) (*cohortv1.SignTranscriptResponse, error) {
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return st.CloseAndRecv()
}

// splicer yields a spliced SignTranscript stream's chunks with the
// peer's own records section put back at its offset: the chunks before
// it from the stream, then the section's from its spool file, then the
// stream's again. The blob reader it feeds checks the offsets, the size
// and the SHA-256 of the whole.
type splicer struct {
	jobID string
	w     *cohortWitness // whose section it is
	file  *os.File
	done  func() // ends the read of the file
	next  func() (*cohortv1.Chunk, error)
	at    uint64 // the section's offset
	pos   uint64 // offset of the next byte yielded
	put   int64  // bytes of the section yielded
	buf   []byte // one chunk of the section, blob.MaxChunkSize bytes
}

// splicerFor checks a splice against the witness of its job and opens
// its section: NotFound when this node keeps no such section, which
// asks the coordinator for the transcript whole.
func (n *Node) splicerFor(sp *cohortv1.RecordsSplice, next func() (*cohortv1.Chunk, error)) (*splicer, error) {
	w := n.witness.get(sp.GetJobId())
	r := sp.GetRecords()
	if w != nil && !sameSection(r, w.recs) {
		w = nil
	}
	var (
		f    *os.File
		done func()
		ok   bool
	)
	if w != nil {
		f, done, ok = w.section.open()
	}
	if !ok {
		return nil, status.Errorf(codes.NotFound, "node %d keeps no records section %x… of job %s: send the transcript whole", n.opts.Index, r.GetSha256(), sp.GetJobId())
	}
	return &splicer{jobID: sp.GetJobId(), w: w, file: f, done: done, next: next, at: sp.GetOffset()}, nil
}

// chunk is the next chunk of the whole transcript.
func (s *splicer) chunk() (*cohortv1.Chunk, error) {
	if s.pos == s.at+uint64(s.put) && s.put < s.w.recs.Size {
		if s.buf == nil {
			s.buf = make([]byte, blob.MaxChunkSize)
		}
		k := min(s.w.recs.Size-s.put, int64(len(s.buf)))
		// The blob reader is done with the previous chunk before it asks
		// for the next one: the buffer is reused.
		data := s.buf[:k]
		if _, err := s.file.ReadAt(data, s.put); err != nil {
			return nil, fmt.Errorf("read the records section: %w", err)
		}
		ch := &cohortv1.Chunk{Offset: s.pos, Data: data}
		s.put += k
		s.pos += uint64(k)
		return ch, nil
	}
	ch, err := s.next()
	if err != nil {
		return nil, err
	}
	end := s.pos + uint64(len(ch.GetData()))
	if s.pos < s.at && end > s.at {
		return nil, status.Errorf(codes.InvalidArgument, "transcript: a chunk at %d runs into the records section left out at %d", s.pos, s.at)
	}
	s.pos = end
	return ch, nil
}

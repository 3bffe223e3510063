package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// signedBy counts the transcripts node i signed as a peer with their
// records section spliced in from its own (own) or sent whole (sent).
func (f *testFederation) signedBy(t *testing.T, i int) (own, sent float64) {
	t.Helper()
	read := func(how string) float64 {
		var m dto.Metric
		if err := f.nodes[i].n.metrics.signed.WithLabelValues(how).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	return read("own"), read("sent")
}

// keptOf is the transcript node i kept of job id when it signed it.
func (f *testFederation) keptOf(t *testing.T, i int, id string) *keptTranscript {
	t.Helper()
	ks := f.nodes[i].n.kept
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for _, k := range ks.list {
		if k.jobID == id {
			return k
		}
	}
	t.Fatalf("node %d keeps no transcript of job %s", i, id)
	return nil
}

// fileWith is a new temporary file holding data, closed when the test ends.
func fileWith(t *testing.T, prefix string, data []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f
}

// piece is bytes of a transcript at their offset in it.
type piece struct {
	at   uint64
	data []byte
}

// signSpliced sends a spliced SignTranscript stream: the splice (none
// when nil), the header, then each piece's bytes as chunks.
func signSpliced(ctx context.Context, c cohortv1.PeerServiceClient, sp *cohortv1.RecordsSplice, hd *cohortv1.BlobHeader, pieces ...piece) (*cohortv1.SignTranscriptResponse, error) {
	st, err := c.SignTranscript(ctx)
	if err != nil {
		return nil, err
	}
	if sp != nil {
		err = st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Splice{Splice: sp}})
	}
	if err == nil {
		err = st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Header{Header: hd}})
	}
	for _, p := range pieces {
		if err != nil {
			break
		}
		_, err = blob.SendFromAt(bytes.NewReader(p.data), p.at, func(ch *cohortv1.Chunk) error {
			return st.Send(&cohortv1.SignTranscriptRequest{Part: &cohortv1.SignTranscriptRequest_Chunk{Chunk: ch}})
		})
	}
	return closeSign(st, err)
}

// splicedTranscript is an encoded transcript with its records section
// located: the splice that leaves it out, and the pieces on either side.
type splicedTranscript struct {
	enc         []byte
	splice      *cohortv1.RecordsSplice
	off, end    uint64
	before, aft piece
}

func spliceOf(t *testing.T, jobID string, tr *audit.Transcript) splicedTranscript {
	t.Helper()
	enc, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var section bytes.Buffer
	for i := range tr.Records {
		if _, err := tr.Records[i].WriteTo(&section); err != nil {
			t.Fatal(err)
		}
	}
	off := bytes.Index(enc, section.Bytes())
	if off <= 0 {
		t.Fatal("the records section is not in the transcript")
	}
	sum := sha256.Sum256(section.Bytes())
	end := uint64(off + section.Len())
	return splicedTranscript{
		enc: enc, off: uint64(off), end: end,
		splice: &cohortv1.RecordsSplice{JobId: jobID, Offset: uint64(off), Records: &cohortv1.TranscriptRecords{
			Count: uint64(len(tr.Records)), Size: uint64(section.Len()), Sha256: sum[:]}},
		before: piece{0, enc[:off]}, aft: piece{end, enc[end:]},
	}
}

// TestSignTranscriptSplice: a peer that summed its cohort signs the job's
// transcript with the records section it wrote spliced in, so the
// coordinator sends it only the bytes around it; a peer that no longer
// keeps its section is sent the transcript whole, and the job is released
// either way. The peer signs only the coordinator's exact bytes: a splice
// it cannot fill is NotFound (the coordinator then sends the transcript
// whole), a stream that does not fit the splice is refused, and a spliced
// transcript is checked as one sent whole.
func TestSignTranscriptSplice(t *testing.T) {
	const records = 120
	f, gate := gatedFederation(t) // the gate holds the publish while the kept transcripts are looked at
	desc := f.installDatasetWith(t, exactPolicy())
	f.seedContributions(t, desc.GetId(), records)
	buyer := f.benchBuyer(t, "acme")
	spec := statisticsSpec(testSchema(), testSchema().Epoch.Index(time.Now()), "")

	// Node 2 loses its section once the partials are in: it is sent the
	// transcript whole, node 1 splices its own in.
	var dropped string
	f.nodes[0].n.jobs.hook = func(id string, st cohortv1.JobState) {
		if st == cohortv1.JobState_JOB_STATE_RELEASING && dropped == "" {
			dropped = id
			f.nodes[2].n.witness.drop(id)
		}
	}
	gate.closed.Store(true)
	id := f.runJob(t, buyer, spec, "splice-1")
	f.nodes[0].n.jobs.hook = nil
	if dropped != id {
		t.Fatalf("the hook saw job %q, want %q", dropped, id)
	}
	for i, want := range [][2]float64{1: {1, 0}, 2: {0, 1}} {
		if i == 0 {
			continue
		}
		if own, sent := f.signedBy(t, i); own != want[0] || sent != want[1] {
			t.Fatalf("node %d signed %v transcripts with its own section and %v sent whole, want %v", i, own, sent, want)
		}
	}
	// What each peer kept of the transcript for its publish: node 1 the
	// bytes around the section it spliced in, which it reads from its own
	// section; node 2 the whole.
	for i, spliced := range map[int]bool{1: true, 2: false} {
		kt := f.keptOf(t, i, id)
		st, err := kt.file.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if (kt.section != nil) != spliced || st.Size() != kt.size-kt.sectionRecs.Size {
			t.Fatalf("node %d kept a file of %d bytes for a transcript of %d, with its section apart: %t", i, st.Size(), kt.size, kt.section != nil)
		}
	}
	gate.closed.Store(false)
	res, err := f.buyerClient(0).GetResult(buyer, &cohortv1.GetResultRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	bundle := mustBundle(t, fetchBundle(t, f.conns[0], res.GetResult().GetTranscriptId(), true))
	for _, i := range []int{1, 2} {
		if got := waitStored(t, f, i, id); !bytes.Equal(got, fetchBundle(t, f.conns[0], id, false)) {
			t.Fatalf("node %d stored another bundle than the coordinator's", i)
		}
	}
	tr := bundle.Transcript
	digest, err := tr.Digest()
	if err != nil {
		t.Fatal(err)
	}
	s := spliceOf(t, id, tr)
	hd := blob.Header(s.enc)
	ctx := context.Background()
	sign := func(sp *cohortv1.RecordsSplice, hd *cohortv1.BlobHeader, pieces ...piece) (*cohortv1.SignTranscriptResponse, error) {
		return call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
			return signSpliced(ctx, c, sp, hd, pieces...)
		})
	}

	// Spliced again, the transcript gets node 1's signature over its digest.
	resp, err := sign(s.splice, hd, s.before, s.aft)
	if err != nil {
		t.Fatalf("spliced: %v", err)
	}
	st := audit.TranscriptStatement{JobID: id, Digest: digest, Node: 1}
	if attest.Verify(f.nodes[1].n.opts.Members[1].Signing, st, resp.GetSignature().GetSignature()) != nil {
		t.Fatal("the spliced transcript's signature does not verify over its digest")
	}
	own, _ := f.signedBy(t, 1)

	// A second job over the same cohort: node 1 keeps a section of it too.
	id2 := f.runJob(t, buyer, spec, "splice-2")
	own2, _ := f.signedBy(t, 1)
	if own2 != own+1 {
		t.Fatalf("node 1 signed the second job with %v own sections, want %v", own2, own+1)
	}

	other := func(change func(sp *cohortv1.RecordsSplice)) *cohortv1.RecordsSplice {
		sp := &cohortv1.RecordsSplice{JobId: s.splice.GetJobId(), Offset: s.splice.GetOffset(), Records: &cohortv1.TranscriptRecords{
			Count: s.splice.GetRecords().GetCount(), Size: s.splice.GetRecords().GetSize(), Sha256: bytes.Clone(s.splice.GetRecords().GetSha256())}}
		change(sp)
		return sp
	}
	tampered := *tr
	tampered.Roots = nil
	ts := spliceOf(t, id, &tampered)
	for name, c := range map[string]struct {
		splice *cohortv1.RecordsSplice
		hd     *cohortv1.BlobHeader
		pieces []piece
		code   codes.Code
		words  []string
	}{
		"of a job without a section here": {other(func(sp *cohortv1.RecordsSplice) { sp.JobId = "job-never-run" }), hd, []piece{s.before, s.aft},
			codes.NotFound, []string{"keeps no records section", "send the transcript whole"}},
		"of another section": {other(func(sp *cohortv1.RecordsSplice) { sp.Records.Sha256[0] ^= 1 }), hd, []piece{s.before, s.aft},
			codes.NotFound, []string{"keeps no records section"}},
		"of another size": {other(func(sp *cohortv1.RecordsSplice) { sp.Records.Size-- }), hd, []piece{s.before, s.aft},
			codes.NotFound, []string{"keeps no records section"}},
		"with the section sent as well": {s.splice, hd, []piece{s.before, {s.off, s.enc[s.off:]}},
			codes.InvalidArgument, nil},
		"with a chunk running into the section": {s.splice, hd, []piece{{0, s.enc[:s.off+10]}, {s.off + 10, s.enc[s.off+10:]}},
			codes.InvalidArgument, []string{"runs into the records section"}},
		"at another offset": {other(func(sp *cohortv1.RecordsSplice) { sp.Offset-- }), hd, []piece{{0, s.enc[:s.off-1]}, {s.end - 1, s.enc[s.end-1:]}},
			codes.FailedPrecondition, []string{"not the ones this node summed"}},
		"around another transcript's bytes": {s.splice, blob.Header(append(bytes.Clone(s.enc[:len(s.enc)-1]), s.enc[len(s.enc)-1]^1)), []piece{s.before, s.aft},
			codes.InvalidArgument, []string{"SHA-256"}},
		"of another job's section": {other(func(sp *cohortv1.RecordsSplice) { sp.JobId = id2 }), hd, []piece{s.before, s.aft},
			codes.InvalidArgument, []string{"with the records section of job " + id2}},
		"of a transcript without its records' roots": {ts.splice, blob.Header(ts.enc), []piece{ts.before, ts.aft},
			codes.FailedPrecondition, []string{"not among its registry roots"}},
	} {
		_, err := sign(c.splice, c.hd, c.pieces...)
		what := "sign a transcript spliced " + name
		wantCode(t, what, err, c.code)
		wantMessage(t, what, err, c.words...)
	}
	if now, _ := f.signedBy(t, 1); now != own2 {
		t.Fatalf("node 1 signed %v more transcripts with its own section after refusing them", now-own2)
	}
}

// TestSplicerChunks: a splicer yields the stream's chunks up to the
// section, the section from its file one buffer at a time, then the
// stream's chunks again, so that a blob reader reads the whole blob.
func TestSplicerChunks(t *testing.T) {
	whole := bytes.Repeat([]byte("0123456789abcdef"), 10)
	const at, size = 23, 100
	f := fileWith(t, "section-", whole[at:at+size])
	var stream []*cohortv1.Chunk
	keep := func(ch *cohortv1.Chunk) error {
		stream = append(stream, &cohortv1.Chunk{Offset: ch.GetOffset(), Data: bytes.Clone(ch.GetData())})
		return nil
	}
	if _, err := blob.SendFromAt(bytes.NewReader(whole[:at]), 0, keep); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.SendFromAt(bytes.NewReader(whole[at+size:]), at+size, keep); err != nil {
		t.Fatal(err)
	}
	next := func() (*cohortv1.Chunk, error) {
		if len(stream) == 0 {
			return nil, io.EOF
		}
		ch := stream[0]
		stream = stream[1:]
		return ch, nil
	}
	sp := &splicer{w: &cohortWitness{recs: audit.Records{Size: size}}, file: f, next: next, at: at, buf: make([]byte, 7)}
	r, err := blob.NewReader(blob.Header(whole), uint64(len(whole)), sp.chunk)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("read %q, %v; want the whole blob", got, err)
	}
	if sp.put != size {
		t.Fatalf("%d bytes of the section put back, want %d", sp.put, size)
	}
}

// TestTranscriptTeeSkipsSection: a tee of a spliced stream copies the
// bytes around the records section, however the reads fall across its
// edges, and counts them all.
func TestTranscriptTeeSkipsSection(t *testing.T) {
	whole := bytes.Repeat([]byte("0123456789abcdefghij"), 9)
	const at, size = 31, 77
	f := fileWith(t, "tee-", nil)
	for _, step := range []int{1, 3, 7, 31, 64, len(whole)} {
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		sp := &splicer{w: &cohortWitness{recs: audit.Records{Size: size}}, at: at}
		tee := &transcriptTee{src: bytes.NewReader(whole), file: f, sp: sp}
		buf := make([]byte, step)
		for {
			n, err := tee.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil || n == 0 {
				t.Fatalf("reads of %d: %d, %v", step, n, err)
			}
		}
		got, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		want := append(bytes.Clone(whole[:at]), whole[at+size:]...)
		if !bytes.Equal(got, want) || tee.size != int64(len(whole)) || !tee.end {
			t.Fatalf("reads of %d: kept %q (%d bytes counted), want %q", step, got, tee.size, want)
		}
	}
}

// TestHoleWriter: a coordinator's transcript file leaves its records
// section a hole, however the writes fall across its edges, and the
// transcript read back with the section from its own file is the whole.
func TestHoleWriter(t *testing.T) {
	whole := bytes.Repeat([]byte("0123456789abcdefghij"), 9)
	const at, size = 31, 77
	section := fileWith(t, "records-", whole[at:at+size])
	for _, step := range []int{1, 3, 7, 31, 64, len(whole)} {
		f := fileWith(t, "transcript-", nil)
		h := &holeWriter{f: f}
		for i := 0; i < len(whole); i += step {
			if i+step > at && h.to == 0 {
				h.from, h.to = at, at+size // as writeTranscript does, once the section's offset is known
			}
			p := whole[i:min(i+step, len(whole))]
			if n, err := h.Write(p); n != len(p) || err != nil {
				t.Fatalf("writes of %d: wrote %d of %d, %v", step, n, len(p), err)
			}
		}
		got, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		want := append(append(bytes.Clone(whole[:at]), make([]byte, size)...), whole[at+size:]...)
		if !bytes.Equal(got, want) {
			t.Fatalf("writes of %d: file %q, want %q", step, got, want)
		}
		b := &builtTranscript{file: f, size: int64(len(whole)), recordsAt: at, recs: &audit.Records{Size: size}, section: section}
		if got, err := io.ReadAll(b.reader()); err != nil || !bytes.Equal(got, whole) {
			t.Fatalf("writes of %d: read %q, %v; want the whole transcript", step, got, err)
		}
	}
}

// signPeer is a PeerServiceClient whose SignTranscript answers a splice
// with spliceErr (nil: a signature) and a transcript sent whole with
// wholeErr, and records the bytes it was sent whole.
type signPeer struct {
	cohortv1.PeerServiceClient
	spliceErr, wholeErr error
	splices, wholes     int
	whole               bytes.Buffer
}

func (p *signPeer) SignTranscript(ctx context.Context, _ ...grpc.CallOption) (cohortv1.PeerService_SignTranscriptClient, error) {
	return &signStream{p: p}, nil
}

type signStream struct {
	grpc.ClientStream
	p       *signPeer
	spliced bool
}

func (s *signStream) Send(m *cohortv1.SignTranscriptRequest) error {
	switch {
	case m.GetSplice() != nil:
		s.spliced = true
	case m.GetChunk() != nil && !s.spliced:
		s.p.whole.Write(m.GetChunk().GetData())
	}
	return nil
}

func (s *signStream) CloseAndRecv() (*cohortv1.SignTranscriptResponse, error) {
	err := s.p.wholeErr
	if s.spliced {
		s.p.splices++
		err = s.p.spliceErr
	} else {
		s.p.wholes++
	}
	if err != nil {
		return nil, err
	}
	return &cohortv1.SignTranscriptResponse{Signature: &cohortv1.NodeSignature{NodeIndex: 1}}, nil
}

// TestSignBuiltFallsBack: a transcript is sent whole when the peer refuses
// its splice, whatever the refusal, and only a refusal other than NotFound
// is reported; a refusal of the whole is what the coordinator gets, and a
// context that ends is not retried.
func TestSignBuiltFallsBack(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10)
	f := fileWith(t, "transcript-", data)
	b := &builtTranscript{file: f, size: int64(len(data)), sha: sha256.Sum256(data), recordsAt: 30,
		recs: &audit.Records{Count: 1, Size: 40, SHA256: sha256.Sum256(data[30:70])}}
	sp := b.spliceFor("job", &cohortv1.TranscriptRecords{Count: 1, Size: 40, Sha256: b.recs.SHA256[:]})
	if sp == nil {
		t.Fatal("no splice for the peer's own section")
	}
	refusal := status.Error(codes.FailedPrecondition, "another offset")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name                string
		ctx                 context.Context
		sp                  *cohortv1.RecordsSplice
		spliceErr, wholeErr error
		splices, wholes     int
		reported            bool
		want                codes.Code
	}{
		{"spliced", context.Background(), sp, nil, nil, 1, 0, false, codes.OK},
		{"no section: NotFound", context.Background(), sp, status.Error(codes.NotFound, "none"), nil, 1, 1, false, codes.OK},
		{"splice refused otherwise", context.Background(), sp, refusal, nil, 1, 1, true, codes.OK},
		{"whole refused too", context.Background(), sp, refusal, status.Error(codes.InvalidArgument, "bad record"), 1, 1, true, codes.InvalidArgument},
		{"no splice", context.Background(), nil, nil, nil, 0, 1, false, codes.OK},
		{"context ended", cancelled, sp, status.Error(codes.Canceled, "cancelled"), nil, 1, 0, false, codes.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &signPeer{spliceErr: tc.spliceErr, wholeErr: tc.wholeErr}
			var reported []error
			resp, err := signBuilt(tc.ctx, p, b, tc.sp, func(err error) { reported = append(reported, err) })
			if status.Code(err) != tc.want || (err == nil) != (resp != nil) {
				t.Fatalf("signBuilt = %v, %v; want %v", resp, err, tc.want)
			}
			if p.splices != tc.splices || p.wholes != tc.wholes {
				t.Errorf("%d splices and %d whole transcripts sent, want %d and %d", p.splices, p.wholes, tc.splices, tc.wholes)
			}
			if tc.wholes > 0 && !bytes.Equal(p.whole.Bytes(), data) {
				t.Errorf("the transcript sent whole is %d bytes, not the transcript", p.whole.Len())
			}
			if len(reported) != 0 != tc.reported || (tc.reported && !errors.Is(reported[0], refusal)) {
				t.Errorf("refusals reported: %v", reported)
			}
		})
	}
}

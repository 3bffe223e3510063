package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestSendReceive(t *testing.T) {
	for _, n := range []int{1, MaxChunkSize - 1, MaxChunkSize, 2*MaxChunkSize + 3} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 13)
		}
		var sent []*cohortv1.Chunk
		if err := Send(b, func(c *cohortv1.Chunk) error { sent = append(sent, c); return nil }); err != nil {
			t.Fatal(err)
		}
		if want := (n + MaxChunkSize - 1) / MaxChunkSize; len(sent) != want {
			t.Fatalf("%d bytes in %d chunks, want %d", n, len(sent), want)
		}
		next := func() (*cohortv1.Chunk, error) {
			if len(sent) == 0 {
				return nil, io.EOF
			}
			c := sent[0]
			sent = sent[1:]
			return c, nil
		}
		got, err := Receive(Header(b), uint64(n), next)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%d bytes: round trip = %d bytes, %v", n, len(got), err)
		}
	}
}

func TestReceiveRefusals(t *testing.T) {
	b := []byte("the blob")
	eof := func() (*cohortv1.Chunk, error) { return nil, io.EOF }
	if _, err := Receive(Header(b), 4, eof); !errors.Is(err, ErrMalformed) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := Receive(nil, 100, eof); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no header: %v", err)
	}
	if _, err := Receive(Header(b), 100, eof); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no chunks: %v", err)
	}
	transport := errors.New("connection reset")
	if _, err := Receive(Header(b), 100, func() (*cohortv1.Chunk, error) { return nil, transport }); err != transport {
		t.Fatalf("transport error not passed on: %v", err)
	}
}

// FuzzBlobReceiver drives the stream reassembly with arbitrary
// chunk sequences over a known blob: it never panics, and whatever it
// accepts is exactly the blob.
func FuzzBlobReceiver(f *testing.F) {
	f.Add(uint16(10), false, []byte{0, 0, 0, 10})
	f.Add(uint16(10), false, []byte{0, 0, 0, 4, 0, 4, 0, 6})
	f.Add(uint16(10), true, []byte{0, 0, 0, 10})
	f.Add(uint16(10), false, []byte{0, 0, 0, 4, 0, 3, 0, 7})
	f.Add(uint16(0), false, []byte{})
	blob := make([]byte, 1<<17)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	f.Fuzz(func(t *testing.T, size uint16, badSum bool, ops []byte) {
		want := blob[:size]
		sum := sha256.Sum256(want)
		if badSum {
			sum[0] ^= 1
		}
		r, err := NewReceiver(&cohortv1.BlobHeader{TotalSize: uint64(size), Sha256: sum[:]}, 1<<16)
		if err != nil {
			return
		}
		for len(ops) >= 4 {
			off, n := int(binary.BigEndian.Uint16(ops)), int(binary.BigEndian.Uint16(ops[2:]))
			ops = ops[4:]
			if err := r.Add(&cohortv1.Chunk{Offset: uint64(off), Data: blob[off : off+n]}); err != nil {
				return
			}
		}
		got, err := r.Finish()
		if err != nil {
			return
		}
		if badSum || !bytes.Equal(got, want) {
			t.Fatalf("accepted %d bytes that are not the blob", len(got))
		}
	})
}

// TestBlobHeaderBound: a header declaring a huge size makes the receiver
// allocate at most InitialCap bytes, whatever the limit; above the limit
// it is refused with ErrTooLarge (and ErrMalformed) before any buffer.
func TestBlobHeaderBound(t *testing.T) {
	sum := sha256.Sum256(nil)
	for _, total := range []uint64{InitialCap + 1, 64 << 20, 1 << 40, math.MaxUint64} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := NewReceiver(&cohortv1.BlobHeader{TotalSize: total, Sha256: sum[:]}, math.MaxUint64)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%d bytes under no limit: %v", total, err)
		}
		if c := cap(r.buf); c > InitialCap {
			t.Fatalf("header of %d bytes: buffer of %d, want at most %d", total, c, InitialCap)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 2*InitialCap {
			t.Fatalf("header of %d bytes: allocated %d bytes, want at most %d", total, got, 2*InitialCap)
		}
		if _, err := r.Finish(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("header of %d bytes with no chunk finished: %v", total, err)
		}

		// TotalAlloc counts every goroutine's allocations, the runtime's
		// included, so noise only adds: the least of a few tries is the
		// refusal's own.
		least := uint64(math.MaxUint64)
		for range 5 {
			runtime.ReadMemStats(&before)
			_, err = NewReceiver(&cohortv1.BlobHeader{TotalSize: total, Sha256: sum[:]}, InitialCap)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("%d bytes over a limit of %d: %v, want ErrTooLarge", total, InitialCap, err)
			}
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		if least > 4<<10 {
			t.Fatalf("refused header of %d bytes: allocated %d bytes", total, least)
		}
	}
	if _, err := NewReceiver(&cohortv1.BlobHeader{TotalSize: 0, Sha256: sum[:]}, 100); errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty blob: %v, want ErrMalformed only", err)
	}
}

// FuzzBlobHeader: whatever a header declares, the receiver either refuses
// it or holds a buffer of at most InitialCap bytes and min(size, limit).
func FuzzBlobHeader(f *testing.F) {
	f.Add(uint64(10), uint64(100), 32)
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64), 32)
	f.Add(uint64(1<<40), uint64(1<<20), 31)
	f.Add(uint64(0), uint64(0), 0)
	f.Fuzz(func(t *testing.T, total, limit uint64, sumLen int) {
		if sumLen < 0 || sumLen > 64 {
			return
		}
		r, err := NewReceiver(&cohortv1.BlobHeader{TotalSize: total, Sha256: make([]byte, sumLen)}, limit)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v does not wrap ErrMalformed", err)
			}
			return
		}
		if total == 0 || total > limit || sumLen != sha256.Size {
			t.Fatalf("accepted a header of %d bytes (limit %d) with a %d-byte SHA-256", total, limit, sumLen)
		}
		if c := uint64(cap(r.buf)); c > InitialCap || c > total {
			t.Fatalf("header of %d bytes: buffer of %d", total, c)
		}
	})
}

// chunkQueue yields the chunks in order, then io.EOF.
func chunkQueue(cs []*cohortv1.Chunk) func() (*cohortv1.Chunk, error) {
	return func() (*cohortv1.Chunk, error) {
		if len(cs) == 0 {
			return nil, io.EOF
		}
		c := cs[0]
		cs = cs[1:]
		return c, nil
	}
}

// TestSendFromReader: SendFrom cuts a stream as Send cuts the bytes, and
// a Reader gives back exactly the blob, ending in io.EOF only after the
// size and the SHA-256 are checked.
func TestSendFromReader(t *testing.T) {
	for _, n := range []int{1, MaxChunkSize, 2*MaxChunkSize + 3} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 29)
		}
		var sent []*cohortv1.Chunk
		total, err := SendFrom(bytes.NewReader(b), func(c *cohortv1.Chunk) error {
			sent = append(sent, &cohortv1.Chunk{Offset: c.GetOffset(), Data: bytes.Clone(c.GetData())})
			return nil
		})
		if err != nil || total != uint64(n) {
			t.Fatalf("%d bytes: SendFrom sent %d, %v", n, total, err)
		}
		var want []*cohortv1.Chunk
		_ = Send(b, func(c *cohortv1.Chunk) error { want = append(want, c); return nil })
		if len(sent) != len(want) {
			t.Fatalf("%d bytes: %d chunks, Send makes %d", n, len(sent), len(want))
		}
		r, err := NewReader(HeaderOf(uint64(n), sha256.Sum256(b)), uint64(n), chunkQueue(sent))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%d bytes: read back %d bytes, %v", n, len(got), err)
		}
	}
}

// TestReaderRefusals: a Reader refuses what Receive refuses, and never
// ends a stream that is short, long, reordered or hashes wrong with
// io.EOF.
func TestReaderRefusals(t *testing.T) {
	b := []byte("the blob, in two chunks")
	h := Header(b)
	whole := []*cohortv1.Chunk{{Offset: 0, Data: b[:5]}, {Offset: 5, Data: b[5:]}}
	if _, err := NewReader(h, 4, chunkQueue(whole)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	bad := sha256.Sum256([]byte("another blob"))
	cases := map[string]struct {
		hd     *cohortv1.BlobHeader
		chunks []*cohortv1.Chunk
	}{
		"short":         {h, whole[:1]},
		"reordered":     {h, []*cohortv1.Chunk{whole[1], whole[0]}},
		"past the end":  {h, append(whole, &cohortv1.Chunk{Offset: uint64(len(b)), Data: []byte("x")})},
		"empty chunk":   {h, []*cohortv1.Chunk{{Offset: 0}}},
		"wrong hash":    {HeaderOf(uint64(len(b)), bad), whole},
		"second header": {h, []*cohortv1.Chunk{whole[0], nil}},
	}
	for name, c := range cases {
		r, err := NewReader(c.hd, 100, chunkQueue(c.chunks))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := io.ReadAll(r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: read ends with %v, want ErrMalformed", name, err)
		}
	}
	transport := errors.New("connection reset")
	r, _ := NewReader(h, 100, func() (*cohortv1.Chunk, error) { return nil, transport })
	if _, err := io.ReadAll(r); err != transport {
		t.Fatalf("transport error not passed on: %v", err)
	}
}

// TestSendFromAt: the bytes on either side of a range sent with
// SendFromAt carry their offsets in the whole blob, so that a Reader fed
// them with the range's chunks in between reads the blob; without the
// range, it refuses the stream.
func TestSendFromAt(t *testing.T) {
	b := make([]byte, 3*MaxChunkSize+5)
	for i := range b {
		b[i] = byte(i * 31)
	}
	const from, to = MaxChunkSize + 7, 2*MaxChunkSize + 1
	var before, after []*cohortv1.Chunk
	keep := func(cs *[]*cohortv1.Chunk) func(*cohortv1.Chunk) error {
		return func(c *cohortv1.Chunk) error {
			*cs = append(*cs, &cohortv1.Chunk{Offset: c.GetOffset(), Data: bytes.Clone(c.GetData())})
			return nil
		}
	}
	if end, err := SendFromAt(bytes.NewReader(b[:from]), 0, keep(&before)); err != nil || end != from {
		t.Fatalf("before the range: ends at %d, %v", end, err)
	}
	if end, err := SendFromAt(bytes.NewReader(b[to:]), to, keep(&after)); err != nil || end != uint64(len(b)) {
		t.Fatalf("after the range: ends at %d, %v", end, err)
	}
	if after[0].GetOffset() != to {
		t.Fatalf("the first chunk after the range is at %d, want %d", after[0].GetOffset(), to)
	}
	hd := HeaderOf(uint64(len(b)), sha256.Sum256(b))
	whole := append(append(append([]*cohortv1.Chunk(nil), before...), &cohortv1.Chunk{Offset: from, Data: b[from:to]}), after...)
	r, err := NewReader(hd, uint64(len(b)), chunkQueue(whole))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("with the range: read back %d bytes, %v", len(got), err)
	}
	r, err = NewReader(hd, uint64(len(b)), chunkQueue(append(before, after...)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("without the range: %v, want ErrMalformed", err)
	}
}

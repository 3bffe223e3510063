package audit

import (
	"bytes"
	"errors"
	"testing"
)

// writeSection writes tr's records as a records section, with every
// other record's claim leaf given whole, and checks what the writer says
// of it.
func writeSection(t *testing.T, tr *Transcript) ([]byte, Records) {
	t.Helper()
	var buf bytes.Buffer
	rw := NewRecordsWriter(&buf)
	for i := range tr.Records {
		r := tr.Records[i]
		var leaf [32]byte
		if i%2 == 1 {
			leaf = leafOf(t, r.Nullifier)
		}
		if err := rw.Record(&r, leaf); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := rw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if recs.Count != len(tr.Records) || recs.Size != int64(buf.Len()) || recs.ClaimRoot != tr.ClaimRoot {
		t.Fatalf("the section says %d records, %d bytes, claim root %x…; want %d, %d, %x…",
			recs.Count, recs.Size, recs.ClaimRoot[:4], len(tr.Records), buf.Len(), tr.ClaimRoot[:4])
	}
	return buf.Bytes(), recs
}

// headOf is tr without its records, as a streamed writer takes it.
func headOf(tr *Transcript) *Transcript {
	head := *tr
	head.Records, head.ClaimRoot = nil, [32]byte{}
	return &head
}

// CopyRecords refuses a section that is not the one declared or not the
// one written, and RecordsWriter a record out of order or with another
// ciphertext size than the first; each leaves its writer unusable.
func TestCopyRecordsRefuses(t *testing.T) {
	mpc := getFixture(t, devSetup).bundle.Transcript
	he := getHEFixture(t).bundle.Transcript
	section, recs := writeSection(t, mpc)
	heSection, heRecs := writeSection(t, he)
	flipped := bytes.Clone(section)
	flipped[len(flipped)/2] ^= 1
	for name, tc := range map[string]struct {
		tr      *Transcript
		section []byte
		recs    Records
		before  bool // a record written one at a time first
	}{
		"a record fewer declared": {mpc, section, func() Records { r := recs; r.Count--; return r }(), false},
		"a byte changed":          {mpc, flipped, recs, false},
		"the section cut short":   {mpc, section[:len(section)-1], recs, false},
		"another section's hash":  {mpc, section, func() Records { r := recs; r.SHA256[0] ^= 1; return r }(), false},
		"ciphertexts on MPC":      {mpc, heSection, func() Records { r := heRecs; r.Count = len(mpc.Records); return r }(), false},
		"no ciphertexts on HE":    {he, section, func() Records { r := recs; r.Count = len(he.Records); return r }(), false},
		"after a record":          {mpc, section, recs, true},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			tw, err := NewTranscriptWriter(&out, headOf(tc.tr), len(tc.tr.Records))
			if err != nil {
				t.Fatal(err)
			}
			if tc.before {
				if err := tw.Record(&tc.tr.Records[0]); err != nil {
					t.Fatal(err)
				}
			}
			err = tw.CopyRecords(bytes.NewReader(tc.section), tc.recs)
			if err == nil {
				t.Fatal("the section was copied in")
			}
			if name != "the section cut short" && !errors.Is(err, ErrInvalid) {
				t.Fatalf("refused with %v, want ErrInvalid", err)
			}
			if _, _, err := tw.Close(); err == nil {
				t.Fatal("the writer closed after a refused section")
			}
		})
	}

	rw := NewRecordsWriter(&bytes.Buffer{})
	if err := rw.Record(&mpc.Records[1], [32]byte{}); err != nil {
		t.Fatal(err)
	}
	if err := rw.Record(&mpc.Records[0], [32]byte{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a record out of order: %v, want ErrInvalid", err)
	}
	if _, err := rw.Close(); err == nil {
		t.Fatal("a records writer closed after a refused record")
	}
	rw = NewRecordsWriter(&bytes.Buffer{})
	first, second := he.Records[0], he.Records[1]
	second.Ciphertext = second.Ciphertext[1:]
	if err := rw.Record(&first, [32]byte{}); err != nil {
		t.Fatal(err)
	}
	if err := rw.Record(&second, [32]byte{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a ciphertext of another size: %v, want ErrInvalid", err)
	}
}

// A records section is the transcript's bytes from RecordsOffset, and
// its records' encodings one after another (Record.WriteTo): a node that
// wrote the section of a job's records can stand it in for those bytes,
// and one that reads the records back can hash them as the section.
func TestRecordsSectionInPlace(t *testing.T) {
	for name, tr := range fixtureTranscripts(t) {
		t.Run(name, func(t *testing.T) {
			section, recs := writeSection(t, tr)
			var enc bytes.Buffer
			tw, err := NewTranscriptWriter(&enc, headOf(tr), len(tr.Records))
			if err != nil {
				t.Fatal(err)
			}
			off := tw.RecordsOffset()
			if err := tw.CopyRecords(bytes.NewReader(section), recs); err != nil {
				t.Fatal(err)
			}
			if _, _, err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			if off <= 0 || off+recs.Size >= int64(enc.Len()) || !bytes.Equal(enc.Bytes()[off:off+recs.Size], section) {
				t.Fatalf("the section is not the encoding's bytes at offset %d (%d bytes of %d)", off, recs.Size, enc.Len())
			}
			var each bytes.Buffer
			for i := range tr.Records {
				n, err := tr.Records[i].WriteTo(&each)
				if err != nil || n <= 0 {
					t.Fatalf("record %d: %d bytes, %v", i, n, err)
				}
			}
			if !bytes.Equal(each.Bytes(), section) {
				t.Fatalf("the records written one after another differ from the section at byte %d", firstDifference(each.Bytes(), section))
			}
		})
	}
}

// TestSkipRecords: a reader that skips its records section (the writer's
// own) ends with the transcript and digest of one that reads every
// record; a section that does not fit the transcript, or a skip after a
// record was read, is refused.
func TestSkipRecords(t *testing.T) {
	for name, tr := range fixtureTranscripts(t) {
		t.Run(name, func(t *testing.T) {
			_, recs := writeSection(t, tr)
			enc, err := tr.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			read := func(skip func(r *TranscriptReader) error) (*Transcript, [32]byte, error) {
				t.Helper()
				r, err := NewTranscriptReader(bytes.NewReader(enc), DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				if err := skip(r); err != nil {
					return nil, [32]byte{}, err
				}
				return r.Tail()
			}
			want, wantDigest, err := read(func(r *TranscriptReader) error {
				for range r.Len() {
					if _, err := r.Next(); err != nil {
						return err
					}
				}
				return nil
			})
			if d, derr := tr.Digest(); err != nil || derr != nil || wantDigest != d {
				t.Fatalf("read record by record: %v, %v; digest %x…, want %x…", err, derr, wantDigest[:4], d[:4])
			}
			got, digest, err := read(func(r *TranscriptReader) error { return r.SkipRecords(recs) })
			if err != nil || digest != wantDigest || got.ClaimRoot != want.ClaimRoot || got.Coordinator != want.Coordinator ||
				len(got.Sums) != len(want.Sums) || !bytes.Equal(got.Aggregate, want.Aggregate) {
				t.Fatalf("skipped: %v; digest %x…, want %x…", err, digest[:4], wantDigest[:4])
			}

			bad := map[string]Records{}
			more, short, long := recs, recs, recs
			more.Count++
			short.Size--
			long.Size = int64(len(enc)) + 1
			bad["one record more"], bad["a byte short"], bad["longer than the transcript"] = more, short, long
			if recs.Count > 0 {
				fewer, tiny := recs, recs
				fewer.Count--
				tiny.Size = int64(recs.Count)*minRecordSize - 1
				bad["one record fewer"], bad["below the least size"] = fewer, tiny
			}
			for what, r := range bad {
				if _, _, err := read(func(tr *TranscriptReader) error { return tr.SkipRecords(r) }); !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: %v, want ErrMalformed", what, err)
				}
			}
			if recs.Count > 0 {
				_, _, err := read(func(r *TranscriptReader) error {
					if _, err := r.Next(); err != nil {
						return err
					}
					return r.SkipRecords(recs)
				})
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("a skip after a record was read: %v, want ErrMalformed", err)
				}
			}
		})
	}
}

// TestReadVouchedBundleStream: a bundle read with its records section
// vouched for gives what ReadBundleStream gives; a section that does not
// fit its transcript is refused.
func TestReadVouchedBundleStream(t *testing.T) {
	f := getFixture(t, devSetup)
	for name, b := range map[string]*Bundle{"mpc": f.bundle, "he": getHEFixture(t).bundle} {
		t.Run(name, func(t *testing.T) {
			_, recs := writeSection(t, b.Transcript)
			enc, err := b.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			want, err := ReadBundleStream(bytes.NewReader(enc), int64(len(enc)), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReadVouchedBundleStream(bytes.NewReader(enc), int64(len(enc)), DefaultLimits(), recs)
			if err != nil || got.Digest != want.Digest || got.Records != want.Records || got.TranscriptLen != want.TranscriptLen ||
				got.CeremonyOffset() != want.CeremonyOffset() || got.Bundle.Transcript.ClaimRoot != want.Bundle.Transcript.ClaimRoot ||
				len(got.Bundle.Signatures) != len(want.Bundle.Signatures) || !bytes.Equal(got.Bundle.Descriptor, want.Bundle.Descriptor) {
				t.Fatalf("vouched: %v; digest %x…, want %x…", err, got.Digest[:4], want.Digest[:4])
			}
			other := recs
			other.Count++
			if _, err := ReadVouchedBundleStream(bytes.NewReader(enc), int64(len(enc)), DefaultLimits(), other); !errors.Is(err, ErrMalformed) {
				t.Fatalf("a section of another count: %v, want ErrMalformed", err)
			}
		})
	}
}

package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// TestStreamedBundleMatchesMemory: a bundle written around a streamed
// transcript (roots given after the records) is MarshalBinary's bundle
// byte for byte; ReadBundleStream gives back its structure, record count
// and digest; the bytes before CeremonyOffset and a zero length are
// WithoutCeremony's. MPC and HE bundles, with and without a ceremony.
func TestStreamedBundleMatchesMemory(t *testing.T) {
	f := getFixture(t, devSetup)
	for name, b := range map[string]*Bundle{"mpc": f.bundle, "he": getHEFixture(t).bundle} {
		for _, ceremony := range [][]byte{nil, []byte("a ceremony transcript's bytes")} {
			b := *b
			b.Ceremony = ceremony
			want, err := b.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			tr := b.Transcript
			head := *tr
			head.Records, head.ClaimRoot, head.Roots = nil, [32]byte{}, nil
			var enc bytes.Buffer
			w, err := NewTranscriptWriter(&enc, &head, len(tr.Records))
			if err != nil {
				t.Fatal(err)
			}
			for i := range tr.Records {
				if err := w.Record(&tr.Records[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.SetRoots(tr.Roots); err != nil {
				t.Fatal(err)
			}
			digest, root, err := w.Close()
			if err != nil {
				t.Fatal(err)
			}
			head.Roots, head.ClaimRoot = tr.Roots, root
			var out bytes.Buffer
			desc := f.desc
			if name == "he" {
				desc = getHEFixture(t).desc
			}
			sbw, err := NewStreamedBundle(&head, int64(enc.Len()), b.Signatures, desc, ceremony)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := sbw.Write(&out, bytes.NewReader(enc.Bytes())); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			off := sbw.CeremonyOffset()
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("%s: streamed bundle differs from MarshalBinary's at byte %d of %d", name, firstDifference(out.Bytes(), want), len(want))
			}
			sb, err := ReadBundleStream(bytes.NewReader(want), int64(len(want)), DefaultLimits())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wantDigest, _ := tr.Digest()
			if sb.Records != len(tr.Records) || sb.Digest != wantDigest || digest != wantDigest || sb.Bundle.Transcript.Records != nil {
				t.Fatalf("%s: read %d records, digest %x…, want %d, %x…", name, sb.Records, sb.Digest[:4], len(tr.Records), wantDigest[:4])
			}
			if sb.CeremonyOffset() != off {
				t.Fatalf("%s: ceremony offset %d read, %d written", name, sb.CeremonyOffset(), off)
			}
			light, err := WithoutCeremony(want, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if got := binary.BigEndian.AppendUint64(bytes.Clone(want[:off]), 0); !bytes.Equal(got, light) {
				t.Fatalf("%s: the bytes before the ceremony offset are not WithoutCeremony's", name)
			}
		}
	}
}

// TestStreamedBundleRefuses: a header with records, signatures that do not
// match the transcript's nodes, a transcript shorter than declared, and
// roots out of order are refused; the reader refuses a truncated bundle.
func TestStreamedBundleRefuses(t *testing.T) {
	f := getFixture(t, devSetup)
	b := f.bundle
	enc, err := b.Transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	head := *b.Transcript
	head.Records = nil
	var out bytes.Buffer
	if _, err := NewStreamedBundle(b.Transcript, int64(len(enc)), b.Signatures, f.desc, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("a header with records: %v", err)
	}
	if _, err := NewStreamedBundle(&head, int64(len(enc)), b.Signatures[1:], f.desc, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("a signature missing: %v", err)
	}
	if _, err := NewStreamedBundle(&head, 0, b.Signatures, f.desc, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty transcript: %v", err)
	}
	sb, err := NewStreamedBundle(&head, int64(len(enc)), b.Signatures, f.desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Write(&out, bytes.NewReader(enc[:10])); err == nil {
		t.Errorf("a short transcript was written")
	}
	if len(b.Transcript.Roots) > 0 {
		w, err := NewTranscriptWriter(&out, &Transcript{}, 0)
		if err == nil {
			t.Fatalf("an empty transcript header was accepted: %v", w)
		}
		h2 := head
		h2.Roots, h2.ClaimRoot = nil, [32]byte{}
		w, err = NewTranscriptWriter(&out, &h2, len(b.Transcript.Records))
		if err != nil {
			t.Fatal(err)
		}
		bad := []Root{b.Transcript.Roots[0], b.Transcript.Roots[0]}
		if err := w.SetRoots(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("roots repeating a version: %v", err)
		}
	}
	full, _ := b.MarshalBinary()
	if _, err := ReadBundleStream(bytes.NewReader(full[:len(full)-1]), int64(len(full)-1), DefaultLimits()); !errors.Is(err, ErrMalformed) {
		t.Errorf("a truncated bundle: %v", err)
	}
}

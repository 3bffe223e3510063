package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// partsCase is a bundle and the descriptor it was assembled under.
type partsCase struct {
	name   string
	bundle *Bundle
	desc   *cohortv1.DatasetDescriptor
}

func partsCases(t *testing.T) []partsCase {
	f := getFixture(t, devSetup)
	cases := []partsCase{
		{"mpc", f.bundle, f.desc},
		{"dp", getDPFixture(t).bundle, getDPFixture(t).desc},
		{"he", getHEFixture(t).bundle, getHEFixture(t).desc},
	}
	if !testing.Short() {
		c := getFixture(t, ceremonySetup)
		cases = append(cases, partsCase{"mpc with a ceremony", c.bundle, c.desc})
	}
	return cases
}

// TestBundlePartsMatchMarshal: a bundle written from its transcript's
// encoding, read as a stream, and its parts is MarshalBinary's bundle byte
// for byte, of the size Size says; ReadBundleSignatures reads back its
// signatures. MPC, DP and HE bundles, with and without a ceremony.
func TestBundlePartsMatchMarshal(t *testing.T) {
	for _, c := range partsCases(t) {
		for _, ceremony := range [][]byte{c.bundle.Ceremony, []byte("a ceremony transcript's bytes")} {
			b := *c.bundle
			b.Ceremony = ceremony
			want, err := b.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			tenc, err := b.Transcript.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewBundleParts(b.Signatures, c.desc, ceremony)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var out bytes.Buffer
			// One byte at a time: the transcript is read as a stream.
			if err := p.Write(&out, iotest.OneByteReader(bytes.NewReader(tenc)), int64(len(tenc))); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("%s (ceremony of %d bytes): the bundle from its parts differs from MarshalBinary's at byte %d of %d",
					c.name, len(ceremony), firstDifference(out.Bytes(), want), len(want))
			}
			if got := p.Size(int64(len(tenc))); got != int64(len(want)) {
				t.Fatalf("%s: Size says %d bytes, the bundle has %d", c.name, got, len(want))
			}
			// The same bytes read at any offset, around the transcript
			// read where it lies.
			enc, err := p.Encoding(io.NewSectionReader(bytes.NewReader(tenc), 0, int64(len(tenc))))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got, err := io.ReadAll(iotest.HalfReader(io.NewSectionReader(enc, 0, enc.Size()))); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: the bundle's encoding read whole differs from MarshalBinary's (%v)", c.name, err)
			}
			for _, at := range []int{0, bundleHeaderSize - 1, bundleHeaderSize + len(tenc) - 1, len(want) - 2} {
				got := make([]byte, 2)
				if n, err := enc.ReadAt(got, int64(at)); n != 2 || err != nil || !bytes.Equal(got, want[at:at+2]) {
					t.Fatalf("%s: ReadAt(2 bytes, %d) = %d %x, %v; want %x", c.name, at, n, got, err, want[at:at+2])
				}
			}
			sigs, err := ReadBundleSignatures(iotest.HalfReader(bytes.NewReader(want)), DefaultLimits())
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if len(sigs) != len(b.Signatures) {
				t.Fatalf("%s: read %d signatures, want %d", c.name, len(sigs), len(b.Signatures))
			}
			for i := range sigs {
				if !bytes.Equal(sigs[i], b.Signatures[i]) {
					t.Fatalf("%s: signature %d read differs", c.name, i)
				}
			}
		}
	}
}

// TestBundlePartsRefuse: parts that no bundle has, and a transcript
// stream shorter than its length, are refused; so are encodings whose
// signatures cannot be read.
func TestBundlePartsRefuse(t *testing.T) {
	f := getFixture(t, devSetup)
	b := f.bundle
	tenc, err := b.Transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, sigs := range map[string][][]byte{
		"no signature":        nil,
		"a short signature":   {b.Signatures[0][:SignatureSize-1]},
		"too many signatures": make([][]byte, dataset.MaxNodes+1),
	} {
		if _, err := NewBundleParts(sigs, f.desc, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewBundleParts(b.Signatures, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("no descriptor: %v, want ErrInvalid", err)
	}
	p, err := NewBundleParts(b.Signatures, f.desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.Write(&out, bytes.NewReader(tenc[:len(tenc)-1]), int64(len(tenc))); err == nil {
		t.Error("a transcript stream one byte short is written")
	}
	if err := p.Write(&out, bytes.NewReader(tenc), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty transcript: %v, want ErrInvalid", err)
	}
	bad := *p
	bad.Signatures = append([][]byte{}, p.Signatures...)
	bad.Signatures[0] = bad.Signatures[0][:1]
	if err := bad.Write(&out, bytes.NewReader(tenc), int64(len(tenc))); !errors.Is(err, ErrInvalid) {
		t.Errorf("a short signature: %v, want ErrInvalid", err)
	}
	if _, err := bad.Encoding(io.NewSectionReader(bytes.NewReader(tenc), 0, int64(len(tenc)))); !errors.Is(err, ErrInvalid) {
		t.Errorf("the encoding with a short signature: %v, want ErrInvalid", err)
	}
	if _, err := p.Encoding(io.NewSectionReader(bytes.NewReader(tenc), 0, 0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("the encoding of an empty transcript: %v, want ErrInvalid", err)
	}

	enc, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sigAt := bundleHeaderSize + len(tenc) // the signature count
	small := DefaultLimits()
	small.MaxBytes = int64(len(tenc) - 1)
	for name, c := range map[string]struct {
		enc []byte
		lim Limits
	}{
		"empty":                  {nil, DefaultLimits()},
		"another magic":          {append([]byte("CHJX"), enc[4:]...), DefaultLimits()},
		"another version":        {append(append([]byte("CHJB"), BundleVersion+1), enc[5:]...), DefaultLimits()},
		"a transcript too large": {enc, small},
		"cut in the transcript":  {enc[:sigAt-1], DefaultLimits()},
		"cut in the signatures":  {enc[:sigAt+4+SignatureSize-1], DefaultLimits()},
		"no signature":           {binary.BigEndian.AppendUint32(bytes.Clone(enc[:sigAt]), 0), DefaultLimits()},
		"too many signatures":    {binary.BigEndian.AppendUint32(bytes.Clone(enc[:sigAt]), dataset.MaxNodes+1), DefaultLimits()},
	} {
		if _, err := ReadBundleSignatures(bytes.NewReader(c.enc), c.lim); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzReadBundleSignatures: any bytes give the signatures of the bundle
// they begin with, or an error wrapping ErrMalformed; the signatures read
// from a whole bundle are UnmarshalBundle's.
func FuzzReadBundleSignatures(f *testing.F) {
	fx, hx := getFixture(f, devSetup), getHEFixture(f)
	f.Add(fx.encoded)
	f.Add(hx.encoded)
	f.Add(fx.encoded[:len(fx.encoded)/2])
	f.Add([]byte("CHJB\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sigs, err := ReadBundleSignatures(bytes.NewReader(data), fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(sigs) == 0 || len(sigs) > dataset.MaxNodes {
			t.Fatalf("%d signatures read", len(sigs))
		}
		if b, err := UnmarshalBundle(data, fuzzLimits); err == nil {
			if len(b.Signatures) != len(sigs) {
				t.Fatalf("%d signatures read, UnmarshalBundle reads %d", len(sigs), len(b.Signatures))
			}
			for i := range sigs {
				if !bytes.Equal(sigs[i], b.Signatures[i]) {
					t.Fatalf("signature %d differs from UnmarshalBundle's", i)
				}
			}
		}
	})
}

package audit

import (
	"bytes"
	"errors"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// fuzzLimits keep fuzzed inputs small (the HE fixture's ciphertexts are
// 8 KiB).
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxRecords: 64, MaxRoots: 64, MaxCiphertextBytes: 16 << 10}

// FuzzUnmarshalBundle: decoding never panics, refuses with ErrMalformed,
// accepts only canonical encodings (re-encoding gives the input back), and
// Verify reports on every bundle it accepts without panicking. (That every
// alteration of an honest bundle fails verification is what
// TestEveryFlipRejected checks: here the seeds come from another process's
// fixture, whose bundle verifies as well as this one's.)
func FuzzUnmarshalBundle(f *testing.F) {
	fx, hx, dx := getFixture(f, devSetup), getHEFixture(f), getDPFixture(f)
	f.Add(fx.encoded)
	f.Add(dx.encoded)
	f.Add(fx.encoded[:len(fx.encoded)/2])
	f.Add([]byte{})
	f.Add([]byte("CHJB\x01"))
	b := fx.clone(f)
	b.Signatures[1][3] ^= 1
	if enc, err := b.MarshalBinary(); err == nil {
		f.Add(enc)
	}
	f.Add(hx.encoded)
	f.Add(hx.encoded[:len(hx.encoded)-100])
	if enc, err := hx.withoutNode1(f).MarshalBinary(); err == nil {
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := UnmarshalBundle(data, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		re, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(re, data) {
			t.Fatalf("decoded bundle does not re-encode to its input: %v", err)
		}
		if r := Verify(b, fx.opts...); len(r.Checks) != len(CheckNames(b.Transcript.Backend())) {
			t.Fatalf("incomplete report:\n%s", r)
		}
	})
}

// FuzzUnmarshalTranscript: the same for a transcript alone, verified in
// the place of this process's honest one of its backend (MPC or HE): only
// that one may verify.
func FuzzUnmarshalTranscript(f *testing.F) {
	fx, hx := getFixture(f, devSetup), getHEFixture(f)
	honest, err := fx.bundle.Transcript.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	honestHE, err := hx.bundle.Transcript.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(honest)
	f.Add(honest[:100])
	f.Add([]byte("CHJT\x01"))
	f.Add([]byte("CHJT\x02"))
	f.Add([]byte("CHJT\x03"))
	f.Add(honestHE)
	if enc, err := getDPFixture(f).bundle.Transcript.MarshalBinary(); err == nil {
		f.Add(enc) // a noised job: signed sums, the buyer, the nodes' debits
	}
	f.Add(honestHE[:len(honestHE)/2])
	if enc, err := hx.withoutNode1(f).Transcript.MarshalBinary(); err == nil {
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := UnmarshalTranscript(data, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		re, err := tr.MarshalBinary()
		if err != nil || !bytes.Equal(re, data) {
			t.Fatalf("decoded transcript does not re-encode to its input: %v", err)
		}
		base, opts, want := fx.bundle, fx.opts, honest
		if tr.Backend() == cohortv1.Backend_BACKEND_HE {
			base, opts, want = hx.bundle, hx.opts, honestHE
		}
		b := *base
		b.Transcript = tr
		if r := Verify(&b, opts...); r.OK() && !bytes.Equal(data, want) {
			t.Fatalf("a transcript other than the honest one verifies:\n%s", r)
		}
	})
}

// FuzzTranscriptReader: the streaming decoder accepts exactly what
// UnmarshalTranscript accepts, gives the same transcript and its digest,
// and refuses with ErrMalformed; a bundle of that transcript gets the
// same report from VerifyStream as from VerifyEncoded.
func FuzzTranscriptReader(f *testing.F) {
	fx, hx := getFixture(f, devSetup), getHEFixture(f)
	for _, b := range []*Bundle{fx.bundle, hx.bundle, getDPFixture(f).bundle} {
		enc, err := b.Transcript.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
		f.Add(enc[:len(enc)/2])
	}
	f.Add([]byte("CHJT\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := UnmarshalTranscript(data, fuzzLimits)
		got, d, err := readStream(data, fuzzLimits)
		switch {
		case (err == nil) != (wantErr == nil):
			t.Fatalf("stream says %v, UnmarshalTranscript %v", err, wantErr)
		case err != nil && !errors.Is(err, ErrMalformed):
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		case err != nil:
			return
		}
		wd, err := want.Digest()
		if err != nil || d != wd {
			t.Fatalf("digest %x…, want %x… (%v)", d[:4], wd[:4], err)
		}
		if re, err := got.MarshalBinary(); err != nil || !bytes.Equal(re, data) {
			t.Fatalf("the streamed transcript does not re-encode to its input: %v", err)
		}
		base, opts := fx.bundle, fx.opts
		if want.Backend() == cohortv1.Backend_BACKEND_HE {
			base, opts = hx.bundle, hx.opts
		}
		b := *base
		b.Transcript = want
		enc, err := b.MarshalBinary()
		if err != nil {
			return // signatures for another node count: not a bundle
		}
		sameReport(t, "fuzzed", VerifyStream(bytes.NewReader(enc), int64(len(enc)), fuzzLimits, opts...), VerifyEncoded(enc, fuzzLimits, opts...))
	})
}

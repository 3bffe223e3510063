package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/wire"
)

// cloneTranscript returns a deep copy of t through its encoding.
func cloneTranscript(t testing.TB, tr *Transcript) *Transcript {
	t.Helper()
	enc, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalTranscript(enc, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTranscriptRoundTrip(t *testing.T) {
	f := getFixture(t, devSetup)
	tr := f.bundle.Transcript
	enc, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalTranscript(enc, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	again, err := got.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, again) {
		t.Fatal("decode then encode changed the transcript")
	}
	d1, _ := tr.Digest()
	d2, _ := got.Digest()
	if d1 != d2 || d1 != taggedDigest(TagTranscript, enc) {
		t.Fatal("digest is not SHA-256 over the tag and the encoding")
	}
	if !bytes.HasPrefix(enc, []byte{'C', 'H', 'J', 'T', TranscriptVersion}) {
		t.Fatalf("encoding starts %q", enc[:5])
	}

	b, err := UnmarshalBundle(f.encoded, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if re, _ := b.MarshalBinary(); !bytes.Equal(re, f.encoded) {
		t.Fatal("decode then encode changed the bundle")
	}
	if len(b.Ceremony) != 0 {
		t.Fatal("dev bundle carries a ceremony transcript")
	}
}

func TestBundleDecodeRejectsEveryTruncation(t *testing.T) {
	f := getFixture(t, devSetup)
	for n := range len(f.encoded) {
		if _, err := UnmarshalBundle(f.encoded[:n], DefaultLimits()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	if _, err := UnmarshalBundle(append(slices.Clone(f.encoded), 0), DefaultLimits()); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("trailing byte: %v", err)
	}
	enc, _ := f.bundle.Transcript.MarshalBinary()
	if _, err := UnmarshalTranscript(append(enc, 0), DefaultLimits()); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("transcript with a trailing byte: %v", err)
	}
}

func TestDecodeLimits(t *testing.T) {
	f := getFixture(t, devSetup)
	enc, _ := f.bundle.Transcript.MarshalBinary()
	lim := DefaultLimits()
	for _, tc := range []struct {
		name string
		lim  func(*Limits)
	}{
		{"zero limits", func(l *Limits) { *l = Limits{} }},
		{"bytes", func(l *Limits) { l.MaxBytes = int64(len(f.encoded) - 1) }},
		{"records", func(l *Limits) { l.MaxRecords = len(f.honest) - 1 }},
		{"roots", func(l *Limits) { l.MaxRoots = len(f.roots) - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := lim
			tc.lim(&l)
			if _, err := UnmarshalBundle(f.encoded, l); !errors.Is(err, ErrMalformed) {
				t.Fatalf("bundle: %v", err)
			}
			if tc.name != "bytes" {
				if _, err := UnmarshalTranscript(enc, l); !errors.Is(err, ErrMalformed) {
					t.Fatalf("transcript: %v", err)
				}
			}
		})
	}

	// A count far beyond the bytes that follow is refused before anything
	// is allocated.
	w := wire.NewWriter(wire.BigEndian, 0)
	w.Raw([]byte(transcriptMagic))
	w.Uint8(TranscriptVersion)
	w.String32("job-1")
	w.String32("fitness-2026")
	w.String32("")
	w.Uint32(0)
	w.String32("b")
	w.String32("r")
	w.Uint64(1)
	w.Raw(make([]byte, 32+SignatureSize))
	w.Bytes32([]byte{1})
	w.Uint64(1)
	w.Raw(make([]byte, 32))
	w.Uint64(1)
	w.Uint32(1 << 20) // records
	bomb, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	_, err = UnmarshalTranscript(bomb, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "need at least") {
		t.Fatalf("record count bomb: %v", err)
	}
}

// TestNonCanonicalRefused: each transcript breaks one structural rule; the
// encoder refuses it, and its bytes (written without the checks) do not
// decode.
func TestNonCanonicalRefused(t *testing.T) {
	f := getFixture(t, devSetup)
	for _, tc := range []struct {
		name  string
		edit  func(*Transcript)
		error string
	}{
		{"records out of order", func(t *Transcript) { t.Records[0], t.Records[1] = t.Records[1], t.Records[0] }, "nullifier order"},
		{"duplicate record", func(t *Transcript) { t.Records[1] = t.Records[0] }, "repeats record 0"},
		{"empty proof", func(t *Transcript) { t.Records[2].Proof = nil }, "record 2"},
		{"job id charset", func(t *Transcript) { t.JobID = "job/1" }, "job id"},
		{"dataset id charset", func(t *Transcript) { t.DatasetID = "Fitness" }, "dataset id"},
		{"job time zero", func(t *Transcript) { t.JobTime = 0 }, "job time"},
		{"effective minimum zero", func(t *Transcript) { t.EffectiveMinimum = 0 }, "effective minimum"},
		{"nodes out of order", func(t *Transcript) { t.Nodes[0], t.Nodes[1] = t.Nodes[1], t.Nodes[0] }, "listed by index"},
		{"one node", func(t *Transcript) { t.Nodes = t.Nodes[:1] }, "evidence of 1 nodes"},
		{"coordinator out of range", func(t *Transcript) { t.Coordinator = 3 }, "coordinator"},
		{"empty partial", func(t *Transcript) { t.Nodes[1].Partial = nil }, "node 1: partial"},
		{"sums out of order", func(t *Transcript) { t.Sums[1], t.Sums[2] = t.Sums[2], t.Sums[1] }, "does not follow"},
		{"sum of 2^256", func(t *Transcript) { t.Sums[0].Value = new(big.Int).Lsh(big.NewInt(1), 256) }, "sum 0"},
		{"sum of −2^256", func(t *Transcript) { t.Sums[1].Value = new(big.Int).Lsh(big.NewInt(-1), 256) }, "sum 1"},
		{"buyer charset", func(t *Transcript) { t.Buyer = "lab/1" }, "buyer"},
		{"buyer too long", func(t *Transcript) { t.Buyer = strings.Repeat("b", MaxBuyerIDLen+1) }, "buyer"},
		{"no sums", func(t *Transcript) { t.Sums = nil }, "0 sums"},
		{"empty result", func(t *Transcript) { t.Result = nil }, "result"},
		{"roots out of order", func(t *Transcript) { t.Roots[0], t.Roots[1] = t.Roots[1], t.Roots[0] }, "root 1"},
		{"two current roots", func(t *Transcript) { t.Roots[3].SupersededAt = 0 }, "root 3"},
		{"root superseded before seen", func(t *Transcript) { t.Roots[2].SupersededAt = t.Roots[2].SeenAt - 1 }, "root 2"},
		{"reward without a buyer", func(t *Transcript) { t.Buyer, t.RewardPerRecord = "", 1 }, "no buyer was charged"},
		{"reward above the bound", func(t *Transcript) { t.Buyer, t.RewardPerRecord = "lab-1", MaxReward+1 }, "reward of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := cloneTranscript(t, f.bundle.Transcript)
			tc.edit(tr)
			_, err := tr.MarshalBinary()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("MarshalBinary: %v, want ErrInvalid naming %q", err, tc.error)
			}
			if _, err := tr.Digest(); err == nil {
				t.Fatal("Digest of an invalid transcript")
			}
			if _, err := UnmarshalTranscript(encodeUnchecked(t, tr), DefaultLimits()); !errors.Is(err, ErrMalformed) {
				t.Fatalf("decoded: %v", err)
			}
		})
	}

	// A sum is a sign byte and a minimal magnitude: a leading zero byte,
	// a negative zero and any other sign byte are not canonical.
	tr := cloneTranscript(t, f.bundle.Transcript)
	enc := encodeUnchecked(t, tr)
	count := tr.Sums[0].Value.Uint64() // the count coordinate
	sum := func(sign byte, magnitude ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(tr.Sums)))
		b = append(binary.BigEndian.AppendUint32(b, 0), sign)
		return append(binary.BigEndian.AppendUint32(b, uint32(len(magnitude))), magnitude...)
	}
	old := sum(0, byte(count))
	if bytes.Count(enc, old) != 1 {
		t.Fatal("cannot locate the count's encoding")
	}
	for _, tc := range []struct {
		name    string
		patched []byte
		error   string
	}{
		{"leading zero", sum(0, 0, byte(count)), "leading zero"},
		{"negative zero", sum(1), "negative zero"},
		{"sign byte 2", sum(2, byte(count)), "sign byte 2"},
	} {
		if _, err := UnmarshalTranscript(bytes.Replace(enc, old, tc.patched, 1), DefaultLimits()); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.error) {
			t.Errorf("sum with a %s: %v", tc.name, err)
		}
	}
	// Zero, positive and negative sums round-trip.
	for _, v := range []int64{0, 1, -1, 1 << 40, -(1 << 40)} {
		tr := cloneTranscript(t, f.bundle.Transcript)
		tr.Sums[1].Value = big.NewInt(v)
		if got := cloneTranscript(t, tr).Sums[1].Value; got.Cmp(big.NewInt(v)) != 0 {
			t.Errorf("sum %d decodes as %v", v, got)
		}
	}
}

func TestBundleStructure(t *testing.T) {
	f := getFixture(t, devSetup)
	b := f.clone(t)
	b.Signatures = b.Signatures[:2]
	if _, err := b.MarshalBinary(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bundle with a missing signature encodes: %v", err)
	}
	b = f.clone(t)
	b.VerifyingKey = nil
	if _, err := b.MarshalBinary(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bundle without a verifying key encodes: %v", err)
	}
	if _, err := NewBundle(f.bundle.Transcript, f.bundle.Signatures, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bundle without a descriptor: %v", err)
	}
	for _, magic := range []string{"CHJT", "CHJB\x02"} {
		data := append([]byte(magic), f.encoded[len(magic):]...)
		if _, err := UnmarshalBundle(data, DefaultLimits()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("magic %q: %v", magic, err)
		}
	}
}

func TestTranscriptStatement(t *testing.T) {
	f := getFixture(t, devSetup)
	s := TranscriptStatement{JobID: "job-1", Digest: [32]byte{1, 2, 3}, Node: 2}
	msg := s.Message()
	if !bytes.HasPrefix(msg, []byte(TagTranscriptSignature+"\x00")) {
		t.Fatalf("message does not start with its tag: %q", msg[:40])
	}
	// Changing any field changes the message; moving bytes between the
	// job id and the digest cannot give the same message.
	variants := []TranscriptStatement{
		{JobID: "job-2", Digest: s.Digest, Node: 2},
		{JobID: "job-1", Digest: [32]byte{1, 2, 4}, Node: 2},
		{JobID: "job-1", Digest: s.Digest, Node: 1},
		{JobID: "job-1\x01", Digest: [32]byte{2, 3}, Node: 2},
	}
	for _, v := range variants {
		if bytes.Equal(v.Message(), msg) {
			t.Fatalf("%+v signs the same bytes as %+v", v, s)
		}
	}
	sig := attest.Sign(f.sign[2], s)
	pub := f.sign[2].Public().(ed25519.PublicKey)
	if err := attest.Verify(pub, s, sig); err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		if err := attest.Verify(pub, v, sig); err == nil {
			t.Fatalf("signature over %+v verifies for %+v", s, v)
		}
	}
}

// encodeUnchecked encodes tr without the checks of MarshalBinary, so that tests
// can build transcripts the decoder must refuse.
func encodeUnchecked(t testing.TB, tr *Transcript) []byte {
	t.Helper()
	b, err := tr.encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// streamReport runs VerifyStream over enc.
func streamReport(enc []byte, opts ...Option) *Report {
	return VerifyStream(bytes.NewReader(enc), int64(len(enc)), DefaultLimits(), opts...)
}

// sameReport fails t unless the two reports say the same, check by check.
func sameReport(t *testing.T, name string, got, want *Report) {
	t.Helper()
	if undecodable(got) && undecodable(want) {
		return // the same check fails; the decoders word the error each their way
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("%s: VerifyStream reports\n%s\nVerifyEncoded reports\n%s", name, got, want)
	}
}

// undecodable reports whether r is the report on a bundle that does not
// decode.
func undecodable(r *Report) bool {
	return len(r.Checks) == 1 && r.Checks[0].Name == CheckTranscript && r.Checks[0].Status == Fail
}

// VerifyStream reports exactly what VerifyEncoded reports: on the honest
// bundles of every backend, on bundles whose records were changed and
// re-signed, and on bundles with a byte flipped anywhere.
func TestVerifyStreamMatchesVerify(t *testing.T) {
	f := getFixture(t, devSetup)
	encodings := map[string][]byte{
		"mpc": f.encoded,
		"dp":  getDPFixture(t).encoded,
		"he":  getHEFixture(t).encoded,
	}
	edits := map[string]func(b *Bundle){
		"a record dropped":   func(b *Bundle) { b.Transcript.Records = b.Transcript.Records[1:] },
		"a proof altered":    func(b *Bundle) { b.Transcript.Records[2].Proof[40] ^= 1 },
		"proofs swapped":     func(b *Bundle) { r := b.Transcript.Records; r[0].Proof, r[1].Proof = r[1].Proof, r[0].Proof },
		"public inputs cut":  func(b *Bundle) { b.Transcript.Records[3].Public = b.Transcript.Records[3].Public[:10] },
		"claim root altered": func(b *Bundle) { b.Transcript.ClaimRoot[3] ^= 1 },
		"roots dropped":      func(b *Bundle) { b.Transcript.Roots = b.Transcript.Roots[len(b.Transcript.Roots)-1:] },
	}
	for name, edit := range edits {
		b := f.clone(t)
		edit(b)
		if err := f.signTranscript(b); err != nil {
			t.Fatal(err)
		}
		enc, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		encodings[name] = enc
	}
	for _, bad := range []string{"expired", "high-minimum", "old-epoch", "other-dataset", "unconsented"} {
		b, err := f.assemble(testSpec(f.schema.ID, f.epoch), append(slices.Clone(f.honest), f.bad[bad]), f.roots)
		if err != nil {
			t.Fatal(err)
		}
		if encodings["with record "+bad], err = b.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		b := slices.Clone(f.encoded)
		b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		encodings["flip "+strings.Repeat("x", i)] = b
	}
	for name, enc := range encodings {
		want := VerifyEncoded(enc, DefaultLimits(), f.opts...)
		sameReport(t, name, streamReport(enc, f.opts...), want)
		if name == "mpc" || name == "dp" || name == "he" {
			if !want.OK() {
				t.Fatalf("%s: the honest bundle does not verify:\n%s", name, want)
			}
		} else if strings.HasPrefix(name, "a ") || strings.HasPrefix(name, "with ") {
			if want.OK() {
				t.Fatalf("%s: verifies", name)
			}
		}
	}
}

// changingReader serves data, with one byte flipped once the first
// ReadAt past from has been served: a file that changes between the
// streaming verifier's two reads.
type changingReader struct {
	data  []byte
	at    int
	reads atomic.Int32
}

func (r *changingReader) ReadAt(p []byte, off int64) (int, error) {
	b := r.data
	if r.reads.Load() > 0 {
		b = slices.Clone(b)
		b[r.at] ^= 1
	}
	n, err := bytes.NewReader(b).ReadAt(p, off)
	if off+int64(n) >= int64(r.at) && off <= int64(r.at) {
		r.reads.Add(1)
	}
	return n, err
}

// A record changed after the first read (its proof, at the second) fails
// the record checks: the second read does not give the transcript whose
// digest the nodes' signatures were checked against.
func TestVerifyStreamRefusesAChangedRecord(t *testing.T) {
	f := getFixture(t, devSetup)
	tr := f.bundle.Transcript
	enc, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The middle of record 2's proof: the proof is the record's
	// penultimate field, before a 4-byte empty ciphertext length.
	rec := tr.Records[2]
	at := bytes.Index(enc, rec.Proof) + len(rec.Proof)/2
	wantChangedWhileRead(t, f.encoded, bundleHeaderSize+at, f.opts, CheckProofs, CheckNullifiers, CheckEligibleSets, CheckRewards)
}

// A bundle that does not decode as a stream gives the report
// VerifyEncoded gives: one failed transcript check.
func TestVerifyStreamUndecodable(t *testing.T) {
	f := getFixture(t, devSetup)
	for name, enc := range map[string][]byte{
		"empty":     nil,
		"truncated": f.encoded[:len(f.encoded)-3],
		"header":    f.encoded[:bundleHeaderSize+10],
		"trailing":  append(slices.Clone(f.encoded), 1),
	} {
		rep := streamReport(enc, f.opts...)
		if rep.OK() || len(rep.Checks) != 1 || rep.Checks[0].Name != CheckTranscript {
			t.Fatalf("%s: %s", name, rep)
		}
		if want := VerifyEncoded(enc, DefaultLimits(), f.opts...); want.OK() || len(want.Checks) != 1 {
			t.Fatalf("%s: VerifyEncoded says %s", name, want)
		}
	}
}

// eofReader returns io.EOF with a read that reaches the end, as
// io.ReaderAt allows.
type eofReader struct{ data []byte }

func (r eofReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := bytes.NewReader(r.data).ReadAt(p, off)
	if err == nil && off+int64(n) == int64(len(r.data)) {
		err = io.EOF
	}
	return n, err
}

// A reader that says io.EOF with the last bytes it gives is read whole.
func TestVerifyStreamEOFAtEnd(t *testing.T) {
	f := getFixture(t, devSetup)
	if rep := VerifyStream(eofReader{f.encoded}, int64(len(f.encoded)), DefaultLimits(), f.opts...); !rep.OK() {
		t.Fatalf("does not verify:\n%s", rep)
	}
}

// readAhead gives every chunk, in order, decoded as decodeRecordsOf
// decodes it alone; returns the reader's error after the chunks before
// it; and stops the reader when its caller panics.
func TestReadAhead(t *testing.T) {
	f := getFixture(t, devSetup)
	var recs []Record
	for len(recs) < 60 {
		recs = append(recs, f.clone(t).Transcript.Records...)
	}
	recs[5].Proof = recs[5].Proof[:10]
	recs[17].Public = recs[17].Public[:3]
	const size = 7
	source := func(stopAt int, failWith error) func(int, func(int, []Record) error) error {
		return func(sz int, fn func(int, []Record) error) error {
			buf := make([]Record, 0, sz)
			for base := 0; base < len(recs); base += sz {
				if base >= stopAt {
					return failWith
				}
				buf = append(buf[:0], recs[base:min(base+sz, len(recs))]...) // reused, as streamRecords does
				if err := fn(base, buf); err != nil {
					return err
				}
			}
			return nil
		}
	}
	v := &verification{records: source(len(recs), nil)}
	next := 0
	err := v.readAhead(size, func(c *decodedChunk) {
		if c.base != next {
			t.Fatalf("chunk at %d, want %d", c.base, next)
		}
		pubs, pubErrs, proofs, proofErrs := decodeRecordsOf(recs[c.base : c.base+len(c.recs)])
		for j := range c.recs {
			i := c.base + j
			if !bytes.Equal(c.recs[j].Proof, recs[i].Proof) || c.recs[j].Nullifier != recs[i].Nullifier {
				t.Fatalf("record %d: not the record read", i)
			}
			if (c.pubs[j] == nil) != (pubs[j] == nil) || (c.proofs[j] == nil) != (proofs[j] == nil) ||
				(c.pubErrs[j] == nil) != (pubErrs[j] == nil) || (c.proofErrs[j] == nil) != (proofErrs[j] == nil) {
				t.Fatalf("record %d: decoded otherwise than alone", i)
			}
			if c.proofs[j] != nil {
				a, _ := c.proofs[j].MarshalBinary()
				if !bytes.Equal(a, recs[i].Proof) {
					t.Fatalf("record %d: another proof", i)
				}
			}
		}
		if c.base == 0 && (c.proofs[5] != nil || c.proofErrs[5] == nil) {
			t.Fatal("record 5: a cut proof decoded")
		}
		if c.base == 14 && (c.pubs[3] != nil || c.pubErrs[3] == nil) {
			t.Fatal("record 17: cut public inputs decoded")
		}
		next += len(c.recs)
	})
	if err != nil || next != len(recs) {
		t.Fatalf("read %d of %d records: %v", next, len(recs), err)
	}

	broken := errors.New("broken")
	v.records, next = source(21, broken), 0
	err = v.readAhead(size, func(c *decodedChunk) { next += len(c.recs) })
	if !errors.Is(err, broken) || next != 21 {
		t.Fatalf("a reader failing after 21 records: got %v after %d records", err, next)
	}

	var reads atomic.Int32
	v.records = func(sz int, fn func(int, []Record) error) error {
		for base := 0; ; base += sz { // endless: only stopping ends it
			reads.Add(1)
			if err := fn(base, recs[:sz]); err != nil {
				return err
			}
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = v.readAhead(size, func(c *decodedChunk) {
			if c.base == 2*size {
				panic("check failed")
			}
		})
	}()
	if n := reads.Load(); n > 5 {
		t.Fatalf("the reader read %d chunks, went on after its caller stopped", n)
	}
}

// On HE bundles too, VerifyStream reports exactly what VerifyEncoded
// reports, and refuses what it refuses: bundles whose records,
// ciphertexts or aggregate were changed (and re-signed), and bundles with
// a byte flipped anywhere, the records' ciphertexts most of all.
func TestVerifyStreamMatchesVerifyHE(t *testing.T) {
	f := getHEFixture(t)
	encodings := map[string][]byte{}
	edits := map[string]func(b *Bundle){
		"a record dropped":     func(b *Bundle) { b.Transcript.Records = b.Transcript.Records[1:] },
		"a ciphertext altered": func(b *Bundle) { c := b.Transcript.Records[2].Ciphertext; c[lowByte(c)] ^= 1 },
		"a ciphertext out of range": func(b *Bundle) {
			c := b.Transcript.Records[1].Ciphertext
			copy(c[lowByte(c):], bytes.Repeat([]byte{0xff}, 8))
		},
		"ciphertexts swapped": func(b *Bundle) {
			r := b.Transcript.Records
			r[3].Ciphertext, r[4].Ciphertext = r[4].Ciphertext, r[3].Ciphertext
		},
		"a proof altered":       func(b *Bundle) { b.Transcript.Records[0].Proof[40] ^= 1 },
		"the aggregate altered": func(b *Bundle) { a := b.Transcript.Aggregate; a[lowByte(a)] ^= 1 },
	}
	for name, edit := range edits {
		b := f.clone(t, f.bundle)
		edit(b)
		if err := f.signTranscript(b); err != nil {
			t.Fatal(err)
		}
		enc, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		encodings[name] = enc
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var records region
	for _, r := range bundleRegions(t, f.bundle, f.encoded) {
		if r.name == "transcript" {
			records = r
		}
	}
	for i := range 40 {
		b := slices.Clone(f.encoded)
		at := rng.IntN(len(b))
		if i%2 == 0 { // in the transcript, mostly its records' ciphertexts
			at = records.start + rng.IntN(records.end-records.start)
		}
		b[at] ^= byte(1 + rng.IntN(255))
		encodings[fmt.Sprintf("flip %d at %d", i, at)] = b
	}
	for name, enc := range encodings {
		want := VerifyEncoded(enc, DefaultLimits(), f.opts...)
		got := streamReport(enc, f.opts...)
		sameReport(t, name, got, want)
		if want.OK() || got.OK() {
			t.Fatalf("%s: verifies", name)
		}
	}
	if rep := streamReport(f.encoded, f.opts...); !rep.OK() {
		t.Fatalf("the honest bundle does not verify as a stream:\n%s", rep)
	}
}

// A ciphertext changed between the two reads fails the checks that read
// the records, the HE ones included.
func TestVerifyStreamRefusesAChangedCiphertext(t *testing.T) {
	f := getHEFixture(t)
	enc, err := f.bundle.Transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ct := f.bundle.Transcript.Records[2].Ciphertext
	at := bytes.Index(enc, ct) + lowByte(ct)
	wantChangedWhileRead(t, f.encoded, bundleHeaderSize+at, f.opts, CheckCiphertexts, CheckProofs, CheckAggregate, CheckEligibleSets)
}

// wantChangedWhileRead verifies encoded through a changingReader that
// flips its byte at offset at: the transcript and its signatures pass
// (checked on the first read), and each check in failing fails, naming
// the change.
func wantChangedWhileRead(t *testing.T, encoded []byte, at int, opts []Option, failing ...string) {
	t.Helper()
	r := &changingReader{data: encoded, at: at}
	rep := VerifyStream(r, int64(len(encoded)), DefaultLimits(), opts...)
	if rep.OK() {
		t.Fatalf("verifies:\n%s", rep)
	}
	for _, c := range rep.Checks {
		switch {
		case slices.Contains(failing, c.Name):
			if c.Status != Fail || !strings.Contains(c.Detail, "changed while it was read") {
				t.Fatalf("%s: %s %q, want a failure naming the change", c.Name, c.Status, c.Detail)
			}
		case c.Name == CheckTranscript || c.Name == CheckTranscriptSignatures:
			if c.Status != Pass {
				t.Fatalf("%s: %s %q", c.Name, c.Status, c.Detail)
			}
		}
	}
}

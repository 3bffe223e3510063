package audit

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
)

// streamed writes t with TranscriptWriter and returns the bytes, digest
// and claim root.
func streamed(t *testing.T, tr *Transcript, way writeWay) ([]byte, [32]byte, [32]byte) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewTranscriptWriter(&buf, headOf(tr), len(tr.Records))
	if err != nil {
		t.Fatal(err)
	}
	switch way {
	case sectionCopied:
		section, recs := writeSection(t, tr)
		err = w.CopyRecords(bytes.NewReader(section), recs)
	default:
		for i := range tr.Records {
			if way == withLeaves && i%2 == 0 {
				err = w.RecordLeaf(&tr.Records[i], leafOf(t, tr.Records[i].Nullifier))
			} else {
				err = w.Record(&tr.Records[i])
			}
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	d, root, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), d, root
}

// writeWay is how streamed writes a transcript's records.
type writeWay int

const (
	oneByOne      writeWay = iota // Record
	withLeaves                    // RecordLeaf for every other record, its claim leaf hashed beforehand
	sectionCopied                 // a RecordsWriter's section, copied in (CopyRecords)
)

func (w writeWay) String() string {
	return [...]string{"one by one", "with leaves", "section copied"}[w]
}

// fixtureTranscripts are the MPC, DP and HE fixtures' transcripts, by name.
func fixtureTranscripts(t *testing.T) map[string]*Transcript {
	t.Helper()
	return map[string]*Transcript{
		"mpc": getFixture(t, devSetup).bundle.Transcript,
		"dp":  getDPFixture(t).bundle.Transcript,
		"he":  getHEFixture(t).bundle.Transcript,
	}
}

// readStream decodes enc with TranscriptReader into a whole transcript.
func readStream(enc []byte, lim Limits) (*Transcript, [32]byte, error) {
	r, err := NewTranscriptReader(bytes.NewReader(enc), lim)
	if err != nil {
		return nil, [32]byte{}, err
	}
	var recs []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, [32]byte{}, err
		}
		recs = append(recs, *rec)
	}
	t, d, err := r.Tail()
	if err != nil {
		return nil, [32]byte{}, err
	}
	t.Records = recs
	return t, d, nil
}

// The streaming writer writes MarshalBinary's bytes, and its digest and
// claim root are the in-memory ones, whether it is given the records one
// by one, with claim leaves hashed beforehand, or as a records section
// written ahead; the streaming reader gives the
// transcript back with the same digest. MPC, DP and HE transcripts.
func TestTranscriptStreamMatchesMemory(t *testing.T) {
	for name, tr := range fixtureTranscripts(t) {
		t.Run(name, func(t *testing.T) {
			want, err := tr.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			wantDigest, err := tr.Digest()
			if err != nil {
				t.Fatal(err)
			}
			for _, way := range []writeWay{oneByOne, withLeaves, sectionCopied} {
				got, d, root := streamed(t, tr, way)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: streamed encoding differs from MarshalBinary's at byte %d of %d", way, firstDifference(got, want), len(want))
				}
				if d != wantDigest || root != tr.ClaimRoot {
					t.Fatalf("%s: digest %x… / claim root %x…, want %x… / %x…", way, d[:4], root[:4], wantDigest[:4], tr.ClaimRoot[:4])
				}
			}
			back, d, err := readStream(want, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if d != wantDigest {
				t.Fatalf("reader's digest %x…, want %x…", d[:4], wantDigest[:4])
			}
			if re, err := back.MarshalBinary(); err != nil || !bytes.Equal(re, want) {
				t.Fatalf("the transcript read back does not re-encode to its input: %v", err)
			}
		})
	}
}

// A streamed transcript's claim root is ClaimRootOf's for every size,
// odd and even, across several levels of the tree.
func TestClaimRootHasher(t *testing.T) {
	var recs []Record
	for n := range 70 {
		var h ClaimRootHasher
		for _, r := range recs {
			if err := h.Add(r.Nullifier); err != nil {
				t.Fatal(err)
			}
		}
		want, err := ClaimRootOf(recs)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Root(); got != want || h.Len() != n {
			t.Fatalf("%d nullifiers: root %x…, want %x…", n, got[:4], want[:4])
		}
		var e fr.Element
		if _, err := e.SetRandom(); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, Record{Nullifier: e.Bytes()})
	}
	var h ClaimRootHasher
	if err := h.Add([32]byte{0xff}); err == nil {
		t.Fatal("a nullifier that is not a field element was added")
	}
}

// Across batches: the root of full batches hashed in parallel, with a
// partial batch after them, is ClaimRootOf's; Root between two Adds
// changes nothing of what follows.
func TestClaimRootHasherBatches(t *testing.T) {
	recs := make([]Record, 3*claimBatch+17)
	for i := range recs {
		var e fr.Element
		if _, err := e.SetRandom(); err != nil {
			t.Fatal(err)
		}
		recs[i] = Record{Nullifier: e.Bytes()}
	}
	sizes := map[int]bool{claimBatch - 1: true, claimBatch: true, claimBatch + 1: true, 2 * claimBatch: true, len(recs): true}
	var h ClaimRootHasher
	for i, r := range recs {
		if i%700 == 0 {
			h.Root() // between two Adds
		}
		if err := h.Add(r.Nullifier); err != nil {
			t.Fatal(err)
		}
		if n := i + 1; sizes[n] {
			want, err := ClaimRootOf(recs[:n])
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Root(); got != want || h.Len() != n {
				t.Fatalf("%d nullifiers: root %x…, want %x…", n, got[:4], want[:4])
			}
		}
	}
}

// Leaves given whole (AddLeaf, as a node that hashed them when it stored
// the records) give the root of their nullifiers, mixed with zero leaves
// (the nullifier hashed) in any pattern, within a batch and across batches; a leaf that is not
// its nullifier's changes the root, and a leaf that is not a field
// element is refused.
func TestClaimRootHasherLeaves(t *testing.T) {
	recs := make([]Record, 2*claimBatch+5)
	for i := range recs {
		var e fr.Element
		if _, err := e.SetRandom(); err != nil {
			t.Fatal(err)
		}
		recs[i] = Record{Nullifier: e.Bytes()}
	}
	want, err := ClaimRootOf(recs)
	if err != nil {
		t.Fatal(err)
	}
	for name, whole := range map[string]func(i int) bool{
		"all leaves":  func(int) bool { return true },
		"every third": func(i int) bool { return i%3 == 0 },
		"first batch": func(i int) bool { return i < claimBatch },
		"last few":    func(i int) bool { return i >= 2*claimBatch },
		"none":        func(int) bool { return false },
	} {
		var h ClaimRootHasher
		for i, r := range recs {
			var leaf [32]byte // none: the nullifier is hashed
			if whole(i) {
				leaf = leafOf(t, r.Nullifier)
			}
			if err := h.AddLeaf(r.Nullifier, leaf); err != nil {
				t.Fatal(err)
			}
		}
		if got := h.Root(); got != want || h.Len() != len(recs) {
			t.Fatalf("%s: root %x…, want %x…", name, got[:4], want[:4])
		}
	}
	for _, at := range []int{0, claimBatch + 3, len(recs) - 1} {
		var h ClaimRootHasher
		for i, r := range recs {
			leaf := leafOf(t, r.Nullifier)
			if i == at {
				leaf = r.Nullifier // the nullifier given as its own leaf
			}
			if err := h.AddLeaf(r.Nullifier, leaf); err != nil {
				t.Fatal(err)
			}
		}
		if got := h.Root(); got == want {
			t.Fatalf("a wrong leaf at %d left the root unchanged", at)
		}
	}
	var h ClaimRootHasher
	if err := h.AddLeaf(recs[0].Nullifier, [32]byte{0xff}); err == nil || h.Len() != 0 {
		t.Fatal("a leaf that is not a field element was added")
	}
}

// leafOf is the claim leaf of nullifier nf.
func leafOf(t *testing.T, nf [32]byte) [32]byte {
	t.Helper()
	var e fr.Element
	if err := e.SetBytesCanonical(nf[:]); err != nil {
		t.Fatal(err)
	}
	leaf := circuits.ClaimLeaf(e)
	return leaf.Bytes()
}

// The writer refuses what MarshalBinary refuses, and a stream whose
// records do not match the count it declared.
func TestTranscriptWriterRefuses(t *testing.T) {
	tr := getFixture(t, devSetup).bundle.Transcript
	head := headOf(tr)
	recs := tr.Records
	withCiphertext := recs[1]
	withCiphertext.Ciphertext = []byte{1}
	noProof := recs[1]
	noProof.Proof = nil
	for name, c := range map[string]struct {
		head *Transcript
		n    int
		recs []Record
	}{
		"records given in the header": {head: tr, n: len(recs), recs: recs},
		"out of order":                {head: head, n: 2, recs: []Record{recs[1], recs[0]}},
		"repeated":                    {head: head, n: 2, recs: []Record{recs[0], recs[0]}},
		"fewer than declared":         {head: head, n: len(recs) + 1, recs: recs},
		"more than declared":          {head: head, n: 1, recs: recs[:2]},
		"ciphertext in MPC":           {head: head, n: 2, recs: []Record{recs[0], withCiphertext}},
		"no proof":                    {head: head, n: 2, recs: []Record{recs[0], noProof}},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewTranscriptWriter(&buf, c.head, c.n)
			if err == nil {
				for i := range c.recs {
					if err = w.Record(&c.recs[i]); err != nil {
						break
					}
				}
				if err == nil {
					_, _, err = w.Close()
				}
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

// The streaming reader refuses exactly what UnmarshalTranscript refuses:
// a record changed to break the order, truncations, trailing bytes, a
// count above the limit, and random byte flips; where both accept, they
// give the same transcript and digest.
func TestTranscriptReaderAgreesWithUnmarshal(t *testing.T) {
	fx := getFixture(t, devSetup)
	enc, err := fx.bundle.Transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"honest":    enc,
		"truncated": enc[:len(enc)-1],
		"header":    enc[:40],
		"trailing":  append(slices.Clone(enc), 0),
		"empty":     nil,
	}
	swapped := *fx.bundle.Transcript
	swapped.Records = slices.Clone(swapped.Records)
	swapped.Records[0], swapped.Records[1] = swapped.Records[1], swapped.Records[0]
	if b, err := swapped.encode(); err == nil {
		cases["records out of order"] = b
	}
	for i := range 200 {
		b := slices.Clone(enc)
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			t.Fatal(err)
		}
		at := (int(r[0])<<16 | int(r[1])<<8 | int(r[2])) % len(b)
		b[at] ^= r[3] | 1
		cases["flip "+string(rune('a'+i%26))+string(rune('a'+i/26))] = b
	}
	small := DefaultLimits()
	small.MaxRecords = len(fx.bundle.Transcript.Records) - 1
	for name, b := range cases {
		for _, lim := range []Limits{DefaultLimits(), small} {
			want, wantErr := UnmarshalTranscript(b, lim)
			got, d, err := readStream(b, lim)
			switch {
			case (err == nil) != (wantErr == nil):
				t.Fatalf("%s: stream says %v, UnmarshalTranscript %v", name, err, wantErr)
			case err != nil && !errors.Is(err, ErrMalformed):
				t.Fatalf("%s: %v does not wrap ErrMalformed", name, err)
			case err != nil:
				continue
			}
			wd, _ := want.Digest()
			re, _ := got.MarshalBinary()
			if d != wd || !bytes.Equal(re, b) {
				t.Fatalf("%s: the stream decoded another transcript", name)
			}
		}
	}
}

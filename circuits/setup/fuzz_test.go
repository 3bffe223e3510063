package setup

import (
	"bytes"
	"sync"
	"testing"
)

// Every decoder of outside bytes: it must never panic, and whatever it
// accepts must re-encode to exactly the input (one encoding per value).
// The seeds are real encodings from a ceremony on a tiny circuit (domain
// 2^5), small enough to build in every fuzzing worker.

// fuzzCeremony is a 2-participant ceremony on a one-input range-check
// circuit.
var fuzzCeremony = sync.OnceValues(func() (*ceremony, error) {
	keys, tr, err := RunLocalCeremony(mustCompile(1, 0), 2, beacon1, beacon2)
	if err != nil {
		return nil, err
	}
	return &ceremony{keys: keys, transcript: tr}, nil
})

func fuzzSeeds(tb testing.TB) *ceremony {
	tb.Helper()
	c, err := fuzzCeremony()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func FuzzUnmarshalTranscript(f *testing.F) {
	b, err := fuzzSeeds(f).transcript.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:64])
	f.Add([]byte(transcriptMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tr Transcript
		if tr.UnmarshalBinary(data) != nil {
			return
		}
		again, err := tr.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted transcript does not re-encode to its input: %v", err)
		}
	})
}

func FuzzUnmarshalPhase1(f *testing.F) {
	c := fuzzSeeds(f)
	f.Add(c.transcript.Phase1[0])
	init, _ := NewPhase1(MinDomainSize)
	b, _ := init.MarshalBinary()
	f.Add(b)
	f.Add(b[:phase1DomainOffset+8])
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Phase1
		if p.UnmarshalBinary(data) != nil {
			return
		}
		again, err := p.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted phase-1 state does not re-encode to its input: %v", err)
		}
	})
}

func FuzzUnmarshalPhase2(f *testing.F) {
	c := fuzzSeeds(f)
	f.Add(c.transcript.Phase2[0])
	f.Add(c.transcript.Phase2[1][:100])
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Phase2
		if p.UnmarshalBinary(data) != nil {
			return
		}
		again, err := p.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted phase-2 state does not re-encode to its input: %v", err)
		}
	})
}

func FuzzUnmarshalVerifyingKey(f *testing.F) {
	c := fuzzSeeds(f)
	f.Add(c.transcript.VerifyingKey)
	dev, err := InsecureDevSetup(mustCompile(2, 0), IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		f.Fatal(err)
	}
	b, _ := MarshalVerifyingKey(dev.VK)
	f.Add(b)
	f.Add(b[:3*g1Size+3*g2Size+4])
	f.Fuzz(func(t *testing.T, data []byte) {
		vk, err := UnmarshalVerifyingKey(data)
		if err != nil {
			return
		}
		again, err := MarshalVerifyingKey(vk)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted verifying key does not re-encode to its input: %v", err)
		}
	})
}

func FuzzUnmarshalProvingKey(f *testing.F) {
	b, err := MarshalProvingKey(fuzzSeeds(f).keys.PK)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:200])
	f.Fuzz(func(t *testing.T, data []byte) {
		pk, err := UnmarshalProvingKey(data)
		if err != nil {
			return
		}
		again, err := MarshalProvingKey(pk)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted proving key does not re-encode to its input: %v", err)
		}
	})
}

func FuzzUnmarshalKeyMeta(f *testing.F) {
	b, err := fuzzSeeds(f).keys.Meta.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	d, _ := KeyMeta{Kind: InsecureDev}.MarshalBinary()
	f.Add(d)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m KeyMeta
		if m.UnmarshalBinary(data) != nil {
			return
		}
		again, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted key meta does not re-encode to its input: %v", err)
		}
	})
}

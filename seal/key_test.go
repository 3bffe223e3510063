package seal

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// fixedKey returns a deterministic node key for tests.
func fixedKey(t testing.TB, seed byte) *PrivateKey {
	t.Helper()
	b := make([]byte, 33)
	b[0] = byte(DefaultSuite)
	for i := 1; i < len(b); i++ {
		b[i] = seed + byte(i)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPrivateKeyRoundTrip(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.Suite() != DefaultSuite || k.Public().Suite() != DefaultSuite {
		t.Fatalf("suite %v", k.Suite())
	}
	priv, err := k.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(priv) != 33 || priv[0] != byte(DefaultSuite) {
		t.Fatalf("private key encoding: %d bytes, suite byte %d", len(priv), priv[0])
	}
	k2, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !k2.Public().Equal(k.Public()) {
		t.Fatal("decoded private key has another public key")
	}
	pubBytes := k.Public().Marshal()
	if len(pubBytes) != 1217 {
		t.Fatalf("public key encoding: %d bytes, want 1217", len(pubBytes))
	}
	wiretest.RoundTrip(t, k.Public(), marshalPublic, ParsePublicKey)
	if got, err := ParsePublicKey(pubBytes); err != nil || !got.Equal(k.Public()) {
		t.Fatalf("round trip changed the public key (%v)", err)
	}

	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if other.Public().Equal(k.Public()) {
		t.Fatal("two generated keys are equal")
	}
}

func TestParseRefuses(t *testing.T) {
	good, _ := fixedKey(t, 1).Marshal()
	goodPub := fixedKey(t, 1).Public().Marshal()
	// An ML-KEM-768 encapsulation key whose first coefficient is 0xfff ≥ q.
	badPub := bytes.Clone(goodPub)
	badPub[1], badPub[2] = 0xff, 0x0f|badPub[2]&0xf0
	tests := []struct {
		name      string
		priv, pub []byte
	}{
		{"empty", nil, nil},
		{"suite 0", append([]byte{0}, good[1:]...), append([]byte{0}, goodPub[1:]...)},
		{"suite 2", append([]byte{2}, good[1:]...), append([]byte{2}, goodPub[1:]...)},
		{"truncated", good[:32], goodPub[:len(goodPub)-1]},
		{"extended", append(bytes.Clone(good), 0), append(bytes.Clone(goodPub), 0)},
		{"public key swapped", goodPub, good},
		{"coefficient ≥ q", nil, badPub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.priv != nil || tt.name == "empty" {
				if _, err := ParsePrivateKey(tt.priv); !errors.Is(err, ErrMalformed) {
					t.Errorf("private: got %v, want ErrMalformed", err)
				}
			}
			if _, err := ParsePublicKey(tt.pub); !errors.Is(err, ErrMalformed) {
				t.Errorf("public: got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestPrivateKeyNeverPrinted(t *testing.T) {
	k := fixedKey(t, 9)
	seed, _ := k.Marshal()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, arg := range []any{k, *k, []*PrivateKey{k}, struct{ K *PrivateKey }{k}} {
			out := fmt.Sprintf(verb, arg)
			if bytes.Contains([]byte(out), []byte(fmt.Sprintf("%x", seed[1:]))) ||
				bytes.Contains([]byte(out), seed[1:]) {
				t.Errorf("%s of %T prints the key: %s", verb, arg, out)
			}
			if !bytes.Contains([]byte(out), []byte("redacted")) {
				t.Errorf("%s of %T: %q, want the placeholder", verb, arg, out)
			}
		}
	}
}

func FuzzParsePublicKey(f *testing.F) {
	good := fixedKey(f, 1).Public().Marshal()
	f.Add(good)
	f.Add(good[:100])
	f.Add(append([]byte{2}, good[1:]...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePublicKey(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(p.Marshal(), data) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	good, _ := fixedKey(f, 1).Marshal()
	f.Add(good)
	f.Add(good[:5])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := k.Marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs (err %v)", err)
		}
	})
}

func marshalPublic(p *PublicKey) ([]byte, error) { return p.Marshal(), nil }

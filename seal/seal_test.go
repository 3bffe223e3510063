package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("threshold key share")
	sealed, err := Seal(k1.Public(), "cohort/v1/test", pt, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(k1, "cohort/v1/test", sealed, []byte("aad"))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("open: %q, %v", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		key     *PrivateKey
		info    string
		sealed  []byte
		aad     []byte
		wantErr error
	}{
		"other key":   {k2, "cohort/v1/test", sealed, []byte("aad"), ErrOpen},
		"other info":  {k1, "cohort/v1/other", sealed, []byte("aad"), ErrOpen},
		"other aad":   {k1, "cohort/v1/test", sealed, []byte("aae"), ErrOpen},
		"flipped":     {k1, "cohort/v1/test", flipped, []byte("aad"), ErrOpen},
		"truncated":   {k1, "cohort/v1/test", sealed[:20], []byte("aad"), ErrMalformed},
		"empty":       {k1, "cohort/v1/test", nil, []byte("aad"), ErrMalformed},
		"other suite": {k1, "cohort/v1/test", append([]byte{0xee}, sealed[1:]...), []byte("aad"), ErrMalformed},
	} {
		if _, err := Open(tc.key, tc.info, tc.sealed, tc.aad); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %v, want %v", name, err, tc.wantErr)
		}
	}
}

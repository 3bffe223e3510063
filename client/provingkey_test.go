package client

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr/pedersen"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/client/clienttest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func header(size uint64, sum []byte) *cohortv1.GetProvingKeyResponse {
	return &cohortv1.GetProvingKeyResponse{Part: &cohortv1.GetProvingKeyResponse_Header{Header: &cohortv1.BlobHeader{TotalSize: size, Sha256: sum}}}
}

func chunk(off uint64, data []byte) *cohortv1.GetProvingKeyResponse {
	return &cohortv1.GetProvingKeyResponse{Part: &cohortv1.GetProvingKeyResponse_Chunk{Chunk: &cohortv1.Chunk{Offset: off, Data: data}}}
}

// chunks splits b into messages of n bytes.
func chunks(b []byte, n int) []*cohortv1.GetProvingKeyResponse {
	var out []*cohortv1.GetProvingKeyResponse
	for off := 0; off < len(b); off += n {
		out = append(out, chunk(uint64(off), b[off:min(off+n, len(b))]))
	}
	return out
}

func TestProvingKeyAndCache(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{ChunkSize: 1 << 10})
	c := dialFake(t, f)
	ctx := testContext(t)
	dir := filepath.Join(t.TempDir(), "cache")

	if _, err := c.ProvingKey(ctx, f.Dataset, ""); err != nil {
		t.Fatal(err)
	}
	sent := f.ChunksSent()
	if sent != (len(f.ProvingKey)+1023)/1024 {
		t.Fatalf("%d chunks for %d bytes", sent, len(f.ProvingKey))
	}
	if _, err := c.ProvingKey(ctx, f.Dataset, dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, f.Dataset.Desc.GetId()+"-*.pk"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	cached, err := os.ReadFile(files[0])
	if err != nil || sha256.Sum256(cached) != sha256.Sum256(f.ProvingKey) {
		t.Fatalf("cache file differs from the key: %v", err)
	}
	// From the cache: a stream that stops after its header is enough.
	sum := sha256.Sum256(f.ProvingKey)
	headerOnly := func(pk []byte) []*cohortv1.GetProvingKeyResponse {
		return []*cohortv1.GetProvingKeyResponse{header(uint64(len(pk)), sum[:])}
	}
	f.SetHooks(clienttest.Hooks{ProvingKeyStream: headerOnly})
	if _, err := c.ProvingKey(ctx, f.Dataset, dir); err != nil {
		t.Fatalf("from the cache: %v", err)
	}
	// A damaged cache file is not used, and is replaced by the next download.
	cached[100] ^= 1
	if err := os.WriteFile(files[0], cached, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProvingKey(ctx, f.Dataset, dir); !errors.Is(err, ErrProvingKey) {
		t.Fatalf("damaged cache and a header-only stream: %v, want ErrProvingKey", err)
	}
	f.SetHooks(clienttest.Hooks{})
	if _, err := c.ProvingKey(ctx, f.Dataset, dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(files[0]); sha256.Sum256(again) != sum {
		t.Fatal("damaged cache file not replaced")
	}
	// A key replaced on the node (another SHA-256 in the header) is not
	// taken from the cache.
	other := sha256.Sum256([]byte("another key"))
	f.SetHooks(clienttest.Hooks{ProvingKeyStream: func(pk []byte) []*cohortv1.GetProvingKeyResponse {
		return []*cohortv1.GetProvingKeyResponse{header(uint64(len(pk)), other[:])}
	}})
	if _, err := c.ProvingKey(ctx, f.Dataset, dir); !errors.Is(err, ErrProvingKey) {
		t.Fatalf("cache used for a replaced key: %v", err)
	}
}

func TestProvingKeyStreamRefused(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	c := dialFake(t, f)
	ctx := testContext(t)
	pk := f.ProvingKey
	sum := sha256.Sum256(pk)
	n := uint64(len(pk))

	// A key that decodes but is not the dataset's: α replaced by β.
	k, err := setup.UnmarshalProvingKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	k.(*groth16bn254.ProvingKey).G1.Alpha = k.(*groth16bn254.ProvingKey).G1.Beta
	foreign, err := setup.MarshalProvingKey(k)
	if err != nil {
		t.Fatal(err)
	}
	foreignSum := sha256.Sum256(foreign)
	garbage := append([]byte(nil), pk...)
	garbage[0] ^= 0x80
	garbageSum := sha256.Sum256(garbage)

	cases := map[string]func(pk []byte) []*cohortv1.GetProvingKeyResponse{
		"empty stream": func([]byte) []*cohortv1.GetProvingKeyResponse { return nil },
		"bad sha256": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			bad := sum
			bad[0] ^= 1
			return append([]*cohortv1.GetProvingKeyResponse{header(n, bad[:])}, chunks(pk, 256)...)
		},
		"short stream": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			msgs := append([]*cohortv1.GetProvingKeyResponse{header(n, sum[:])}, chunks(pk, 256)...)
			return msgs[:len(msgs)-1]
		},
		"oversize header": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			return append([]*cohortv1.GetProvingKeyResponse{header(MaxProvingKeySize+1, sum[:])}, chunks(pk, 256)...)
		},
		"zero size": func([]byte) []*cohortv1.GetProvingKeyResponse {
			return []*cohortv1.GetProvingKeyResponse{header(0, sum[:])}
		},
		"short sha256": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			return append([]*cohortv1.GetProvingKeyResponse{header(n, sum[:31])}, chunks(pk, 256)...)
		},
		"chunk first": func(pk []byte) []*cohortv1.GetProvingKeyResponse { return chunks(pk, 256) },
		"second header": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			return append([]*cohortv1.GetProvingKeyResponse{header(n, sum[:]), header(n, sum[:])}, chunks(pk, 256)...)
		},
		"gap": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			msgs := append([]*cohortv1.GetProvingKeyResponse{header(n, sum[:])}, chunks(pk, 256)...)
			return append(msgs[:2], msgs[3:]...)
		},
		"overlap": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			return []*cohortv1.GetProvingKeyResponse{header(n, sum[:]), chunk(0, pk[:10]), chunk(5, pk[5:])}
		},
		"chunk beyond the size": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			return []*cohortv1.GetProvingKeyResponse{header(n-1, sum[:]), chunk(0, pk)}
		},
		"empty chunk": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			return []*cohortv1.GetProvingKeyResponse{header(n, sum[:]), chunk(0, nil), chunk(0, pk)}
		},
		"oversize chunk": func(pk []byte) []*cohortv1.GetProvingKeyResponse {
			big := make([]byte, blob.MaxChunkSize+1)
			bigSum := sha256.Sum256(big)
			return []*cohortv1.GetProvingKeyResponse{header(uint64(len(big)), bigSum[:]), chunk(0, big)}
		},
		"not a key": func([]byte) []*cohortv1.GetProvingKeyResponse {
			return append([]*cohortv1.GetProvingKeyResponse{header(n, garbageSum[:])}, chunks(garbage, 256)...)
		},
		"another circuit's key": func([]byte) []*cohortv1.GetProvingKeyResponse {
			return append([]*cohortv1.GetProvingKeyResponse{header(uint64(len(foreign)), foreignSum[:])}, chunks(foreign, 256)...)
		},
	}
	want := map[string]string{
		"empty stream":          "empty stream",
		"bad sha256":            "SHA-256",
		"short stream":          "stream ended after",
		"oversize header":       "header declares",
		"zero size":             "header declares an empty blob",
		"short sha256":          "header SHA-256",
		"chunk first":           "does not start with a header",
		"second header":         "second header",
		"gap":                   "want 256",
		"overlap":               "chunk at offset 5",
		"chunk beyond the size": "runs past",
		"empty chunk":           "chunk of 0 bytes",
		"oversize chunk":        "want 1..1048576",
		"not a key":             "malformed",
		"another circuit's key": "does not belong",
	}
	for name, stream := range cases {
		t.Run(name, func(t *testing.T) {
			f.SetHooks(clienttest.Hooks{ProvingKeyStream: stream})
			dir := t.TempDir()
			_, err := c.ProvingKey(ctx, f.Dataset, dir)
			if !errors.Is(err, ErrProvingKey) || !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("ProvingKey = %v, want ErrProvingKey saying %q", err, want[name])
			}
			if files, _ := os.ReadDir(dir); len(files) != 0 {
				t.Fatalf("a refused key was cached: %v", files)
			}
		})
	}
}

func TestMatchVerifyingKey(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	pk, err := setup.UnmarshalProvingKey(f.ProvingKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := matchVerifyingKey(pk, f.Dataset.VK); err != nil {
		t.Fatalf("honest key: %v", err)
	}
	k := pk.(*groth16bn254.ProvingKey)
	mutations := map[string]func(k *groth16bn254.ProvingKey){
		"δ₁ at infinity": func(k *groth16bn254.ProvingKey) { k.G1.Delta.X.SetZero(); k.G1.Delta.Y.SetZero() },
		"δ₂ at infinity": func(k *groth16bn254.ProvingKey) { k.G2.Delta.X.SetZero(); k.G2.Delta.Y.SetZero() },
		"α":              func(k *groth16bn254.ProvingKey) { k.G1.Alpha = k.G1.Delta },
		"β₁":             func(k *groth16bn254.ProvingKey) { k.G1.Beta = k.G1.Alpha },
		"δ₁":             func(k *groth16bn254.ProvingKey) { k.G1.Delta = k.G1.Alpha },
		"β₂":             func(k *groth16bn254.ProvingKey) { k.G2.Beta = k.G2.Delta },
		"δ₂":             func(k *groth16bn254.ProvingKey) { k.G2.Delta = k.G2.Beta },
		"commitments":    func(k *groth16bn254.ProvingKey) { k.CommitmentKeys = append(k.CommitmentKeys, pedersen.ProvingKey{}) },
	}
	for name, mutate := range mutations {
		m := *k
		mutate(&m)
		if err := matchVerifyingKey(&m, f.Dataset.VK); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

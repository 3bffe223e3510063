package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"

	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// MaxProvingKeySize is the largest proving key the client accepts: 4 GiB, far
// above a contribution circuit's (about 1 MB per 5,000 constraints).
const MaxProvingKeySize = 4 << 30

// ProvingKey fetches the dataset's Groth16 proving key from the node and
// checks it: the stream must be a header (size ≤ MaxProvingKeySize, SHA-256)
// followed by chunks in order that add up to that size and hash; the key
// must decode (setup.UnmarshalProvingKey) and belong to the dataset's
// verifying key ([α]₁, [β]₁, [β]₂, [δ]₁, [δ]₂ equal, δ not the identity, as
// many commitment keys).
//
// With a cacheDir the key's bytes are kept in
// cacheDir/<dataset-id>-<first 16 hex digits of the circuit digest>.pk. A
// cached file is used only if its SHA-256 equals the one in the header of
// the node's stream, which is read first in any case; the rest of the stream
// is then not transferred. So a key replaced on the node (a new ceremony for
// the same circuit) is fetched again, and a damaged cache file is ignored.
// The cache holds public data; it is written atomically with mode 0600.
func (c *Client) ProvingKey(ctx context.Context, ds *dataset.Dataset, cacheDir string) (groth16.ProvingKey, error) {
	return c.provingKey(ctx, ds, cacheDir, false, nil)
}

// provingKey is ProvingKey; with memo it first looks for the key, and then
// keeps it, decoded in memory (Contribute does: decoding dominates small
// proofs).
func (c *Client) provingKey(ctx context.Context, ds *dataset.Dataset, cacheDir string, memo bool, progress func(done, total int)) (groth16.ProvingKey, error) {
	if !ds.Ready() || ds.VK == nil {
		return nil, fmt.Errorf("%w: %s is %s", ErrDatasetNotReady, ds.Desc.GetId(), ds.Desc.GetState())
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream early when the cache is used
	const op = "fetching the proving key"
	stream, err := c.api.GetProvingKey(ctx, &cohortv1.GetProvingKeyRequest{DatasetId: ds.Desc.GetId()})
	if err != nil {
		return nil, rpcError(op, err)
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty stream", ErrProvingKey)
	}
	if err != nil {
		return nil, rpcError(op, err)
	}
	r, err := blob.NewReceiver(first.GetHeader(), MaxProvingKeySize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProvingKey, err)
	}
	total := int(r.Total())
	progress(0, total)
	if pk := c.pks.get(r.Sum()); memo && pk != nil {
		cancel()
		progress(total, total)
		return pk, nil
	}
	cache := cachePath(cacheDir, ds)
	if cache != "" {
		if data, ok := readCached(cache, r.Total(), r.Sum()); ok {
			cancel()
			pk, err := decodeProvingKey(data, ds)
			if err != nil {
				return nil, err
			}
			if memo {
				c.pks.put(r.Sum(), pk)
			}
			progress(total, total)
			return pk, nil
		}
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, rpcError(op, err)
		}
		if err := r.Add(msg.GetChunk()); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrProvingKey, err)
		}
		progress(min(int(r.Received()), total-1), total) // done once decoded and checked
	}
	data, err := r.Finish()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProvingKey, err)
	}
	pk, err := decodeProvingKey(data, ds)
	if err != nil {
		return nil, err
	}
	if memo {
		c.pks.put(r.Sum(), pk)
	}
	if cache != "" {
		if err := writeCache(cache, data); err != nil {
			return nil, fmt.Errorf("client: caching the proving key (use no cache directory to skip caching): %w", err)
		}
	}
	progress(total, total)
	return pk, nil
}

// provingKeys keeps the last few decoded proving keys of a Client in
// memory, by the SHA-256 of their encoding as the node announces it:
// decoding costs far more than proving for small circuits, and a key that
// matches the announced digest needs no second check.
type provingKeys struct {
	mu   sync.Mutex
	keys map[[32]byte]groth16.ProvingKey
	lru  [][32]byte
}

// maxDecodedKeys bounds the keys a Client keeps decoded (they can be large).
const maxDecodedKeys = 4

func (p *provingKeys) get(sum [32]byte) groth16.ProvingKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[sum]
}

func (p *provingKeys) put(sum [32]byte, pk groth16.ProvingKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys == nil {
		p.keys = map[[32]byte]groth16.ProvingKey{}
	}
	if _, ok := p.keys[sum]; ok {
		return
	}
	if len(p.lru) == maxDecodedKeys {
		delete(p.keys, p.lru[0])
		p.lru = p.lru[1:]
	}
	p.keys[sum] = pk
	p.lru = append(p.lru, sum)
}

// cachePath names the cache file of ds's proving key, or "" without a cache.
// Dataset ids are [a-z0-9-], so the name is a plain file name.
func cachePath(dir string, ds *dataset.Dataset) string {
	if dir == "" {
		return ""
	}
	dg := hex.EncodeToString(ds.Desc.GetCircuitDigest())
	return filepath.Join(dir, fmt.Sprintf("%s-%s.pk", ds.Desc.GetId(), dg[:min(16, len(dg))]))
}

// readCached returns the cache file's bytes if it has the expected size and
// SHA-256.
func readCached(path string, size uint64, sum [32]byte) ([]byte, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || uint64(fi.Size()) != size {
		return nil, false
	}
	data, err := os.ReadFile(path)
	if err != nil || sha256.Sum256(data) != sum {
		return nil, false
	}
	return data, true
}

func writeCache(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".pk-*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if err := writeAndSync(tmp, data); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// decodeProvingKey decodes a proving key and checks that it belongs to the
// dataset's verifying key.
func decodeProvingKey(data []byte, ds *dataset.Dataset) (groth16.ProvingKey, error) {
	pk, err := setup.UnmarshalProvingKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProvingKey, err)
	}
	if err := matchVerifyingKey(pk, ds.VK); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProvingKey, err)
	}
	return pk, nil
}

// matchVerifyingKey checks the elements a Groth16 proving key shares with
// its verifying key. With δ equal to the verifying key's and not the
// identity, a proof's A and B are blinded by fresh uniform multiples of δ,
// and C is fixed by the verification equation: a proof made with this key
// that verifies under vk reveals what an honest key's proof would.
func matchVerifyingKey(pk groth16.ProvingKey, vk groth16.VerifyingKey) error {
	p, ok := pk.(*groth16bn254.ProvingKey)
	if !ok {
		return fmt.Errorf("proving key of type %T, want BN254", pk)
	}
	v, ok := vk.(*groth16bn254.VerifyingKey)
	if !ok {
		return fmt.Errorf("verifying key of type %T, want BN254", vk)
	}
	switch {
	case p.G1.Delta.IsInfinity() || p.G2.Delta.IsInfinity():
		return errors.New("δ is the identity: proofs would not be blinded")
	case !p.G1.Alpha.Equal(&v.G1.Alpha), !p.G1.Beta.Equal(&v.G1.Beta), !p.G1.Delta.Equal(&v.G1.Delta),
		!p.G2.Beta.Equal(&v.G2.Beta), !p.G2.Delta.Equal(&v.G2.Delta):
		return errors.New("it does not belong to the dataset's verifying key")
	case len(p.CommitmentKeys) != len(v.CommitmentKeys):
		return fmt.Errorf("%d commitment keys, the verifying key has %d", len(p.CommitmentKeys), len(v.CommitmentKeys))
	}
	return nil
}

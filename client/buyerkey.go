package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// BuyerKey is a buyer's Ed25519 key pair: every job the buyer submits is
// signed with it, and every node checks the signature against the public
// key it stored when the account was created (docs/design.md §8.2), so no
// node can run a job in the buyer's name that the buyer did not sign.
type BuyerKey struct {
	// ID is the buyer's id, as the account was created with.
	ID string
	// Private is the signing key.
	Private ed25519.PrivateKey
}

// GenerateBuyerKey draws a new key pair for buyer id from crypto/rand.
func GenerateBuyerKey(id string) (*BuyerKey, error) {
	if !validBuyerID(id) {
		return nil, fmt.Errorf("%w: buyer id %q: want 1..64 bytes of [A-Za-z0-9._-]", ErrInvalidOptions, id)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("client: buyer key: %w", err)
	}
	return &BuyerKey{ID: id, Private: priv}, nil
}

// Public is the public key to register with the account
// (AdminService.CreateBuyer).
func (k *BuyerKey) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// buyerKeyFile is the JSON form of a buyer key file:
//
//	{"version":1, "buyer_id":"<id>", "seed":"<base64 of the 32-byte Ed25519 seed>",
//	 "public_key":"<base64 of the 32-byte public key>"}
type buyerKeyFile struct {
	Version   int    `json:"version"`
	BuyerID   string `json:"buyer_id"`
	Seed      string `json:"seed"`
	PublicKey string `json:"public_key"`
}

// MaxBuyerKeyFileSize bounds a buyer key file; ReadBuyerKey reads no more.
const MaxBuyerKeyFileSize = 4 << 10

// WriteBuyerKey writes k to a new file at path, mode 0600; an existing
// file is refused (an error wrapping fs.ErrExist).
func WriteBuyerKey(path string, k *BuyerKey) error {
	b, err := json.MarshalIndent(buyerKeyFile{Version: 1, BuyerID: k.ID, Seed: base64.StdEncoding.EncodeToString(k.Private.Seed()),
		PublicKey: base64.StdEncoding.EncodeToString(k.Public())}, "", "  ")
	if err != nil {
		return err
	}
	return federation.WriteSecretFile(path, append(b, '\n'))
}

// ReadBuyerKey reads a key file written by WriteBuyerKey.
func ReadBuyerKey(path string) (*BuyerKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: buyer key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBuyerKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("client: buyer key %s: %w", path, err)
	}
	if len(b) > MaxBuyerKeyFileSize {
		return nil, fmt.Errorf("client: buyer key %s: larger than %d bytes", path, MaxBuyerKeyFileSize)
	}
	var kf buyerKeyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("client: buyer key %s: %w", path, err)
	}
	seed, err := base64.StdEncoding.DecodeString(kf.Seed)
	switch {
	case kf.Version != 1:
		return nil, fmt.Errorf("client: buyer key %s: version %d, want 1", path, kf.Version)
	case !validBuyerID(kf.BuyerID):
		return nil, fmt.Errorf("client: buyer key %s: buyer id %q: want 1..64 bytes of [A-Za-z0-9._-]", path, kf.BuyerID)
	case err != nil || len(seed) != ed25519.SeedSize:
		return nil, fmt.Errorf("client: buyer key %s: seed is not %d bytes of base64", path, ed25519.SeedSize)
	}
	k := &BuyerKey{ID: kf.BuyerID, Private: ed25519.NewKeyFromSeed(seed)}
	if pub := base64.StdEncoding.EncodeToString(k.Public()); kf.PublicKey != "" && kf.PublicKey != pub {
		return nil, fmt.Errorf("client: buyer key %s: public_key is not the seed's", path)
	}
	return k, nil
}

// WithBuyerKey makes a Buyer sign every job it submits with k.
func WithBuyerKey(k *BuyerKey) DialOption {
	return func(c *dialConfig) error {
		if k == nil || len(k.Private) != ed25519.PrivateKeySize || !validBuyerID(k.ID) {
			return errors.New("client: dial: malformed buyer key")
		}
		c.key = k
		return nil
	}
}

// Sign signs the submission of a job with spec over the dataset whose
// descriptor is desc, for request id requestID, at time at.
func (k *BuyerKey) Sign(spec *cohortv1.JobSpec, desc *cohortv1.DatasetDescriptor, requestID string, at time.Time) (*cohortv1.JobSubmission, error) {
	sd, err := audit.SpecDigest(spec)
	if err != nil {
		return nil, err
	}
	dd, err := audit.DescriptorDigest(desc)
	if err != nil {
		return nil, err
	}
	st := attest.JobSubmission{Buyer: k.ID, RequestID: requestID, DatasetID: spec.GetDatasetId(), DescriptorDigest: dd, SpecDigest: sd, SubmittedAt: at.Unix()}
	return &cohortv1.JobSubmission{BuyerId: k.ID, RequestId: requestID, DescriptorDigest: dd[:], SubmittedAt: at.Unix(),
		Signature: attest.Sign(k.Private, st)}, nil
}

// submission signs spec for requestID with the buyer's key, over the
// dataset's descriptor as the node serves it.
func (b *Buyer) submission(ctx context.Context, spec *cohortv1.JobSpec, requestID string) (*cohortv1.JobSubmission, error) {
	if b.c.key == nil {
		return nil, fmt.Errorf("%w: no buyer key to sign the job with (WithBuyerKey; `cohort buyer keygen`)", ErrInvalidOptions)
	}
	ds, err := b.Dataset(ctx, spec.GetDatasetId())
	if err != nil {
		return nil, err
	}
	return b.c.key.Sign(spec, ds.Desc, requestID, time.Now())
}

// validBuyerID reports whether id is 1..64 bytes of [A-Za-z0-9._-].
func validBuyerID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

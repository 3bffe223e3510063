package client

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/audit"
)

// Reward is a released job that counted a record of the identity and pays
// a reward per counted record: what the identity may claim once
// (docs/design.md §6.8).
type Reward struct {
	// JobID names the job and its transcript.
	JobID     string
	DatasetID string
	// ReleasedAt is when the job's result was released, as the node lists
	// it; CohortSize the records it counted.
	ReleasedAt time.Time
	CohortSize uint64
	// PerRecord is the job's reward per counted record, micro-credits,
	// from its transcript: what a claim is credited.
	PerRecord uint64
	// Epochs are the epochs of the identity's records the job counted. A
	// person claims a job once whatever their number.
	Epochs []uint64
	// Claimed is what the claim book remembers of a claim of this job;
	// nil when it remembers none.
	Claimed *ClaimRecord
}

// Rewards lists the rewards id may claim on dataset datasetID: the released
// jobs whose published transcripts count a record of id and pay a reward
// (a reward per record above 0), newest first, each marked with what book
// remembers of a claim of it (book may be nil: nothing is marked). Like
// MyJobs it downloads every transcript of the dataset and searches it on
// this machine, so the node learns only that someone fetched its
// transcripts; it checks each bundle's structure, not its signatures, and
// ClaimReward checks a job's claim root before proving.
func (c *Client) Rewards(ctx context.Context, id *Identity, datasetID string, book *ClaimBook) ([]Reward, error) {
	if id == nil {
		return nil, errors.New("client: rewards: no identity")
	}
	list, err := c.Transcripts(ctx, datasetID)
	if err != nil {
		return nil, err
	}
	out := []Reward{}
	for _, info := range list {
		jobID := info.GetTranscriptId()
		enc, err := c.TranscriptWithoutCeremony(ctx, jobID)
		if err != nil {
			return nil, err
		}
		b, err := audit.UnmarshalBundle(enc, audit.DefaultLimits())
		if err != nil {
			return nil, fmt.Errorf("%w: transcript %s: %v", ErrBadResponse, jobID, err)
		}
		if b.Transcript.JobID != jobID || b.Transcript.DatasetID != datasetID {
			return nil, fmt.Errorf("%w: asked for transcript %s of %s, got job %s of %s", ErrBadResponse, jobID, datasetID, b.Transcript.JobID, b.Transcript.DatasetID)
		}
		if b.Transcript.RewardPerRecord == 0 {
			continue
		}
		epochs, err := countedEpochsOf(b, id, datasetID)
		if err != nil {
			return nil, fmt.Errorf("transcript %s: %w", jobID, err)
		}
		if len(epochs) == 0 {
			continue
		}
		r := Reward{
			JobID: jobID, DatasetID: datasetID, ReleasedAt: info.GetReleasedAt().AsTime(),
			CohortSize: info.GetCohortSize(), PerRecord: b.Transcript.RewardPerRecord, Epochs: epochs,
		}
		if book != nil {
			if rec, ok := book.Claimed(jobID); ok {
				r.Claimed = &rec
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// ClaimInto claims jobID's reward as ClaimReward does and records the
// outcome in book: a credited claim with its amount, payout key and key
// file, or — when the node refuses the claim as made already
// (AlreadyExists: this identity claimed the job before, from this machine
// or another) — a record marked Elsewhere, and the refusal is returned.
// An error writing the book is returned after a credited claim too, with
// the claim: the credit stands on the node.
func (c *Client) ClaimInto(ctx context.Context, book *ClaimBook, id *Identity, jobID string, payoutKey ed25519.PublicKey, keyFile string, progress func(step string)) (*Claim, error) {
	if book == nil {
		return nil, errors.New("client: claim: no claim book")
	}
	claim, err := c.ClaimReward(ctx, id, jobID, payoutKey, progress)
	if status.Code(err) == codes.AlreadyExists {
		if werr := book.Record(ClaimRecord{JobID: jobID, Elsewhere: true, ClaimedAt: time.Now().UTC().Truncate(time.Second)}); werr != nil {
			return nil, errors.Join(err, werr)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	r := claim.Response
	rec := ClaimRecord{
		JobID: jobID, Amount: r.GetAmount(), PayoutKey: hex.EncodeToString(payoutKey), KeyFile: keyFile,
		ClaimedAt: r.GetClaimedAt().AsTime(),
	}
	if err := book.Record(rec); err != nil {
		return claim, fmt.Errorf("claimed job %s, but recording it in %s failed: %w", jobID, book.path, err)
	}
	return claim, nil
}

// ClaimRecord is one claim a claim book remembers.
type ClaimRecord struct {
	JobID string `json:"job_id"`
	// Amount credited, micro-credits; 0 when Elsewhere.
	Amount uint64 `json:"amount,omitempty"`
	// PayoutKey (hex) and the file holding its private key; empty when
	// Elsewhere.
	PayoutKey string `json:"payout_key,omitempty"`
	KeyFile   string `json:"key_file,omitempty"`
	// ClaimedAt is the node's time of the claim, or when the node said it
	// was made already.
	ClaimedAt time.Time `json:"claimed_at"`
	// Elsewhere is set when the claim was not made by this book's owner
	// here: the node refused it as made already (AlreadyExists).
	Elsewhere bool `json:"elsewhere,omitempty"`
}

// ClaimBook is what this machine remembers of an identity's reward claims,
// kept in a JSON file beside the identity file (ClaimBookPath), written
// with mode 0600 like it: the file says which jobs counted the identity's
// records, which no node is told. The node is the authority — a claim the
// book does not know of is refused with AlreadyExists and then recorded
// (ClaimInto) — so a lost book costs nothing but a refused claim per job.
// A ClaimBook is safe for concurrent use within one process.
type ClaimBook struct {
	path   string
	mu     sync.Mutex
	claims map[string]ClaimRecord
}

// claimBookFile is the file's JSON form.
type claimBookFile struct {
	Version int           `json:"version"`
	Claims  []ClaimRecord `json:"claims"`
}

// maxClaimBookSize bounds a claim book file (about 200 bytes a claim).
const maxClaimBookSize = 16 << 20

// ClaimBookPath is the claim book of the identity file at identityPath:
// "identity.claims.json" for "identity.json".
func ClaimBookPath(identityPath string) string {
	return strings.TrimSuffix(identityPath, filepath.Ext(identityPath)) + ".claims.json"
}

// OpenClaimBook reads the claim book at path; a file that does not exist
// is an empty book, created on its first Record. A file others may read
// or write, above 16 MiB, or not a version 1 book is refused.
func OpenClaimBook(path string) (*ClaimBook, error) {
	book := &ClaimBook{path: path, claims: map[string]ClaimRecord{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return book, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim book: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("claim book: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("claim book %s: readable or writable by other users (mode %v): run chmod 600", path, st.Mode().Perm())
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxClaimBookSize+1))
	if err != nil {
		return nil, fmt.Errorf("claim book: %w", err)
	}
	if len(raw) > maxClaimBookSize {
		return nil, fmt.Errorf("claim book %s: larger than %d bytes", path, maxClaimBookSize)
	}
	var file claimBookFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("claim book %s: %w", path, err)
	}
	if file.Version != 1 {
		return nil, fmt.Errorf("claim book %s: version %d, want 1", path, file.Version)
	}
	for _, r := range file.Claims {
		book.claims[r.JobID] = r
	}
	return book, nil
}

// Path is the book's file.
func (b *ClaimBook) Path() string { return b.path }

// Claimed returns what the book remembers of a claim of jobID.
func (b *ClaimBook) Claimed(jobID string) (ClaimRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.claims[jobID]
	return r, ok
}

// Record adds or replaces the record of a claim and rewrites the file
// (a new file beside it, renamed over it, mode 0600). A credited claim is
// never replaced by an Elsewhere record.
func (b *ClaimBook) Record(r ClaimRecord) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.claims[r.JobID]; ok && r.Elsewhere && !old.Elsewhere {
		return nil
	}
	prev, had := b.claims[r.JobID]
	b.claims[r.JobID] = r
	if err := b.write(); err != nil {
		if had {
			b.claims[r.JobID] = prev
		} else {
			delete(b.claims, r.JobID)
		}
		return err
	}
	return nil
}

// write saves the book; b.mu is held.
func (b *ClaimBook) write() error {
	file := claimBookFile{Version: 1, Claims: make([]ClaimRecord, 0, len(b.claims))}
	for _, r := range b.claims {
		file.Claims = append(file.Claims, r)
	}
	slices.SortFunc(file.Claims, func(x, y ClaimRecord) int { return strings.Compare(x.JobID, y.JobID) })
	raw, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(b.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".claims-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), b.path)
}

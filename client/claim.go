package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// ErrNotCounted reports a claim for a job whose published transcript does
// not count any record of the identity: there is nothing to prove.
var ErrNotCounted = errors.New("client: the job counted no record of this identity")

// ErrNoReward reports a claim for a job whose transcript states a reward
// of 0 per record (a free dataset, or no buyer charged).
var ErrNoReward = errors.New("client: the job pays no reward")

// MaxClaimKeySize bounds the claim proving key the client accepts: far
// above the depth-20 claim circuit's (about 1.5 MB).
const MaxClaimKeySize = 64 << 20

// claimSystem is the claim circuit, compiled once per process.
var claimSystem = sync.OnceValues(circuits.CompileClaim)

// Claim is what ClaimReward did: the node's answer, and which of the
// identity's records the proof was about (known only here).
type Claim struct {
	// Response is the node's confirmation: the amount credited and the
	// payout account after it.
	Response *cohortv1.ClaimRewardResponse
	// DatasetID is the job's dataset; Epoch the epoch of the counted
	// record the proof is for.
	DatasetID string
	Epoch     uint64
	// SetupKind says how the federation's claim keys were made.
	SetupKind cohortv1.SetupKind
}

// ClaimReward claims the reward of job jobID for id, credited to
// payoutKey (an Ed25519 public key, ideally a fresh one, not linked to
// the identity). It downloads the job's published transcript, checks that
// its claim root is the root of its records' nullifiers and that it pays a
// reward (ErrNoReward otherwise), finds a record
// of id among them locally (ErrNotCounted when there is none), fetches the
// federation's claim proving key, proves the claim in this process and
// submits it. The secret never leaves the process; the node learns that
// some counted record of the job was claimed, and when. A second claim of
// the same job, under any payout key, is refused by the node with
// AlreadyExists. progress, when not nil, is told each step.
func (c *Client) ClaimReward(ctx context.Context, id *Identity, jobID string, payoutKey ed25519.PublicKey, progress func(step string)) (*Claim, error) {
	if id == nil {
		return nil, errors.New("client: claim: no identity")
	}
	if len(payoutKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("client: claim: payout key of %d bytes, want %d", len(payoutKey), ed25519.PublicKeySize)
	}
	if progress == nil {
		progress = func(string) {}
	}
	progress("fetching the job's transcript")
	enc, err := c.Transcript(ctx, jobID)
	if err != nil {
		return nil, err
	}
	b, err := audit.UnmarshalBundle(enc, audit.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("%w: transcript %s: %v", ErrBadResponse, jobID, err)
	}
	t := b.Transcript
	if t.JobID != jobID {
		return nil, fmt.Errorf("%w: asked for job %s, got the transcript of %s", ErrBadResponse, jobID, t.JobID)
	}
	if root, err := audit.ClaimRootOf(t.Records); err != nil || root != t.ClaimRoot {
		return nil, fmt.Errorf("%w: transcript %s: its claim root is not the root of its records", ErrBadResponse, jobID)
	}
	if t.RewardPerRecord == 0 {
		return nil, fmt.Errorf("%w: job %s", ErrNoReward, jobID)
	}
	epochs, err := countedEpochs(enc, id, t.DatasetID)
	if err != nil {
		return nil, fmt.Errorf("transcript %s: %w", jobID, err)
	}
	if len(epochs) == 0 {
		return nil, fmt.Errorf("%w: job %s", ErrNotCounted, jobID)
	}
	nfs := make([]fr.Element, len(t.Records))
	for i, r := range t.Records {
		if err := nfs[i].SetBytesCanonical(r.Nullifier[:]); err != nil {
			return nil, fmt.Errorf("%w: transcript %s: record %d's nullifier", ErrBadResponse, jobID, i)
		}
	}
	tree, err := circuits.NewNullifierTree(nfs)
	if err != nil {
		return nil, fmt.Errorf("%w: transcript %s: %v", ErrBadResponse, jobID, err)
	}
	w, pub, err := circuits.ClaimWitness(tree, id.Secret, t.DatasetID, jobID, epochs[0], circuits.PayoutField(payoutKey))
	if err != nil {
		return nil, fmt.Errorf("client: claim: %w", err)
	}

	progress("fetching the claim proving key")
	pk, kind, err := c.claimProvingKey(ctx)
	if err != nil {
		return nil, err
	}
	progress("compiling the claim circuit")
	sys, err := claimSystem()
	if err != nil {
		return nil, err
	}
	progress("proving the claim")
	proof, err := sys.Prove(pk, w)
	if err != nil {
		return nil, err
	}
	pb, err := proof.MarshalBinary()
	if err != nil {
		return nil, err
	}
	progress("submitting the claim")
	nf := pub.ClaimNullifier.Bytes()
	resp, err := c.api.ClaimReward(ctx, &cohortv1.ClaimRewardRequest{JobId: jobID, ClaimNullifier: nf[:], PayoutKey: payoutKey, Proof: pb})
	if err != nil {
		return nil, rpcError("node refused the claim", err)
	}
	return &Claim{Response: resp, DatasetID: t.DatasetID, Epoch: epochs[0], SetupKind: kind}, nil
}

// claimProvingKey fetches and decodes the federation's claim proving key,
// kept decoded by the Client once fetched (by its SHA-256). A key from the
// claim keys' ceremony (docs/design.md §5.9) comes with the ceremony's
// record: the key is accepted only if every node the record names signed
// it, those nodes are the pinned federation's (when one is pinned), and
// the key's SHA-256 is the record's proving key digest, which every node
// derived from the transcript itself. A development setup's key is
// accepted as it is, and said so (SETUP_KIND_INSECURE_DEV).
func (c *Client) claimProvingKey(ctx context.Context) (groth16.ProvingKey, cohortv1.SetupKind, error) {
	const op = "fetching the claim proving key"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.GetClaimKey(ctx, &cohortv1.GetClaimKeyRequest{})
	if err != nil {
		return nil, 0, rpcError(op, err)
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("%w: empty claim key stream", ErrProvingKey)
	}
	if err != nil {
		return nil, 0, rpcError(op, err)
	}
	kind, rec := first.GetSetupKind(), first.GetCeremony()
	if err := c.checkClaimCeremony(kind, rec); err != nil {
		return nil, 0, err
	}
	r, err := blob.NewReceiver(first.GetHeader(), MaxClaimKeySize)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProvingKey, err)
	}
	if sum := r.Sum(); rec != nil && !bytes.Equal(sum[:], rec.GetProvingKeyDigest()) {
		return nil, 0, fmt.Errorf("%w: the claim proving key's SHA-256 %x… is not the one its ceremony's record names", ErrProvingKey, sum[:4])
	}
	if pk := c.pks.get(r.Sum()); pk != nil {
		return pk, kind, nil
	}
	for r.Received() < r.Total() {
		m, err := stream.Recv()
		if err != nil {
			return nil, 0, rpcError(op, err)
		}
		if err := r.Add(m.GetChunk()); err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrProvingKey, err)
		}
	}
	b, err := r.Finish()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProvingKey, err)
	}
	if rec != nil {
		if err := audit.CheckClaimProvingKey(rec, b); err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrProvingKey, err)
		}
	}
	pk, err := setup.UnmarshalProvingKey(b)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProvingKey, err)
	}
	c.pks.put(r.Sum(), pk)
	return pk, kind, nil
}

// checkClaimCeremony checks the record a claim proving key came with: a
// ceremony's key has one, signed by every node it names, which are the
// pinned federation's when one is pinned; a development setup's has none.
func (c *Client) checkClaimCeremony(kind cohortv1.SetupKind, rec *cohortv1.ClaimCeremony) error {
	switch kind {
	case cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV:
		if rec != nil {
			return fmt.Errorf("%w: a development setup's claim key with a ceremony record", ErrProvingKey)
		}
		return nil
	case cohortv1.SetupKind_SETUP_KIND_CEREMONY:
	default:
		return fmt.Errorf("%w: claim keys of setup kind %s", ErrProvingKey, kind)
	}
	if rec == nil {
		return fmt.Errorf("%w: a ceremony's claim key without the ceremony's record", ErrProvingKey)
	}
	if c.anchor != nil {
		nodes := rec.GetNodes()
		if err := c.anchor.CheckDataset(&cohortv1.DatasetDescriptor{Id: "claim-keys", NodeCount: uint32(len(nodes)), Nodes: nodes}); err != nil {
			return fmt.Errorf("%w: the claim keys' ceremony is not the pinned federation's: %v", ErrProvingKey, err)
		}
	}
	if err := audit.CheckClaimCeremonySignatures(rec); err != nil {
		return fmt.Errorf("%w: %v", ErrProvingKey, err)
	}
	return nil
}

// Payout reads a payout account on the node: what its key was credited by
// claims. Accounts are public to whoever knows the key.
func (c *Client) Payout(ctx context.Context, payoutKey ed25519.PublicKey) (*cohortv1.Payout, error) {
	resp, err := c.api.GetPayout(ctx, &cohortv1.GetPayoutRequest{PayoutKey: payoutKey})
	if err != nil {
		return nil, rpcError("reading the payout account", err)
	}
	return resp.GetPayout(), nil
}

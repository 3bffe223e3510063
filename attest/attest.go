package attest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Domain tags of the signed statements.
const (
	TagContributionAck      = "cohort/v1/contribution-ack"
	TagRevocation           = "cohort/v1/revocation"
	TagCeremonyStart        = "cohort/v1/ceremony-start"
	TagCeremonySeal         = "cohort/v1/ceremony-seal"
	TagJobEligibleSet       = "cohort/v1/job-eligible-set"
	TagJobPartial           = "cohort/v1/job-partial"
	TagHEKeygen             = "cohort/v1/he-keygen"
	TagPrivacyDebit         = "cohort/v1/privacy-debit"
	TagHEKeygenCommit       = "cohort/v1/he-keygen-commitment"
	TagNodeKeyRequest       = "cohort/v1/node-key-request"
	TagDatasetReady         = "cohort/v1/dataset-ready"
	TagCeremonyContribution = "cohort/v1/ceremony-contribution"
	TagJobSubmission        = "cohort/v1/job-submission"
	TagClaimKeys            = "cohort/v1/claim-keys"
	TagPayoutTransfer       = "cohort/v1/payout-transfer"
	TagPayoutStatement      = "cohort/v1/payout-statement"
)

// ErrBadSignature is returned by Verify for a signature that does not verify.
var ErrBadSignature = errors.New("attest: signature does not verify")

// builder accumulates a statement's bytes.
type builder struct{ b []byte }

func newBuilder(tag string) *builder {
	b := &builder{b: make([]byte, 0, 256)}
	b.b = append(b.b, tag...)
	b.b = append(b.b, 0)
	return b
}

func (b *builder) bytes(v []byte) *builder {
	b.b = binary.BigEndian.AppendUint32(b.b, uint32(len(v)))
	b.b = append(b.b, v...)
	return b
}

func (b *builder) str(s string) *builder   { return b.bytes([]byte(s)) }
func (b *builder) fixed(v []byte) *builder { b.b = append(b.b, v...); return b }
func (b *builder) u32(v uint32) *builder {
	b.b = binary.BigEndian.AppendUint32(b.b, v)
	return b
}
func (b *builder) u64(v uint64) *builder {
	b.b = binary.BigEndian.AppendUint64(b.b, v)
	return b
}

// ContributionAck is a node's statement that it verified a contribution's
// proof, opened and checked its own share and committed it durably.
type ContributionAck struct {
	DatasetID     string
	Nullifier     [32]byte
	PayloadDigest [32]byte
	Node          uint32
	StoredAt      int64 // Unix seconds
}

// Message returns the bytes a node signs.
func (a ContributionAck) Message() []byte {
	return newBuilder(TagContributionAck).str(a.DatasetID).fixed(a.Nullifier[:]).
		fixed(a.PayloadDigest[:]).u32(a.Node).u64(uint64(a.StoredAt)).b
}

// Revocation is a node's statement that a record is revoked.
type Revocation struct {
	DatasetID string
	Nullifier [32]byte
	RevokedAt int64 // Unix seconds
}

// Message returns the bytes a node signs.
func (r Revocation) Message() []byte {
	return newBuilder(TagRevocation).str(r.DatasetID).fixed(r.Nullifier[:]).u64(uint64(r.RevokedAt)).b
}

// CeremonyStart is a node's agreement to a ceremony's plan.
type CeremonyStart struct {
	CeremonyID    string
	DatasetID     string
	DomainSize    uint64
	CircuitDigest [32]byte
	Participants  []uint32
	BeaconSource  string
}

// Message returns the bytes a node signs.
func (c CeremonyStart) Message() []byte {
	b := newBuilder(TagCeremonyStart).str(c.CeremonyID).str(c.DatasetID).u64(c.DomainSize).
		fixed(c.CircuitDigest[:]).u32(uint32(len(c.Participants)))
	for _, p := range c.Participants {
		b.u32(p)
	}
	return b.str(c.BeaconSource).b
}

// CeremonySeal is a node's statement of the keys it derived from a
// ceremony's transcript.
type CeremonySeal struct {
	CeremonyID         string
	TranscriptDigest   [32]byte
	VerifyingKeyDigest [32]byte
}

// Message returns the bytes a node signs.
func (c CeremonySeal) Message() []byte {
	return newBuilder(TagCeremonySeal).str(c.CeremonyID).fixed(c.TranscriptDigest[:]).
		fixed(c.VerifyingKeyDigest[:]).b
}

// JobEligibleSet is a node's statement of the cohort it selected for a job:
// its size and digest (enclave.SetDigest), for the job's spec at job time.
type JobEligibleSet struct {
	JobID      string
	DatasetID  string
	SpecDigest [32]byte
	JobTime    int64 // Unix seconds
	Cohort     uint64
	SetDigest  [32]byte
	Node       uint32
}

// Message returns the bytes a node signs.
func (j JobEligibleSet) Message() []byte {
	return newBuilder(TagJobEligibleSet).str(j.JobID).str(j.DatasetID).fixed(j.SpecDigest[:]).
		u64(uint64(j.JobTime)).u64(j.Cohort).fixed(j.SetDigest[:]).u32(j.Node).b
}

// JobPartial is a node's statement of the partial sum it released for a
// job: which coordinates, over which cohort, and the digest of its encoding.
type JobPartial struct {
	JobID         string
	SetDigest     [32]byte
	Coordinates   []uint32
	PartialDigest [32]byte
	Node          uint32
}

// Message returns the bytes a node signs.
func (j JobPartial) Message() []byte {
	b := newBuilder(TagJobPartial).str(j.JobID).fixed(j.SetDigest[:]).u32(uint32(len(j.Coordinates)))
	for _, c := range j.Coordinates {
		b.u32(c)
	}
	return b.fixed(j.PartialDigest[:]).u32(j.Node).b
}

// Statement is anything that can be signed.
type Statement interface{ Message() []byte }

// Sign signs s with key.
func Sign(key ed25519.PrivateKey, s Statement) []byte {
	return ed25519.Sign(key, s.Message())
}

// Verify checks sig over s under pub.
func Verify(pub ed25519.PublicKey, s Statement, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("attest: public key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, s.Message(), sig) {
		return ErrBadSignature
	}
	return nil
}

// HEKeygen is a node's statement that it took part in an HE dataset's
// collective key generation and holds its threshold share of the secret
// behind the public key with the given digest, the sum of public-key
// shares that matched the commitments it was given before it revealed its
// own (CommitmentsDigest, over every node's commitment in index order).
type HEKeygen struct {
	DatasetID         string
	ParamSet          string
	Threshold         uint32
	Nodes             uint32
	CRSSeed           [32]byte
	PublicKeyDigest   [32]byte // SHA-256 of the encoded collective public key
	CommitmentsDigest [32]byte
}

// Message returns the bytes a node signs.
func (h HEKeygen) Message() []byte {
	return newBuilder(TagHEKeygen).str(h.DatasetID).str(h.ParamSet).u32(h.Threshold).u32(h.Nodes).
		fixed(h.CRSSeed[:]).fixed(h.PublicKeyDigest[:]).fixed(h.CommitmentsDigest[:]).b
}

// PrivacyDebit is a node's statement that it debited its own privacy
// ledger for a job before releasing its noised partial (docs/design.md
// §6.6): ρ from every epoch of the job, charged to the buyer, with each
// epoch's totals and spent amounts before and after. Amounts are exact
// fractions in big.Rat's RatString form ("p" or "p/q", lowest terms).
type PrivacyDebit struct {
	JobID     string
	DatasetID string
	Buyer     string
	Rho       string
	Entries   []LedgerEntry
	Node      uint32
}

// LedgerEntry is one epoch's ledger before and after a debit.
type LedgerEntry struct {
	Epoch                               uint64
	EpochTotal, EpochBefore, EpochAfter string
	BuyerTotal, BuyerBefore, BuyerAfter string
}

// Message returns the bytes a node signs.
func (d PrivacyDebit) Message() []byte {
	b := newBuilder(TagPrivacyDebit).str(d.JobID).str(d.DatasetID).str(d.Buyer).str(d.Rho).u32(uint32(len(d.Entries)))
	for _, e := range d.Entries {
		b.u64(e.Epoch).str(e.EpochTotal).str(e.EpochBefore).str(e.EpochAfter).str(e.BuyerTotal).str(e.BuyerBefore).str(e.BuyerAfter)
	}
	return b.u32(d.Node).b
}

// HEKeygenCommit is a node's commitment to its public-key share of an HE
// dataset's collective key, made and signed before it has seen any other
// node's share (docs/design.md §4.3). Commitment is the hash of the share
// (dataset.KeygenCommitment); the signature lets every node check that
// the coordinator relays each node's own commitment.
type HEKeygenCommit struct {
	DatasetID  string
	CRSSeed    [32]byte
	Node       uint32
	Commitment [32]byte
}

// Message returns the bytes a node signs.
func (h HEKeygenCommit) Message() []byte {
	return newBuilder(TagHEKeygenCommit).str(h.DatasetID).fixed(h.CRSSeed[:]).u32(h.Node).fixed(h.Commitment[:]).b
}

// JobSubmission is a buyer's request for one job, signed with the buyer's
// own key (docs/design.md §8.2): every node checks it before it selects
// anything for the job, so a node cannot run a job no buyer asked for.
// SpecDigest is the spec's digest (audit.SpecDigest), DescriptorDigest
// the dataset descriptor's (audit.DescriptorDigest); RequestID is the
// buyer's fresh idempotency key for the job.
type JobSubmission struct {
	Buyer            string
	RequestID        string
	DatasetID        string
	DescriptorDigest [32]byte
	SpecDigest       [32]byte
	SubmittedAt      int64 // Unix seconds
}

// Message returns the bytes the buyer signs.
func (j JobSubmission) Message() []byte {
	return newBuilder(TagJobSubmission).str(j.Buyer).str(j.RequestID).str(j.DatasetID).
		fixed(j.DescriptorDigest[:]).fixed(j.SpecDigest[:]).u64(uint64(j.SubmittedAt)).b
}

// JobID is the id of the job the submission asks for: "job-" and the
// first 16 bytes, in hex, of SHA-256 of the signed message. A submission
// names exactly one job, so replaying it names the same job again.
func (j JobSubmission) JobID() string {
	h := sha256.Sum256(j.Message())
	return "job-" + hex.EncodeToString(h[:16])
}

// NodeKeyRequest is a node's request to join a federation, made on the
// node's own machine by `cohort federation keygen` and signed with the
// signing key it names (docs/design.md §3.3): its place and addresses, the
// public halves of the keys it generated, and the DER certificate request
// of its TLS key. The signature binds every field to the signing key, so a
// request altered in transit no longer verifies; that the signing key is
// the operator's is confirmed out of band by its fingerprint.
type NodeKeyRequest struct {
	Federation       string
	Index            uint32
	Name             string
	APIAddress       string
	PeerAddress      string
	SealPublicKey    []byte
	SigningPublicKey []byte
	CSR              []byte
}

// Message returns the bytes a node signs.
func (r NodeKeyRequest) Message() []byte {
	return newBuilder(TagNodeKeyRequest).str(r.Federation).u32(r.Index).str(r.Name).str(r.APIAddress).
		str(r.PeerAddress).bytes(r.SealPublicKey).bytes(r.SigningPublicKey).bytes(r.CSR).b
}

// DatasetReady is a node's statement that a dataset's descriptor, as it
// became READY on that node, has the given digest
// (dataset.ReadyDigest: the descriptor without these signatures). Every
// node signs it, so a contributor or auditor holding one copy of the
// descriptor knows that every node of the federation holds the same.
type DatasetReady struct {
	DatasetID        string
	DescriptorDigest [32]byte
}

// Message returns the bytes a node signs.
func (d DatasetReady) Message() []byte {
	return newBuilder(TagDatasetReady).str(d.DatasetID).fixed(d.DescriptorDigest[:]).b
}

// ClaimKeys is a node's statement that the ceremony of the claim
// circuit's keys ended with the record whose digest is given
// (audit.ClaimCeremonyDigest: the record without these signatures): its
// plan, nodes, verifying key, proving key digest and attested
// contributions. Every node signs it before any node stores the keys.
type ClaimKeys struct {
	CeremonyID   string
	RecordDigest [32]byte
}

// Message returns the bytes a node signs.
func (c ClaimKeys) Message() []byte {
	return newBuilder(TagClaimKeys).str(c.CeremonyID).fixed(c.RecordDigest[:]).b
}

// CeremonyContribution is a node's statement that it made the
// contribution at a position of a ceremony phase (docs/design.md §5.5):
// Digest is the SHA-256 of the encoded contribution, as the transcript
// holds it.
type CeremonyContribution struct {
	CeremonyID string
	Phase      uint32 // 1 or 2
	Position   uint32 // 0-based, in the phase's chain
	Node       uint32
	Digest     [32]byte
}

// Message returns the bytes a node signs.
func (c CeremonyContribution) Message() []byte {
	return newBuilder(TagCeremonyContribution).str(c.CeremonyID).u32(c.Phase).u32(c.Position).u32(c.Node).fixed(c.Digest[:]).b
}

// PayoutTransfer is a payout key holder's order to move Amount
// micro-credits from the payout account to a buyer's balance
// (docs/design.md §6.8). TransferID names it once in all, so a replayed
// order is refused.
type PayoutTransfer struct {
	PayoutKey  [32]byte
	BuyerID    string
	Amount     uint64
	TransferID string
}

// Message returns the bytes the payout key signs.
func (p PayoutTransfer) Message() []byte {
	return newBuilder(TagPayoutTransfer).fixed(p.PayoutKey[:]).str(p.BuyerID).u64(p.Amount).str(p.TransferID).b
}

// PayoutStatement is a node's statement of a payout account as its ledger
// held it at At (Unix seconds): what claims credited, what was transferred
// out, the balance and the claims' count (docs/design.md §6.8).
type PayoutStatement struct {
	PayoutKey   [32]byte
	Credited    uint64
	Transferred uint64
	Balance     uint64
	Claims      uint64
	At          int64
	Node        uint32
}

// Message returns the bytes a node signs.
func (p PayoutStatement) Message() []byte {
	return newBuilder(TagPayoutStatement).fixed(p.PayoutKey[:]).u64(p.Credited).u64(p.Transferred).u64(p.Balance).
		u64(p.Claims).u64(uint64(p.At)).u32(p.Node).b
}

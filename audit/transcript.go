package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/wire"
)

// Domain tags of the digests this package defines. Each digest is SHA-256
// over its tag, a NUL byte and the bytes it names.
const (
	TagTranscript = "cohort/v1/job-transcript"
	TagDescriptor = "cohort/v1/dataset-descriptor"
	TagSpec       = "cohort/v1/job-spec"
)

// TranscriptVersion is the version of the transcript encoding. Version 2
// added the HE backend (records' ciphertexts, the aggregate ciphertext and
// the decryption set); version 3 the buyer charged, each node's privacy
// debit and signed sums (docs/design.md §6.6); version 4 the buyer's
// signed submission of the job (docs/design.md §8.2), the root of the
// job's nullifier tree and its reward per counted record (§5.9, §6.8).
// Earlier versions are no longer read.
const TranscriptVersion = 4

// Structural bounds of a transcript, whatever the Limits.
const (
	MaxIDLen       = 64       // bytes of a job or dataset id
	MaxSpecBytes   = 1 << 20  // encoded job spec
	MaxResultBytes = 16 << 20 // encoded result
	MaxPublicBytes = 4 << 10  // encoded public inputs of one record
	MaxProofBytes  = 1 << 10  // encoded proof of one record
	MaxCoordinates = 1 << 16  // released coordinates
	MaxSumBytes    = 32       // one released sum's magnitude, big-endian
	SignatureSize  = 64       // an Ed25519 signature
	MaxBuyerIDLen  = 64       // bytes of a buyer id
	// MaxAmountLen bounds an exact amount of a debit (a ρ, a total, a
	// spent value): two integer parts of dp.MaxAmountDigits and a '/'.
	MaxAmountLen      = 2*dp.MaxAmountDigits + 1
	maxPartialBytes   = 64 + 64*MaxCoordinates
	transcriptMagic   = "CHJT"
	minRecordSize     = 32 + 32 + 4 + 1 + 4 + 1 + 4
	minNodeSize       = 4 + 8 + 8 + 32 + 5*8 + SignatureSize + 4 + 1
	minSumSize        = 4 + 1 + 4
	minEntrySize      = 8 + 6*(4+1)
	rootSize          = 32 + 8 + 8 + 8
	transcriptMinSize = len(transcriptMagic) + 1
)

var (
	// ErrMalformed is wrapped by every error of UnmarshalTranscript and
	// UnmarshalBundle: the bytes are not the canonical encoding of a
	// well-formed transcript or bundle within the limits.
	ErrMalformed = errors.New("audit: malformed encoding")
	// ErrInvalid is wrapped by the errors of Build, NewBundle,
	// MarshalBinary and Digest for a value that breaks the structural
	// rules of the encoding (an id too long, records out of order, a
	// signature of the wrong size, …).
	ErrInvalid = errors.New("audit: invalid transcript")
)

// maxCiphertextBytes bounds one encoded ciphertext (a record's or the
// aggregate), whatever the Limits: he.EncodedSize of the largest parameter
// set package he knows.
var maxCiphertextBytes = sync.OnceValue(largestCiphertext)

func largestCiphertext() int {
	n := 0
	for _, id := range he.ParamSets() {
		if p, err := he.Lookup(id); err == nil {
			n = max(n, he.EncodedSize(p))
		}
	}
	return n
}

// Transcript is the public record of one released job: what was asked,
// which records were counted, what every node attested to, what was
// released and under which policy. It holds counts of excluded records,
// never their identities, and no record value beyond the released sums.
//
// Everything an auditor needs besides the transcript (the dataset's
// descriptor, its verifying key and ceremony transcript, the nodes'
// signatures over the transcript's digest) travels with it in a Bundle.
type Transcript struct {
	// JobID is the job's id: 1..64 bytes of [A-Za-z0-9-].
	JobID string
	// DatasetID is the dataset's id: 1..64 bytes of [a-z0-9-].
	DatasetID string
	// Buyer is the buyer the job was charged to: 1..64 bytes of
	// [A-Za-z0-9._-], or empty for a release that charged no one (an
	// exact release under a development policy).
	Buyer string
	// Coordinator is the index of the node that coordinated the job.
	Coordinator uint32
	// Submission is the buyer's signed submission of the job: the job id
	// is the one it names, the spec and descriptor the ones it signed.
	Submission Submission
	// Spec is the job spec (cohortv1.JobSpec) in its deterministic
	// protobuf encoding; the nodes signed its digest (SpecDigest).
	Spec []byte
	// JobTime is the time eligibility was decided at, Unix seconds.
	JobTime int64
	// DescriptorDigest is DescriptorDigest of the dataset's descriptor.
	DescriptorDigest [32]byte
	// EffectiveMinimum is the minimum cohort the job was released under
	// (enclave.EffectiveMinimum), before contributors' own minimums.
	EffectiveMinimum uint64
	// Records is the cohort, sorted by nullifier (strictly: no two records
	// share one).
	Records []Record
	// Nodes holds the nodes' evidence by ascending index. MPC: every node
	// of the dataset, 0..k−1. HE: the live nodes only — those that
	// selected the cohort and signed it, at least the dataset's threshold,
	// the coordinator among them; a node that did not answer has no entry.
	Nodes []NodeEvidence
	// DecryptionSet is empty for MPC. HE: the nodes whose decryption
	// shares were combined, ascending — the threshold-many lowest indices
	// of Nodes. Exactly these nodes have a Partial.
	DecryptionSet []uint32
	// Aggregate is empty for MPC. HE: the ciphertext the decryption set
	// decrypted (canonical he.Ciphertext encoding), the homomorphic sum
	// of the records' ciphertexts.
	Aggregate []byte
	// Sums are the reconstructed (MPC) or decrypted (HE) sufficient
	// statistics, by ascending coordinate: exactly the coordinates the
	// outputs need. Under the discrete Gaussian they carry the noise of
	// every node of the partial set and may be negative; the count
	// (coordinate 0) takes no noise.
	Sums []Sum
	// Result is the released result (cohortv1.Result) in its deterministic
	// protobuf encoding, with transcript_id empty: the transcript's id is
	// given where the transcript is, not inside it.
	Result []byte
	// Roots is the registry's root history the records' roots are checked
	// against, by ascending version: the whole history or the entries the
	// records use.
	Roots []Root
	// ClaimRoot is the root of the job's nullifier tree: the records'
	// nullifiers, in record order, as circuits.NewNullifierTree builds it
	// (ClaimRootOf). Reward claims prove against it (docs/design.md §5.9).
	ClaimRoot [32]byte
	// RewardPerRecord is what one claim of the job is credited, in
	// micro-credits: the dataset's price per counted record when the job
	// was charged to a buyer, 0 when no one was charged (docs/design.md
	// §6.8). The same for every record, so that an amount says nothing of
	// whose record was claimed.
	RewardPerRecord uint64
}

// Submission is a buyer's signed request for the job (attest.JobSubmission,
// docs/design.md §8.2), with the public key every node checked it
// against: the key each node stored for the buyer when the account was
// created, which every node vouches for by signing the transcript.
type Submission struct {
	// Buyer is the buyer who signed: 1..64 bytes of [A-Za-z0-9._-].
	Buyer string
	// RequestID is the buyer's idempotency key for the job: 1..64 bytes
	// of [A-Za-z0-9-].
	RequestID string
	// SubmittedAt is when the buyer signed, Unix seconds.
	SubmittedAt int64
	// PublicKey is the buyer's Ed25519 public key.
	PublicKey [32]byte
	// Signature is the buyer's Ed25519 signature over attest.JobSubmission.
	Signature []byte
}

// Record is one counted contribution.
type Record struct {
	// Nullifier is the record's nullifier as the nodes list it (32-byte
	// big-endian field element); it must equal the one in Public.
	Nullifier [32]byte
	// PayloadDigest is the SHA-256 of the uploaded payload the nodes
	// stored: for MPC, shares sealed to each node, proof and public
	// inputs (mpc.Payload); for HE, public inputs, proof and ciphertext
	// (heproof.Payload).
	PayloadDigest [32]byte
	// Public is the encoded public inputs (circuits.PublicInputs).
	Public []byte
	// Proof is the encoded Groth16 proof (circuits.Proof).
	Proof []byte
	// Ciphertext is empty for MPC. HE: the record encrypted under the
	// dataset's collective key (canonical he.Ciphertext encoding), as
	// every node stored it; the proof binds its coefficients.
	Ciphertext []byte
}

// NodeEvidence is one node's part in the job.
type NodeEvidence struct {
	// Index is the node's index in the dataset's node list.
	Index uint32
	// Eligible counts the records the node found eligible before
	// contributors' own minimums; Cohort those it counted.
	Eligible, Cohort uint64
	// SetDigest is the node's enclave.SetDigest of its cohort.
	SetDigest [32]byte
	// Excluded counts the records the node left out, by reason.
	Excluded enclave.Exclusions
	// SetSignature is the node's Ed25519 signature over
	// attest.JobEligibleSet.
	SetSignature []byte
	// Partial is, for MPC, the node's partial sum over the cohort
	// (mpc.Partial encoding): random on its own, the k partials sum to
	// Sums. For HE, a node of the decryption set's decryption share of
	// the aggregate at the released coordinates (he.PartialDecryption
	// encoding); empty for the other live nodes.
	Partial []byte
	// PartialSignature is the node's Ed25519 signature over
	// attest.JobPartial, whose PartialDigest is SHA-256(Partial); present
	// exactly when Partial is.
	PartialSignature []byte
	// Debit is the node's signed debit of its privacy ledger for the job
	// (attest.PrivacyDebit), present only beside a Partial, and then
	// exactly when the release was noised. Its node index and its
	// signature's are Index, the scheme Ed25519; the transcript encodes
	// no other field of its signature.
	Debit *cohortv1.PrivacyDebit
}

// Backend is the backend the transcript's job ran on, as its form says:
// BACKEND_HE when it has a decryption set, BACKEND_MPC otherwise.
func (t *Transcript) Backend() cohortv1.Backend {
	if len(t.DecryptionSet) > 0 {
		return cohortv1.Backend_BACKEND_HE
	}
	return cohortv1.Backend_BACKEND_MPC
}

// hasDecryptionSet reports whether t has the form of an HE transcript
// (see Backend): the wire rule the codec checks records and nodes by.
func (t *Transcript) hasDecryptionSet() bool { return len(t.DecryptionSet) > 0 }

// Sum is one reconstructed coordinate of the sufficient statistics.
type Sum struct {
	// Coordinate indexes the dataset's encoded vector (schema.Layout).
	Coordinate uint32
	// Value is the released sum: an integer of absolute value below
	// 2^256, negative only when noise made it so.
	Value *big.Int
}

// Root is one entry of the registry's root history.
type Root struct {
	// Root is the Merkle root, 32-byte big-endian field element.
	Root [32]byte
	// Version is the registry version that produced it.
	Version uint64
	// SeenAt is when it became the root, Unix seconds.
	SeenAt int64
	// SupersededAt is when the next change replaced it, Unix seconds; 0
	// while it is the current root.
	SupersededAt int64
}

// Transcript encoding, version 4 (integers big-endian; str and bytes are a
// uint32 length then the bytes; [n] is n bytes as they are):
//
//	"CHJT" ‖ u8 version
//	‖ str job id ‖ str dataset id ‖ str buyer, empty when no one was charged ‖ u32 coordinator
//	‖ str submitting buyer ‖ str request id ‖ u64 submitted at ‖ [32] buyer key ‖ [64] buyer signature
//	‖ bytes spec ‖ u64 job time ‖ [32] descriptor digest ‖ u64 effective minimum
//	‖ u32 n ‖ n × ( [32] nullifier ‖ [32] payload digest ‖ bytes public ‖ bytes proof
//	              ‖ bytes ciphertext, empty for MPC )
//	‖ u32 k ‖ k × ( u32 index ‖ u64 eligible ‖ u64 cohort ‖ [32] set digest
//	              ‖ u64 excluded: epoch, purpose, expired, revoked, contributor minimum
//	              ‖ [64] set signature ‖ bytes partial ‖ [64] partial signature,
//	                present only after a non-empty partial
//	              ‖ u8 debit: 0 none, 1 one follows:
//	                str buyer ‖ str ρ ‖ u32 e ‖ e × ( u64 epoch ‖ str epoch total
//	                ‖ str epoch spent before ‖ str epoch spent after ‖ str buyer total
//	                ‖ str buyer spent before ‖ str buyer spent after ) ‖ [64] signature )
//	‖ u32 d ‖ d × u32 decryption-set node, d = 0 for MPC
//	‖ bytes aggregate ciphertext, empty for MPC
//	‖ u32 c ‖ c × ( u32 coordinate ‖ u8 sign: 0 for a sum ≥ 0, 1 below 0
//	              ‖ bytes magnitude, minimal big-endian: no leading zero, 0 is empty and never negative )
//	‖ bytes result
//	‖ u32 r ‖ r × ( [32] root ‖ u64 version ‖ u64 seen at ‖ u64 superseded at )
//	‖ [32] claim root ‖ u64 reward per record

// MarshalBinary returns the transcript's canonical encoding. It refuses a
// transcript that UnmarshalTranscript would refuse (ErrInvalid).
func (t *Transcript) MarshalBinary() ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return t.encode()
}

func (t *Transcript) encode() ([]byte, error) {
	size := 552 + len(t.Spec) + len(t.Result) + len(t.Roots)*rootSize + 4*len(t.DecryptionSet) + len(t.Aggregate)
	for _, r := range t.Records {
		size += minRecordSize + len(r.Public) + len(r.Proof) + len(r.Ciphertext)
	}
	for _, n := range t.Nodes {
		size += minNodeSize + len(n.Partial)
		if n.Debit != nil {
			size += 2*MaxBuyerIDLen + SignatureSize + 16 + len(n.Debit.GetEntries())*(minEntrySize+6*MaxAmountLen)
		}
	}
	size += len(t.Sums) * (minSumSize + MaxSumBytes)
	w := wire.NewWriter(wire.BigEndian, size)
	t.encodeHeader(w)
	w.Uint32(uint32(len(t.Records)))
	for i := range t.Records {
		encodeRecord(w, &t.Records[i])
	}
	t.encodeTail(w)
	return w.Bytes()
}

// encodeHeader writes the fields before the record count.
func (t *Transcript) encodeHeader(w *wire.Writer) {
	w.Raw([]byte(transcriptMagic))
	w.Uint8(TranscriptVersion)
	w.String32(t.JobID)
	w.String32(t.DatasetID)
	w.String32(t.Buyer)
	w.Uint32(t.Coordinator)
	w.String32(t.Submission.Buyer)
	w.String32(t.Submission.RequestID)
	w.Uint64(uint64(t.Submission.SubmittedAt))
	w.Raw(t.Submission.PublicKey[:])
	w.Raw(t.Submission.Signature)
	w.Bytes32(t.Spec)
	w.Uint64(uint64(t.JobTime))
	w.Raw(t.DescriptorDigest[:])
	w.Uint64(t.EffectiveMinimum)
}

// encodeRecord writes one record.
func encodeRecord(w *wire.Writer, r *Record) {
	w.Raw(r.Nullifier[:])
	w.Raw(r.PayloadDigest[:])
	w.Bytes32(r.Public)
	w.Bytes32(r.Proof)
	w.Bytes32(r.Ciphertext)
}

// encodeTail writes the fields after the records.
func (t *Transcript) encodeTail(w *wire.Writer) {
	w.Uint32(uint32(len(t.Nodes)))
	for _, n := range t.Nodes {
		w.Uint32(n.Index)
		w.Uint64(n.Eligible)
		w.Uint64(n.Cohort)
		w.Raw(n.SetDigest[:])
		x := n.Excluded
		for _, c := range []uint64{x.Epoch, x.Purpose, x.Expired, x.Revoked, x.ContributorMinimum} {
			w.Uint64(c)
		}
		w.Raw(n.SetSignature)
		w.Bytes32(n.Partial)
		if len(n.Partial) > 0 {
			w.Raw(n.PartialSignature)
		}
		encodeDebit(w, n.Debit)
	}
	w.Uint32(uint32(len(t.DecryptionSet)))
	for _, i := range t.DecryptionSet {
		w.Uint32(i)
	}
	w.Bytes32(t.Aggregate)
	w.Uint32(uint32(len(t.Sums)))
	for _, s := range t.Sums {
		w.Uint32(s.Coordinate)
		if s.Value.Sign() < 0 {
			w.Uint8(1)
		} else {
			w.Uint8(0)
		}
		w.Bytes32(s.Value.Bytes()) // the magnitude
	}
	w.Bytes32(t.Result)
	w.Uint32(uint32(len(t.Roots)))
	for _, r := range t.Roots {
		w.Raw(r.Root[:])
		w.Uint64(r.Version)
		w.Uint64(uint64(r.SeenAt))
		w.Uint64(uint64(r.SupersededAt))
	}
	w.Raw(t.ClaimRoot[:])
	w.Uint64(t.RewardPerRecord)
}

// UnmarshalTranscript decodes a transcript. It checks every length and
// count against lim and against the bytes left before allocating, refuses
// trailing bytes, and accepts only the canonical encoding of a well-formed
// transcript (the rules of MarshalBinary), so that decoding and encoding
// are inverse and each transcript has exactly one encoding. Ciphertexts
// are bounded by lim.MaxCiphertextBytes (and by the largest parameter
// set's size). It does not decode the spec, result, public inputs, proofs,
// ciphertexts or partials, nor check anything cryptographic: that is
// Verify's job. Errors wrap ErrMalformed.
func UnmarshalTranscript(data []byte, lim Limits) (*Transcript, error) {
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: transcript of %d bytes, limit %d", ErrMalformed, len(data), lim.MaxBytes)
	}
	r := wire.NewReader(wire.BigEndian, data)
	t := decodeTranscript(r, lim)
	if err := r.End(); err != nil {
		return nil, fmt.Errorf("audit: transcript: %w: %w", ErrMalformed, err)
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("audit: transcript: %w: %w", ErrMalformed, err)
	}
	return t, nil
}

func decodeTranscript(r *wire.Reader, lim Limits) *Transcript {
	t := new(Transcript)
	t.decodeHeader(r)
	if n := r.Field("records").Count32(lim.MaxRecords, minRecordSize); n > 0 {
		t.Records = make([]Record, n)
		for i := range t.Records {
			decodeRecord(r, i, &t.Records[i], lim)
		}
		r.Label("")
	}
	t.decodeTail(r, lim)
	return t
}

// decodeHeader reads the fields before the record count into t.
func (t *Transcript) decodeHeader(r *wire.Reader) {
	if m := r.Field("magic").Fixed(len(transcriptMagic)); r.Err() == nil && string(m) != transcriptMagic {
		r.Fail(fmt.Errorf("not a transcript (magic %q)", m))
	}
	if v := r.Field("version").Uint8(); r.Err() == nil && v != TranscriptVersion {
		r.Fail(fmt.Errorf("version %d, want %d", v, TranscriptVersion))
	}
	t.JobID = r.Field("job id").String32(MaxIDLen)
	t.DatasetID = r.Field("dataset id").String32(MaxIDLen)
	t.Buyer = r.Field("buyer").String32(MaxBuyerIDLen)
	t.Coordinator = r.Field("coordinator").Uint32()
	t.Submission.Buyer = r.Field("submitting buyer").String32(MaxBuyerIDLen)
	t.Submission.RequestID = r.Field("request id").String32(MaxIDLen)
	t.Submission.SubmittedAt = int64(r.Field("submitted at").Uint64())
	t.Submission.PublicKey = readDigest(r.Field("buyer key"))
	t.Submission.Signature = copyOf(r.Field("buyer signature").Fixed(SignatureSize))
	t.Spec = copyOf(r.Field("spec").Bytes32(MaxSpecBytes))
	t.JobTime = int64(r.Field("job time").Uint64())
	t.DescriptorDigest = readDigest(r.Field("descriptor digest"))
	t.EffectiveMinimum = r.Field("effective minimum").Uint64()
}

// decodeRecord reads record i into rec.
func decodeRecord(r *wire.Reader, i int, rec *Record, lim Limits) {
	r.Label(fmt.Sprintf("record %d", i))
	rec.Nullifier = readDigest(r.Field("nullifier"))
	rec.PayloadDigest = readDigest(r.Field("payload digest"))
	rec.Public = copyOf(r.Field("public inputs").Bytes32(MaxPublicBytes))
	rec.Proof = copyOf(r.Field("proof").Bytes32(MaxProofBytes))
	rec.Ciphertext = copyOf(r.Field("ciphertext").Bytes32(int(lim.ciphertextBytes())))
}

// decodeTail reads the fields after the records into t.
func (t *Transcript) decodeTail(r *wire.Reader, lim Limits) {
	if k := r.Field("nodes").Count32(dataset.MaxNodes, minNodeSize); k > 0 {
		t.Nodes = make([]NodeEvidence, k)
		for i := range t.Nodes {
			r.Label(fmt.Sprintf("node entry %d", i))
			n := &t.Nodes[i]
			n.Index = r.Field("index").Uint32()
			n.Eligible = r.Field("eligible").Uint64()
			n.Cohort = r.Field("cohort").Uint64()
			n.SetDigest = readDigest(r.Field("set digest"))
			n.Excluded = enclave.Exclusions{
				Epoch: r.Field("excluded").Uint64(), Purpose: r.Field("excluded").Uint64(), Expired: r.Field("excluded").Uint64(),
				Revoked: r.Field("excluded").Uint64(), ContributorMinimum: r.Field("excluded").Uint64(),
			}
			n.SetSignature = copyOf(r.Field("set signature").Fixed(SignatureSize))
			n.Partial = copyOf(r.Field("partial").Bytes32(maxPartialBytes))
			if len(n.Partial) > 0 {
				n.PartialSignature = copyOf(r.Field("partial signature").Fixed(SignatureSize))
			}
			n.Debit = decodeDebit(r, n.Index)
		}
		r.Label("")
	}
	if d := r.Field("decryption-set nodes").Count32(dataset.MaxNodes, 4); d > 0 {
		t.DecryptionSet = make([]uint32, d)
		for i := range t.DecryptionSet {
			t.DecryptionSet[i] = r.Field("decryption-set node").Uint32()
		}
	}
	t.Aggregate = copyOf(r.Field("aggregate ciphertext").Bytes32(int(lim.ciphertextBytes())))
	if c := r.Field("sums").Count32(MaxCoordinates, minSumSize); c > 0 {
		t.Sums = make([]Sum, c)
		for i := range t.Sums {
			r.Label(fmt.Sprintf("sum %d", i))
			t.Sums[i].Coordinate = r.Field("coordinate").Uint32()
			sign := r.Field("sign").Uint8()
			v := r.Field("value").Bytes32(MaxSumBytes)
			switch {
			case r.Err() != nil:
			case sign > 1:
				r.Fail(fmt.Errorf("sign byte %d, want 0 or 1", sign))
			case len(v) > 0 && v[0] == 0:
				r.Fail(fmt.Errorf("value has a leading zero byte"))
			case sign == 1 && len(v) == 0:
				r.Fail(fmt.Errorf("value is a negative zero"))
			}
			t.Sums[i].Value = new(big.Int).SetBytes(v)
			if sign == 1 {
				t.Sums[i].Value.Neg(t.Sums[i].Value)
			}
		}
		r.Label("")
	}
	t.Result = copyOf(r.Field("result").Bytes32(MaxResultBytes))
	if n := r.Field("roots").Count32(lim.MaxRoots, rootSize); n > 0 {
		t.Roots = make([]Root, n)
		for i := range t.Roots {
			r.Label(fmt.Sprintf("root %d", i))
			t.Roots[i] = Root{Root: readDigest(r.Field("root")), Version: r.Field("version").Uint64(), SeenAt: int64(r.Field("seen at").Uint64()), SupersededAt: int64(r.Field("superseded at").Uint64())}
		}
		r.Label("")
	}
	t.ClaimRoot = readDigest(r.Field("claim root"))
	t.RewardPerRecord = r.Field("reward per record").Uint64()
}

// validate checks the structural rules shared by the encoder and the
// decoder; the first problem is returned, naming the item.
func (t *Transcript) validate() error {
	if t == nil {
		return errors.New("no transcript")
	}
	if !validJobID(t.JobID) {
		return fmt.Errorf("job id %q is not 1..%d bytes of [A-Za-z0-9-]", clip(t.JobID), MaxIDLen)
	}
	if !dataset.ValidID(t.DatasetID) {
		return fmt.Errorf("dataset id %q is not 1..%d bytes of [a-z0-9-]", clip(t.DatasetID), MaxIDLen)
	}
	if t.Buyer != "" && !validBuyerID(t.Buyer) {
		return fmt.Errorf("buyer %q is not 1..%d bytes of [A-Za-z0-9._-]", clip(t.Buyer), MaxBuyerIDLen)
	}
	if err := t.Submission.validate(t.Buyer); err != nil {
		return err
	}
	if len(t.Spec) == 0 || len(t.Spec) > MaxSpecBytes {
		return fmt.Errorf("spec of %d bytes, want 1..%d", len(t.Spec), MaxSpecBytes)
	}
	if t.JobTime <= 0 {
		return fmt.Errorf("job time %d is not after 1970", t.JobTime)
	}
	if t.EffectiveMinimum < 1 {
		return errors.New("effective minimum cohort 0")
	}
	if err := t.validateRecords(); err != nil {
		return err
	}
	if err := t.validateNodes(); err != nil {
		return err
	}
	if c := len(t.Sums); c < 1 || c > MaxCoordinates {
		return fmt.Errorf("%d sums, want 1..%d", c, MaxCoordinates)
	}
	for i, s := range t.Sums {
		switch {
		case s.Value == nil || s.Value.BitLen() > 8*MaxSumBytes:
			return fmt.Errorf("sum %d (coordinate %d): not an integer in (−2^%d, 2^%d)", i, s.Coordinate, 8*MaxSumBytes, 8*MaxSumBytes)
		case i > 0 && t.Sums[i-1].Coordinate >= s.Coordinate:
			return fmt.Errorf("sum %d: coordinate %d does not follow coordinate %d", i, s.Coordinate, t.Sums[i-1].Coordinate)
		}
	}
	if len(t.Result) == 0 || len(t.Result) > MaxResultBytes {
		return fmt.Errorf("result of %d bytes, want 1..%d", len(t.Result), MaxResultBytes)
	}
	if t.RewardPerRecord > MaxReward {
		return fmt.Errorf("reward of %d micro-credits per record, at most %d", t.RewardPerRecord, MaxReward)
	}
	if t.Buyer == "" && t.RewardPerRecord != 0 {
		return fmt.Errorf("a reward of %d per record, but no buyer was charged", t.RewardPerRecord)
	}
	for i, r := range t.Roots {
		switch {
		case i > 0 && t.Roots[i-1].Version >= r.Version:
			return fmt.Errorf("root %d: version %d does not follow version %d", i, r.Version, t.Roots[i-1].Version)
		case r.SeenAt <= 0:
			return fmt.Errorf("root %d (version %d): seen at %d, not after 1970", i, r.Version, r.SeenAt)
		case r.SupersededAt != 0 && r.SupersededAt < r.SeenAt:
			return fmt.Errorf("root %d (version %d): superseded before it was seen", i, r.Version)
		case r.SupersededAt == 0 && i != len(t.Roots)-1:
			return fmt.Errorf("root %d (version %d): current, but a later version follows", i, r.Version)
		case i > 0 && t.Roots[i-1].SupersededAt > r.SeenAt:
			return fmt.Errorf("root %d (version %d): seen before version %d was superseded", i, r.Version, t.Roots[i-1].Version)
		}
	}
	return nil
}

// validate checks a submission's structure; buyer is the transcript's
// charged buyer, which must be the submitting one when set.
func (s *Submission) validate(buyer string) error {
	switch {
	case !validBuyerID(s.Buyer):
		return fmt.Errorf("submitting buyer %q is not 1..%d bytes of [A-Za-z0-9._-]", clip(s.Buyer), MaxBuyerIDLen)
	case buyer != "" && buyer != s.Buyer:
		return fmt.Errorf("the job is charged to buyer %q, but buyer %q submitted it", buyer, s.Buyer)
	case !validJobID(s.RequestID):
		return fmt.Errorf("request id %q is not 1..%d bytes of [A-Za-z0-9-]", clip(s.RequestID), MaxIDLen)
	case s.SubmittedAt <= 0:
		return fmt.Errorf("submitted at %d is not after 1970", s.SubmittedAt)
	case len(s.Signature) != SignatureSize:
		return fmt.Errorf("buyer signature of %d bytes, want %d", len(s.Signature), SignatureSize)
	}
	return nil
}

// validateRecords checks the records: sizes, nullifier order, and a
// ciphertext exactly for an HE transcript, all of the aggregate's size
// (one parameter set).
func (t *Transcript) validateRecords() error {
	for i := range t.Records {
		var prev *[32]byte
		if i > 0 {
			prev = &t.Records[i-1].Nullifier
		}
		if err := validateRecord(i, &t.Records[i], prev, t.hasDecryptionSet(), len(t.Aggregate)); err != nil {
			return err
		}
	}
	return nil
}

// validateRecord checks record i of a transcript: its sizes, that its
// nullifier follows prev's (nil for the first record), and that it has a
// ciphertext of ciphertextLen bytes exactly when heJob.
func validateRecord(i int, r *Record, prev *[32]byte, heJob bool, ciphertextLen int) error {
	switch {
	case len(r.Public) == 0 || len(r.Public) > MaxPublicBytes:
		return fmt.Errorf("%s: public inputs of %d bytes, want 1..%d", recordName(i, r.Nullifier), len(r.Public), MaxPublicBytes)
	case len(r.Proof) == 0 || len(r.Proof) > MaxProofBytes:
		return fmt.Errorf("%s: proof of %d bytes, want 1..%d", recordName(i, r.Nullifier), len(r.Proof), MaxProofBytes)
	case prev != nil && bytes.Compare(prev[:], r.Nullifier[:]) >= 0:
		if *prev == r.Nullifier {
			return fmt.Errorf("%s: nullifier repeats record %d's", recordName(i, r.Nullifier), i-1)
		}
		return fmt.Errorf("%s: not after record %d in nullifier order", recordName(i, r.Nullifier), i-1)
	case !heJob && len(r.Ciphertext) != 0:
		return fmt.Errorf("%s: a ciphertext in a transcript without a decryption set (MPC)", recordName(i, r.Nullifier))
	case heJob && len(r.Ciphertext) != ciphertextLen:
		return fmt.Errorf("%s: ciphertext of %d bytes, the aggregate has %d", recordName(i, r.Nullifier), len(r.Ciphertext), ciphertextLen)
	}
	return nil
}

// validateNodes checks the nodes' evidence, the coordinator, and for HE
// the decryption set and the aggregate.
func (t *Transcript) validateNodes() error {
	heJob := t.hasDecryptionSet()
	minNodes := dataset.MinNodes
	if heJob {
		minNodes = 1 // the live nodes; whether they reach the threshold is Verify's to say
	}
	if k := len(t.Nodes); k < minNodes || k > dataset.MaxNodes {
		return fmt.Errorf("evidence of %d nodes, want %d..%d", k, minNodes, dataset.MaxNodes)
	}
	coordinator := false
	for i, n := range t.Nodes {
		switch {
		case !heJob && n.Index != uint32(i):
			return fmt.Errorf("node entry %d is for node %d: nodes must be listed by index", i, n.Index)
		case heJob && n.Index >= dataset.MaxNodes:
			return fmt.Errorf("node entry %d is for node %d: indices are below %d", i, n.Index, dataset.MaxNodes)
		case heJob && i > 0 && n.Index <= t.Nodes[i-1].Index:
			return fmt.Errorf("node entry %d is for node %d after node %d: nodes must be listed by ascending index", i, n.Index, t.Nodes[i-1].Index)
		case len(n.SetSignature) != SignatureSize:
			return fmt.Errorf("node %d: set signature of %d bytes, want %d", n.Index, len(n.SetSignature), SignatureSize)
		case !heJob && (len(n.Partial) == 0 || len(n.Partial) > maxPartialBytes):
			return fmt.Errorf("node %d: partial of %d bytes, want 1..%d", n.Index, len(n.Partial), maxPartialBytes)
		case len(n.Partial) > maxPartialBytes:
			return fmt.Errorf("node %d: decryption share of %d bytes, at most %d", n.Index, len(n.Partial), maxPartialBytes)
		case len(n.Partial) > 0 && len(n.PartialSignature) != SignatureSize:
			return fmt.Errorf("node %d: partial signature of %d bytes, want %d", n.Index, len(n.PartialSignature), SignatureSize)
		case len(n.Partial) == 0 && len(n.PartialSignature) != 0:
			return fmt.Errorf("node %d: a partial signature without a partial", n.Index)
		case heJob && len(n.Partial) > 0 != slices.Contains(t.DecryptionSet, n.Index):
			if len(n.Partial) == 0 {
				return fmt.Errorf("node %d: in the decryption set, but no decryption share", n.Index)
			}
			return fmt.Errorf("node %d: a decryption share, but not in the decryption set", n.Index)
		case n.Debit != nil && len(n.Partial) == 0:
			return fmt.Errorf("node %d: a privacy debit, but it released no partial", n.Index)
		}
		if err := validateDebit(n.Index, n.Debit); err != nil {
			return fmt.Errorf("node %d: privacy debit: %w", n.Index, err)
		}
		coordinator = coordinator || n.Index == t.Coordinator
	}
	if !coordinator {
		return fmt.Errorf("coordinator %d is not one of the %d listed nodes", t.Coordinator, len(t.Nodes))
	}
	if !heJob {
		if len(t.Aggregate) != 0 {
			return errors.New("an aggregate ciphertext in a transcript without a decryption set (MPC)")
		}
		return nil
	}
	for i, x := range t.DecryptionSet {
		switch {
		case i > 0 && x <= t.DecryptionSet[i-1]:
			return fmt.Errorf("decryption set %v is not in ascending order", t.DecryptionSet)
		case !slices.ContainsFunc(t.Nodes, func(n NodeEvidence) bool { return n.Index == x }):
			return fmt.Errorf("decryption-set node %d has no evidence: not a live node", x)
		}
	}
	if len(t.Aggregate) == 0 || len(t.Aggregate) > maxCiphertextBytes() {
		return fmt.Errorf("aggregate ciphertext of %d bytes, want 1..%d", len(t.Aggregate), maxCiphertextBytes())
	}
	return nil
}

// Digest returns SHA-256("cohort/v1/job-transcript" ‖ 0x00 ‖ encoding):
// what every node signs (TranscriptStatement) and what names the transcript.
func (t *Transcript) Digest() ([32]byte, error) {
	b, err := t.MarshalBinary()
	if err != nil {
		return [32]byte{}, err
	}
	return taggedDigest(TagTranscript, b), nil
}

func taggedDigest(tag string, b []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tag))
	h.Write([]byte{0})
	h.Write(b)
	return [32]byte(h.Sum(nil))
}

// deterministic is the deterministic protobuf encoding the transcript
// holds and digests.
var deterministic = proto.MarshalOptions{Deterministic: true}

// SpecDigest returns SHA-256("cohort/v1/job-spec" ‖ 0x00 ‖ the spec's
// deterministic encoding): the SpecDigest of attest.JobEligibleSet.
func SpecDigest(spec *cohortv1.JobSpec) ([32]byte, error) {
	b, err := deterministic.Marshal(spec)
	if err != nil {
		return [32]byte{}, fmt.Errorf("audit: encode spec: %w", err)
	}
	return taggedDigest(TagSpec, b), nil
}

// DescriptorDigest returns SHA-256("cohort/v1/dataset-descriptor" ‖ 0x00 ‖
// the descriptor's deterministic encoding).
func DescriptorDigest(d *cohortv1.DatasetDescriptor) ([32]byte, error) {
	b, err := deterministic.Marshal(d)
	if err != nil {
		return [32]byte{}, fmt.Errorf("audit: encode descriptor: %w", err)
	}
	return taggedDigest(TagDescriptor, b), nil
}

// validJobID reports whether id is 1..64 bytes of [A-Za-z0-9-], as job
// ids are.
func validJobID(id string) bool {
	if len(id) < 1 || len(id) > MaxIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validBuyerID reports whether id is 1..64 bytes of [A-Za-z0-9._-], as
// buyer ids are.
func validBuyerID(id string) bool {
	if len(id) < 1 || len(id) > MaxBuyerIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// recordName names a record in messages: "record 7 (nullifier ab12cd34…)".
func recordName(i int, nf [32]byte) string {
	return fmt.Sprintf("record %d (nullifier %s…)", i, hex.EncodeToString(nf[:4]))
}

// clip cuts a string from outside to its first 64 bytes for messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

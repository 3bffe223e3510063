package audit

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"math/big"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// BuildInput is what the coordinating node holds when a job is DONE.
type BuildInput struct {
	// JobID is the job's id.
	JobID string
	// Buyer is the buyer the job was charged to (the nodes' debits name
	// it); empty for an exact release, which charges no one.
	Buyer string
	// Coordinator is the coordinating node's index.
	Coordinator uint32
	// Submission is the buyer's signed submission of the job, and
	// BuyerKey the buyer's Ed25519 public key it was checked against.
	Submission *cohortv1.JobSubmission
	BuyerKey   []byte
	// Spec is the job's spec.
	Spec *cohortv1.JobSpec
	// Descriptor is the dataset's descriptor (READY).
	Descriptor *cohortv1.DatasetDescriptor
	// Records is the cohort the job counted, in any order: for each record,
	// its nullifier and payload digest as stored, its stored public inputs
	// and proof (store.Contribution Public and Proof) and, for HE, its
	// stored ciphertext (store.Contribution Share: the canonical
	// he.Ciphertext encoding).
	Records []Record
	// Evidence is the job's evidence: job time, spec digest, the signed
	// selection of every node (MPC) or of every live node (HE), the
	// partial digests (MPC: every node's; HE: the decryption set's), the
	// coordinates and their sums, and each node's privacy debit
	// (NodeJobEvidence.debit) where it debited its ledger.
	Evidence *cohortv1.JobEvidence
	// Sums are the released sums, one per coordinate of the evidence, as
	// the combiner read them: signed, since noise can make a sum
	// negative. When nil, the evidence's released_sums (signed decimals) are read.
	Sums []*big.Int
	// Partials holds node i's encoded partial at index i, as it sent and
	// signed it, for every node of the dataset (len = node count). MPC:
	// every node's partial sum (mpc.Partial). HE: the decryption share
	// (he.PartialDecryption) of each node of DecryptionSet, empty for
	// every other node.
	Partials [][]byte
	// DecryptionSet is empty for MPC. HE: the nodes whose decryption
	// shares the coordinator combined, the threshold-many lowest indices
	// of the live nodes, ascending.
	DecryptionSet []uint32
	// Aggregate is empty for MPC. HE: the aggregate ciphertext the
	// decryption set decrypted (canonical he.Ciphertext encoding).
	Aggregate []byte
	// Result is the released result; its transcript_id is left out of the
	// transcript.
	Result *cohortv1.Result
	// Roots is the registry root history to include, in any order: the
	// whole history up to the job, or at least the entries of the roots
	// the records were proven against.
	Roots []Root
}

// Build assembles the transcript of a finished job. It checks that the
// parts fit together structurally — the descriptor decodes and is READY,
// the spec is the dataset's and is the one the evidence names, every node
// of the dataset (MPC) or at least the threshold of live nodes with the
// coordinator among them (HE) has evidence with Ed25519 signatures, the
// decryption set is the threshold-many lowest live nodes (HE), every
// partial matches the digest its node reported, every privacy debit sits
// beside a partial and is structurally sound, every ciphertext has the
// size of the dataset's parameter set (HE), one sum per coordinate — and
// returns ErrInvalid otherwise. It does not check proofs, signatures,
// ciphertexts' contents or the release: run Verify on the bundle for
// that. The inputs are not modified and the transcript shares no memory
// with them.
func Build(in BuildInput) (*Transcript, error) {
	ds, err := dataset.From(in.Descriptor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !ds.Ready() {
		return nil, fmt.Errorf("%w: dataset %q is %s, not READY", ErrInvalid, ds.Desc.GetId(), ds.Desc.GetState())
	}
	if in.Spec == nil || in.Evidence == nil || in.Result == nil {
		return nil, fmt.Errorf("%w: spec, evidence and result are all required", ErrInvalid)
	}
	if in.Spec.GetDatasetId() != ds.Desc.GetId() {
		return nil, fmt.Errorf("%w: spec is for dataset %q, descriptor for %q", ErrInvalid, clip(in.Spec.GetDatasetId()), ds.Desc.GetId())
	}
	spec, err := deterministic.Marshal(in.Spec)
	if err != nil {
		return nil, fmt.Errorf("%w: encode spec: %w", ErrInvalid, err)
	}
	ev := in.Evidence
	if sd := taggedDigest(TagSpec, spec); !bytes.Equal(ev.GetSpecDigest(), sd[:]) {
		return nil, fmt.Errorf("%w: the evidence is for another spec", ErrInvalid)
	}
	dd, err := DescriptorDigest(in.Descriptor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	res := proto.Clone(in.Result).(*cohortv1.Result)
	res.TranscriptId = ""
	result, err := deterministic.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("%w: encode result: %w", ErrInvalid, err)
	}
	t := &Transcript{
		JobID: in.JobID, DatasetID: ds.Desc.GetId(), Buyer: in.Buyer, Coordinator: in.Coordinator, Spec: spec, JobTime: ev.GetJobTime(),
		Submission: Submission{Buyer: in.Submission.GetBuyerId(), RequestID: in.Submission.GetRequestId(), SubmittedAt: in.Submission.GetSubmittedAt(),
			PublicKey: key32(in.BuyerKey), Signature: bytes.Clone(in.Submission.GetSignature())},
		DescriptorDigest: dd, EffectiveMinimum: enclave.EffectiveMinimum(in.Spec, ds.Schema), Result: result,
	}

	t.Records = make([]Record, len(in.Records))
	for i, r := range in.Records {
		t.Records[i] = Record{Nullifier: r.Nullifier, PayloadDigest: r.PayloadDigest, Public: slices.Clone(r.Public), Proof: slices.Clone(r.Proof),
			Ciphertext: slices.Clone(r.Ciphertext)}
	}
	slices.SortFunc(t.Records, func(a, b Record) int { return bytes.Compare(a.Nullifier[:], b.Nullifier[:]) })

	if err := buildNodes(t, in, ds); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}

	sums := in.Sums
	if sums == nil {
		for i, d := range ev.GetReleasedSums() {
			v, ok := new(big.Int).SetString(d, 10)
			if !ok {
				return nil, fmt.Errorf("%w: evidence sum %d is not a decimal integer", ErrInvalid, i)
			}
			sums = append(sums, v)
		}
	}
	if len(ev.GetCoordinates()) != len(sums) {
		return nil, fmt.Errorf("%w: evidence has %d coordinates and %d sums", ErrInvalid, len(ev.GetCoordinates()), len(sums))
	}
	t.Sums = make([]Sum, len(sums))
	for i, c := range ev.GetCoordinates() {
		if sums[i] == nil {
			return nil, fmt.Errorf("%w: no sum at coordinate %d", ErrInvalid, c)
		}
		t.Sums[i] = Sum{Coordinate: c, Value: new(big.Int).Set(sums[i])}
	}

	t.Roots = slices.Clone(in.Roots)
	slices.SortFunc(t.Roots, func(a, b Root) int { return cmp.Compare(a.Version, b.Version) })

	t.RewardPerRecord = RewardOf(in.Descriptor, in.Buyer)
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if t.ClaimRoot, err = ClaimRootOf(t.Records); err != nil {
		return nil, fmt.Errorf("%w: nullifier tree: %w", ErrInvalid, err)
	}
	return t, nil
}

// buildNodes fills in the nodes' evidence, and for HE the decryption set
// and the aggregate, once the dataset's backend found the job of its form
// (backend.Audit.AuditForm).
func buildNodes(t *Transcript, in BuildInput, ds *dataset.Dataset) error {
	be, err := backend.For(ds)
	if err != nil {
		return err
	}
	f := backend.JobForm{Coordinator: in.Coordinator, DecryptionSet: in.DecryptionSet, Aggregate: in.Aggregate,
		Records: make([]backend.FormRecord, len(in.Records)), Live: make([]uint32, 0, len(in.Evidence.GetNodes()))}
	for i, r := range in.Records {
		f.Records[i] = backend.FormRecord{Nullifier: r.Nullifier, Ciphertext: r.Ciphertext}
	}
	for _, e := range in.Evidence.GetNodes() {
		f.Live = append(f.Live, e.GetNodeIndex())
	}
	hasPartial, err := be.AuditForm(f)
	if err != nil {
		return err
	}
	if t.Nodes, err = nodesOf(in.Evidence, in.Partials, int(ds.Desc.GetNodeCount()), hasPartial); err != nil {
		return err
	}
	if len(in.DecryptionSet) > 0 || len(in.Aggregate) > 0 {
		t.DecryptionSet, t.Aggregate = slices.Clone(in.DecryptionSet), slices.Clone(in.Aggregate)
	}
	return nil
}

// nodesOf converts the evidence of the nodes listed, each a distinct
// node of the k, by ascending index; partials holds node i's partial at
// index i, present exactly for the nodes hasPartial names.
func nodesOf(ev *cohortv1.JobEvidence, partials [][]byte, k int, hasPartial func(int) bool) ([]NodeEvidence, error) {
	if len(partials) != k {
		return nil, fmt.Errorf("%d partials, the dataset has %d nodes", len(partials), k)
	}
	out := make([]NodeEvidence, 0, len(ev.GetNodes()))
	seen := make([]bool, k)
	for _, e := range ev.GetNodes() {
		i := int(e.GetNodeIndex())
		if i >= k || seen[i] {
			return nil, fmt.Errorf("evidence for node %d is out of range or repeated", i)
		}
		seen[i] = true
		set := e.GetSet()
		if set == nil || len(set.GetDigest()) != 32 {
			return nil, fmt.Errorf("node %d: no selection with a 32-byte set digest", i)
		}
		setSig, err := signatureOf(e.GetSetSignature(), i)
		if err != nil {
			return nil, fmt.Errorf("node %d: set signature: %w", i, err)
		}
		n := NodeEvidence{
			Index: uint32(i), Eligible: set.GetEligible(), Cohort: set.GetCohort(), SetDigest: [32]byte(set.GetDigest()),
			Excluded: enclave.ExclusionsOf(set.GetExcluded()), SetSignature: setSig,
		}
		p := partials[i]
		if !hasPartial(i) {
			if len(p) != 0 || len(e.GetPartialDigest()) != 0 || e.GetPartialSignature() != nil {
				return nil, fmt.Errorf("node %d: a partial, but the node is not in the decryption set", i)
			}
			if e.GetDebit() != nil {
				return nil, fmt.Errorf("node %d: a privacy debit, but the node released no partial", i)
			}
			out = append(out, n)
			continue
		}
		if len(p) == 0 {
			return nil, fmt.Errorf("node %d: no partial", i)
		}
		if n.PartialSignature, err = signatureOf(e.GetPartialSignature(), i); err != nil {
			return nil, fmt.Errorf("node %d: partial signature: %w", i, err)
		}
		if d := sha256.Sum256(p); !bytes.Equal(e.GetPartialDigest(), d[:]) {
			return nil, fmt.Errorf("node %d: the partial is not the one whose digest the node reported", i)
		}
		n.Partial = slices.Clone(p)
		if n.Debit, err = debitOf(e.GetDebit(), uint32(i)); err != nil {
			return nil, fmt.Errorf("node %d: privacy debit: %w", i, err)
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b NodeEvidence) int { return cmp.Compare(a.Index, b.Index) })
	return out, nil
}

// signatureOf returns the bytes of node's Ed25519 signature.
func signatureOf(s *cohortv1.NodeSignature, node int) ([]byte, error) {
	switch {
	case s == nil:
		return nil, fmt.Errorf("missing")
	case s.GetNodeIndex() != uint32(node):
		return nil, fmt.Errorf("made by node %d", s.GetNodeIndex())
	case s.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 || len(s.GetSignature()) != SignatureSize:
		return nil, fmt.Errorf("not a %d-byte Ed25519 signature", SignatureSize)
	}
	return slices.Clone(s.GetSignature()), nil
}

// key32 is a 32-byte key, zero for any other length (which no signature
// verifies under).
func key32(b []byte) [32]byte {
	if len(b) != 32 {
		return [32]byte{}
	}
	return [32]byte(b)
}

package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/consensys/gnark/constraint"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The claim keys' ceremony (docs/design.md §5.9). The claim circuit's keys
// are the federation's, made once by a ceremony among all its nodes that
// no dataset names. Its record (cohortv1.ClaimCeremony) holds the plan,
// the nodes' keys, the verifying key, the SHA-256 of the proving key and
// every contribution's attestation, and every node signs its digest
// (attest.ClaimKeys) before any node stores the keys. A client checks a
// served proving key against the record (CheckClaimProvingKey); an auditor
// replays the transcript against it (VerifyClaimCeremony).

// ErrClaimCeremony is wrapped by every refusal of a claim ceremony's
// record, transcript or proving key.
var ErrClaimCeremony = errors.New("audit: claim ceremony")

// claimCeremonyTag is the domain tag of a claim ceremony record's digest.
const claimCeremonyTag = "cohort/v1/claim-ceremony"

// ClaimCeremonyDigest is SHA-256(tag ‖ 0x00 ‖ the deterministic encoding
// of rec without signatures): what every node signs.
func ClaimCeremonyDigest(rec *cohortv1.ClaimCeremony) ([32]byte, error) {
	c := proto.Clone(rec).(*cohortv1.ClaimCeremony)
	c.Signatures = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: encode record: %v", ErrClaimCeremony, err)
	}
	h := sha256.New()
	h.Write([]byte(claimCeremonyTag))
	h.Write([]byte{0})
	h.Write(b)
	return [32]byte(h.Sum(nil)), nil
}

// ClaimCeremonyStatement is the statement a node signs over rec.
func ClaimCeremonyStatement(rec *cohortv1.ClaimCeremony) (attest.ClaimKeys, error) {
	d, err := ClaimCeremonyDigest(rec)
	if err != nil {
		return attest.ClaimKeys{}, err
	}
	return attest.ClaimKeys{CeremonyID: rec.GetCeremony().GetCeremonyId(), RecordDigest: d}, nil
}

// CheckClaimCeremonySignatures checks that rec carries exactly one valid
// signature per node it names, in index order, under that node's signing
// key. The keys are worth what the caller's pin of them is
// (federation.Descriptor.CheckDataset over the nodes).
func CheckClaimCeremonySignatures(rec *cohortv1.ClaimCeremony) error {
	nodes, sigs := rec.GetNodes(), rec.GetSignatures()
	if len(nodes) == 0 || len(sigs) != len(nodes) {
		return fmt.Errorf("%w: %d signatures for %d nodes", ErrClaimCeremony, len(sigs), len(nodes))
	}
	st, err := ClaimCeremonyStatement(rec)
	if err != nil {
		return err
	}
	for i, s := range sigs {
		if s.GetNodeIndex() != uint32(i) || s.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 ||
			nodes[i].GetIndex() != uint32(i) || attest.Verify(nodes[i].GetSigningPublicKey(), st, s.GetSignature()) != nil {
			return fmt.Errorf("%w: node %d's signature does not verify over this record", ErrClaimCeremony, i)
		}
	}
	return nil
}

// CheckClaimProvingKey checks a served claim proving key against a signed
// record: every node signed the record and the key's SHA-256 is the one
// every node derived.
func CheckClaimProvingKey(rec *cohortv1.ClaimCeremony, pk []byte) error {
	if err := CheckClaimCeremonySignatures(rec); err != nil {
		return err
	}
	if d := sha256.Sum256(pk); !bytes.Equal(d[:], rec.GetProvingKeyDigest()) {
		return fmt.Errorf("%w: the proving key's SHA-256 %x… is not the ceremony's %x…", ErrClaimCeremony, d[:4], prefix(rec.GetProvingKeyDigest()))
	}
	return nil
}

// ClaimCeremonyRecord is the record of a claim-key ceremony with plan
// info (which must be SEALED with the transcript's digest and beacons)
// that ended with transcript t, whose proving key encodes to pk, among
// nodes, with attestations atts; without signatures. Every node builds it
// alike from what it holds, and signs its digest.
func ClaimCeremonyRecord(info *cohortv1.CeremonyInfo, nodes []*cohortv1.NodeInfo, t *setup.Transcript, pk []byte, atts []*cohortv1.CeremonyAttestation) *cohortv1.ClaimCeremony {
	d := sha256.Sum256(pk)
	rec := &cohortv1.ClaimCeremony{
		Ceremony:         proto.Clone(info).(*cohortv1.CeremonyInfo),
		VerifyingKey:     bytes.Clone(t.VerifyingKey),
		ProvingKeyDigest: d[:],
	}
	for _, n := range nodes {
		rec.Nodes = append(rec.Nodes, proto.Clone(n).(*cohortv1.NodeInfo))
	}
	for _, a := range atts {
		rec.Contributions = append(rec.Contributions, proto.Clone(a).(*cohortv1.CeremonyAttestation))
	}
	return rec
}

// ClaimCeremonyCheck is what VerifyClaimCeremony established.
type ClaimCeremonyCheck struct {
	Nodes        int
	DomainSize   uint64
	BeaconSource string
	// VerifyingKey is the claim verifying key the transcript yields (the
	// record's, byte for byte).
	VerifyingKey []byte
}

// VerifyClaimCeremony checks a claim ceremony offline: the record is
// signed by every node it names; its plan is the claim circuit's (the
// digest and domain of circuits.CompileClaim, compiled here), every node
// once in index order; the transcript has that digest, one contribution
// per node and phase, each attested by the node due at its position; and
// replayed from the public initial states it yields the record's
// verifying key and a proving key of the record's digest. Errors wrap
// ErrClaimCeremony.
func VerifyClaimCeremony(rec *cohortv1.ClaimCeremony, transcript []byte) (*ClaimCeremonyCheck, error) {
	if err := CheckClaimCeremonySignatures(rec); err != nil {
		return nil, err
	}
	info, nodes := rec.GetCeremony(), rec.GetNodes()
	want := make([]uint32, len(nodes))
	for i := range want {
		want[i] = uint32(i)
	}
	if info.GetDatasetId() != "" || info.GetState() != cohortv1.CeremonyState_CEREMONY_STATE_SEALED || !slices.Equal(info.GetParticipants(), want) {
		return nil, fmt.Errorf("%w: the plan is not a sealed ceremony of every node, in index order, for no dataset", ErrClaimCeremony)
	}
	sys, err := compiledClaim()
	if err != nil {
		return nil, err
	}
	cd, err := setup.CircuitDigest(sys.CCS)
	if err != nil {
		return nil, err
	}
	domain, err := setup.DomainSize(sys.CCS)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(info.GetCircuitDigest(), cd[:]) || info.GetDomainSize() != domain {
		return nil, fmt.Errorf("%w: the ceremony is for circuit %x… over a domain of %d, the claim circuit is %x… over %d",
			ErrClaimCeremony, prefix(info.GetCircuitDigest()), info.GetDomainSize(), cd[:4], domain)
	}
	var t setup.Transcript
	if err := t.UnmarshalBinary(transcript); err != nil {
		return nil, fmt.Errorf("%w: transcript: %v", ErrClaimCeremony, err)
	}
	td, err := t.Digest()
	if err != nil {
		return nil, fmt.Errorf("%w: transcript: %v", ErrClaimCeremony, err)
	}
	switch {
	case !bytes.Equal(td[:], info.GetTranscriptDigest()):
		return nil, fmt.Errorf("%w: the transcript's digest %x… is not the record's %x…", ErrClaimCeremony, td[:4], prefix(info.GetTranscriptDigest()))
	case t.CircuitDigest != cd || t.DomainSize != domain:
		return nil, fmt.Errorf("%w: the transcript is for another circuit", ErrClaimCeremony)
	case len(t.Phase1) != len(nodes) || len(t.Phase2) != len(nodes):
		return nil, fmt.Errorf("%w: %d phase-1 and %d phase-2 contributions; %d nodes must each make one in each phase",
			ErrClaimCeremony, len(t.Phase1), len(t.Phase2), len(nodes))
	case !bytes.Equal(t.VerifyingKey, rec.GetVerifyingKey()):
		return nil, fmt.Errorf("%w: the transcript records another verifying key than the record's", ErrClaimCeremony)
	}
	who, err := dataset.CheckAttestations(info.GetCeremonyId(), nodes, rec.GetContributions(), t.Phase1, t.Phase2)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaimCeremony, err)
	}
	for _, w := range who {
		if !slices.Equal(w, want) {
			return nil, fmt.Errorf("%w: the contributions are not each node's once, in index order", ErrClaimCeremony)
		}
	}
	vk, pd, err := replayClaimCeremony(&t, transcript, sys.CCS)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(vk, rec.GetVerifyingKey()) || !bytes.Equal(pd[:], rec.GetProvingKeyDigest()) {
		return nil, fmt.Errorf("%w: the transcript yields other keys than the record's", ErrClaimCeremony)
	}
	return &ClaimCeremonyCheck{Nodes: len(nodes), DomainSize: domain, BeaconSource: info.GetBeaconSource(), VerifyingKey: vk}, nil
}

// compiledClaim is the claim circuit, compiled once per process.
var compiledClaim = sync.OnceValues(circuits.CompileClaim)

// replayed remembers the keys of claim ceremony transcripts this process
// replayed, by the transcript's SHA-256: a replay is deterministic and
// takes seconds, and an auditor checks one federation's ceremony again
// for every node it asks.
var replayed = struct {
	sync.Mutex
	m map[[32]byte]replayedKeys
}{m: map[[32]byte]replayedKeys{}}

type replayedKeys struct {
	vk []byte
	pd [32]byte
}

// replayClaimCeremony replays t (encoded as tb) over ccs and returns the
// verifying key's encoding and the proving key's SHA-256.
func replayClaimCeremony(t *setup.Transcript, tb []byte, ccs constraint.ConstraintSystem) ([]byte, [32]byte, error) {
	key := sha256.Sum256(tb)
	replayed.Lock()
	k, ok := replayed.m[key]
	replayed.Unlock()
	if ok {
		return bytes.Clone(k.vk), k.pd, nil
	}
	keys, err := t.DeriveKeys(ccs)
	if err != nil {
		return nil, [32]byte{}, fmt.Errorf("%w: the transcript does not re-verify: %v", ErrClaimCeremony, err)
	}
	vk, err := setup.MarshalVerifyingKey(keys.VK)
	if err != nil {
		return nil, [32]byte{}, err
	}
	pk, err := setup.MarshalProvingKey(keys.PK)
	if err != nil {
		return nil, [32]byte{}, err
	}
	k = replayedKeys{vk: vk, pd: sha256.Sum256(pk)}
	replayed.Lock()
	if len(replayed.m) >= 8 {
		clear(replayed.m)
	}
	replayed.m[key] = k
	replayed.Unlock()
	return bytes.Clone(vk), k.pd, nil
}

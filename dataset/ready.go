package dataset

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The READY descriptor's signatures and the ceremony's attested
// contributions (docs/design.md §5.5).
//
// When a dataset becomes READY every node signs the digest of its
// descriptor (ReadyStatement), and the signatures travel in the
// descriptor itself (ready_signatures, left out of the digest). A
// contributor or auditor that pins the federation's keys and checks them
// all (CheckReadySignatures) knows that no single node substituted or
// altered the descriptor it was served: the others would not have signed
// it. The descriptor also names, for each contribution of the setup
// ceremony, the node that made it, with that node's signature over the
// contribution's hash (CheckContributions): an auditor can tell that every
// node contributed to each phase, once.

// ErrUnsigned is wrapped by CheckReadySignatures for a READY descriptor
// that lacks a valid signature from one of its nodes.
var ErrUnsigned = errors.New("dataset: descriptor not signed by every node")

// ErrContributions is wrapped by CheckContributions for a ceremony whose
// contributions are not each attested by the node that made it.
var ErrContributions = errors.New("dataset: ceremony contributions not attested")

// descriptorTag is the domain tag of a descriptor's digest; it is the
// audit's descriptor tag, so the READY digest of a descriptor without
// signatures equals its audit digest.
const descriptorTag = "cohort/v1/dataset-descriptor"

// ReadyDigest is SHA-256(descriptorTag ‖ 0x00 ‖ the deterministic
// encoding of d without ready_signatures): what every node signs.
func ReadyDigest(d *cohortv1.DatasetDescriptor) ([32]byte, error) {
	c := proto.Clone(d).(*cohortv1.DatasetDescriptor)
	c.ReadySignatures = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return [32]byte{}, fmt.Errorf("dataset: encode descriptor: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(descriptorTag))
	h.Write([]byte{0})
	h.Write(b)
	return [32]byte(h.Sum(nil)), nil
}

// ReadyStatement is the statement a node signs over d.
func ReadyStatement(d *cohortv1.DatasetDescriptor) (attest.DatasetReady, error) {
	dg, err := ReadyDigest(d)
	if err != nil {
		return attest.DatasetReady{}, err
	}
	return attest.DatasetReady{DatasetID: d.GetId(), DescriptorDigest: dg}, nil
}

// SignReady returns node index's READY signature over d with its signing
// key.
func SignReady(d *cohortv1.DatasetDescriptor, index uint32, key ed25519.PrivateKey) (*cohortv1.NodeSignature, error) {
	st, err := ReadyStatement(d)
	if err != nil {
		return nil, err
	}
	return &cohortv1.NodeSignature{NodeIndex: index, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: attest.Sign(key, st)}, nil
}

// CheckReadySignatures checks that d carries exactly one valid READY
// signature per node, in index order, each under the signing key d names
// for that node; errors wrap ErrUnsigned. It checks nothing else of d: the
// keys are worth what the caller's pin of them is
// (federation.Descriptor.CheckDataset).
func CheckReadySignatures(d *cohortv1.DatasetDescriptor) error {
	nodes, sigs := d.GetNodes(), d.GetReadySignatures()
	if len(sigs) != len(nodes) || len(nodes) == 0 {
		return fmt.Errorf("%w: dataset %q carries %d READY signatures for %d nodes", ErrUnsigned, d.GetId(), len(sigs), len(nodes))
	}
	st, err := ReadyStatement(d)
	if err != nil {
		return err
	}
	return checkNodeSignatures(sigs, nodes, st, func(i int) error {
		return fmt.Errorf("%w: dataset %q: node %d's READY signature does not verify over this descriptor", ErrUnsigned, d.GetId(), i)
	})
}

// checkNodeSignatures checks sigs[i] is node i's signature over st.
func checkNodeSignatures(sigs []*cohortv1.NodeSignature, nodes []*cohortv1.NodeInfo, st attest.Statement, bad func(int) error) error {
	for i, s := range sigs {
		if s.GetNodeIndex() != uint32(i) || s.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 ||
			attest.Verify(nodes[i].GetSigningPublicKey(), st, s.GetSignature()) != nil {
			return bad(i)
		}
	}
	return nil
}

// ContributionStatement is what node signs for its contribution at
// position of phase (1 or 2) of ceremony id.
func ContributionStatement(ceremonyID string, phase, position, node uint32, contribution []byte) attest.CeremonyContribution {
	return attest.CeremonyContribution{CeremonyID: ceremonyID, Phase: phase, Position: position, Node: node, Digest: sha256.Sum256(contribution)}
}

// AttestContribution returns node's attestation of its contribution.
func AttestContribution(ceremonyID string, phase, position, node uint32, contribution []byte, key ed25519.PrivateKey) *cohortv1.CeremonyAttestation {
	st := ContributionStatement(ceremonyID, phase, position, node, contribution)
	return &cohortv1.CeremonyAttestation{
		Phase: cohortv1.CeremonyPhase(phase), Position: position, ContributionDigest: st.Digest[:],
		Signature: &cohortv1.NodeSignature{NodeIndex: node, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: attest.Sign(key, st)},
	}
}

// CheckContributions checks d's ceremony_contributions against the
// ceremony's two phases (the transcript's contributions, in order): one
// attestation per contribution, phase 1 then 2 by position, each naming
// the SHA-256 of that contribution and signed by the node it names under
// the signing key d gives it, and no node twice in a phase. It returns,
// per phase, the node that made each contribution. Whether every node took
// part is the caller's to check (a ceremony has each node once: len(phase)
// equal to the node count). Errors wrap ErrContributions.
func CheckContributions(d *cohortv1.DatasetDescriptor, phase1, phase2 [][]byte) ([2][]uint32, error) {
	return CheckAttestations(d.GetCeremonyId(), d.GetNodes(), d.GetCeremonyContributions(), phase1, phase2)
}

// CheckAttestations is CheckContributions for any ceremony: atts are its
// attestations, nodes the nodes that may make them (the claim keys'
// ceremony has no dataset, docs/design.md §5.9).
func CheckAttestations(ceremonyID string, nodes []*cohortv1.NodeInfo, atts []*cohortv1.CeremonyAttestation, phase1, phase2 [][]byte) ([2][]uint32, error) {
	var who [2][]uint32
	if len(atts) != len(phase1)+len(phase2) {
		return who, fmt.Errorf("%w: %d attestations for %d contributions", ErrContributions, len(atts), len(phase1)+len(phase2))
	}
	k := 0
	for p, list := range [][][]byte{phase1, phase2} {
		phase := uint32(p + 1)
		seen := map[uint32]bool{}
		for pos, c := range list {
			a := atts[k]
			k++
			sig := a.GetSignature()
			node := sig.GetNodeIndex()
			st := ContributionStatement(ceremonyID, phase, uint32(pos), node, c)
			switch {
			case uint32(a.GetPhase()) != phase || a.GetPosition() != uint32(pos):
				return who, fmt.Errorf("%w: attestation %d is for phase %d position %d, not phase %d position %d",
					ErrContributions, k-1, a.GetPhase(), a.GetPosition(), phase, pos)
			case string(a.GetContributionDigest()) != string(st.Digest[:]):
				return who, fmt.Errorf("%w: phase %d position %d: the attested digest is not the contribution's", ErrContributions, phase, pos)
			case int(node) >= len(nodes):
				return who, fmt.Errorf("%w: phase %d position %d is attested by node %d, not a node of the dataset", ErrContributions, phase, pos, node)
			case seen[node]:
				return who, fmt.Errorf("%w: node %d made more than one contribution to phase %d", ErrContributions, node, phase)
			case sig.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 ||
				attest.Verify(nodes[node].GetSigningPublicKey(), st, sig.GetSignature()) != nil:
				return who, fmt.Errorf("%w: phase %d position %d: node %d's signature does not verify", ErrContributions, phase, pos, node)
			}
			seen[node] = true
			who[p] = append(who[p], node)
		}
	}
	return who, nil
}

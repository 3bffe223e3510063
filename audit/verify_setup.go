package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The checks of a transcript's dataset: its descriptor, circuit,
// verifying key and setup.

func (v *verification) checkDescriptor(c *check) {
	if v.b == nil {
		c.skip("no bundle")
		return
	}
	desc := new(cohortv1.DatasetDescriptor)
	if err := proto.Unmarshal(v.b.Descriptor, desc); err != nil {
		c.fail("the dataset descriptor does not decode: %v", err)
		return
	}
	if re, err := deterministic.Marshal(desc); err != nil || !bytes.Equal(re, v.b.Descriptor) {
		c.fail("the dataset descriptor is not in its deterministic encoding")
	}
	ds, err := dataset.From(desc)
	if err != nil {
		c.fail("the dataset descriptor is inconsistent: %v", err)
		return
	}
	switch desc.GetSetupKind() {
	case cohortv1.SetupKind_SETUP_KIND_CEREMONY:
		v.report.Setup = "ceremony"
	case cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV:
		v.report.Setup = "insecure-dev"
	}
	if !ds.Ready() {
		c.fail("dataset %s is %s, not READY: it has no keys", desc.GetId(), desc.GetState())
		return
	}
	if got := v.t.Backend(); desc.GetBackend() != got {
		c.fail("the dataset uses backend %s, the transcript is of a %s job (a decryption set is HE's alone)", desc.GetBackend(), got)
		return
	}
	be, err := backend.For(ds)
	if err != nil {
		c.fail("the dataset descriptor is inconsistent: %v", err)
		return
	}
	v.ds, v.be = ds, be
	v.job = v.auditJob()
	v.own, v.ownPass = be.AuditChecks(v.job)
	if desc.GetId() != v.t.DatasetID {
		c.fail("the descriptor is for dataset %q, the transcript for %q", desc.GetId(), v.t.DatasetID)
	}
	dd := taggedDigest(TagDescriptor, v.b.Descriptor)
	if dd != v.t.DescriptorDigest {
		c.fail("the descriptor's digest %x… differs from the one in the transcript, %x…", dd[:4], v.t.DescriptorDigest[:4])
	}
	v.checkPins(c, desc, dd)
	// Every node signed this very descriptor when it became READY: one
	// node cannot have substituted or altered it (docs/design.md §5.5).
	// The keys are the descriptor's, which checkPins holds to the pinned
	// federation's.
	if err := dataset.CheckReadySignatures(desc); err != nil {
		c.fail("%v", err)
	}
	detail, insecure := be.AuditDescriptor()
	if insecure != "" {
		if !v.o.allowDev {
			c.fail("%s (refused; allow it explicitly for development)", insecure)
			return
		}
		c.status, detail = Warn, insecure+"; "+detail
	}
	c.detail = detail
}

// checkPins checks the descriptor against what the auditor pinned, not
// taken from the bundle (docs/design.md §2.2): the federation's node keys
// and the descriptor's digest.
func (v *verification) checkPins(c *check, desc *cohortv1.DatasetDescriptor, digest [32]byte) {
	v.report.DescriptorDigest = hex.EncodeToString(digest[:])
	var pins []string
	if fed := v.o.fed; fed != nil {
		pins = append(pins, "federation")
		if err := fed.CheckDataset(desc); err != nil {
			c.fail("the dataset's nodes are not those of the pinned federation %q: %v", fed.Name, err)
		}
	}
	if want := v.o.digest; want != nil {
		pins = append(pins, "digest")
		if digest != *want {
			c.fail("the descriptor's digest %x is not the pinned %x", digest, *want)
		}
	}
	v.report.Pinned = strings.Join(pins, " and ")
}

// auditJob is the transcript as the backend's checks read it, its
// records aside: the record pass gives those to the backend's RecordPass.
func (v *verification) auditJob() *backend.AuditJob {
	t := v.t
	job := &backend.AuditJob{JobID: t.JobID, Cohort: v.n, DecryptionSet: t.DecryptionSet, Aggregate: t.Aggregate,
		Nodes: make([]backend.AuditNode, len(t.Nodes)), Sums: make([]backend.AuditSum, len(t.Sums))}
	for i, n := range t.Nodes {
		job.Nodes[i] = backend.AuditNode{Index: n.Index, SetDigest: n.SetDigest, Partial: n.Partial, PartialSignature: n.PartialSignature}
	}
	for i, s := range t.Sums {
		job.Sums[i] = backend.AuditSum{Coordinate: s.Coordinate, Value: s.Value}
	}
	return job
}

func (v *verification) checkCircuit(c *check) {
	if !v.needDataset(c) {
		return
	}
	v.ccs, v.numPublic = v.be.AuditCircuit(v.o.cache.compiler(), c)
}

func (v *verification) checkVerifyingKey(c *check) {
	if !v.needDataset(c) {
		return
	}
	desc := v.ds.Desc.GetVerifyingKey()
	if !bytes.Equal(v.b.VerifyingKey, desc) {
		c.fail("the bundle's verifying key (%d bytes) differs from the descriptor's (%d bytes) at byte %d",
			len(v.b.VerifyingKey), len(desc), firstDifference(v.b.VerifyingKey, desc))
		return
	}
	if v.numPublic == 0 {
		c.skip("the dataset has no circuit shape")
		return
	}
	vf, err := circuits.NewVerifier(v.ds.VK, v.numPublic)
	if err != nil {
		c.fail("the verifying key does not fit the circuit: %v", err)
		return
	}
	v.verifier = vf
	c.detail = fmt.Sprintf("%d bytes, equal to the descriptor's, for %d public inputs", len(desc), v.numPublic)
}

// insecureDevWarning is what the report says of a single-party setup.
const insecureDevWarning = "INSECURE DEVELOPMENT SETUP: the dataset's keys come from a single-party setup whose toxic waste " +
	"was known to one machine; whoever held it can forge proofs for any record, so the proofs vouch for nothing — never trust this result with real data"

func (v *verification) checkSetup(c *check) {
	if !v.needDataset(c) {
		return
	}
	desc := v.ds.Desc
	switch desc.GetSetupKind() {
	case cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV:
		if len(v.b.Ceremony) > 0 {
			c.fail("the descriptor says INSECURE_DEV, yet a ceremony transcript is attached")
			return
		}
		if !v.o.allowDev {
			c.fail("%s (refused; allow it explicitly for development)", insecureDevWarning)
			return
		}
		c.status, c.detail = Warn, insecureDevWarning
		return
	case cohortv1.SetupKind_SETUP_KIND_CEREMONY:
	default:
		c.fail("unknown setup kind %s", desc.GetSetupKind())
		return
	}
	if len(v.b.Ceremony) == 0 {
		c.fail("the dataset's keys come from a ceremony, but the bundle holds no ceremony transcript")
		return
	}
	var tr setup.Transcript
	if err := tr.UnmarshalBinary(v.b.Ceremony); err != nil {
		c.fail("the ceremony transcript does not decode: %v", err)
		return
	}
	// Every node contributes once to each phase (docs/design.md §5.5), so
	// that the keys are sound if one node is honest. Fewer contributions
	// mean some node's randomness is not in the keys; so does a node that
	// contributed twice in another's place. Each contribution is attested
	// in the descriptor by the node that made it.
	if k := uint64(desc.GetNodeCount()); uint64(len(tr.Phase1)) != k || uint64(len(tr.Phase2)) != k {
		c.fail("the ceremony has %d phase-1 and %d phase-2 contributions; a dataset of %d nodes needs one from each node in each phase; not replayed",
			len(tr.Phase1), len(tr.Phase2), k)
		return
	}
	if _, err := dataset.CheckContributions(desc, tr.Phase1, tr.Phase2); err != nil {
		c.fail("the ceremony's contributions are not each attested by a different node of the dataset: %v; not replayed", err)
		return
	}
	td, err := tr.Digest()
	if err != nil {
		c.fail("the ceremony transcript does not encode: %v", err)
		return
	}
	if !bytes.Equal(td[:], desc.GetCeremonyTranscriptDigest()) {
		c.fail("the ceremony transcript's digest %x… is not the descriptor's %x…; not replayed", td[:4], prefix(desc.GetCeremonyTranscriptDigest()))
		return
	}
	if !bytes.Equal(tr.VerifyingKey, desc.GetVerifyingKey()) {
		c.fail("the ceremony transcript records another verifying key than the descriptor's; not replayed")
		return
	}
	if v.ccs == nil {
		c.skip("the dataset's circuit did not check, so the ceremony cannot be replayed")
		return
	}
	key := ceremonyKey([32]byte(desc.GetCircuitDigest()), v.b.Ceremony)
	vk, ok := v.o.cache.ceremony(key)
	if !ok {
		k, err := tr.Verify(v.ccs)
		if err != nil {
			c.fail("the ceremony does not re-verify: %v", err)
			return
		}
		if vk, err = setup.MarshalVerifyingKey(k); err != nil {
			c.fail("the ceremony's verifying key does not encode: %v", err)
			return
		}
		v.o.cache.putCeremony(key, vk)
	}
	if !bytes.Equal(vk, desc.GetVerifyingKey()) {
		c.fail("the ceremony yields another verifying key than the descriptor's")
		return
	}
	beacon := desc.GetCeremonyBeaconSource()
	if beacon == "" {
		beacon = "an unstated source"
	}
	c.detail = fmt.Sprintf("ceremony %q re-verified: %d phase-1 and %d phase-2 contributions over a domain of %d, each checked against the one before, "+
		"one per node, each attested by the node that made it, "+
		"sealed with beacons from %s (that they are that source's public values is not checked offline); it yields the descriptor's verifying key byte for byte",
		clip(desc.GetCeremonyId()), len(tr.Phase1), len(tr.Phase2), tr.DomainSize, clip(beacon))
}

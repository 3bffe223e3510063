package audit

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/wire"
)

// BundleVersion is the version of the bundle encoding.
const BundleVersion = 1

// Bounds of a bundle's parts, whatever the Limits.
const (
	// MaxDescriptorBytes bounds the encoded descriptor, which carries the
	// verifying key (at most setup.MaxVerifyingKeySize) and the nodes' keys.
	MaxDescriptorBytes = setup.MaxVerifyingKeySize + 1<<20
	bundleMagic        = "CHJB"
)

// Limits bound what UnmarshalBundle and UnmarshalTranscript accept. The
// zero value accepts nothing; start from DefaultLimits.
type Limits struct {
	// MaxBytes bounds the whole encoding, ceremony transcript included.
	MaxBytes int64
	// MaxRecords bounds the records of a transcript.
	MaxRecords int
	// MaxRoots bounds the entries of the registry root history.
	MaxRoots int
	// MaxCiphertextBytes bounds each ciphertext of an HE transcript (the
	// records' and the aggregate). Whatever it says, no ciphertext larger
	// than he.EncodedSize of the largest parameter set is accepted.
	MaxCiphertextBytes int
}

// ciphertextBytes is the bound on one ciphertext under l.
func (l Limits) ciphertextBytes() uint64 {
	return uint64(max(0, min(l.MaxCiphertextBytes, maxCiphertextBytes())))
}

// DefaultLimits returns limits for a cohort of up to a million records
// (about 1 KiB each for MPC) and a ceremony transcript of up to about
// 3 GiB: the largest bundle a node of the default configuration produces;
// ciphertexts of any parameter set package he knows. An HE record carries
// its ciphertext (he.EncodedSize: 128 KiB at N = 4096, 512 KiB at
// N = 8192), so under the 4 GiB bound an HE transcript holds some 30 000
// records at N = 4096; raise MaxBytes for larger HE cohorts.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 4 << 30, MaxRecords: 1 << 20, MaxRoots: 1 << 20, MaxCiphertextBytes: maxCiphertextBytes()}
}

// Bundle is everything an auditor needs to check a job offline: the
// transcript, the nodes' signatures over its digest and the dataset's
// public setup. Nothing in it is trusted: Verify checks every part against
// the others.
type Bundle struct {
	// Transcript is the job's transcript.
	Transcript *Transcript
	// Signatures holds the Ed25519 signatures over the transcript's
	// digest (TranscriptStatement{JobID, Digest, Node}) of the nodes
	// listed in Transcript.Nodes, in that order: Signatures[j] is node
	// Transcript.Nodes[j].Index's. For MPC that is every node, by index;
	// for HE the live nodes only.
	Signatures [][]byte
	// Descriptor is the dataset's descriptor (cohortv1.DatasetDescriptor)
	// in its deterministic protobuf encoding; its digest is in the
	// transcript.
	Descriptor []byte
	// VerifyingKey is the dataset's Groth16 verifying key
	// (setup.MarshalVerifyingKey), as an auditor obtained it (the
	// descriptor's, or one fetched with AuditService.GetVerifyingKey).
	VerifyingKey []byte
	// Ceremony is the ceremony transcript (setup.Transcript encoding) that
	// produced the keys; empty for a SETUP_KIND_INSECURE_DEV dataset.
	Ceremony []byte
}

// NewBundle assembles a bundle from a transcript, the signatures over its
// digest of the nodes it lists (in the order of t.Nodes: by node index for
// MPC, the live nodes' for HE), the dataset's descriptor and its
// ceremony transcript (nil for an INSECURE_DEV dataset). The verifying key
// is taken from the descriptor. It checks the structure only.
func NewBundle(t *Transcript, signatures [][]byte, desc *cohortv1.DatasetDescriptor, ceremony []byte) (*Bundle, error) {
	if desc == nil {
		return nil, fmt.Errorf("%w: no descriptor", ErrInvalid)
	}
	d, err := deterministic.Marshal(desc)
	if err != nil {
		return nil, fmt.Errorf("%w: encode descriptor: %w", ErrInvalid, err)
	}
	b := &Bundle{Transcript: t, Signatures: signatures, Descriptor: d, VerifyingKey: desc.GetVerifyingKey(), Ceremony: ceremony}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return b, nil
}

// Bundle encoding, version 1 (integers big-endian):
//
//	"CHJB" ‖ u8 version
//	‖ u64 length ‖ transcript encoding
//	‖ u32 k ‖ k × [64] transcript signature, in the order of the transcript's nodes
//	‖ u64 length ‖ descriptor
//	‖ u64 length ‖ verifying key
//	‖ u64 length ‖ ceremony transcript

// MarshalBinary returns the bundle's canonical encoding. It refuses a
// bundle that UnmarshalBundle would refuse (ErrInvalid).
func (b *Bundle) MarshalBinary() ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	t, err := b.Transcript.encode()
	if err != nil {
		return nil, fmt.Errorf("audit: bundle: %w", err)
	}
	w := wire.NewWriter(wire.BigEndian, 64+len(t)+len(b.Signatures)*SignatureSize+len(b.Descriptor)+len(b.VerifyingKey)+len(b.Ceremony))
	w.Raw([]byte(bundleMagic))
	w.Uint8(BundleVersion)
	w.Bytes64(t)
	b.encodeTail(w)
	return w.Bytes()
}

// encodeTail writes the fields after the transcript.
func (b *Bundle) encodeTail(w *wire.Writer) {
	w.Uint32(uint32(len(b.Signatures)))
	for _, s := range b.Signatures {
		w.Raw(s)
	}
	w.Bytes64(b.Descriptor)
	w.Bytes64(b.VerifyingKey)
	w.Bytes64(b.Ceremony)
}

// UnmarshalBundle decodes a bundle within lim: the total size first, then
// every length and count against lim and against the bytes left before
// anything is allocated. Only the canonical encoding of a well-formed
// bundle is accepted (see UnmarshalTranscript for the transcript), with no
// trailing bytes. Nothing cryptographic is checked: pass the bundle to
// Verify. Errors wrap ErrMalformed.
func UnmarshalBundle(data []byte, lim Limits) (*Bundle, error) {
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("audit: bundle: %w: %d bytes, limit %d", ErrMalformed, len(data), lim.MaxBytes)
	}
	r := wire.NewReader(wire.BigEndian, data)
	if m := r.Field("magic").Fixed(len(bundleMagic)); r.Err() == nil && string(m) != bundleMagic {
		r.Fail(fmt.Errorf("not a transcript bundle (magic %q)", m))
	}
	if v := r.Field("version").Uint8(); r.Err() == nil && v != BundleVersion {
		r.Fail(fmt.Errorf("version %d, want %d", v, BundleVersion))
	}
	tb := r.Field("transcript").Bytes64(int(lim.MaxBytes))
	var t *Transcript
	if r.Err() == nil {
		tr := wire.NewReader(wire.BigEndian, tb)
		t = decodeTranscript(tr, lim)
		if err := tr.End(); err != nil {
			return nil, fmt.Errorf("audit: bundle: transcript: %w: %w", ErrMalformed, err)
		}
	}
	b := &Bundle{Transcript: t}
	if k := r.Field("transcript signatures").Count32(len(t.nodesOrNil()), SignatureSize); k > 0 {
		b.Signatures = make([][]byte, k)
		for i := range b.Signatures {
			b.Signatures[i] = copyOf(r.Field(fmt.Sprintf("transcript signature %d", i)).Fixed(SignatureSize))
		}
	}
	b.Descriptor = copyOf(r.Field("descriptor").Bytes64(MaxDescriptorBytes))
	b.VerifyingKey = copyOf(r.Field("verifying key").Bytes64(setup.MaxVerifyingKeySize))
	b.Ceremony = copyOf(r.Field("ceremony transcript").Bytes64(int(lim.MaxBytes)))
	if err := r.End(); err != nil {
		return nil, fmt.Errorf("audit: bundle: %w: %w", ErrMalformed, err)
	}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("audit: bundle: %w: %w", ErrMalformed, err)
	}
	return b, nil
}

// WithoutCeremony returns the encoding of the bundle enc with its ceremony
// transcript left out: what AuditService.GetTranscript sends with
// without_ceremony. Errors wrap ErrMalformed.
func WithoutCeremony(enc []byte, lim Limits) ([]byte, error) {
	b, err := UnmarshalBundle(enc, lim)
	if err != nil {
		return nil, err
	}
	b.Ceremony = nil
	return b.MarshalBinary()
}

// AttachCeremony returns the encoding of the bundle enc with the ceremony
// transcript ceremony in it, after checking that ceremony is the one its
// descriptor names (its digest, setup.Transcript.Digest, is the
// descriptor's ceremony_transcript_digest) and that enc holds none yet. The result is
// the bundle the node stored, byte for byte. Errors wrap ErrMalformed or
// ErrInvalid.
func AttachCeremony(enc, ceremony []byte, lim Limits) ([]byte, error) {
	b, err := UnmarshalBundle(enc, lim)
	if err != nil {
		return nil, err
	}
	return b.WithCeremony(ceremony)
}

// CheckCeremony checks that ceremony may be attached to b, as
// AttachCeremony says: b holds none, and ceremony is the one its
// descriptor names.
func (b *Bundle) CheckCeremony(ceremony []byte) error {
	if len(b.Ceremony) != 0 {
		return fmt.Errorf("%w: the bundle holds a ceremony transcript already", ErrInvalid)
	}
	var desc cohortv1.DatasetDescriptor
	if err := proto.Unmarshal(b.Descriptor, &desc); err != nil {
		return fmt.Errorf("%w: descriptor: %w", ErrMalformed, err)
	}
	want := desc.GetCeremonyTranscriptDigest()
	if desc.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_CEREMONY || len(want) == 0 {
		return fmt.Errorf("%w: dataset %s has no ceremony (%s)", ErrInvalid, desc.GetId(), desc.GetSetupKind())
	}
	var tr setup.Transcript
	if err := tr.UnmarshalBinary(ceremony); err != nil {
		return fmt.Errorf("%w: ceremony transcript: %w", ErrMalformed, err)
	}
	got, err := tr.Digest()
	if err != nil {
		return fmt.Errorf("%w: ceremony transcript: %w", ErrMalformed, err)
	}
	if !bytes.Equal(got[:], want) {
		return fmt.Errorf("%w: the ceremony transcript's digest %x… is not dataset %s's %x…", ErrInvalid, got[:4], desc.GetId(), want[:min(4, len(want))])
	}
	return nil
}

// WithCeremony is AttachCeremony on a decoded bundle: the encoding of b
// with ceremony in it, checked as AttachCeremony says. b is not changed.
func (b *Bundle) WithCeremony(ceremony []byte) ([]byte, error) {
	if err := b.CheckCeremony(ceremony); err != nil {
		return nil, err
	}
	full := *b
	full.Ceremony = ceremony
	return full.MarshalBinary()
}

// nodesOrNil returns the transcript's nodes, or nil for a nil transcript.
func (t *Transcript) nodesOrNil() []NodeEvidence {
	if t == nil {
		return nil
	}
	return t.Nodes
}

// validate checks the structural rules of a bundle.
func (b *Bundle) validate() error {
	if b == nil {
		return errors.New("no bundle")
	}
	if err := b.Transcript.validate(); err != nil {
		return fmt.Errorf("transcript: %w", err)
	}
	if len(b.Signatures) != len(b.Transcript.Nodes) {
		return fmt.Errorf("%d transcript signatures for %d nodes", len(b.Signatures), len(b.Transcript.Nodes))
	}
	for j, s := range b.Signatures {
		if len(s) != SignatureSize {
			return fmt.Errorf("node %d: transcript signature of %d bytes, want %d", b.Transcript.Nodes[j].Index, len(s), SignatureSize)
		}
	}
	return checkKeySizes(b.Descriptor, b.VerifyingKey)
}

// checkKeySizes checks the sizes of a bundle's descriptor and verifying
// key, for a bundle and for the parts it is rebuilt from alike.
func checkKeySizes(descriptor, vk []byte) error {
	switch {
	case len(descriptor) == 0 || len(descriptor) > MaxDescriptorBytes:
		return fmt.Errorf("descriptor of %d bytes, want 1..%d", len(descriptor), MaxDescriptorBytes)
	case len(vk) == 0 || len(vk) > setup.MaxVerifyingKeySize:
		return fmt.Errorf("verifying key of %d bytes, want 1..%d", len(vk), setup.MaxVerifyingKeySize)
	}
	return nil
}

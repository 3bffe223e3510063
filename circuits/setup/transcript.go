package setup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/wire"
)

// Transcript is the public record of a ceremony for one circuit: everything
// an auditor needs, with the constraint system, to re-run every check
// offline and re-derive the keys.
type Transcript struct {
	// DomainSize is the phase-1 domain (N).
	DomainSize uint64
	// Phase1 holds the encoded phase-1 contributions, in order.
	Phase1 [][]byte
	// Beacon1 sealed phase 1.
	Beacon1 Beacon
	// CircuitDigest is CircuitDigest of the constraint system.
	CircuitDigest [32]byte
	// Phase2 holds the encoded phase-2 contributions, in order.
	Phase2 [][]byte
	// Beacon2 sealed phase 2.
	Beacon2 Beacon
	// VerifyingKey is the encoded verifying key the ceremony produced
	// (MarshalVerifyingKey).
	VerifyingKey []byte
}

// Transcript encoding (all integers big-endian):
//
//	"CHCT" ‖ version 1 ‖ uint64 N
//	‖ uint32 count ‖ count × (uint64 length ‖ phase-1 contribution)
//	‖ uint16 length ‖ beacon 1 ‖ circuit digest (32 bytes)
//	‖ uint32 count ‖ count × (uint64 length ‖ phase-2 contribution)
//	‖ uint16 length ‖ beacon 2 ‖ uint32 length ‖ verifying key
const (
	transcriptMagic   = "CHCT"
	transcriptVersion = 1
	transcriptTag     = "cohort/circuits/setup/transcript-digest/v1\x00"
)

// Verify re-runs the whole ceremony from the transcript: it checks that the
// transcript is for ccs, verifies every phase-1 contribution against the one
// before it starting from the initial state, seals phase 1 with Beacon1,
// recomputes phase 2's initial state for ccs, verifies every phase-2
// contribution, seals with Beacon2, and checks that the verifying key this
// produces is byte for byte the recorded one. It returns that verifying key.
// A failure names its step: "phase 1 contribution 2: …", "phase 2
// contribution 1: …", or ErrVerifyingKeyMismatch ("verifying key does not
// match the ceremony"). Only two contributions are held in memory at a time.
func (t *Transcript) Verify(ccs constraint.ConstraintSystem) (groth16.VerifyingKey, error) {
	keys, err := t.replay(ccs)
	if err != nil {
		return nil, err
	}
	return keys.VK, nil
}

// DeriveKeys does what Verify does and returns the proving key too, with a
// Meta naming the transcript: a node that took part in (or only watched) a
// ceremony obtains its keys from the public transcript alone.
func (t *Transcript) DeriveKeys(ccs constraint.ConstraintSystem) (*Keys, error) {
	keys, err := t.replay(ccs)
	if err != nil {
		return nil, err
	}
	digest, err := t.Digest()
	if err != nil {
		return nil, err
	}
	keys.Meta = KeyMeta{Kind: Ceremony, Participants: len(t.Phase2), CircuitDigest: t.CircuitDigest, TranscriptDigest: digest}
	return keys, nil
}

func (t *Transcript) replay(ccs constraint.ConstraintSystem) (*Keys, error) {
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("setup: transcript: %w", err)
	}
	digest, err := CircuitDigest(ccs)
	if err != nil {
		return nil, err
	}
	if digest != t.CircuitDigest {
		return nil, fmt.Errorf("setup: transcript: %w", ErrCircuitMismatch)
	}
	if r, err := bn254R1CS(ccs); err != nil {
		return nil, fmt.Errorf("setup: transcript: %w", err)
	} else if circuitDomain(r) > t.DomainSize {
		return nil, fmt.Errorf("setup: transcript: %w: needs %d, phase 1 has %d", ErrCircuitTooLarge, circuitDomain(r), t.DomainSize)
	}

	prev1, err := NewPhase1(t.DomainSize)
	if err != nil {
		return nil, err
	}
	for i, b := range t.Phase1 {
		next, err := decodePhase1(b)
		if err == nil {
			err = verifyPhase1Step(prev1, next)
		}
		if err != nil {
			return nil, fmt.Errorf("setup: transcript: phase 1 contribution %d: %w", i+1, err)
		}
		prev1 = next
	}
	srs, err := sealPhase1(prev1, t.Beacon1)
	if err != nil {
		return nil, fmt.Errorf("setup: transcript: %w", err)
	}

	state, init, err := initPhase2(ccs, srs)
	if err != nil {
		return nil, fmt.Errorf("setup: transcript: phase 2: %w", err)
	}
	prev2 := &Phase2{state: state}
	for i, b := range t.Phase2 {
		next := new(Phase2)
		err := next.UnmarshalBinary(b)
		if err == nil {
			err = explainFirst(i, verifyPhase2Step(prev2, next))
		}
		if err != nil {
			return nil, fmt.Errorf("setup: transcript: phase 2 contribution %d: %w", i+1, err)
		}
		prev2 = next
	}
	keys, err := sealPhase2(init, prev2.state, t.Beacon2)
	if err != nil {
		return nil, fmt.Errorf("setup: transcript: %w", err)
	}
	vk, err := MarshalVerifyingKey(keys.VK)
	if err != nil {
		return nil, fmt.Errorf("setup: transcript: %w", err)
	}
	if !bytes.Equal(vk, t.VerifyingKey) {
		return nil, fmt.Errorf("setup: transcript: %w", ErrVerifyingKeyMismatch)
	}
	return keys, nil
}

// Digest returns SHA-256(tag ‖ the transcript's encoding), the value
// recorded in KeyMeta.TranscriptDigest.
func (t *Transcript) Digest() ([32]byte, error) {
	var d [32]byte
	h := sha256.New()
	h.Write([]byte(transcriptTag))
	if err := t.writeTo(h); err != nil {
		return d, fmt.Errorf("setup: transcript digest: %w", err)
	}
	copy(d[:], h.Sum(nil))
	return d, nil
}

// MarshalBinary encodes the transcript (see the layout above). It refuses a
// transcript that UnmarshalBinary would refuse.
func (t *Transcript) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	if err := t.writeTo(&b); err != nil {
		return nil, fmt.Errorf("setup: transcript: %w", err)
	}
	return b.Bytes(), nil
}

func (t *Transcript) writeTo(w io.Writer) error {
	if err := t.validate(); err != nil {
		return err
	}
	e := wire.NewStreamWriter(wire.BigEndian, w)
	e.Raw([]byte(transcriptMagic))
	e.Uint8(transcriptVersion)
	e.Uint64(t.DomainSize)
	writeList(e, t.Phase1)
	e.Bytes16(t.Beacon1)
	e.Raw(t.CircuitDigest[:])
	writeList(e, t.Phase2)
	e.Bytes16(t.Beacon2)
	e.Bytes32(t.VerifyingKey)
	return e.Err()
}

// writeList writes a uint32 count of (uint64 length, bytes) items.
func writeList(e *wire.Writer, list [][]byte) {
	e.Uint32(uint32(len(list)))
	for _, c := range list {
		e.Bytes64(c)
	}
}

// validate checks the transcript's sizes (not its cryptography).
func (t *Transcript) validate() error {
	if t == nil {
		return fmt.Errorf("%w: nil transcript", ErrMalformed)
	}
	if !isDomainSize(t.DomainSize) {
		return fmt.Errorf("%w: %d", ErrDomainSize, t.DomainSize)
	}
	if err := checkCount(len(t.Phase1)); err != nil {
		return fmt.Errorf("phase 1: %w", err)
	}
	if err := checkCount(len(t.Phase2)); err != nil {
		return fmt.Errorf("phase 2: %w", err)
	}
	want := phase1Size(t.DomainSize, challengeSize)
	for i, c := range t.Phase1 {
		if uint64(len(c)) != want {
			return fmt.Errorf("%w: phase 1 contribution %d has %d bytes, expected %d", ErrMalformed, i+1, len(c), want)
		}
	}
	if err := t.Beacon1.validate(); err != nil {
		return fmt.Errorf("beacon 1: %w", err)
	}
	if err := t.Beacon2.validate(); err != nil {
		return fmt.Errorf("beacon 2: %w", err)
	}
	if len(t.VerifyingKey) == 0 || len(t.VerifyingKey) > MaxVerifyingKeySize {
		return fmt.Errorf("%w: verifying key of %d bytes", ErrMalformed, len(t.VerifyingKey))
	}
	return nil
}

// UnmarshalBinary decodes a transcript. Every count and length is checked
// against the limits (MaxDomainSize, MaxParticipants, the beacon bounds,
// MaxVerifyingKeySize) and against the bytes that remain before anything is
// allocated; a phase-1 contribution must have exactly the size its domain
// implies. The contributions are copied out of data but not decoded or
// verified here: Verify does that.
func (t *Transcript) UnmarshalBinary(data []byte) error {
	var v Transcript
	if err := v.decode(data); err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return fmt.Errorf("setup: transcript: %w", err)
	}
	*t = v
	return nil
}

func (t *Transcript) decode(data []byte) error {
	r := wire.NewReader(wire.BigEndian, data)
	if string(r.Fixed(len(transcriptMagic))) != transcriptMagic {
		return errors.New("bad magic")
	}
	if v := r.Fixed(1); len(v) != 1 || v[0] != transcriptVersion {
		return errors.New("unknown version")
	}
	t.DomainSize = r.Uint64()
	if err := r.Err(); err != nil {
		return err
	}
	if !isDomainSize(t.DomainSize) {
		return fmt.Errorf("%w: %d", ErrDomainSize, t.DomainSize)
	}
	p1 := phase1Size(t.DomainSize, challengeSize)
	t.Phase1 = readList(r, func(l uint64) bool { return l == p1 })
	t.Beacon1 = Beacon(bytes.Clone(r.Bytes16(math.MaxUint16)))
	r.Copy(t.CircuitDigest[:])
	t.Phase2 = readList(r, func(l uint64) bool { return l > 0 })
	t.Beacon2 = Beacon(bytes.Clone(r.Bytes16(math.MaxUint16)))
	t.VerifyingKey = bytes.Clone(r.Bytes32(MaxVerifyingKeySize))
	if err := r.End(); err != nil {
		return err
	}
	return t.validate()
}

// readList reads a uint32 count of (uint64 length, bytes) items, copying
// them out of the input; the count is checked against MaxParticipants and
// the bytes left, each length by ok.
func readList(r *wire.Reader, ok func(uint64) bool) [][]byte {
	n := r.Count32(MaxParticipants, 8)
	if r.Err() != nil {
		return nil
	}
	if n < 1 {
		r.Fail(fmt.Errorf("contribution count %d out of range", n))
		return nil
	}
	list := make([][]byte, n)
	for i := range list {
		item := r.Bytes64(math.MaxInt)
		if r.Err() == nil && !ok(uint64(len(item))) {
			r.Fail(fmt.Errorf("contribution %d: length %d", i+1, len(item)))
		}
		list[i] = bytes.Clone(item)
	}
	return list
}

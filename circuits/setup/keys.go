package setup

import (
	"encoding/hex"
	"fmt"

	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/wire"
)

// Keys are a circuit's Groth16 proving and verifying keys with a record of
// how they were made.
type Keys struct {
	PK   groth16.ProvingKey
	VK   groth16.VerifyingKey
	Meta KeyMeta
}

// String describes the keys by their Meta; it never prints key material.
func (k *Keys) String() string {
	if k == nil {
		return "setup keys <nil>"
	}
	return "setup keys: " + k.Meta.String()
}

// SetupKind says how keys were produced. Its zero value is not a kind.
type SetupKind uint8

const (
	// Ceremony keys come from a multi-party ceremony: sound if one
	// participant of each phase was honest.
	Ceremony SetupKind = 1
	// InsecureDev keys come from a single-party setup whose toxic waste was
	// known to the machine that ran it: whoever held it can forge proofs.
	InsecureDev SetupKind = 2
)

// String names the kind; the development kind says loudly what it means.
func (k SetupKind) String() string {
	switch k {
	case Ceremony:
		return "ceremony"
	case InsecureDev:
		return "INSECURE-DEV-SETUP (toxic waste known to one party: proofs can be forged; never use with real data)"
	default:
		return fmt.Sprintf("invalid setup kind %d", uint8(k))
	}
}

// KeyMeta records how keys were made. Participants is the number of phase-2
// contributions the keys were sealed over (0 for InsecureDev); CircuitDigest
// is CircuitDigest of the constraint system; TranscriptDigest is
// Transcript.Digest of the ceremony's transcript (zero for InsecureDev, and
// zero for Ceremony keys until a transcript is attached).
type KeyMeta struct {
	Kind             SetupKind
	Participants     int
	CircuitDigest    [32]byte
	TranscriptDigest [32]byte
}

// String describes the metadata; for InsecureDev it leads with the warning.
func (m KeyMeta) String() string {
	switch m.Kind {
	case InsecureDev:
		return fmt.Sprintf("%s; circuit %s", m.Kind, hex.EncodeToString(m.CircuitDigest[:]))
	case Ceremony:
		return fmt.Sprintf("ceremony with %d phase-2 participants; circuit %s; transcript %s",
			m.Participants, hex.EncodeToString(m.CircuitDigest[:]), hex.EncodeToString(m.TranscriptDigest[:]))
	default:
		return m.Kind.String()
	}
}

// KeyMeta encoding: magic, version, kind, uint32 participants, two digests.
const (
	keyMetaMagic   = "CHKM"
	keyMetaVersion = 1
	keyMetaSize    = len(keyMetaMagic) + 1 + 1 + 4 + 32 + 32
)

// MarshalBinary encodes the metadata in 74 bytes: "CHKM", version 1, kind,
// big-endian uint32 participants, circuit digest, transcript digest.
func (m KeyMeta) MarshalBinary() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("setup: key meta: %w", err)
	}
	w := wire.NewWriter(wire.BigEndian, keyMetaSize)
	w.Raw([]byte(keyMetaMagic))
	w.Uint8(keyMetaVersion)
	w.Uint8(byte(m.Kind))
	w.Uint32(uint32(m.Participants))
	w.Raw(m.CircuitDigest[:])
	w.Raw(m.TranscriptDigest[:])
	return w.Bytes()
}

// UnmarshalBinary decodes metadata written by MarshalBinary and checks it:
// a known kind, 1 to MaxParticipants participants for Ceremony, none and a
// zero transcript digest for InsecureDev.
func (m *KeyMeta) UnmarshalBinary(data []byte) error {
	if len(data) != keyMetaSize || string(data[:4]) != keyMetaMagic || data[4] != keyMetaVersion {
		return fmt.Errorf("setup: key meta: %w: bad length, magic or version", ErrMalformed)
	}
	r := wire.NewReader(wire.BigEndian, data[len(keyMetaMagic)+1:])
	var v KeyMeta
	v.Kind = SetupKind(r.Uint8())
	v.Participants = int(r.Uint32())
	r.Copy(v.CircuitDigest[:])
	r.Copy(v.TranscriptDigest[:])
	if err := r.End(); err != nil {
		return fmt.Errorf("setup: key meta: %w: %w", ErrMalformed, err)
	}
	if err := v.validate(); err != nil {
		return fmt.Errorf("setup: key meta: %w: %w", ErrMalformed, err)
	}
	*m = v
	return nil
}

func (m KeyMeta) validate() error {
	switch m.Kind {
	case Ceremony:
		if m.Participants < 1 || m.Participants > MaxParticipants {
			return fmt.Errorf("ceremony with %d participants", m.Participants)
		}
	case InsecureDev:
		if m.Participants != 0 || m.TranscriptDigest != [32]byte{} {
			return fmt.Errorf("insecure dev setup with participants or a transcript")
		}
	default:
		return fmt.Errorf("unknown setup kind %d", uint8(m.Kind))
	}
	return nil
}

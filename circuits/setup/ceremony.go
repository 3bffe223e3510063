package setup

import (
	"encoding"
	"fmt"

	"github.com/consensys/gnark/constraint"
)

// RunLocalCeremony runs a whole ceremony for ccs in this process with the
// given number of participants in each phase: phase 1 on the circuit's own
// domain, each participant contributing on top of the previous state and the
// next one verifying it, sealed with beacon1; then phase 2 the same way,
// sealed with beacon2. It returns the keys and the transcript. All
// participants are this process, so the keys are no safer than a dev setup
// unless the process is trusted; it exists for tests, benchmarks and
// demonstrations of the steps a federation runs over the network.
func RunLocalCeremony(ccs constraint.ConstraintSystem, participants int, beacon1, beacon2 Beacon) (*Keys, *Transcript, error) {
	if err := beacon1.validate(); err != nil {
		return nil, nil, fmt.Errorf("setup: local ceremony: beacon 1: %w", err)
	}
	if err := beacon2.validate(); err != nil {
		return nil, nil, fmt.Errorf("setup: local ceremony: beacon 2: %w", err)
	}
	return RunCeremony(ccs, participants, LocalContributor, func(phase int, _ []byte) (Beacon, error) {
		if phase == 1 {
			return beacon1, nil
		}
		return beacon2, nil
	})
}

// Contributor makes contribution index (0-based) of a phase (1 or 2) on top
// of prev, the encoded previous state (Phase1 or Phase2 MarshalBinary; for
// index 0 the phase's public initial state), and returns its own encoded
// contribution. Over a network it sends prev to the participant and returns
// what the participant answers; RunCeremony verifies the answer.
type Contributor func(phase, index int, prev []byte) ([]byte, error)

// LocalContributor contributes in this process.
func LocalContributor(phase, _ int, prev []byte) ([]byte, error) {
	switch phase {
	case 1:
		var p Phase1
		if err := p.UnmarshalBinary(prev); err != nil {
			return nil, err
		}
		next, err := p.Contribute()
		if err != nil {
			return nil, err
		}
		return next.MarshalBinary()
	case 2:
		var p Phase2
		if err := p.UnmarshalBinary(prev); err != nil {
			return nil, err
		}
		next, err := p.Contribute()
		if err != nil {
			return nil, err
		}
		return next.MarshalBinary()
	}
	return nil, fmt.Errorf("setup: phase %d", phase)
}

// BeaconFunc returns the beacon that seals a phase (1 or 2), given the
// encoded last contribution of that phase.
type BeaconFunc func(phase int, last []byte) (Beacon, error)

// RunCeremony coordinates a ceremony for ccs with the given number of
// participants per phase: it takes each contribution from contribute, in
// order, verifies it against the state it followed (so that a bad
// contribution is attributed to its position), seals each phase with the
// beacon from beacon, and returns the keys and the transcript. The
// coordinator learns nothing secret: it only relays public states.
func RunCeremony(ccs constraint.ConstraintSystem, participants int, contribute Contributor, beacon BeaconFunc) (*Keys, *Transcript, error) {
	if err := checkCount(max(participants, 0)); err != nil {
		return nil, nil, fmt.Errorf("setup: ceremony: %w", err)
	}
	r, err := bn254R1CS(ccs)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: ceremony: %w", err)
	}
	digest, err := CircuitDigest(ccs)
	if err != nil {
		return nil, nil, err
	}
	t := &Transcript{DomainSize: circuitDomain(r), CircuitDigest: digest}

	p1, err := NewPhase1(t.DomainSize)
	if err != nil {
		return nil, nil, err
	}
	if t.Phase1, p1, err = relayPhase(1, participants, p1, contribute, verifyPhase1Step); err != nil {
		return nil, nil, err
	}
	if t.Beacon1, err = beacon(1, t.Phase1[len(t.Phase1)-1]); err == nil {
		err = t.Beacon1.validate()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("setup: ceremony: beacon 1: %w", err)
	}
	srs, err := sealPhase1(p1, t.Beacon1)
	if err != nil {
		return nil, nil, err
	}

	state, init, err := initPhase2(ccs, srs)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: ceremony: phase 2: %w", err)
	}
	p2 := &Phase2{state: state}
	if t.Phase2, p2, err = relayPhase(2, participants, p2, contribute, verifyPhase2Step); err != nil {
		return nil, nil, err
	}
	if t.Beacon2, err = beacon(2, t.Phase2[len(t.Phase2)-1]); err == nil {
		err = t.Beacon2.validate()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("setup: ceremony: beacon 2: %w", err)
	}
	keys, err := sealPhase2(init, p2.state, t.Beacon2)
	if err != nil {
		return nil, nil, err
	}
	if t.VerifyingKey, err = MarshalVerifyingKey(keys.VK); err != nil {
		return nil, nil, err
	}
	td, err := t.Digest()
	if err != nil {
		return nil, nil, err
	}
	keys.Meta = KeyMeta{Kind: Ceremony, Participants: participants, CircuitDigest: digest, TranscriptDigest: td}
	return keys, t, nil
}

// relayPhase collects one phase's contributions in order: each participant
// receives the encoding of the state before it (the initial state, then the
// previous contribution as received) and its answer is verified against
// that state. It returns the encoded contributions and the last state.
func relayPhase[S any, P interface {
	*S
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}](phase, participants int, state P, contribute Contributor, verify func(prev, next P) error) ([][]byte, P, error) {
	prev, err := state.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	out := make([][]byte, 0, participants)
	for i := range participants {
		b, err := contribute(phase, i, prev)
		next := P(new(S))
		if err == nil {
			err = next.UnmarshalBinary(b)
		}
		if err == nil {
			err = verify(state, next)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("setup: ceremony: phase %d contribution %d: %w", phase, i+1, err)
		}
		out = append(out, b)
		state, prev = next, b
	}
	return out, state, nil
}

package setup

import (
	"bytes"
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
	if err := checkCount(max(participants, 0)); err != nil {
		return nil, nil, fmt.Errorf("setup: local ceremony: %w", err)
	}
	if err := beacon1.validate(); err != nil {
		return nil, nil, fmt.Errorf("setup: local ceremony: beacon 1: %w", err)
	}
	if err := beacon2.validate(); err != nil {
		return nil, nil, fmt.Errorf("setup: local ceremony: beacon 2: %w", err)
	}
	r, err := bn254R1CS(ccs)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: local ceremony: %w", err)
	}
	digest, err := CircuitDigest(ccs)
	if err != nil {
		return nil, nil, err
	}
	t := &Transcript{
		DomainSize:    circuitDomain(r),
		Beacon1:       bytes.Clone(beacon1),
		CircuitDigest: digest,
		Beacon2:       bytes.Clone(beacon2),
	}

	p1, err := NewPhase1(t.DomainSize)
	if err != nil {
		return nil, nil, err
	}
	for i := range participants {
		next, err := p1.Contribute()
		if err == nil {
			err = verifyPhase1Step(p1, next)
		}
		var b []byte
		if err == nil {
			b, err = next.MarshalBinary()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("setup: local ceremony: phase 1 contribution %d: %w", i+1, err)
		}
		t.Phase1 = append(t.Phase1, b)
		p1 = next
	}
	srs, err := sealPhase1(p1, beacon1)
	if err != nil {
		return nil, nil, err
	}

	state, init, err := initPhase2(ccs, srs)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: local ceremony: phase 2: %w", err)
	}
	p2 := &Phase2{state: state}
	for i := range participants {
		next, err := p2.Contribute()
		if err == nil {
			err = verifyPhase2Step(p2, next)
		}
		var b []byte
		if err == nil {
			b, err = next.MarshalBinary()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("setup: local ceremony: phase 2 contribution %d: %w", i+1, err)
		}
		t.Phase2 = append(t.Phase2, b)
		p2 = next
	}
	keys, err := sealPhase2(init, p2.state, beacon2)
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

package setup

import (
	"fmt"

	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"
)

// InsecureDevAck is the caller's acknowledgment that a single-party setup is
// insecure. Its zero value is refused; the only way to obtain a valid one is
// IUnderstandTheToxicWasteIsKnown, so that every use is visible in the code.
type InsecureDevAck struct {
	acknowledged bool
}

// IUnderstandTheToxicWasteIsKnown returns the acknowledgment InsecureDevSetup
// requires. Calling it states that the keys will only ever protect test or
// demonstration data.
func IUnderstandTheToxicWasteIsKnown() InsecureDevAck {
	return InsecureDevAck{acknowledged: true}
}

// InsecureDevSetup runs gnark's single-party Groth16 setup for ccs. The
// machine that runs it draws τ, α, β, γ, δ itself: the process held the
// toxic waste, and anyone who obtained it (a memory dump, a swap file, a
// debugger, a malicious build) can forge proofs for any public inputs —
// records that fail every range check, consent that was never given. It
// exists for tests and local development; the keys' Meta says InsecureDev,
// which dataset descriptors record and auditors report.
func InsecureDevSetup(ccs constraint.ConstraintSystem, ack InsecureDevAck) (*Keys, error) {
	if !ack.acknowledged {
		return nil, fmt.Errorf("setup: %w: obtain the acknowledgment from IUnderstandTheToxicWasteIsKnown", ErrNotAcknowledged)
	}
	if _, err := bn254R1CS(ccs); err != nil {
		return nil, fmt.Errorf("setup: insecure dev setup: %w", err)
	}
	digest, err := CircuitDigest(ccs)
	if err != nil {
		return nil, err
	}
	pk, vk, err := groth16.Setup(ccs)
	if err != nil {
		return nil, fmt.Errorf("setup: insecure dev setup: %w", err)
	}
	return &Keys{PK: pk, VK: vk, Meta: KeyMeta{Kind: InsecureDev, CircuitDigest: digest}}, nil
}

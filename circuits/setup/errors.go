package setup

import "errors"

// Sentinel errors. Every error returned by this package that a caller may
// branch on wraps one of these; test with errors.Is.
var (
	// ErrMalformed reports bytes that are not a valid encoding: wrong magic or
	// version, a declared size out of bounds or larger than the input, a point
	// not on the curve or not in the prime-order subgroup, a non-canonical
	// encoding, or trailing bytes.
	ErrMalformed = errors.New("malformed encoding")

	// ErrDomainSize reports a domain size that is not a power of two in
	// [MinDomainSize, MaxDomainSize], or a contribution whose domain size
	// differs from the ceremony's.
	ErrDomainSize = errors.New("invalid domain size")

	// ErrBeacon reports a beacon shorter than MinBeaconSize or longer than
	// MaxBeaconSize.
	ErrBeacon = errors.New("invalid beacon")

	// ErrNoContributions reports a phase sealed with no contribution at all:
	// its toxic waste would be derivable from the public beacon.
	ErrNoContributions = errors.New("no contributions")

	// ErrTooManyParticipants reports more than MaxParticipants contributions.
	ErrTooManyParticipants = errors.New("too many participants")

	// ErrInvalidContribution reports a contribution that does not verify
	// against the previous one: its challenge is not the previous state's
	// hash, its shape differs, or a proof of knowledge or update check fails.
	ErrInvalidContribution = errors.New("invalid contribution")

	// ErrUnsupportedCircuit reports a constraint system that is not a BN254
	// R1CS, or has more than MaxCommitments commitments.
	ErrUnsupportedCircuit = errors.New("unsupported constraint system")

	// ErrCircuitTooLarge reports a circuit with more constraints than the
	// phase-1 domain.
	ErrCircuitTooLarge = errors.New("circuit larger than the phase-1 domain")

	// ErrCircuitMismatch reports a transcript made for another circuit.
	ErrCircuitMismatch = errors.New("transcript is for another circuit")

	// ErrVerifyingKeyMismatch reports a transcript whose recorded verifying
	// key is not the one its contributions and beacons produce.
	ErrVerifyingKeyMismatch = errors.New("verifying key does not match the ceremony")

	// ErrNotAcknowledged reports an insecure development setup requested
	// without the explicit acknowledgment value.
	ErrNotAcknowledged = errors.New("insecure development setup not acknowledged")
)

// errChallenge, wrapped in ErrInvalidContribution, reports a contribution
// made on top of another state than the one it is verified against.
var errChallenge = errors.New("challenge is not the hash of the previous state")

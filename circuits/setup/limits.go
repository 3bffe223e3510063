package setup

const (
	// MinDomainSize is the smallest phase-1 domain: gnark's ratio checks need
	// at least two powers of τ.
	MinDomainSize = 2

	// MaxDomainSize is the largest phase-1 domain (2^24 constraints). A
	// phase-1 contribution of that size is 192·N+265 bytes (≈3.2 GB), which
	// bounds every allocation made while decoding one.
	MaxDomainSize = 1 << 24

	// MaxParticipants bounds the number of contributions per phase, in a
	// ceremony and in a decoded transcript.
	MaxParticipants = 1 << 10

	// MinBeaconSize and MaxBeaconSize bound a beacon's length in bytes.
	MinBeaconSize = 32
	MaxBeaconSize = 1024

	// MaxCommitments is the largest number of Groth16 commitments (BSB22) a
	// circuit may have: gnark's phase 2 derives one domain-separation byte per
	// commitment.
	MaxCommitments = 255

	// MaxVerifyingKeySize bounds an encoded verifying key (64 MiB, about two
	// million public inputs).
	MaxVerifyingKeySize = 1 << 26
)

// isDomainSize reports whether n is a power of two in
// [MinDomainSize, MaxDomainSize].
func isDomainSize(n uint64) bool {
	return n >= MinDomainSize && n <= MaxDomainSize && n&(n-1) == 0
}

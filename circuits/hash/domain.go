package hash

import "fmt"

// Version is the version of the hash construction; it is part of every IV, so
// a future change of construction cannot collide with today's digests.
const Version = 1

// A Domain is one use of the hash: its tag separates it from every other use
// and its width selects the permutation. Domains are fixed values of this
// package; the zero Domain is invalid.
type Domain struct {
	tag   uint32
	width int
	name  string
}

// The domains of Cohort. Each tag is used for exactly one purpose.
var (
	// Identity is ic = H(s), the identity commitment of secret s.
	Identity = Domain{tag: 1, width: 3, name: "identity"}
	// MerkleLeaf hashes an identity commitment into a registry leaf.
	MerkleLeaf = Domain{tag: 2, width: 3, name: "merkle-leaf"}
	// MerkleNode hashes two children into their parent.
	MerkleNode = Domain{tag: 3, width: 3, name: "merkle-node"}
	// Nullifier is nf = H(s, dataset, epoch).
	Nullifier = Domain{tag: 4, width: 3, name: "nullifier"}
	// RevocationToken is rt = H(s, dataset, epoch), revealed to revoke.
	RevocationToken = Domain{tag: 5, width: 3, name: "revocation-token"}
	// RevocationCommitment is rc = H(rt), public with each record.
	RevocationCommitment = Domain{tag: 6, width: 3, name: "revocation-commitment"}
	// ShareCommitment is C_j = H(j, ρ_j, share_j…), binding node j's share.
	ShareCommitment = Domain{tag: 7, width: 16, name: "share-commitment"}
	// DatasetID maps a dataset's id string to the field element used in proofs.
	DatasetID = Domain{tag: 8, width: 3, name: "dataset-id"}
	// PublicInputs digests a proof's public inputs (associated data of sealed shares).
	PublicInputs = Domain{tag: 9, width: 16, name: "public-inputs"}
	// ClaimLeaf hashes a counted nullifier into a leaf of a job's
	// nullifier tree (docs/design.md §5.9).
	ClaimLeaf = Domain{tag: 10, width: 3, name: "claim-leaf"}
	// Claim is the claim nullifier H(s, job) of a reward claim.
	Claim = Domain{tag: 11, width: 3, name: "claim"}
	// JobID maps a job's id string to the field element used in proofs.
	JobID = Domain{tag: 12, width: 3, name: "job-id"}
	// PayoutKey maps a payout public key's bytes to the field element a
	// claim binds (docs/design.md §5.9).
	PayoutKey = Domain{tag: 13, width: 3, name: "payout-key"}
)

// Name is the domain's human-readable name.
func (d Domain) Name() string { return d.name }

// Width is the width of the domain's permutation.
func (d Domain) Width() int { return d.width }

// Tag is the domain's 32-bit tag.
func (d Domain) Tag() uint32 { return d.tag }

func (d Domain) String() string { return fmt.Sprintf("%s(tag=%d,t=%d)", d.name, d.tag, d.width) }

// maxInputs bounds n so that it fits the 32 low bits of the IV.
const maxInputs = 1<<32 - 1

// iv is the initial capacity element for n inputs in domain d.
func (d Domain) iv(n int) uint64 {
	return uint64(Version)<<48 | uint64(d.tag)<<32 | uint64(n)
}

func (d Domain) check(n int) {
	// Programming errors only: domains are package constants and input counts
	// are fixed by circuit shapes, never by outside bytes.
	if d.width != 3 && d.width != 16 {
		panic(fmt.Sprintf("hash: invalid domain %v", d))
	}
	if n < 0 || n > maxInputs {
		panic(fmt.Sprintf("hash: %d inputs out of range", n))
	}
}

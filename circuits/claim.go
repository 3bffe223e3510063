package circuits

import (
	"errors"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/std/rangecheck"

	"github.com/cohort-dev/cohort/circuits/hash"
	"github.com/cohort-dev/cohort/circuits/merkle"
)

// The claim circuit (docs/design.md §5.9): a contributor proves that one of
// the records a released job counted is theirs, without saying which, and
// gets one claim nullifier per job.
//
// A job's nullifier tree has one leaf H_claim-leaf(nf) per counted record,
// in the transcript's record order, padded with zero leaves to depth
// ClaimDepth; internal nodes are merkle.Node, so the empty subtrees are
// merkle.Zeros. The circuit's public inputs are the tree's Root, the Job
// and the Dataset as field elements (JobField, DatasetField), the
// ClaimNullifier H_claim(s, job) and the Payout key; its private inputs are
// the identity secret s, the record's Epoch, its leaf Index and the path's
// Siblings. It constrains:
//
//   - H_claim-leaf(H_nullifier(s, Dataset, Epoch)) is the leaf at Index
//     under Root (Index fits ClaimDepth bits, Epoch fits EpochBits);
//   - ClaimNullifier = H_claim(s, Job);
//   - Payout ≠ 0, which puts the payout key in a constraint so that the
//     proof is bound to it (an unconstrained Groth16 public input is not).
//
// The claim nullifier depends on s and the job only: a contributor with
// several counted records in one job (one per epoch) claims once, and a
// second claim of the same job, under any payout key, has the same
// nullifier. Neither s, the identity commitment, the epoch nor the leaf
// is revealed. About 5.9k constraints at depth 20 (TestClaimConstraintCount).

// ClaimDepth is the depth of a job's nullifier tree: at most 2^20 counted
// records per job.
const ClaimDepth = 20

// MaxClaimLeaves is the most counted records a nullifier tree holds.
const MaxClaimLeaves = 1 << ClaimDepth

// ErrClaimTree is returned for a nullifier tree that cannot be built or a
// leaf that is not in it.
var ErrClaimTree = errors.New("circuits: nullifier tree")

// JobField maps a job id to the field element used in claim proofs.
func JobField(id string) fr.Element { return hash.SumBytes(hash.JobID, []byte(id)) }

// ClaimNullifierOf is the claim nullifier H_claim(s, job) of secret s for
// the job with field element job.
func ClaimNullifierOf(s, job fr.Element) fr.Element { return hash.Sum(hash.Claim, s, job) }

// ClaimLeaf is the leaf of counted nullifier nf.
func ClaimLeaf(nf fr.Element) fr.Element { return hash.Sum(hash.ClaimLeaf, nf) }

// NullifierTree is a job's tree of counted nullifiers.
type NullifierTree struct {
	levels [][]fr.Element // levels[0] are the leaves; levels[ClaimDepth] the root
	index  map[fr.Element]uint64
}

// NewNullifierTree builds the tree of nullifiers, in order; a nullifier
// given twice, or more than MaxClaimLeaves, is refused.
func NewNullifierTree(nullifiers []fr.Element) (*NullifierTree, error) {
	if len(nullifiers) > MaxClaimLeaves {
		return nil, fmt.Errorf("%w: %d nullifiers, at most %d", ErrClaimTree, len(nullifiers), MaxClaimLeaves)
	}
	t := &NullifierTree{levels: make([][]fr.Element, ClaimDepth+1), index: make(map[fr.Element]uint64, len(nullifiers))}
	t.levels[0] = make([]fr.Element, len(nullifiers))
	for i, nf := range nullifiers {
		if _, dup := t.index[nf]; dup {
			return nil, fmt.Errorf("%w: nullifier at %d given twice", ErrClaimTree, i)
		}
		t.index[nf] = uint64(i)
		t.levels[0][i] = ClaimLeaf(nf)
	}
	zeros := merkle.Zeros(ClaimDepth)
	for h := 1; h <= ClaimDepth; h++ {
		below := t.levels[h-1]
		level := make([]fr.Element, (len(below)+1)/2)
		for i := range level {
			left, right := below[2*i], zeros[h-1]
			if 2*i+1 < len(below) {
				right = below[2*i+1]
			}
			level[i] = merkle.Node(left, right)
		}
		t.levels[h] = level
	}
	return t, nil
}

// Len is the number of counted nullifiers.
func (t *NullifierTree) Len() int { return len(t.levels[0]) }

// Root is the tree's root.
func (t *NullifierTree) Root() fr.Element {
	if top := t.levels[ClaimDepth]; len(top) == 1 {
		return top[0]
	}
	return merkle.Zeros(ClaimDepth)[ClaimDepth]
}

// Path returns the position of nf and its siblings, leaf first;
// ErrClaimTree when nf is not in the tree.
func (t *NullifierTree) Path(nf fr.Element) (uint64, []fr.Element, error) {
	i, ok := t.index[nf]
	if !ok {
		return 0, nil, fmt.Errorf("%w: the nullifier was not counted", ErrClaimTree)
	}
	zeros := merkle.Zeros(ClaimDepth)
	siblings := make([]fr.Element, ClaimDepth)
	for h, pos := 0, i; h < ClaimDepth; h, pos = h+1, pos/2 {
		sib := pos ^ 1
		if sib < uint64(len(t.levels[h])) {
			siblings[h] = t.levels[h][sib]
		} else {
			siblings[h] = zeros[h]
		}
	}
	return i, siblings, nil
}

// ClaimCircuit is the claim circuit; what it constrains is described at
// the top of this file.
type ClaimCircuit struct {
	Root           frontend.Variable `gnark:",public"`
	Job            frontend.Variable `gnark:",public"`
	Dataset        frontend.Variable `gnark:",public"`
	ClaimNullifier frontend.Variable `gnark:",public"`
	Payout         frontend.Variable `gnark:",public"`

	Secret   frontend.Variable
	Epoch    frontend.Variable
	Index    frontend.Variable
	Siblings []frontend.Variable
}

// NewClaimCircuit is the claim circuit's shape, for compiling.
func NewClaimCircuit() *ClaimCircuit {
	return &ClaimCircuit{Siblings: make([]frontend.Variable, ClaimDepth)}
}

// Define constrains the claim.
func (c *ClaimCircuit) Define(api frontend.API) error {
	if len(c.Siblings) != ClaimDepth {
		return fmt.Errorf("claim circuit: %d siblings, want %d", len(c.Siblings), ClaimDepth)
	}
	h, err := hash.NewHasher(api)
	if err != nil {
		return err
	}
	rangecheck.New(api).Check(c.Epoch, EpochBits)
	nf := h.Sum(hash.Nullifier, c.Secret, c.Dataset, c.Epoch)
	merkle.AssertPath(api, h, c.Root, h.Sum(hash.ClaimLeaf, nf), c.Index, c.Siblings)
	api.AssertIsEqual(c.ClaimNullifier, h.Sum(hash.Claim, c.Secret, c.Job))
	api.AssertIsDifferent(c.Payout, 0)
	return nil
}

// ClaimPublic is what a claim reveals: the public inputs, in circuit order.
type ClaimPublic struct {
	Root, Job, Dataset, ClaimNullifier, Payout fr.Element
}

// ClaimWitness is the full assignment of a claim by the holder of secret s
// of a record of epoch in the job jobID on datasetID, counted in tree,
// paid to payout (a non-zero field element); ErrClaimTree when the record
// was not counted.
func ClaimWitness(tree *NullifierTree, s fr.Element, datasetID, jobID string, epoch uint64, payout fr.Element) (*ClaimCircuit, ClaimPublic, error) {
	if payout.IsZero() {
		return nil, ClaimPublic{}, errors.New("circuits: claim: zero payout key")
	}
	if epoch >= 1<<EpochBits {
		return nil, ClaimPublic{}, fmt.Errorf("circuits: claim: epoch %d exceeds %d bits", epoch, EpochBits)
	}
	ds := DatasetField(datasetID)
	index, siblings, err := tree.Path(NullifierOf(s, ds, epoch))
	if err != nil {
		return nil, ClaimPublic{}, err
	}
	job := JobField(jobID)
	pub := ClaimPublic{Root: tree.Root(), Job: job, Dataset: ds, ClaimNullifier: ClaimNullifierOf(s, job), Payout: payout}
	w := &ClaimCircuit{
		Root: pub.Root, Job: pub.Job, Dataset: pub.Dataset, ClaimNullifier: pub.ClaimNullifier, Payout: pub.Payout,
		Secret: s, Epoch: epoch, Index: index, Siblings: make([]frontend.Variable, ClaimDepth),
	}
	for i := range siblings {
		w.Siblings[i] = siblings[i]
	}
	return w, pub, nil
}

// Assignment is the public part of a claim as a circuit assignment, for
// building the public witness a verifier checks.
func (p ClaimPublic) Assignment() *ClaimCircuit {
	return &ClaimCircuit{Root: p.Root, Job: p.Job, Dataset: p.Dataset, ClaimNullifier: p.ClaimNullifier, Payout: p.Payout,
		Siblings: make([]frontend.Variable, ClaimDepth)}
}

// PayoutField maps a payout key's bytes (an Ed25519 public key) to the
// field element a claim binds as its Payout public input. It is never
// zero but with negligible probability; ClaimWitness refuses zero.
func PayoutField(key []byte) fr.Element { return hash.SumBytes(hash.PayoutKey, key) }

// ClaimPublicInputs is the number of public inputs of the claim circuit.
const ClaimPublicInputs = 5

// Vector is the public inputs in circuit order, as a Verifier reads them.
func (p ClaimPublic) Vector() []fr.Element {
	return []fr.Element{p.Root, p.Job, p.Dataset, p.ClaimNullifier, p.Payout}
}

// ClaimSystem is the compiled claim circuit: the same for every job of
// every dataset, so one set of Groth16 keys serves a whole federation. It
// is immutable and safe for concurrent use.
type ClaimSystem struct {
	CCS constraint.ConstraintSystem
}

// CompileClaim compiles the claim circuit to R1CS over BN254.
func CompileClaim() (*ClaimSystem, error) {
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewClaimCircuit())
	if err != nil {
		return nil, fmt.Errorf("circuits: compile claim circuit: %w", err)
	}
	return &ClaimSystem{CCS: ccs}, nil
}

// Prove proves the claim w (from ClaimWitness) under pk.
func (s *ClaimSystem) Prove(pk groth16.ProvingKey, w *ClaimCircuit) (*Proof, error) {
	full, err := frontend.NewWitness(w, ecc.BN254.ScalarField())
	if err != nil {
		return nil, fmt.Errorf("circuits: claim witness: %w", err)
	}
	p, err := groth16.Prove(s.CCS, pk, full)
	if err != nil {
		return nil, fmt.Errorf("circuits: prove claim: %w", err)
	}
	bp, ok := p.(*groth16bn254.Proof)
	if !ok {
		return nil, fmt.Errorf("circuits: prove claim: unexpected proof type %T", p)
	}
	return &Proof{p: *bp}, nil
}

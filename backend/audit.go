package backend

import (
	"math/big"

	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Names of the audit checks that belong to a backend; package audit runs
// them at their places in its one list (AuditSlotsOf).
const (
	CheckCircuit       = "circuit"        // both
	CheckCiphertexts   = "ciphertexts"    // HE
	CheckPartials      = "partial-sums"   // MPC
	CheckAggregate     = "aggregate"      // HE
	CheckDecryptionSet = "decryption-set" // HE
	CheckDecryption    = "decryption"     // HE
)

// AuditSlots are a backend's own audit checks by where they run in the
// audit's list: Records after the job spec and before the proofs (they
// check what each record carries besides its proof), Combination after the
// eligible sets and before the coordinates (they check that the nodes'
// partials yield the released sums).
type AuditSlots struct {
	Records     []string
	Combination []string
}

// AuditSlotsOf returns the audit slots of backend kind. The audit knows
// the kind from the transcript's form before it has decoded the
// descriptor, so this needs no dataset. Any kind other than HE gets MPC's
// (the audit's descriptor check refuses a dataset of another backend).
func AuditSlotsOf(kind cohortv1.Backend) AuditSlots {
	if kind == cohortv1.Backend_BACKEND_HE {
		return AuditSlots{
			Records:     []string{CheckCiphertexts},
			Combination: []string{CheckAggregate, CheckDecryptionSet, CheckDecryption},
		}
	}
	return AuditSlots{Combination: []string{CheckPartials}}
}

// Name names backend kind in reports and job specs: "mpc" or "he".
func Name(kind cohortv1.Backend) string {
	if kind == cohortv1.Backend_BACKEND_HE {
		return "he"
	}
	return "mpc"
}

// Parse is the inverse of Name; ok is false for any other name.
func Parse(name string) (kind cohortv1.Backend, ok bool) {
	switch name {
	case "mpc":
		return cohortv1.Backend_BACKEND_MPC, true
	case "he":
		return cohortv1.Backend_BACKEND_HE, true
	}
	return cohortv1.Backend_BACKEND_UNSPECIFIED, false
}

// Reporter collects the outcome of one audit check. A check that neither
// fails nor skips passes with its detail.
type Reporter interface {
	// Fail records a failing item.
	Fail(format string, args ...any)
	// Skip marks the check as not run ("not checked: " and the reason).
	Skip(format string, args ...any)
	// Pass sets what the check says when nothing failed.
	Pass(detail string)
	// Summary sets what the check says when something failed, in place of
	// the failures themselves.
	Summary(detail string)
	// Failed counts the failures recorded so far.
	Failed() int
}

// AuditJob is what a backend's audit checks read of a job's transcript,
// decoded as far as the audit decoded it. It is only read.
type AuditJob struct {
	JobID         string
	Cohort        int         // the number of records, which the checks' RecordPass reads
	Nodes         []AuditNode // the nodes with evidence, in the transcript's order
	Sums          []AuditSum  // the released sums, by coordinate
	DecryptionSet []uint32    // HE: the nodes whose shares decrypt the aggregate
	Aggregate     []byte      // HE: the aggregate ciphertext
}

// AuditRecord is one record of an audited job.
type AuditRecord struct {
	Name          string // how messages name it: "record 7 (nullifier ab12cd34…)"
	PayloadDigest [32]byte
	Ciphertext    []byte                 // HE only
	Public        *circuits.PublicInputs // nil when they do not decode
	Proof         *circuits.Proof        // nil when it does not decode
}

// AuditNode is one node's evidence of an audited job.
type AuditNode struct {
	Index            uint32
	SetDigest        [32]byte
	Partial          []byte // MPC: its partial sum; HE: its decryption share, for the decryption set
	PartialSignature []byte // over attest.JobPartial
}

// AuditSum is one released sum.
type AuditSum struct {
	Coordinate uint32
	Value      *big.Int // signed: noise can make a released sum negative
}

// CircuitKey is everything a contribution circuit depends on: for MPC the
// schema, node count and registry depth; for HE the schema, registry
// depth and collective key (parameter set and key digest).
type CircuitKey struct {
	Schema       [32]byte
	Nodes, Depth int
	ParamSet     string   // HE only
	Key          [32]byte // HE only: SHA-256 of the encoded public key
}

// Compiler compiles a contribution circuit with build, possibly through
// a cache keyed by k, and returns it with its digest (setup.CircuitDigest).
type Compiler func(k CircuitKey, build func() (constraint.ConstraintSystem, error)) (constraint.ConstraintSystem, [32]byte, error)

// Audit is the part of a Backend used by the offline audit: what an
// auditor checks differently for each backend. The checks of AuditChecks
// run at the places AuditSlotsOf gives; the other methods fill in the
// audit's shared checks.
type Audit interface {
	// AuditDescriptor says what the descriptor check reports of the
	// dataset, and insecure, when the backend's parameters are not
	// secure, the warning to report (empty otherwise).
	AuditDescriptor() (detail, insecure string)
	// AuditCircuit is the circuit check: it compiles the dataset's
	// contribution circuit through compile and checks its digest against
	// the descriptor's. It returns the circuit and its number of public
	// inputs, or nil after failing r.
	AuditCircuit(compile Compiler, r Reporter) (ccs constraint.ConstraintSystem, numPublic int)
	// AuditProofBatch is how many records' statements the proofs check
	// verifies at a time (0: all at once).
	AuditProofBatch() int
	// AuditStatement is a record's proof with its public vector, or the
	// reason it has none. Its public inputs and proof decoded.
	AuditStatement(rec *AuditRecord) (circuits.Statement, error)
	// AuditProofsDetail is what the proofs check says when n proofs verify.
	AuditProofsDetail(n int) string
	// AuditRecordTerms is what is wrong with a record's public inputs for
	// the backend (the share commitments it carries), or "".
	AuditRecordTerms(p *circuits.PublicInputs) string
	// AuditQuorum is how many nodes must have evidence and sign a
	// transcript: all of them (MPC: every share is needed), or at least the
	// threshold of live nodes (HE).
	AuditQuorum() (nodes int, all bool)
	// AuditChecks returns the backend's own checks over job, by name (see
	// AuditSlotsOf), and pass, which reads the job's records for them (nil
	// if they read none). The caller gives every record to pass.Record
	// once, in the transcript's order, before it runs the first of the
	// checks; the checks then report what the pass found. They share what
	// they decode: run them in slot order.
	AuditChecks(job *AuditJob) (checks map[string]func(Reporter), pass RecordPass)
	// AuditForm checks, as a transcript is assembled, that a job has the
	// backend's form (MPC: evidence from every node, no ciphertext; HE: at
	// least the threshold of live nodes with the coordinator among them,
	// the decryption set their lowest indices, ciphertexts of the
	// parameter set's size), and says which nodes carry a partial.
	AuditForm(f JobForm) (hasPartial func(node int) bool, err error)
}

// RecordPass is the part of a backend's own audit checks that reads the
// records, one at a time, so that an audit holds no more of them than it
// reads at once (HE: each ciphertext is checked and added to a running
// sum as it comes, docs/design.md §7.6). It is for one goroutine.
type RecordPass interface {
	// Record reads the next record. What is wrong with it goes to
	// report(name), the Reporter of the Records-slot check (AuditSlots)
	// it concerns; rec is not retained.
	Record(rec *AuditRecord, report func(name string) Reporter)
}

// JobForm is what a finished job's transcript carries besides each node's
// evidence, as its coordinator assembles it.
type JobForm struct {
	Records       []FormRecord // in any order
	Live          []uint32     // the nodes with evidence, as listed
	Coordinator   uint32
	DecryptionSet []uint32 // HE
	Aggregate     []byte   // HE
}

// FormRecord is a record of a JobForm.
type FormRecord struct {
	Nullifier  [32]byte
	Ciphertext []byte // HE
}

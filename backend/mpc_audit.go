package backend

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/mpc"
)

func (b *mpcBackend) AuditDescriptor() (detail, insecure string) {
	d := b.ds.Desc
	return fmt.Sprintf("dataset %s: %d nodes, registry depth %d, schema %x…; its digest is the transcript's",
		d.GetId(), d.GetNodeCount(), d.GetRegistryDepth(), d.GetSchema().GetDigest()[:4]), ""
}

func (b *mpcBackend) AuditCircuit(compile Compiler, r Reporter) (constraint.ConstraintSystem, int) {
	sh, err := b.ds.Shape()
	if err != nil {
		r.Fail("the dataset has no circuit: %v", err)
		return nil, 0
	}
	k := CircuitKey{Schema: b.ds.Schema.Digest(), Nodes: sh.Nodes, Depth: sh.Depth}
	ccs, digest, err := compile(k, func() (constraint.ConstraintSystem, error) {
		sys, err := circuits.CompileMPC(sh)
		if err != nil {
			return nil, err
		}
		return sys.CCS, nil
	})
	if err != nil {
		r.Fail("the dataset's circuit does not compile: %v", err)
		return nil, sh.NumPublic()
	}
	if !bytes.Equal(digest[:], b.ds.Desc.GetCircuitDigest()) {
		r.Fail("the circuit compiled from the schema has digest %x…, the descriptor names %x…", digest[:4], prefix(b.ds.Desc.GetCircuitDigest()))
		return nil, sh.NumPublic()
	}
	r.Pass(fmt.Sprintf("the contribution circuit for %d nodes and registry depth %d compiles to the descriptor's digest %x… (%d constraints)",
		sh.Nodes, sh.Depth, digest[:4], ccs.GetNbConstraints()))
	return ccs, sh.NumPublic()
}

// AuditProofBatch is 0: MPC statements are small, one batch.
func (*mpcBackend) AuditProofBatch() int { return 0 }

func (*mpcBackend) AuditStatement(rec *AuditRecord) (circuits.Statement, error) {
	return circuits.Statement{Proof: rec.Proof, Public: rec.Public.Vector()}, nil
}

func (*mpcBackend) AuditProofsDetail(n int) string {
	return fmt.Sprintf("all %d proofs verify against their public inputs under the dataset's verifying key (batch-verified, failing batches bisected to the record)", n)
}

func (b *mpcBackend) AuditRecordTerms(p *circuits.PublicInputs) string {
	if k := int(b.ds.Desc.GetNodeCount()); len(p.ShareCommitments) != k {
		return fmt.Sprintf("shared among %d nodes, the dataset has %d", len(p.ShareCommitments), k)
	}
	return ""
}

// AuditQuorum is every node: a record needs every share.
func (b *mpcBackend) AuditQuorum() (int, bool) { return len(b.ds.Signing), true }

// AuditChecks: the partials' check reads no record.
func (b *mpcBackend) AuditChecks(job *AuditJob) (map[string]func(Reporter), RecordPass) {
	return map[string]func(Reporter){
		CheckPartials: func(r Reporter) { b.checkPartials(job, r) },
	}, nil
}

func (b *mpcBackend) AuditForm(f JobForm) (func(int) bool, error) {
	if len(f.DecryptionSet) != 0 || len(f.Aggregate) != 0 {
		return nil, errors.New("a decryption set or an aggregate ciphertext for an MPC dataset")
	}
	for _, r := range f.Records {
		if len(r.Ciphertext) != 0 {
			return nil, fmt.Errorf("record %x…: a ciphertext for an MPC dataset", r.Nullifier[:4])
		}
	}
	if k := int(b.ds.Desc.GetNodeCount()); len(f.Live) != k {
		return nil, fmt.Errorf("evidence from %d nodes, the dataset has %d", len(f.Live), k)
	}
	return func(int) bool { return true }, nil
}

// checkPartials: every node signed its partial over the cohort, and the
// partials sum to every released sum, read as the combiner reads them:
// the centred integer in (−r/2, r/2) of their sum in Fr, below
// mpcSumBound in absolute value (noised sums may be negative; which sums
// the release allows is the audit's release-mechanism check).
func (b *mpcBackend) checkPartials(t *AuditJob, r Reporter) {
	l := b.ds.Schema.Layout()
	coords := make([]uint32, len(t.Sums))
	for i, s := range t.Sums {
		coords[i] = s.Coordinate
	}
	if len(coords) < 1 || len(coords) > mpc.MaxLen {
		r.Fail("%d released sums", len(coords))
		return
	}
	total := make([]fr.Element, len(coords))
	complete := true
	k := len(b.ds.Signing)
	for _, n := range t.Nodes {
		i := int(n.Index)
		if i >= k {
			r.Fail("node %d: not a node of the dataset", i)
			complete = false
			continue
		}
		st := attest.JobPartial{JobID: t.JobID, SetDigest: n.SetDigest, Coordinates: coords, PartialDigest: sha256.Sum256(n.Partial), Node: n.Index}
		if err := attest.Verify(b.ds.Signing[i], st, n.PartialSignature); err != nil {
			r.Fail("node %d: partial-sum signature does not verify", i)
		}
		p, err := mpc.UnmarshalPartial(n.Partial, len(coords))
		if err != nil {
			r.Fail("node %d: partial sum does not decode: %v", i, err)
			complete = false
			continue
		}
		if p.Len() != len(coords) {
			r.Fail("node %d: partial over %d coordinates, %d were released", i, p.Len(), len(coords))
			complete = false
			continue
		}
		if p.Count() != uint64(t.Cohort) {
			r.Fail("node %d: partial over %d records, the cohort has %d", i, p.Count(), t.Cohort)
		}
		if err := mpc.Accumulate(total, p.Sum()); err != nil {
			r.Fail("node %d: %v", i, err)
			complete = false
		}
	}
	if len(t.Nodes) != k {
		r.Fail("partials from %d nodes, the dataset has %d", len(t.Nodes), k)
		complete = false
	}
	if !complete {
		return
	}
	for j, s := range t.Sums {
		name := l.SumName(int(s.Coordinate))
		want, err := mpc.ToSigned(total[j:j+1], mpcSumBound)
		switch {
		case err != nil:
			r.Fail("coordinate %d (%s): the nodes' partials sum to %s, beyond every honest sum (|sum| < 2^%d): a wrong partial",
				s.Coordinate, name, total[j].BigInt(new(big.Int)), mpcSumBound.BitLen()-1)
		case s.Value == nil || s.Value.Cmp(want[0]) != 0:
			r.Fail("coordinate %d (%s): released %v, the nodes' partials sum to %s", s.Coordinate, name, s.Value, want[0])
		}
	}
	r.Pass(fmt.Sprintf("the %d nodes' signed partials over %d records sum to every released sum, read as centred integers (%d coordinates)", k, t.Cohort, len(coords)))
}

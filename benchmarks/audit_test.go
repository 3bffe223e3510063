package benchmarks

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/schema"
)

// auditRecords are the transcript sizes BenchmarkAuditProofs checks, comma
// separated.
var auditRecords = flag.String("audit.records", "1000,10000,100000", "transcript sizes of BenchmarkAuditProofs")

// auditDistinct is how many distinct proved records BenchmarkAuditProofs
// repeats to fill a transcript.
const auditDistinct = 16

// BenchmarkAuditProofs measures the part of `cohort audit verify` that grows
// with an MPC transcript's records (docs/design.md §9.3): decoding each
// record's proof and public inputs and checking every proof under the
// dataset's verifying key, all of them in one VerifyBatch call as the audit
// does on MPC (chunks of 512 verified in parallel across the CPUs). The
// demo schema, k = 3; the records are auditDistinct proved payloads
// repeated (each proof is checked in full wherever it appears), since
// proving a hundred thousand records is not what is measured. It reports
// proofs/s. Sizes: -audit.records (1,000, 10,000 and 100,000 by default).
//
//	go test ./benchmarks -run '^$' -bench BenchmarkAuditProofs -benchtime 1x
func BenchmarkAuditProofs(b *testing.B) {
	var sizes []int
	for _, f := range strings.Split(*auditRecords, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("-audit.records: %q is not a transcript size", f)
		}
		sizes = append(sizes, n)
	}
	bn := newBench(b, schema.Default())
	v, err := circuits.NewVerifier(bn.keys.VK, bn.sys.Shape.NumPublic())
	if err != nil {
		b.Fatal(err)
	}
	type record struct {
		proof  []byte
		public []byte
	}
	var distinct []record
	for range auditDistinct {
		p, err := bn.prover.Build(bn.c, nil)
		if err != nil {
			b.Fatal(err)
		}
		proof, err := p.Proof.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		pub, err := p.Public.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		distinct = append(distinct, record{proof, pub})
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			stmts := make([]circuits.Statement, n)
			for b.Loop() {
				for i := range stmts {
					r := distinct[i%len(distinct)]
					var (
						proof circuits.Proof
						pub   circuits.PublicInputs
					)
					if err := proof.UnmarshalBinary(r.proof); err != nil {
						b.Fatal(err)
					}
					if err := pub.UnmarshalBinary(r.public); err != nil {
						b.Fatal(err)
					}
					stmts[i] = circuits.Statement{Proof: &proof, Public: pub.Vector()}
				}
				for i, err := range v.VerifyBatch(stmts) {
					if err != nil {
						b.Fatalf("record %d: %v", i, err)
					}
				}
			}
			b.ReportMetric(float64(n), "records")
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
	}
}

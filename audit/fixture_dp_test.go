package audit

import (
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The DP fixture: the dev MPC fixture's dataset under the discrete
// Gaussian (enclave.DefaultPolicy: ρ = 1 per epoch, 1/2 per buyer), and
// jobs over its honest records, each node adding its own noise and signing
// its debit of its own ledger.

// testBuyer is the buyer the DP fixture's jobs are charged to.
const testBuyer = "lab-1"

// testRho is the ρ the DP fixture's test job spends from each epoch.
const testRho = "1/8"

type dpFixture struct {
	*fixture
	desc    *cohortv1.DatasetDescriptor // the MPC fixture's, with the Gaussian policy
	bundle  *Bundle                     // the honest noised job, charged from empty ledgers
	encoded []byte
}

var dpOnce struct {
	once sync.Once
	f    *dpFixture
	err  error
}

// getDPFixture builds the DP fixture once per test binary.
func getDPFixture(t testing.TB) *dpFixture {
	t.Helper()
	base := getFixture(t, devSetup)
	dpOnce.once.Do(func() { dpOnce.f, dpOnce.err = newDPFixture(base) })
	if dpOnce.err != nil {
		t.Fatal(dpOnce.err)
	}
	return dpOnce.f
}

func newDPFixture(base *fixture) (*dpFixture, error) {
	desc := proto.Clone(base.desc).(*cohortv1.DatasetDescriptor)
	desc.Privacy = enclave.DefaultPolicy()
	if err := resignReady(desc, base.sign); err != nil {
		return nil, err
	}
	f := &dpFixture{fixture: base, desc: desc}
	var err error
	if f.bundle, err = f.assembleJob(f.job(testJobID, testRho, nil)); err != nil {
		return nil, err
	}
	if f.encoded, err = f.bundle.MarshalBinary(); err != nil {
		return nil, err
	}
	return f, nil
}

// dpSpec is the test spec with a privacy loss of ρ per epoch.
func dpSpec(datasetID string, epoch uint64, rho string) *cohortv1.JobSpec {
	spec := testSpec(datasetID, epoch)
	spec.Privacy = &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: rho}}
	return spec
}

// job is a noised job id spending rho, charged to testBuyer, each node's
// ledger having spent what ledger says before it (nil: nothing).
func (f *dpFixture) job(id, rho string, ledger func(node int, epoch uint64) (spent, buyerSpent dp.Rho)) mpcJob {
	return mpcJob{desc: f.desc, id: id, spec: dpSpec(f.schema.ID, f.epoch, rho), recs: f.honest, roots: f.roots,
		buyer: testBuyer, ledger: ledger}
}

// cloneDP returns a deep copy of the honest noised bundle.
func (f *dpFixture) cloneDP(t testing.TB) *Bundle {
	t.Helper()
	b, err := UnmarshalBundle(f.encoded, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustRho parses an exact ρ for a test.
func mustRho(t testing.TB, s string) dp.Rho {
	t.Helper()
	r, err := dp.ParseRho(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/client/clienttest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
)

func testRecord() schema.Record {
	return schema.Record{
		"age":        schema.IntValue(41),
		"steps":      schema.IntValue(8200),
		"resting_hr": schema.IntValue(63),
		"sleep_h":    schema.ScaledValue(715, 2),
		"smoker":     schema.BoolValue(false),
		"region":     schema.CategoryValue("east"),
	}
}

func testOptions(f *clienttest.Federation) ContributeOptions {
	return ContributeOptions{
		DatasetID: f.Dataset.Desc.GetId(),
		Epoch:     f.Dataset.Schema.Epoch.Index(time.Now()),
		Record:    testRecord(),
		Purposes:  []string{"public-health", "academic-research"},
		Expiry:    time.Now().Add(90 * 24 * time.Hour),
		MinCohort: 25,
	}
}

func TestCheckTerms(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	now := time.Now()
	o := testOptions(f)
	record, terms, err := checkTerms(f.Dataset, o, now)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.Dataset.Schema.Encode(o.Record)
	if !slices.Equal(record, want) || terms.Purposes != 0b011 || terms.MinCohort != 25 || terms.Epoch != o.Epoch ||
		terms.Expiry != uint64(o.Expiry.Unix()) || terms.Dataset != circuits.DatasetField(o.DatasetID) {
		t.Fatalf("terms %+v", terms)
	}
	cases := map[string]func(o *ContributeOptions){
		"no purpose":      func(o *ContributeOptions) { o.Purposes = nil },
		"unknown purpose": func(o *ContributeOptions) { o.Purposes = []string{"advertising"} },
		"expired":         func(o *ContributeOptions) { o.Expiry = now.Add(-time.Second) },
		"expiry now":      func(o *ContributeOptions) { o.Expiry = now },
		"no expiry":       func(o *ContributeOptions) { o.Expiry = time.Time{} },
		"expiry too late": func(o *ContributeOptions) { o.Expiry = time.Unix(1<<circuits.ExpiryBits, 0) },
		"epoch too large": func(o *ContributeOptions) { o.Epoch = 1 << circuits.EpochBits },
		"record missing":  func(o *ContributeOptions) { delete(o.Record, "age") },
		"record out of range": func(o *ContributeOptions) {
			o.Record["age"] = schema.IntValue(17)
		},
	}
	for name, mutate := range cases {
		o := testOptions(f)
		mutate(&o)
		if _, _, err := checkTerms(f.Dataset, o, now); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", name, err)
		}
	}
}

func TestContributeRefusesEarly(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	c := dialFake(t, f)
	ctx := testContext(t)
	if _, err := c.Contribute(ctx, testIdentity(t, 1), testOptions(f)); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("unregistered: %v", err)
	}
	id := registered(t, c, f, 1)
	o := testOptions(f)
	o.DatasetID = "no-such-dataset"
	if _, err := c.Contribute(ctx, id, o); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown dataset: %v", err)
	}
	o = testOptions(f)
	o.Dataset, o.DatasetID = f.Dataset, "another-one"
	if _, err := c.Contribute(ctx, id, o); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("dataset and id disagree: %v", err)
	}
	o = testOptions(f)
	o.Purposes = nil
	if _, err := c.Contribute(ctx, id, o); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("no purpose: %v", err)
	}
	if f.ChunksSent() != 0 {
		t.Fatal("the proving key was fetched for a contribution refused up front")
	}
}

// TestContribute runs the whole flow against a fake federation that checks
// the payload as the nodes would: the proof verifies under the dataset's
// verifying key and every node's share opens and matches its commitment;
// the shares add up to the encoded record.
func TestContribute(t *testing.T) {
	if testing.Short() {
		t.Skip("Groth16 setup and proving")
	}
	f := clienttest.New(t, clienttest.Options{Proving: true})
	c := dialFake(t, f)
	ctx := testContext(t)
	id := registered(t, c, f, 1)

	var stages []string // stages completed, in order
	started := map[string]bool{}
	o := testOptions(f)
	o.CacheDir = t.TempDir()
	o.Progress = func(stage string, done, total int) {
		started[stage] = true
		if done == total && (len(stages) == 0 || stages[len(stages)-1] != stage) {
			stages = append(stages, stage)
		}
	}
	receipt, err := c.Contribute(ctx, id, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{StageDataset, StageCircuit, StageProvingKey, StageMembershipPath, StageProving, StageUploading}; !slices.Equal(stages, want) {
		t.Fatalf("stages %v, want %v", stages, want)
	}

	acc := f.Accepted()
	if len(acc) != 1 {
		t.Fatalf("%d contributions accepted", len(acc))
	}
	a := acc[0]
	nf := id.Nullifier(o.DatasetID, o.Epoch)
	if got := a.Payload.Public.Nullifier.Bytes(); got != nf {
		t.Fatal("payload nullifier is not the identity's")
	}
	digest := sha256.Sum256(a.Request.GetPayload())
	if !bytes.Equal(receipt.GetPayloadDigest(), digest[:]) || !bytes.Equal(receipt.GetNullifier(), nf[:]) {
		t.Fatal("receipt does not name the payload")
	}
	if p := a.Payload.Public; p.Purposes != 0b011 || p.MinCohort != 25 || p.Expiry != uint64(o.Expiry.Unix()) || p.Epoch != o.Epoch {
		t.Fatalf("public terms %+v", p)
	}
	var rt fr.Element
	rtb := id.RevocationToken(o.DatasetID, o.Epoch)
	rt.SetBytes(rtb[:])
	if rc := circuits.RevocationCommitmentOf(rt); !a.Payload.Public.Revocation.Equal(&rc) {
		t.Fatal("revocation commitment is not the identity's")
	}
	partials := make([][]fr.Element, len(a.Shares))
	for j, s := range a.Shares {
		partials[j] = s.Values
	}
	sum, err := mpc.Reconstruct(partials...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mpc.ToBig(sum, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.Dataset.Schema.Encode(o.Record)
	for i := range want {
		if got[i].Uint64() != want[i] {
			t.Fatalf("coordinate %d: shares add up to %s, record has %d", i, got[i], want[i])
		}
	}

	// The receipt can be looked up and verifies.
	rr, err := c.Receipt(ctx, o.DatasetID, nf)
	if err != nil {
		t.Fatal(err)
	}
	if rr.GetReceipt().GetStatus() != cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED {
		t.Fatalf("status %s", rr.GetReceipt().GetStatus())
	}

	// A second contribution for the same epoch is refused by its nullifier,
	// with the existing receipt attached.
	stages = nil
	_, err = c.Contribute(ctx, id, o)
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second contribution: %v, want AlreadyExists", err)
	}
	if want := "node refused the contribution: AlreadyExists: "; !bytes.HasPrefix([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not start with %q", err, want)
	}
	existing, ok := ExistingReceipt(err)
	if !ok {
		t.Fatal("no existing receipt in the refusal")
	}
	if err := VerifyReceipt(f.Dataset, existing, nf); err != nil {
		t.Fatalf("existing receipt: %v", err)
	}
	if !slices.Contains(stages, StageProvingKey) {
		t.Fatal("no proving-key stage on the second contribution")
	}

	// A receipt that does not verify fails the contribution.
	o.Epoch++
	f.SetHooks(clienttest.Hooks{Receipt: func(r *cohortv1.Receipt) { r.Acks[2].Signature.Signature[0] ^= 1 }})
	if _, err := c.Contribute(ctx, id, o); !errors.Is(err, ErrBadReceipt) {
		t.Fatalf("tampered acknowledgment: %v, want ErrBadReceipt", err)
	}
	f.SetHooks(clienttest.Hooks{})

	// Revocation.
	rev, err := c.Revoke(ctx, id, o.DatasetID, o.Epoch-1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rev.GetNullifier(), nf[:]) || rev.GetRevokedAt() == 0 {
		t.Fatalf("revocation %v", rev)
	}
	if rr, err := c.Receipt(ctx, o.DatasetID, nf); err != nil || rr.GetReceipt().GetStatus() != cohortv1.ReceiptStatus_RECEIPT_STATUS_REVOKED {
		t.Fatalf("receipt after revocation: %v, %v", rr, err)
	}
	f.SetHooks(clienttest.Hooks{Revocation: func(r *cohortv1.RevokeResponse) { r.RevokedAt-- }})
	if _, err := c.Revoke(ctx, id, o.DatasetID, o.Epoch-1); !errors.Is(err, ErrBadReceipt) {
		t.Fatalf("tampered revocation: %v, want ErrBadReceipt", err)
	}
	f.SetHooks(clienttest.Hooks{})
	if _, err := c.Revoke(ctx, id, o.DatasetID, o.Epoch+5); status.Code(err) != codes.NotFound {
		t.Fatalf("revoking a record never made: %v, want NotFound", err)
	}

	// A member removed from the registry is caught before proving.
	if err := f.RemoveMember(id.Member.Index); err != nil {
		t.Fatal(err)
	}
	o.Epoch += 10
	clear(started)
	if _, err := c.Contribute(ctx, id, o); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("removed member: %v, want ErrBadResponse", err)
	}
	if !started[StageMembershipPath] || started[StageProving] {
		t.Fatal("proved although the membership path was wrong")
	}
	if n := len(f.Accepted()); n != 2 {
		t.Fatalf("%d contributions accepted, want 2", n)
	}
}

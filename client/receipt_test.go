package client

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/client/clienttest"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func nodeSig(key ed25519.PrivateKey, i int, st attest.Statement) *cohortv1.NodeSignature {
	return &cohortv1.NodeSignature{NodeIndex: uint32(i), Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: attest.Sign(key, st)}
}

// signedReceipt is an honest receipt for (nullifier, digest) signed by f's
// nodes.
func signedReceipt(f *clienttest.Federation, nullifier, digest, root [32]byte, epoch uint64) *cohortv1.Receipt {
	id := f.Dataset.Desc.GetId()
	r := &cohortv1.Receipt{
		DatasetId: id, Epoch: epoch, Nullifier: nullifier[:], PayloadDigest: digest[:], RegistryRoot: root[:],
		Status: cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED, AcceptedAt: 1700000002,
	}
	for i, key := range f.Signing {
		at := int64(1700000000 + i)
		st := attest.ContributionAck{DatasetID: id, Nullifier: nullifier, PayloadDigest: digest, Node: uint32(i), StoredAt: at}
		r.Acks = append(r.Acks, &cohortv1.ContributionAck{
			DatasetId: id, Nullifier: nullifier[:], PayloadDigest: digest[:], StoredAt: at, Signature: nodeSig(key, i, st),
		})
	}
	return r
}

func TestVerifyReceipt(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	ds := f.Dataset
	nf, digest, root := [32]byte{1}, [32]byte{2}, [32]byte{3}
	if err := checkContributionReceipt(ds, signedReceipt(f, nf, digest, root, 9), nf, digest, 9, root); err != nil {
		t.Fatalf("honest receipt: %v", err)
	}
	other := [32]byte{4}
	cases := map[string]func(r *cohortv1.Receipt){
		"nil":                nil,
		"tampered signature": func(r *cohortv1.Receipt) { r.Acks[1].Signature.Signature[5] ^= 1 },
		"missing ack":        func(r *cohortv1.Receipt) { r.Acks = r.Acks[:2] },
		"extra ack":          func(r *cohortv1.Receipt) { r.Acks = append(r.Acks, r.Acks[0]) },
		"no signature":       func(r *cohortv1.Receipt) { r.Acks[2].Signature = nil },
		"swapped acks":       func(r *cohortv1.Receipt) { r.Acks[0], r.Acks[1] = r.Acks[1], r.Acks[0] },
		"signature in place": func(r *cohortv1.Receipt) { r.Acks[1].Signature.NodeIndex = 0 },
		"scheme": func(r *cohortv1.Receipt) {
			r.Acks[0].Signature.Scheme = cohortv1.SignatureScheme_SIGNATURE_SCHEME_UNSPECIFIED
		},
		"stored_at changed":   func(r *cohortv1.Receipt) { r.Acks[0].StoredAt++ },
		"ack dataset":         func(r *cohortv1.Receipt) { r.Acks[0].DatasetId = "other" },
		"ack nullifier":       func(r *cohortv1.Receipt) { r.Acks[0].Nullifier = other[:] },
		"receipt dataset":     func(r *cohortv1.Receipt) { r.DatasetId = "other" },
		"receipt nullifier":   func(r *cohortv1.Receipt) { r.Nullifier = other[:] },
		"status":              func(r *cohortv1.Receipt) { r.Status = cohortv1.ReceiptStatus_RECEIPT_STATUS_UNSPECIFIED },
		"revoked when fresh":  func(r *cohortv1.Receipt) { r.Status = cohortv1.ReceiptStatus_RECEIPT_STATUS_REVOKED },
		"short digest":        func(r *cohortv1.Receipt) { r.PayloadDigest = r.PayloadDigest[:31] },
		"short root":          func(r *cohortv1.Receipt) { r.RegistryRoot = nil },
		"epoch":               func(r *cohortv1.Receipt) { r.Epoch++ },
		"registry root":       func(r *cohortv1.Receipt) { r.RegistryRoot = other[:] },
		"one ack for another": func(r *cohortv1.Receipt) { r.Acks[2].PayloadDigest = other[:] },
		"receipt for another payload, signed": func(r *cohortv1.Receipt) {
			*r = *signedReceipt(f, nf, other, root, 9)
		},
		"ack for another payload, signed": func(r *cohortv1.Receipt) {
			r.Acks[1] = signedReceipt(f, nf, other, root, 9).Acks[1]
		},
		"pending and signed": func(r *cohortv1.Receipt) { r.PendingNodes = []uint32{2} },
		"two nodes pending": func(r *cohortv1.Receipt) {
			r.Acks[1], r.Acks[2], r.PendingNodes = &cohortv1.ContributionAck{}, &cohortv1.ContributionAck{}, []uint32{1, 2}
		},
		"pending node out of range": func(r *cohortv1.Receipt) {
			r.PendingNodes = []uint32{uint32(len(r.Acks))}
		},
		"unsigned, another pending": func(r *cohortv1.Receipt) {
			r.Acks[2], r.PendingNodes = &cohortv1.ContributionAck{}, []uint32{1}
		},
		"signed by another federation": func(r *cohortv1.Receipt) {
			g := clienttest.New(t, clienttest.Options{})
			*r = *signedReceipt(g, nf, digest, root, 9)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			var r *cohortv1.Receipt
			if mutate != nil {
				r = signedReceipt(f, nf, digest, root, 9)
				mutate(r)
			}
			if err := checkContributionReceipt(ds, r, nf, digest, 9, root); !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("checkContributionReceipt = %v, want ErrBadReceipt", err)
			}
		})
	}

	// A node that was down when the record was stored: pending, said so,
	// with an empty entry in its place.
	r := signedReceipt(f, nf, digest, root, 9)
	r.Acks[2], r.PendingNodes = &cohortv1.ContributionAck{}, []uint32{2}
	if err := checkContributionReceipt(ds, r, nf, digest, 9, root); err != nil {
		t.Fatalf("receipt with a pending node: %v", err)
	}
	if p := Pending(r); len(p) != 1 || p[0] != 2 {
		t.Fatalf("Pending = %v, want [2]", p)
	}

	// A revoked record's receipt still verifies when looked up.
	r = signedReceipt(f, nf, digest, root, 9)
	r.Status, r.RevokedAt = cohortv1.ReceiptStatus_RECEIPT_STATUS_REVOKED, 1700000100
	if err := VerifyReceipt(ds, r, nf); err != nil {
		t.Fatalf("revoked receipt: %v", err)
	}
}

func signedRevocation(ds *dataset.Dataset, keys []ed25519.PrivateKey, nf [32]byte, at int64) *cohortv1.RevokeResponse {
	r := &cohortv1.RevokeResponse{Nullifier: nf[:], RevokedAt: at}
	st := attest.Revocation{DatasetID: ds.Desc.GetId(), Nullifier: nf, RevokedAt: at}
	for i, k := range keys {
		r.Signatures = append(r.Signatures, nodeSig(k, i, st))
	}
	return r
}

func TestVerifyRevocation(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	ds := f.Dataset
	nf := [32]byte{7}
	honest := signedRevocation(ds, f.Signing, nf, 1700000000)
	if err := verifyRevocation(ds, honest, nf); err != nil {
		t.Fatalf("honest revocation: %v", err)
	}
	cases := map[string]func(r *cohortv1.RevokeResponse){
		"nullifier":          func(r *cohortv1.RevokeResponse) { r.Nullifier = []byte{1} },
		"time changed":       func(r *cohortv1.RevokeResponse) { r.RevokedAt++ },
		"no time":            func(r *cohortv1.RevokeResponse) { *r = *signedRevocation(ds, f.Signing, nf, 0) },
		"missing signature":  func(r *cohortv1.RevokeResponse) { r.Signatures = r.Signatures[1:] },
		"tampered signature": func(r *cohortv1.RevokeResponse) { r.Signatures[2].Signature[0] ^= 1 },
		"ack signature": func(r *cohortv1.RevokeResponse) {
			st := attest.ContributionAck{DatasetID: ds.Desc.GetId(), Nullifier: nf, Node: 0, StoredAt: r.RevokedAt}
			r.Signatures[0] = nodeSig(f.Signing[0], 0, st)
		},
	}
	for name, mutate := range cases {
		r := proto.CloneOf(honest)
		mutate(r)
		if err := verifyRevocation(ds, r, nf); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: %v, want ErrBadReceipt", name, err)
		}
	}
}

package audit

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/wire"
)

// A node's privacy debit in a transcript (NodeEvidence.Debit): its fields
// in the order attest.PrivacyDebit signs them, the node index and the
// signature's framing given by the entry it belongs to.

// encodeDebit writes the debit flag and, for a debit, its fields.
func encodeDebit(w *wire.Writer, d *cohortv1.PrivacyDebit) {
	if d == nil {
		w.Uint8(0)
		return
	}
	w.Uint8(1)
	w.String32(d.GetBuyerId())
	w.String32(d.GetRho())
	w.Uint32(uint32(len(d.GetEntries())))
	for _, e := range d.GetEntries() {
		w.Uint64(e.GetEpoch())
		for _, a := range entryAmounts(e) {
			w.String32(a)
		}
	}
	w.Raw(d.GetSignature().GetSignature())
}

// decodeDebit reads the debit flag and, for a debit, node's debit.
func decodeDebit(r *wire.Reader, node uint32) *cohortv1.PrivacyDebit {
	switch flag := r.Field("debit").Uint8(); {
	case r.Err() != nil || flag == 0:
		return nil
	case flag > 1:
		r.Fail(fmt.Errorf("debit flag %d, want 0 or 1", flag))
		return nil
	}
	d := &cohortv1.PrivacyDebit{NodeIndex: node}
	d.BuyerId = r.Field("debit buyer").String32(MaxBuyerIDLen)
	d.Rho = r.Field("debit ρ").String32(MaxAmountLen)
	if e := r.Field("debit entries").Count32(enclave.MaxJobEpochs, minEntrySize); e > 0 {
		d.Entries = make([]*cohortv1.LedgerEntry, e)
		for i := range d.Entries {
			read := func() string { return r.Field(fmt.Sprintf("debit entry %d", i)).String32(MaxAmountLen) }
			d.Entries[i] = &cohortv1.LedgerEntry{Epoch: r.Field(fmt.Sprintf("debit entry %d", i)).Uint64(),
				EpochTotal: read(), EpochSpentBefore: read(), EpochSpentAfter: read(),
				BuyerTotal: read(), BuyerSpentBefore: read(), BuyerSpentAfter: read()}
		}
	}
	d.Signature = &cohortv1.NodeSignature{NodeIndex: node, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519,
		Signature: copyOf(r.Field("debit signature").Fixed(SignatureSize))}
	return d
}

// entryAmounts are an entry's amounts in their encoded order.
func entryAmounts(e *cohortv1.LedgerEntry) [6]string {
	return [6]string{e.GetEpochTotal(), e.GetEpochSpentBefore(), e.GetEpochSpentAfter(),
		e.GetBuyerTotal(), e.GetBuyerSpentBefore(), e.GetBuyerSpentAfter()}
}

// validateDebit checks the structure of node's debit d (nil is none): a
// buyer id, amounts of 1..MaxAmountLen bytes, 1..enclave.MaxJobEpochs
// entries, and node's Ed25519 signature. Whether the amounts parse, the
// signature verifies and the debit is the job's charge is Verify's to say.
func validateDebit(node uint32, d *cohortv1.PrivacyDebit) error {
	if d == nil {
		return nil
	}
	amount := func(what, a string) error {
		if len(a) < 1 || len(a) > MaxAmountLen {
			return fmt.Errorf("%s of %d bytes, want 1..%d", what, len(a), MaxAmountLen)
		}
		return nil
	}
	sig := d.GetSignature()
	switch {
	case d.GetNodeIndex() != node:
		return fmt.Errorf("the debit of node %d", d.GetNodeIndex())
	case !validBuyerID(d.GetBuyerId()):
		return fmt.Errorf("buyer %q is not 1..%d bytes of [A-Za-z0-9._-]", clip(d.GetBuyerId()), MaxBuyerIDLen)
	case sig == nil || sig.GetNodeIndex() != node || sig.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 || len(sig.GetSignature()) != SignatureSize:
		return fmt.Errorf("not node %d's %d-byte Ed25519 signature", node, SignatureSize)
	case len(d.GetEntries()) < 1 || len(d.GetEntries()) > enclave.MaxJobEpochs:
		return fmt.Errorf("%d entries, want 1..%d", len(d.GetEntries()), enclave.MaxJobEpochs)
	}
	if err := amount("ρ", d.GetRho()); err != nil {
		return err
	}
	for i, e := range d.GetEntries() {
		if e == nil {
			return fmt.Errorf("entry %d is empty", i)
		}
		for _, a := range entryAmounts(e) {
			if err := amount(fmt.Sprintf("entry %d (epoch %d): an amount", i, e.GetEpoch()), a); err != nil {
				return err
			}
		}
	}
	return nil
}

// debitOf copies node's debit from the evidence (nil when there is none),
// refusing one the transcript cannot hold. The transcript's encoding keeps
// only the fields encodeDebit writes.
func debitOf(d *cohortv1.PrivacyDebit, node uint32) (*cohortv1.PrivacyDebit, error) {
	if d == nil {
		return nil, nil
	}
	if err := validateDebit(node, d); err != nil {
		return nil, err
	}
	return proto.Clone(d).(*cohortv1.PrivacyDebit), nil
}

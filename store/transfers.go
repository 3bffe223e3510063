package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Payout transfers (docs/design.md §6.8): a payout account's holder moves
// micro-credits to a buyer's balance with an order signed by the payout
// key, named by a transfer id that is used once in all. A transfer locks
// the payout row, then the buyer's balance row, and records the transfer,
// debits the one and credits the other in one transaction.

// PayoutTransfer is one transfer: Amount micro-credits from the payout
// account of PayoutKey to Buyer's balance, with the payout key's
// signature over it (attest.PayoutTransfer).
type PayoutTransfer struct {
	ID            string // 1..MaxJobIDLen bytes of [A-Za-z0-9-]
	PayoutKey     [32]byte
	Buyer         string // a stored buyer
	Amount        uint64 // 1..MaxAmount
	Signature     []byte // 64 bytes
	TransferredAt time.Time
}

// TransferExistsError is why TransferPayout refused a transfer id already
// used: Stored is the transfer recorded under it. It wraps
// ErrAlreadyExists.
type TransferExistsError struct{ Stored PayoutTransfer }

func (e *TransferExistsError) Error() string {
	return fmt.Sprintf("%v: transfer %q was recorded at %s", ErrAlreadyExists, e.Stored.ID, e.Stored.TransferredAt.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrAlreadyExists) hold.
func (e *TransferExistsError) Unwrap() error { return ErrAlreadyExists }

// checkTransfer validates what TransferPayout writes.
func checkTransfer(t PayoutTransfer) error {
	if err := checkJobID(t.ID); err != nil {
		return fmt.Errorf("transfer id: %w", err)
	}
	if err := checkBuyerID(t.Buyer); err != nil {
		return err
	}
	if t.Amount == 0 || t.Amount > MaxAmount {
		return fmt.Errorf("%w: amount %d, want 1..%d", ErrInvalid, t.Amount, MaxAmount)
	}
	if len(t.Signature) != 64 {
		return fmt.Errorf("%w: a %d-byte signature, want 64", ErrInvalid, len(t.Signature))
	}
	return nil
}

const transferColumns = `transfer_id, payout_key, buyer, amount, signature, transferred_at`

func scanTransfer(sc interface{ Scan(...any) error }) (PayoutTransfer, error) {
	var (
		t          PayoutTransfer
		key        []byte
		amount, at int64
	)
	if err := sc.Scan(&t.ID, &key, &t.Buyer, &amount, &t.Signature, &at); err != nil {
		return PayoutTransfer{}, err
	}
	var err error
	if t.PayoutKey, err = bytes32(key, "payout key"); err != nil {
		return PayoutTransfer{}, err
	}
	if t.Amount, err = unsigned(amount, "transfer amount"); err != nil {
		return PayoutTransfer{}, err
	}
	t.TransferredAt = fromMicros(at)
	return t, nil
}

// TransferPayout records t under its id, debits t.PayoutKey's account
// and credits t.Buyer's balance t.Amount, in one transaction, and returns
// both accounts after it. The signature is stored as given: the caller
// verifies it. A transfer id used before is refused with a
// *TransferExistsError (ErrAlreadyExists) naming the stored transfer;
// ErrNotFound for an unknown buyer; ErrInsufficientFunds when the payout
// account holds less than t.Amount; ErrLimit when the buyer's credited
// total would exceed MaxAmount; ErrInvalid for a malformed transfer. A
// refused transfer changes nothing.
func (q queries) TransferPayout(ctx context.Context, t PayoutTransfer) (Payout, Balance, error) {
	if err := checkTransfer(t); err != nil {
		return Payout{}, Balance{}, fmt.Errorf("store: transfer payout: %w", err)
	}
	var (
		p Payout
		b Balance
	)
	err := q.write(ctx, "transfer payout", func(tx *sql.Tx) error {
		fail := func(err error) error {
			return fmt.Errorf("store: transfer %q of payout %x… to buyer %q: %w", t.ID, t.PayoutKey[:4], t.Buyer, err)
		}
		prev, err := scanTransfer(tx.QueryRowContext(ctx, `SELECT `+transferColumns+` FROM payout_transfers WHERE transfer_id = $1`, t.ID))
		if err == nil {
			return &TransferExistsError{Stored: prev}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fail(err)
		}
		ok, err := buyerExists(ctx, tx, t.Buyer)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(fmt.Errorf("buyer: %w", ErrNotFound))
		}
		p, err = scanPayout(tx.QueryRowContext(ctx, `SELECT credited, claims, transferred FROM payouts WHERE payout_key = $1`+q.s.d.forUpdate, t.PayoutKey[:]), t.PayoutKey)
		if errors.Is(err, sql.ErrNoRows) {
			p = Payout{Key: t.PayoutKey}
		} else if err != nil {
			return fail(err)
		}
		if p.Balance() < t.Amount {
			return fail(fmt.Errorf("%w: the payout account holds %d micro-credits, the transfer is %d", ErrInsufficientFunds, p.Balance(), t.Amount))
		}
		b, err = q.lockBalance(ctx, tx, t.Buyer)
		if err != nil {
			return fail(err)
		}
		if b.Credited+t.Amount > MaxAmount {
			return fail(fmt.Errorf("credited %d + %d exceeds %d micro-credits: %w", b.Credited, t.Amount, MaxAmount, ErrLimit))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO payout_transfers (`+transferColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.ID, t.PayoutKey[:], t.Buyer, int64(t.Amount), t.Signature, micros(t.TransferredAt)); err != nil {
			return fail(err)
		}
		p.Transferred += t.Amount
		if _, err := tx.ExecContext(ctx, `UPDATE payouts SET transferred = $2 WHERE payout_key = $1`, t.PayoutKey[:], int64(p.Transferred)); err != nil {
			return fail(err)
		}
		b.Credited += t.Amount
		if err := writeBalance(ctx, tx, b); err != nil {
			return fail(err)
		}
		return nil
	})
	if err != nil {
		return Payout{}, Balance{}, err
	}
	return p, b, nil
}

func (q queries) GetPayoutTransfer(ctx context.Context, id string) (PayoutTransfer, error) {
	if err := checkJobID(id); err != nil {
		return PayoutTransfer{}, fmt.Errorf("store: payout transfer: %w", err)
	}
	t, err := scanTransfer(q.read().QueryRowContext(ctx, `SELECT `+transferColumns+` FROM payout_transfers WHERE transfer_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return PayoutTransfer{}, fmt.Errorf("store: payout transfer %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return PayoutTransfer{}, fmt.Errorf("store: payout transfer %q: %w", id, err)
	}
	return t, nil
}

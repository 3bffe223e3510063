package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// The payment ledger (docs/design.md §6.8): each buyer's balance in
// micro-credits, the credits that made it, and one escrow per priced job.
// A buyer's balance row is changed only with its row locked (SELECT … FOR
// UPDATE in PostgreSQL; SQLite's write lock), after the row of the credit
// or escrow the change is about, so concurrent changes, on any replica,
// never lose an update and never wait on each other in a cycle.

// MaxAmount bounds every amount of the payment ledger and every sum of
// them (a balance's credited total, a quote), in micro-credits: 2^60, so
// no sum of two overflows 64 bits.
const MaxAmount uint64 = 1 << 60

// InsufficientFundsError is why HoldEscrow refused: Buyer has Available
// micro-credits, less than Quote. It wraps ErrInsufficientFunds.
type InsufficientFundsError struct {
	Buyer            string
	Available, Quote uint64
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("%v: buyer %q has %d micro-credits available, the job needs %d", ErrInsufficientFunds, e.Buyer, e.Available, e.Quote)
}

// Unwrap makes errors.Is(err, ErrInsufficientFunds) hold.
func (e *InsufficientFundsError) Unwrap() error { return ErrInsufficientFunds }

// Quote is the most a job can cost: price × maxCohort + fee, in
// micro-credits; ErrInvalid when it exceeds MaxAmount.
func Quote(price, fee, maxCohort uint64) (uint64, error) {
	hi, lo := bits.Mul64(price, maxCohort)
	sum, carry := bits.Add64(lo, fee, 0)
	if hi != 0 || carry != 0 || sum > MaxAmount {
		return 0, fmt.Errorf("%w: %d × %d + %d micro-credits exceeds %d", ErrInvalid, price, maxCohort, fee, MaxAmount)
	}
	return sum, nil
}

// Credit is an amount an admin added to a buyer's balance, named by ID so
// that every node applies it once.
type Credit struct {
	ID     string // 1..MaxJobIDLen bytes of [A-Za-z0-9-]
	Buyer  string // a stored buyer
	Amount uint64 // 1..MaxAmount
	At     time.Time
}

// Balance is a buyer's account: Credited in all, Charged for released
// jobs, Held in escrow for jobs not yet ended; Charged + Held ≤ Credited.
type Balance struct {
	Buyer                   string
	Credited, Charged, Held uint64
}

// Available is what a new escrow may still hold.
func (b Balance) Available() uint64 { return b.Credited - b.Charged - b.Held }

// EscrowState is where a job's escrow is.
type EscrowState int32

// Escrow states. The zero value is no state.
const (
	// EscrowHeld: the quote is held from the buyer's balance.
	EscrowHeld EscrowState = 1
	// EscrowSettled: the job was released and charged; the rest of the
	// quote went back to the balance.
	EscrowSettled EscrowState = 2
	// EscrowRefunded: the job ended without a release (or its release was
	// undone); nothing is charged.
	EscrowRefunded EscrowState = 3
)

func (s EscrowState) String() string {
	switch s {
	case EscrowHeld:
		return "HELD"
	case EscrowSettled:
		return "SETTLED"
	case EscrowRefunded:
		return "REFUNDED"
	default:
		return fmt.Sprintf("EscrowState(%d)", int32(s))
	}
}

// Escrow is what one priced job holds or was charged: Held = Price ×
// MaxCohort + Fee while held; Charged = Price × Cohort + Fee once settled.
type Escrow struct {
	JobID     string // as Job.ID
	Buyer     string // a stored buyer
	DatasetID string // a stored dataset
	// Price per counted record and Fee per job, micro-credits, as the
	// dataset's descriptor set them when the job was quoted.
	Price, Fee uint64
	MaxCohort  uint64 // the largest cohort the quote covers
	Held       uint64 // the quote, set by HoldEscrow
	State      EscrowState
	Cohort     uint64 // settled: the released cohort
	Charged    uint64 // settled: Price × Cohort + Fee
	HeldAt     time.Time
	EndedAt    time.Time // settled or refunded; zero while held
}

// checkCreditID accepts 1..MaxJobIDLen bytes of [A-Za-z0-9-], as a job id.
func checkCreditID(id string) error {
	if err := checkJobID(id); err != nil {
		return fmt.Errorf("credit id: %w", err)
	}
	return nil
}

// buyerExists reports whether id is a stored buyer, read on r.
func buyerExists(ctx context.Context, r querier, id string) (bool, error) {
	var one int
	err := r.QueryRowContext(ctx, `SELECT 1 FROM buyers WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// lockBalance makes sure buyer has a balance row (all zero for a new one)
// and reads it, locked until the transaction ends.
func (q queries) lockBalance(ctx context.Context, tx *sql.Tx, buyer string) (Balance, error) {
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO buyer_balances (buyer, credited, charged, held) VALUES ($1, 0, 0, 0) ON CONFLICT DO NOTHING`, buyer); err != nil {
		return Balance{}, fmt.Errorf("add balance: %w", err)
	}
	return scanBalance(tx.QueryRowContext(ctx,
		`SELECT buyer, credited, charged, held FROM buyer_balances WHERE buyer = $1`+q.s.d.forUpdate, buyer))
}

func scanBalance(sc interface{ Scan(...any) error }) (Balance, error) {
	var (
		b                       Balance
		credited, charged, held int64
	)
	if err := sc.Scan(&b.Buyer, &credited, &charged, &held); err != nil {
		return Balance{}, err
	}
	if credited < 0 || charged < 0 || held < 0 || uint64(credited) > MaxAmount || charged > credited-held {
		return Balance{}, fmt.Errorf("store: stored balance of %q out of bounds (credited %d, charged %d, held %d)", b.Buyer, credited, charged, held)
	}
	b.Credited, b.Charged, b.Held = uint64(credited), uint64(charged), uint64(held)
	return b, nil
}

// writeBalance stores b over its locked row.
func writeBalance(ctx context.Context, tx *sql.Tx, b Balance) error {
	if b.Credited > MaxAmount || b.Charged+b.Held > b.Credited {
		return fmt.Errorf("balance of %q out of bounds (credited %d, charged %d, held %d)", b.Buyer, b.Credited, b.Charged, b.Held)
	}
	_, err := tx.ExecContext(ctx, `UPDATE buyer_balances SET credited = $2, charged = $3, held = $4 WHERE buyer = $1`,
		b.Buyer, int64(b.Credited), int64(b.Charged), int64(b.Held))
	return err
}

// CreditBuyer records the credit under its id, then adds it to the
// balance: the credit id's unique key decides, so a credit replayed on a
// node, or by two replicas at once, is applied once.
func (q queries) CreditBuyer(ctx context.Context, c Credit) (Balance, error) {
	if err := checkCreditID(c.ID); err != nil {
		return Balance{}, fmt.Errorf("store: credit buyer: %w", err)
	}
	if err := checkBuyerID(c.Buyer); err != nil {
		return Balance{}, fmt.Errorf("store: credit buyer: %w", err)
	}
	if c.Amount == 0 || c.Amount > MaxAmount {
		return Balance{}, fmt.Errorf("store: credit buyer: %w: amount %d, want 1..%d", ErrInvalid, c.Amount, MaxAmount)
	}
	var out Balance
	err := q.write(ctx, "credit buyer", func(tx *sql.Tx) error {
		fail := func(err error) error { return fmt.Errorf("store: credit %q to buyer %q: %w", c.ID, c.Buyer, err) }
		ok, err := buyerExists(ctx, tx, c.Buyer)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(ErrNotFound)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO buyer_credits (credit_id, buyer, amount, credited_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			c.ID, c.Buyer, int64(c.Amount), micros(c.At))
		if err != nil {
			return fail(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fail(err)
		}
		if n != 1 {
			var (
				buyer  string
				amount int64
			)
			if err := tx.QueryRowContext(ctx, `SELECT buyer, amount FROM buyer_credits WHERE credit_id = $1`, c.ID).Scan(&buyer, &amount); err != nil {
				return fail(fmt.Errorf("read existing: %w", err))
			}
			if buyer != c.Buyer || amount != int64(c.Amount) {
				return fail(fmt.Errorf("the id was used for %d to buyer %q: %w", amount, buyer, ErrAlreadyExists))
			}
			// Applied before: answer with the balance, change nothing.
			out, err = q.lockBalance(ctx, tx, c.Buyer)
			if err != nil {
				return fail(err)
			}
			return nil
		}
		b, err := q.lockBalance(ctx, tx, c.Buyer)
		if err != nil {
			return fail(err)
		}
		if b.Credited+c.Amount > MaxAmount {
			return fail(fmt.Errorf("credited %d + %d exceeds %d micro-credits: %w", b.Credited, c.Amount, MaxAmount, ErrLimit))
		}
		b.Credited += c.Amount
		if err := writeBalance(ctx, tx, b); err != nil {
			return fail(err)
		}
		out = b
		return nil
	})
	if err != nil {
		return Balance{}, err
	}
	return out, nil
}

// BuyerBalance reads one statement: a buyer never credited or charged has
// the zero balance.
func (q queries) BuyerBalance(ctx context.Context, buyer string) (Balance, error) {
	if err := checkBuyerID(buyer); err != nil {
		return Balance{}, fmt.Errorf("store: balance: %w", err)
	}
	b, err := scanBalance(q.read().QueryRowContext(ctx,
		`SELECT buyer, credited, charged, held FROM buyer_balances WHERE buyer = $1`, buyer))
	if errors.Is(err, sql.ErrNoRows) {
		return Balance{Buyer: buyer}, nil
	}
	if err != nil {
		return Balance{}, fmt.Errorf("store: balance of %q: %w", buyer, err)
	}
	return b, nil
}

// ListBalances pages by buyer id: the token is the last id listed.
func (q queries) ListBalances(ctx context.Context, pageToken string, limit int) ([]Balance, string, error) {
	if pageToken != "" {
		if err := checkBuyerID(pageToken); err != nil {
			return nil, "", fmt.Errorf("store: list balances: page token: %w", err)
		}
	}
	n := pageSize(limit)
	rows, err := q.read().QueryContext(ctx,
		`SELECT buyer, credited, charged, held FROM buyer_balances WHERE buyer > $1 ORDER BY buyer LIMIT $2`, pageToken, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("store: list balances: %w", err)
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		b, err := scanBalance(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list balances: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list balances: %w", err)
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		next = out[n-1].Buyer
	}
	return out, next, nil
}

// checkEscrow validates what HoldEscrow writes and returns the quote.
func checkEscrow(e Escrow) (uint64, error) {
	if err := checkJobID(e.JobID); err != nil {
		return 0, err
	}
	if err := checkBuyerID(e.Buyer); err != nil {
		return 0, err
	}
	if err := checkDatasetID(e.DatasetID); err != nil {
		return 0, err
	}
	if err := checkText(e.DatasetID, "dataset id"); err != nil {
		return 0, err
	}
	quote, err := Quote(e.Price, e.Fee, e.MaxCohort)
	if err != nil {
		return 0, err
	}
	if quote == 0 {
		return 0, fmt.Errorf("%w: a quote of 0 holds nothing (a free job has no escrow)", ErrInvalid)
	}
	return quote, nil
}

// HoldEscrow inserts the escrow's row first, so a second hold of the job
// waits for the first to end and then finds its row; then it locks the
// buyer's balance.
func (q queries) HoldEscrow(ctx context.Context, e Escrow) (Escrow, error) {
	quote, err := checkEscrow(e)
	if err != nil {
		return Escrow{}, fmt.Errorf("store: hold escrow: %w", err)
	}
	e.Held, e.State, e.Cohort, e.Charged, e.EndedAt = quote, EscrowHeld, 0, 0, time.Time{}
	err = q.write(ctx, "hold escrow", func(tx *sql.Tx) error {
		fail := func(err error) error { return fmt.Errorf("store: hold escrow of job %q: %w", e.JobID, err) }
		ok, err := datasetExists(ctx, tx, e.DatasetID)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(fmt.Errorf("dataset %q: %w", e.DatasetID, ErrNotFound))
		}
		if ok, err = buyerExists(ctx, tx, e.Buyer); err != nil {
			return fail(err)
		}
		if !ok {
			return fail(fmt.Errorf("buyer %q: %w", e.Buyer, ErrNotFound))
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO escrows (job_id, buyer, dataset_id, price, fee, max_cohort, held, state, held_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
			e.JobID, e.Buyer, e.DatasetID, int64(e.Price), int64(e.Fee), int64(e.MaxCohort), int64(quote), int32(EscrowHeld), micros(e.HeldAt))
		if err != nil {
			return fail(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fail(err)
		}
		if n != 1 {
			return fail(fmt.Errorf("the job has an escrow: %w", ErrAlreadyExists))
		}
		b, err := q.lockBalance(ctx, tx, e.Buyer)
		if err != nil {
			return fail(err)
		}
		if avail := b.Available(); avail < quote {
			return fail(&InsufficientFundsError{Buyer: e.Buyer, Available: avail, Quote: quote})
		}
		b.Held += quote
		if err := writeBalance(ctx, tx, b); err != nil {
			return fail(err)
		}
		return nil
	})
	if err != nil {
		return Escrow{}, err
	}
	return e, nil
}

const escrowColumns = `job_id, buyer, dataset_id, price, fee, max_cohort, held, state, cohort, charged, held_at, ended_at FROM escrows`

func scanEscrow(sc interface{ Scan(...any) error }) (Escrow, error) {
	var (
		e                                                   Escrow
		price, fee, maxCohort, held, state, cohort, charged int64
		heldAt                                              int64
		endedAt                                             sql.NullInt64
	)
	if err := sc.Scan(&e.JobID, &e.Buyer, &e.DatasetID, &price, &fee, &maxCohort, &held, &state, &cohort, &charged, &heldAt, &endedAt); err != nil {
		return Escrow{}, err
	}
	for _, v := range []int64{price, fee, maxCohort, held, cohort, charged} {
		if v < 0 {
			return Escrow{}, fmt.Errorf("store: stored escrow of %q has a negative amount", e.JobID)
		}
	}
	e.Price, e.Fee, e.MaxCohort, e.Held, e.Cohort, e.Charged = uint64(price), uint64(fee), uint64(maxCohort), uint64(held), uint64(cohort), uint64(charged)
	e.State = EscrowState(state)
	if e.State < EscrowHeld || e.State > EscrowRefunded {
		return Escrow{}, fmt.Errorf("store: stored escrow of %q has state %d", e.JobID, state)
	}
	if q, err := Quote(e.Price, e.Fee, e.MaxCohort); err != nil || q != e.Held || e.Cohort > e.MaxCohort || e.Charged > e.Held {
		return Escrow{}, fmt.Errorf("store: stored escrow of %q is inconsistent (held %d, charged %d)", e.JobID, e.Held, e.Charged)
	}
	e.HeldAt, e.EndedAt = fromMicros(heldAt), fromNullMicros(endedAt)
	return e, nil
}

// GetEscrow reads a job's escrow.
func (q queries) GetEscrow(ctx context.Context, jobID string) (Escrow, error) {
	if checkJobID(jobID) != nil {
		return Escrow{}, fmt.Errorf("store: escrow: malformed job id: %w", ErrNotFound)
	}
	e, err := scanEscrow(q.read().QueryRowContext(ctx, `SELECT `+escrowColumns+` WHERE job_id = $1`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return Escrow{}, fmt.Errorf("store: escrow of job %q: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return Escrow{}, fmt.Errorf("store: escrow of job %q: %w", jobID, err)
	}
	return e, nil
}

// endEscrow locks the job's escrow row, then lets end decide the new
// escrow and the change to the balance, then locks the balance, applies
// it and writes both.
func (q queries) endEscrow(ctx context.Context, op, jobID string, end func(e Escrow, b *Balance) (Escrow, error)) (Escrow, error) {
	if checkJobID(jobID) != nil {
		return Escrow{}, fmt.Errorf("store: %s: malformed job id: %w", op, ErrNotFound)
	}
	var out Escrow
	err := q.write(ctx, op, func(tx *sql.Tx) error {
		fail := func(err error) error { return fmt.Errorf("store: %s of job %q: %w", op, jobID, err) }
		e, err := scanEscrow(tx.QueryRowContext(ctx, `SELECT `+escrowColumns+` WHERE job_id = $1`+q.s.d.forUpdate, jobID))
		if errors.Is(err, sql.ErrNoRows) {
			return fail(ErrNotFound)
		}
		if err != nil {
			return fail(err)
		}
		b, err := q.lockBalance(ctx, tx, e.Buyer)
		if err != nil {
			return fail(err)
		}
		prev := e.State
		if e, err = end(e, &b); err != nil {
			return fail(err)
		}
		if err := writeBalance(ctx, tx, b); err != nil {
			return fail(err)
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE escrows SET state = $3, cohort = $4, charged = $5, ended_at = $6 WHERE job_id = $1 AND state = $2`,
			jobID, int32(prev), int32(e.State), int64(e.Cohort), int64(e.Charged), micros(e.EndedAt))
		if err != nil {
			return fail(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fail(fmt.Errorf("escrow row changed under its lock (%d rows, %v)", n, err))
		}
		out = e
		return nil
	})
	if err != nil {
		return Escrow{}, err
	}
	return out, nil
}

// SettleEscrow charges a held escrow for a release of cohort records.
func (q queries) SettleEscrow(ctx context.Context, jobID string, cohort uint64, at time.Time) (Escrow, error) {
	return q.endEscrow(ctx, "settle escrow", jobID, func(e Escrow, b *Balance) (Escrow, error) {
		if e.State != EscrowHeld {
			return Escrow{}, fmt.Errorf("escrow is %s, not HELD: %w", e.State, ErrConflict)
		}
		if cohort > e.MaxCohort {
			return Escrow{}, fmt.Errorf("%w: cohort %d exceeds the %d the quote covers", ErrInvalid, cohort, e.MaxCohort)
		}
		charge, err := Quote(e.Price, e.Fee, cohort)
		if err != nil {
			return Escrow{}, err
		}
		if b.Held < e.Held {
			return Escrow{}, fmt.Errorf("balance holds %d, less than the escrow's %d", b.Held, e.Held)
		}
		b.Held -= e.Held
		b.Charged += charge
		e.State, e.Cohort, e.Charged, e.EndedAt = EscrowSettled, cohort, charge, at
		return e, nil
	})
}

// RefundEscrow gives a held or settled escrow back.
func (q queries) RefundEscrow(ctx context.Context, jobID string, at time.Time) (Escrow, error) {
	return q.endEscrow(ctx, "refund escrow", jobID, func(e Escrow, b *Balance) (Escrow, error) {
		switch e.State {
		case EscrowHeld:
			if b.Held < e.Held {
				return Escrow{}, fmt.Errorf("balance holds %d, less than the escrow's %d", b.Held, e.Held)
			}
			b.Held -= e.Held
		case EscrowSettled:
			if b.Charged < e.Charged {
				return Escrow{}, fmt.Errorf("balance has %d charged, less than the escrow's %d", b.Charged, e.Charged)
			}
			b.Charged -= e.Charged
		default:
			return Escrow{}, fmt.Errorf("escrow is %s: %w", e.State, ErrConflict)
		}
		e.State, e.Charged, e.EndedAt = EscrowRefunded, 0, at
		return e, nil
	})
}

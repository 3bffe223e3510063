package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Bounds of the privacy ledger.
const (
	// MaxLedgerEpochs bounds the epochs of one debit and of one
	// PrivacySpent read.
	MaxLedgerEpochs = 4096
	// MaxRatLen bounds, in bytes of its RatString form, the ρ and the
	// totals given to DebitPrivacy.
	MaxRatLen = 256
	// MaxSpentLen bounds, in bytes of its RatString form, the ρ spent on an
	// epoch: a sum of debits with unlike denominators grows, and a debit
	// that would take a sum past it is refused with ErrLimit.
	MaxSpentLen = 4096
)

// maxRatBits bounds the bits of a numerator or denominator before it is
// formatted, so that an enormous value is refused without the work of
// printing it; MaxRatLen decimal digits need fewer.
const maxRatBits = 4 * MaxRatLen

// ledgerChunk is the most epochs one multi-row statement writes, well
// within both engines' limits on bound parameters.
const ledgerChunk = 512

// PrivacyDebit is what a job costs this node's privacy ledger: Rho from
// every epoch of [EpochFrom, EpochTo] of the dataset, charged to Buyer,
// under the policy's totals in force when it is debited.
type PrivacyDebit struct {
	JobID     string // 1..MaxJobIDLen bytes of [A-Za-z0-9-], as Job.ID
	DatasetID string // must exist in datasets
	Buyer     string // a buyer id (see Buyer.ID); it need not be a stored buyer
	// EpochFrom ≤ EpochTo ≤ math.MaxInt64, at most MaxLedgerEpochs epochs.
	EpochFrom, EpochTo uint64
	// Rho is the ρ (of ρ-zCDP) the job spends on each of its epochs, > 0.
	Rho *big.Rat
	// EpochTotal is what all buyers together may spend on one epoch, ≥ 0;
	// BuyerTotal what one buyer may, 0 ≤ BuyerTotal ≤ EpochTotal.
	EpochTotal, BuyerTotal *big.Rat
	At                     time.Time // when the node debited it
}

// LedgerEntry is one epoch of a debit: the totals it was checked against
// and the ρ spent on the epoch, overall and by the buyer, before and after.
type LedgerEntry struct {
	Epoch                               uint64
	EpochTotal, EpochBefore, EpochAfter *big.Rat
	BuyerTotal, BuyerBefore, BuyerAfter *big.Rat
}

// EpochSpent is the ρ spent on one epoch by all buyers and by one.
type EpochSpent struct {
	Epoch             uint64
	Spent, BuyerSpent *big.Rat
}

// PrivacyBudget names one of the two budgets of an epoch.
type PrivacyBudget string

const (
	// EpochBudget is what all buyers together may spend on an epoch.
	EpochBudget PrivacyBudget = "epoch"
	// BuyerBudget is what one buyer may spend on an epoch.
	BuyerBudget PrivacyBudget = "buyer"
)

// OverspendError is why DebitPrivacy refused a debit: on Epoch, Budget
// has Spent of Total spent, Remaining is left (never negative), and Rho
// does not fit. It wraps ErrOverspend.
type OverspendError struct {
	Budget                       PrivacyBudget
	Epoch                        uint64
	Total, Spent, Remaining, Rho *big.Rat
}

func (e *OverspendError) Error() string {
	return fmt.Sprintf("%v: epoch %d: the %s budget has %s of %s spent, %s remaining, less than ρ = %s",
		ErrOverspend, e.Epoch, e.Budget, e.Spent.RatString(), e.Total.RatString(), e.Remaining.RatString(),
		e.Rho.RatString())
}

// Unwrap makes errors.Is(err, ErrOverspend) hold.
func (e *OverspendError) Unwrap() error { return ErrOverspend }

// checkRat refuses a nil amount, a negative one (a zero one too unless
// zeroOK) and one longer than MaxRatLen, and returns its text.
func checkRat(r *big.Rat, what string, zeroOK bool) (string, error) {
	switch {
	case r == nil:
		return "", fmt.Errorf("%w: no %s", ErrInvalid, what)
	case r.Sign() < 0:
		return "", fmt.Errorf("%w: %s is negative", ErrInvalid, what)
	case r.Sign() == 0 && !zeroOK:
		return "", fmt.Errorf("%w: %s is 0, want > 0", ErrInvalid, what)
	case r.Num().BitLen() > maxRatBits || r.Denom().BitLen() > maxRatBits:
		return "", fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, MaxRatLen)
	}
	s := r.RatString()
	if len(s) > MaxRatLen {
		return "", fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, MaxRatLen)
	}
	return s, nil
}

// parseRat reads a stored amount, which must be in RatString form
// (lowest terms, no sign, no decimal point) and at most MaxSpentLen bytes.
func parseRat(s, what string) (*big.Rat, error) {
	if len(s) > MaxSpentLen {
		return nil, fmt.Errorf("store: stored %s is %d bytes, at most %d", what, len(s), MaxSpentLen)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 || r.RatString() != s {
		return nil, fmt.Errorf("store: stored %s %q is not a non-negative rational in lowest terms", what, s)
	}
	return r, nil
}

// checkEpochRange validates an inclusive range of epochs and converts it
// for binding.
func checkEpochRange(from, to uint64) (int64, int64, error) {
	if from > to {
		return 0, 0, fmt.Errorf("%w: epoch range [%d, %d] is empty", ErrInvalid, from, to)
	}
	if to > math.MaxInt64 {
		return 0, 0, fmt.Errorf("%w: epoch %d exceeds %d", ErrInvalid, to, int64(math.MaxInt64))
	}
	if to-from >= MaxLedgerEpochs {
		return 0, 0, fmt.Errorf("%w: epoch range [%d, %d] spans %d epochs, at most %d", ErrInvalid, from, to,
			to-from+1, MaxLedgerEpochs)
	}
	return int64(from), int64(to), nil
}

// debitText is a validated debit's amounts as stored.
type debitText struct {
	rho, epochTotal, buyerTotal string
	from, to                    int64
}

func checkPrivacyDebit(d PrivacyDebit) (debitText, error) {
	var t debitText
	if err := checkJobID(d.JobID); err != nil {
		return t, err
	}
	if err := checkDatasetID(d.DatasetID); err != nil {
		return t, err
	}
	if err := checkText(d.DatasetID, "dataset id"); err != nil {
		return t, err
	}
	if err := checkBuyerID(d.Buyer); err != nil {
		return t, err
	}
	var err error
	if t.from, t.to, err = checkEpochRange(d.EpochFrom, d.EpochTo); err != nil {
		return t, err
	}
	if t.rho, err = checkRat(d.Rho, "ρ", false); err != nil {
		return t, err
	}
	if t.epochTotal, err = checkRat(d.EpochTotal, "epoch total", true); err != nil {
		return t, err
	}
	if t.buyerTotal, err = checkRat(d.BuyerTotal, "buyer total", true); err != nil {
		return t, err
	}
	if d.BuyerTotal.Cmp(d.EpochTotal) > 0 {
		return t, fmt.Errorf("%w: buyer total %s exceeds the epoch total %s", ErrInvalid, t.buyerTotal, t.epochTotal)
	}
	return t, nil
}

// DebitPrivacy serialises the debits of an epoch on the epoch's ledger
// row. In PostgreSQL it first makes sure a row exists for every epoch of
// the range (INSERT … ON CONFLICT DO NOTHING, which waits for a concurrent
// insert of the same row to end), then locks them with SELECT … FOR UPDATE
// in ascending epoch order, then the buyer's rows likewise: every debit
// takes its locks in the same order, and a buyer's row only under its
// epoch's, so two debits never wait on each other in a cycle; the read
// after the wait sees the committed spent amounts (READ COMMITTED). In
// SQLite the write lock orders whole debits.
func (q queries) DebitPrivacy(ctx context.Context, d PrivacyDebit) ([]LedgerEntry, error) {
	t, err := checkPrivacyDebit(d)
	if err != nil {
		return nil, fmt.Errorf("store: debit privacy: %w", err)
	}
	// Copies: the caller's values may change once this returns.
	rho, epochTotal, buyerTotal := new(big.Rat).Set(d.Rho), new(big.Rat).Set(d.EpochTotal), new(big.Rat).Set(d.BuyerTotal)
	var entries []LedgerEntry
	err = q.write(ctx, "debit privacy", func(tx *sql.Tx) error {
		entries = nil
		ok, err := datasetExists(ctx, tx, d.DatasetID)
		if err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		if !ok {
			return fmt.Errorf("store: debit privacy %q: dataset %q: %w", d.JobID, d.DatasetID, ErrNotFound)
		}
		// The debit's row first: a second debit of the job waits here for
		// the first to end, before it locks any ledger row.
		res, err := tx.ExecContext(ctx,
			`INSERT INTO privacy_debits (job_id, dataset_id, buyer, epoch_from, epoch_to, rho, epoch_total, buyer_total,
			                             debited_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			 ON CONFLICT (job_id) DO NOTHING`,
			d.JobID, d.DatasetID, d.Buyer, t.from, t.to, t.rho, t.epochTotal, t.buyerTotal, micros(d.At))
		if err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		if n != 1 {
			return fmt.Errorf("store: debit privacy %q: the job has a debit: %w", d.JobID, ErrAlreadyExists)
		}
		epochs := ledgerTable{name: "privacy_epochs", keys: []string{"dataset_id"}, args: []any{d.DatasetID}}
		buyers := ledgerTable{name: "privacy_buyer_epochs", keys: []string{"dataset_id", "buyer"}, args: []any{d.DatasetID, d.Buyer}}
		spent, err := q.lockLedger(ctx, tx, epochs, t.from, t.to)
		if err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		buyerSpent, err := q.lockLedger(ctx, tx, buyers, t.from, t.to)
		if err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		out := make([]LedgerEntry, len(spent))
		for i := range out {
			e := LedgerEntry{
				Epoch:       d.EpochFrom + uint64(i),
				EpochTotal:  new(big.Rat).Set(epochTotal),
				EpochBefore: spent[i],
				EpochAfter:  new(big.Rat).Add(spent[i], rho),
				BuyerTotal:  new(big.Rat).Set(buyerTotal),
				BuyerBefore: buyerSpent[i],
				BuyerAfter:  new(big.Rat).Add(buyerSpent[i], rho),
			}
			if err := checkDebit(EpochBudget, e.Epoch, epochTotal, e.EpochBefore, e.EpochAfter, rho); err != nil {
				return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
			}
			if err := checkDebit(BuyerBudget, e.Epoch, buyerTotal, e.BuyerBefore, e.BuyerAfter, rho); err != nil {
				return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
			}
			out[i] = e
		}
		if err := writeLedger(ctx, tx, epochs, out, func(e LedgerEntry) *big.Rat { return e.EpochAfter }); err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		if err := writeLedger(ctx, tx, buyers, out, func(e LedgerEntry) *big.Rat { return e.BuyerAfter }); err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		if err := writeEntries(ctx, tx, d.JobID, out); err != nil {
			return fmt.Errorf("store: debit privacy %q: %w", d.JobID, err)
		}
		entries = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// checkDebit refuses after > total with an *OverspendError, and an after
// too long to store with ErrLimit.
func checkDebit(b PrivacyBudget, epoch uint64, total, before, after, rho *big.Rat) error {
	if after.Cmp(total) > 0 {
		remaining := new(big.Rat).Sub(total, before)
		if remaining.Sign() < 0 {
			// The total was lowered below what was spent under a larger one.
			remaining.SetInt64(0)
		}
		return &OverspendError{
			Budget: b, Epoch: epoch, Total: new(big.Rat).Set(total), Spent: new(big.Rat).Set(before),
			Remaining: remaining, Rho: new(big.Rat).Set(rho),
		}
	}
	if n := len(after.RatString()); n > MaxSpentLen {
		return fmt.Errorf("epoch %d: the %s budget's spent ρ would take %d bytes, at most %d: %w", epoch, b, n, MaxSpentLen, ErrLimit)
	}
	return nil
}

// ledgerTable is one of the two ledgers: its table, the key columns
// before epoch, and their values.
type ledgerTable struct {
	name string
	keys []string
	args []any
}

// where is the condition on the key columns, with the range's bounds as
// the next two parameters.
func (l ledgerTable) where() string {
	var b strings.Builder
	for i, k := range l.keys {
		fmt.Fprintf(&b, "%s = $%d AND ", k, i+1)
	}
	fmt.Fprintf(&b, "epoch BETWEEN $%d AND $%d", len(l.keys)+1, len(l.keys)+2)
	return b.String()
}

// lockLedger makes sure l has a row for every epoch of [from, to] (spent 0
// for a new one) and reads them in ascending epoch order, locked until the
// transaction ends.
func (q queries) lockLedger(ctx context.Context, tx *sql.Tx, l ledgerTable, from, to int64) ([]*big.Rat, error) {
	args := append(append([]any{}, l.args...), from, to)
	nk := len(l.keys)
	params := make([]string, nk)
	for i := range params {
		params[i] = "$" + strconv.Itoa(i+1)
	}
	// A recursive CTE counts the epochs on both engines; WHERE true keeps
	// SQLite from reading ON CONFLICT as a join's ON.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(
		`WITH RECURSIVE e(epoch) AS (SELECT CAST($%[1]d AS BIGINT) UNION ALL SELECT epoch + 1 FROM e WHERE epoch < $%[2]d)
		 INSERT INTO %[3]s (%[4]s, epoch, spent) SELECT %[5]s, epoch, '0' FROM e WHERE true ON CONFLICT DO NOTHING`,
		nk+1, nk+2, l.name, strings.Join(l.keys, ", "), strings.Join(params, ", ")), args...); err != nil {
		return nil, fmt.Errorf("%s: add epochs: %w", l.name, err)
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT epoch, spent FROM `+l.name+` WHERE `+l.where()+` ORDER BY epoch`+q.s.d.forUpdate, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: lock epochs: %w", l.name, err)
	}
	defer rows.Close()
	out := make([]*big.Rat, 0, to-from+1)
	for rows.Next() {
		var (
			epoch int64
			text  string
		)
		if err := rows.Scan(&epoch, &text); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		if want := from + int64(len(out)); epoch != want {
			return nil, fmt.Errorf("%s: read epoch %d, want %d", l.name, epoch, want)
		}
		r, err := parseRat(text, "spent ρ")
		if err != nil {
			return nil, fmt.Errorf("%s: epoch %d: %w", l.name, epoch, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if int64(len(out)) != to-from+1 {
		return nil, fmt.Errorf("%s: read %d epochs of %d", l.name, len(out), to-from+1)
	}
	return out, nil
}

// writeLedger sets the spent amount of each entry's epoch in l, whose rows
// lockLedger locked, a chunk of epochs per statement.
func writeLedger(ctx context.Context, tx *sql.Tx, l ledgerTable, entries []LedgerEntry, after func(LedgerEntry) *big.Rat) error {
	cols := append(append([]string{}, l.keys...), "epoch", "spent")
	return insertChunks(ctx, tx,
		`INSERT INTO `+l.name+` (`+strings.Join(cols, ", ")+`) VALUES `,
		` ON CONFLICT (`+strings.Join(cols[:len(cols)-1], ", ")+`) DO UPDATE SET spent = excluded.spent`,
		len(cols), len(entries), func(i int) []any {
			return append(append([]any{}, l.args...), int64(entries[i].Epoch), after(entries[i]).RatString())
		})
}

// writeEntries records a debit's entries: each epoch's spent amounts before
// it (after is before + ρ, the totals are the debit's).
func writeEntries(ctx context.Context, tx *sql.Tx, jobID string, entries []LedgerEntry) error {
	return insertChunks(ctx, tx, `INSERT INTO privacy_debit_entries (job_id, epoch, epoch_before, buyer_before) VALUES `, ``,
		4, len(entries), func(i int) []any {
			e := entries[i]
			return []any{jobID, int64(e.Epoch), e.EpochBefore.RatString(), e.BuyerBefore.RatString()}
		})
}

// insertChunks runs prefix, a multi-row VALUES list of n rows of width
// values each (row(i) gives row i's), then suffix, ledgerChunk rows per
// statement.
func insertChunks(ctx context.Context, tx *sql.Tx, prefix, suffix string, width, n int, row func(i int) []any) error {
	for start := 0; start < n; start += ledgerChunk {
		end := min(start+ledgerChunk, n)
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, (end-start)*width)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range width {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString("$" + strconv.Itoa(len(args)+j+1))
			}
			b.WriteByte(')')
			args = append(args, row(i)...)
		}
		b.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// PrivacyDebitOf reads the debit, then its entries: they were committed
// together and never change, so once the first statement sees the debit
// the second sees its entries.
func (q queries) PrivacyDebitOf(ctx context.Context, jobID string) (PrivacyDebit, []LedgerEntry, error) {
	if err := checkJobID(jobID); err != nil {
		return PrivacyDebit{}, nil, fmt.Errorf("store: privacy debit: %w", err)
	}
	return readDebit(ctx, q.read(), jobID)
}

func readDebit(ctx context.Context, r querier, jobID string) (PrivacyDebit, []LedgerEntry, error) {
	fail := func(err error) (PrivacyDebit, []LedgerEntry, error) {
		return PrivacyDebit{}, nil, fmt.Errorf("store: privacy debit %q: %w", jobID, err)
	}
	var (
		d                             PrivacyDebit
		from, to, at                  int64
		rhoText, epochText, buyerText string
	)
	err := r.QueryRowContext(ctx,
		`SELECT job_id, dataset_id, buyer, epoch_from, epoch_to, rho, epoch_total, buyer_total, debited_at
		   FROM privacy_debits WHERE job_id = $1`, jobID).
		Scan(&d.JobID, &d.DatasetID, &d.Buyer, &from, &to, &rhoText, &epochText, &buyerText, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return fail(ErrNotFound)
	}
	if err != nil {
		return fail(err)
	}
	if from < 0 || to < from || to-from >= MaxLedgerEpochs {
		return fail(fmt.Errorf("stored epoch range [%d, %d] out of bounds", from, to))
	}
	d.EpochFrom, d.EpochTo, d.At = uint64(from), uint64(to), fromMicros(at)
	if d.Rho, err = parseRat(rhoText, "ρ"); err != nil {
		return fail(err)
	}
	if d.EpochTotal, err = parseRat(epochText, "epoch total"); err != nil {
		return fail(err)
	}
	if d.BuyerTotal, err = parseRat(buyerText, "buyer total"); err != nil {
		return fail(err)
	}
	rows, err := r.QueryContext(ctx,
		`SELECT epoch, epoch_before, buyer_before FROM privacy_debit_entries WHERE job_id = $1 ORDER BY epoch`, jobID)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	entries := make([]LedgerEntry, 0, to-from+1)
	for rows.Next() {
		var (
			epoch                 int64
			epochBefore, buyerBef string
		)
		if err := rows.Scan(&epoch, &epochBefore, &buyerBef); err != nil {
			return fail(err)
		}
		if want := from + int64(len(entries)); epoch != want {
			return fail(fmt.Errorf("stored entry of epoch %d, want %d", epoch, want))
		}
		e := LedgerEntry{Epoch: uint64(epoch), EpochTotal: new(big.Rat).Set(d.EpochTotal), BuyerTotal: new(big.Rat).Set(d.BuyerTotal)}
		if e.EpochBefore, err = parseRat(epochBefore, "epoch spent before"); err != nil {
			return fail(err)
		}
		if e.BuyerBefore, err = parseRat(buyerBef, "buyer spent before"); err != nil {
			return fail(err)
		}
		e.EpochAfter, e.BuyerAfter = new(big.Rat).Add(e.EpochBefore, d.Rho), new(big.Rat).Add(e.BuyerBefore, d.Rho)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if int64(len(entries)) != to-from+1 {
		return fail(fmt.Errorf("stored %d entries for %d epochs", len(entries), to-from+1))
	}
	return d, entries, nil
}

// PrivacySpent reads both ledgers in one statement, so the amounts are of
// one moment on both engines: a UNION ALL of two range scans of the
// ledgers' primary keys, tagged 0 (all buyers) and 1 (the buyer).
func (q queries) PrivacySpent(ctx context.Context, datasetID, buyer string, from, to uint64) ([]EpochSpent, error) {
	if err := checkDatasetID(datasetID); err != nil {
		return nil, fmt.Errorf("store: privacy spent: %w", err)
	}
	if err := checkText(datasetID, "dataset id"); err != nil {
		return nil, fmt.Errorf("store: privacy spent: %w", err)
	}
	if err := checkBuyerID(buyer); err != nil {
		return nil, fmt.Errorf("store: privacy spent: %w", err)
	}
	lo, hi, err := checkEpochRange(from, to)
	if err != nil {
		return nil, fmt.Errorf("store: privacy spent: %w", err)
	}
	fail := func(err error) ([]EpochSpent, error) {
		return nil, fmt.Errorf("store: privacy spent of dataset %q: %w", datasetID, err)
	}
	r := q.read()
	ok, err := datasetExists(ctx, r, datasetID)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(ErrNotFound)
	}
	out := make([]EpochSpent, to-from+1)
	for i := range out {
		out[i] = EpochSpent{Epoch: from + uint64(i), Spent: new(big.Rat), BuyerSpent: new(big.Rat)}
	}
	rows, err := r.QueryContext(ctx,
		`SELECT 0, epoch, spent FROM privacy_epochs WHERE dataset_id = $1 AND epoch BETWEEN $3 AND $4
		 UNION ALL
		 SELECT 1, epoch, spent FROM privacy_buyer_epochs WHERE dataset_id = $1 AND buyer = $2 AND epoch BETWEEN $3 AND $4`,
		datasetID, buyer, lo, hi)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			byBuyer, epoch int64
			spent          string
		)
		if err := rows.Scan(&byBuyer, &epoch, &spent); err != nil {
			return fail(err)
		}
		if epoch < lo || epoch > hi {
			return fail(fmt.Errorf("read epoch %d outside [%d, %d]", epoch, lo, hi))
		}
		e := &out[epoch-lo]
		if byBuyer == 1 {
			e.BuyerSpent, err = parseRat(spent, "buyer's spent ρ")
		} else {
			e.Spent, err = parseRat(spent, "spent ρ")
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}

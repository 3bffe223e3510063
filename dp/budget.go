package dp

import (
	"fmt"
)

// Budget is a zCDP privacy budget: a total ρ and the part of it already
// spent, exact rationals with spent ≤ total. Debits compose by addition
// (zCDP composition), so a budget's spent is the loss of every release
// debited from it. A Budget is a value: Debit returns the new budget and
// leaves the old one unchanged, so a caller can persist the new state in
// the same transaction as what it pays for, and drop it on failure.
type Budget struct {
	total, spent Rho
}

// NewBudget returns an unspent budget of total ρ (which may be 0: a budget
// from which nothing can be spent).
func NewBudget(total Rho) Budget { return Budget{total: total} }

// BudgetOf returns a budget of total ρ of which spent is spent, as read
// back from storage; it refuses spent > total with ErrOverspend.
func BudgetOf(total, spent Rho) (Budget, error) {
	if spent.Cmp(total) > 0 {
		return Budget{}, fmt.Errorf("%w: spent %s of a budget of %s", ErrOverspend, spent, total)
	}
	return Budget{total: total, spent: spent}, nil
}

// Total is the budget's total ρ.
func (b Budget) Total() Rho { return b.total }

// Spent is the ρ debited so far.
func (b Budget) Spent() Rho { return b.spent }

// Remaining is total − spent.
func (b Budget) Remaining() Rho {
	r, _ := b.total.Sub(b.spent) // spent ≤ total by construction
	return r
}

// Debit returns the budget after spending rho. It refuses ρ = 0 with
// ErrRho (no mechanism has it; a zero debit is a caller's mistake) and a
// debit beyond the remaining budget with ErrOverspend; on a refusal it
// returns the zero Budget, b is unchanged, and nothing may be released.
func (b Budget) Debit(rho Rho) (Budget, error) {
	if rho.IsZero() {
		return Budget{}, fmt.Errorf("%w: a debit of ρ = 0", ErrRho)
	}
	spent := b.spent.Add(rho)
	if spent.Cmp(b.total) > 0 {
		return Budget{}, fmt.Errorf("%w: debit of %s with %s of %s remaining", ErrOverspend, rho, b.Remaining(), b.total)
	}
	return Budget{total: b.total, spent: spent}, nil
}

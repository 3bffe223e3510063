package audit

import (
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Auditing the privacy budget (docs/design.md §8): each node keeps its own
// ledger of ρ spent per epoch, in total and per buyer, and signs a debit
// of it for every job it releases a noised partial of (NodeEvidence.Debit).
// A debit occupies [spent before, spent after) of the epoch's budget and
// of the buyer's. Given every transcript of a dataset, Ledger lays each
// node's debits side by side: no two may overlap (a node that rewrote its
// ledger to charge the same ρ twice), none may pass its budget, and the
// budgets must be the policy's. What lies between the debits is ρ charged
// by jobs that have no transcript here: a job charges each node once the
// node released its partial, whether or not the job was then released.

// LedgerReport is the outcome of Ledger: each node's debits by epoch, what
// they add up to, and every violation found. It renders as text (String,
// WriteText) and as JSON (with an "ok" field added).
type LedgerReport struct {
	// DatasetID is the dataset of the transcripts (the first one's).
	DatasetID string `json:"dataset_id"`
	// EpochTotal and BuyerTotal are the policy's budgets per epoch, for all
	// buyers and for each; empty under an exact policy.
	EpochTotal string `json:"epoch_total,omitempty"`
	BuyerTotal string `json:"buyer_total,omitempty"`
	// Transcripts counts the transcripts read, ExactJobs lists the jobs
	// among them released exactly (charging nothing).
	Transcripts int      `json:"transcripts"`
	ExactJobs   []string `json:"exact_jobs,omitempty"`
	// Epochs are the epochs some debit charged, ascending.
	Epochs []LedgerEpoch `json:"epochs"`
	// Violations names every problem found; empty when the ledgers agree.
	Violations []string `json:"violations,omitempty"`
}

// LedgerEpoch is one epoch's debits, by node.
type LedgerEpoch struct {
	Epoch uint64       `json:"epoch"`
	Nodes []NodeLedger `json:"nodes"`
}

// NodeLedger is one node's ledger of one epoch as its debits show it.
type NodeLedger struct {
	Node uint32 `json:"node"`
	// Released is the ρ the released jobs (the transcripts') debited;
	// Charged the ledger's spent after its last debit here; Gaps the
	// stretches of [0, Charged) no transcript's debit covers: ρ charged by
	// jobs released without a transcript here, or not released at all.
	Released string      `json:"released"`
	Charged  string      `json:"charged"`
	Gaps     []LedgerGap `json:"gaps,omitempty"`
	// Debits are the node's debits of the epoch, by spent before.
	Debits []LedgerDebit `json:"debits"`
	// Buyers is the same, per buyer, by buyer id.
	Buyers []BuyerLedger `json:"buyers"`
}

// BuyerLedger is one buyer's share of a node's ledger in one epoch.
type BuyerLedger struct {
	Buyer    string      `json:"buyer"`
	Released string      `json:"released"`
	Charged  string      `json:"charged"`
	Gaps     []LedgerGap `json:"gaps,omitempty"`
}

// LedgerDebit is one job's debit of one epoch in one node's ledger.
type LedgerDebit struct {
	JobID string `json:"job_id"`
	Buyer string `json:"buyer"`
	Rho   string `json:"rho"`
	// [Before, After) of the epoch's budget, [BuyerBefore, BuyerAfter) of
	// the buyer's.
	Before      string `json:"before"`
	After       string `json:"after"`
	BuyerBefore string `json:"buyer_before"`
	BuyerAfter  string `json:"buyer_after"`
}

// LedgerGap is a stretch [From, To) of a budget that no debit covers.
type LedgerGap struct {
	From string `json:"from"`
	To   string `json:"to"`
	Rho  string `json:"rho"`
}

// OK reports whether no violation was found.
func (r *LedgerReport) OK() bool { return r != nil && len(r.Violations) == 0 }

// MarshalJSON encodes the report with its verdict as "ok".
func (r *LedgerReport) MarshalJSON() ([]byte, error) {
	type plain LedgerReport
	return json.Marshal(struct {
		OK bool `json:"ok"`
		*plain
	}{r.OK(), (*plain)(r)})
}

// debitSpan is one parsed debit entry.
type debitSpan struct {
	job, buyer                        string
	rho, before, after, bBefore, bAft dp.Rho
}

// ledgerKey names one node's ledger of one epoch.
type ledgerKey struct {
	node  uint32
	epoch uint64
}

// Ledger checks the privacy debits of a dataset's transcripts against
// each other (see LedgerReport): all bundles must be of one dataset,
// under one policy, signed by the nodes they list, and each debit must be
// its node's signed charge for its job (enclave.Charge.Check). Bundles are
// not otherwise verified: run Verify on each for that. A job's second,
// identical transcript is ignored; a different one is a violation. It
// never panics and never modifies the bundles.
func Ledger(bundles []*Bundle) *LedgerReport {
	l := &ledger{report: &LedgerReport{Epochs: []LedgerEpoch{}}, spans: map[ledgerKey][]debitSpan{}, seen: map[string][32]byte{}}
	for i, b := range bundles {
		l.add(i, b)
	}
	l.tally()
	return l.report
}

type ledger struct {
	report *LedgerReport
	policy *enclave.Policy
	spans  map[ledgerKey][]debitSpan
	seen   map[string][32]byte // transcript digest by job id
}

func (l *ledger) violation(format string, args ...any) {
	l.report.Violations = append(l.report.Violations, fmt.Sprintf(format, args...))
}

// add reads bundle i's debits.
func (l *ledger) add(i int, b *Bundle) {
	if b == nil || b.Transcript == nil {
		l.violation("bundle %d: no transcript", i)
		return
	}
	t := b.Transcript
	name := fmt.Sprintf("job %s", t.JobID)
	if l.report.DatasetID == "" {
		l.report.DatasetID = t.DatasetID
	}
	if t.DatasetID != l.report.DatasetID {
		l.violation("%s: a transcript of dataset %q, not %q: a ledger is one dataset's", name, clip(t.DatasetID), l.report.DatasetID)
		return
	}
	digest, err := t.Digest()
	if err != nil {
		l.violation("%s: the transcript is not well formed: %v", name, err)
		return
	}
	desc := new(cohortv1.DatasetDescriptor)
	if err := proto.Unmarshal(b.Descriptor, desc); err != nil {
		l.violation("%s: the dataset descriptor does not decode: %v", name, err)
		return
	}
	if dd, err := DescriptorDigest(desc); err != nil || dd != t.DescriptorDigest {
		l.violation("%s: the bundle's descriptor is not the one the transcript names", name)
		return
	}
	ds, err := dataset.From(desc)
	if err != nil {
		l.violation("%s: the dataset descriptor: %v", name, err)
		return
	}
	if !l.signed(name, b, ds.Signing, digest) {
		return
	}
	pol, err := enclave.PolicyOf(desc.GetPrivacy())
	if err != nil {
		l.violation("%s: %v", name, err)
		return
	}
	if l.policy == nil {
		l.policy = &pol
		if !pol.Exact() {
			l.report.EpochTotal, l.report.BuyerTotal = pol.EpochTotal.String(), pol.BuyerTotal.String()
		}
	} else if pol.Mechanism != l.policy.Mechanism || pol.EpochTotal.Cmp(l.policy.EpochTotal) != 0 || pol.BuyerTotal.Cmp(l.policy.BuyerTotal) != 0 {
		l.violation("%s: released under a policy of ρ = %s per epoch and %s per buyer (%s), the other transcripts under ρ = %s and %s (%s)",
			name, pol.EpochTotal, pol.BuyerTotal, pol.Mechanism, l.policy.EpochTotal, l.policy.BuyerTotal, l.policy.Mechanism)
		return
	}
	if d, ok := l.seen[t.JobID]; ok {
		if d != digest {
			l.violation("%s: two different transcripts (%x…, %x…)", name, d[:4], digest[:4])
		}
		return
	}
	l.seen[t.JobID] = digest
	spec := new(cohortv1.JobSpec)
	if err := proto.Unmarshal(t.Spec, spec); err != nil {
		l.violation("%s: the job spec does not decode: %v", name, err)
		return
	}
	coords, err := enclave.Coordinates(ds.Schema.Layout(), spec.GetOutputs())
	if err != nil {
		l.violation("%s: the job's outputs: %v", name, err)
		return
	}
	p, err := enclave.JobPrivacy(desc.GetPrivacy(), spec, ds.Schema.Layout(), coords)
	if err != nil {
		l.violation("%s: %v", name, err)
		return
	}
	l.report.Transcripts++
	if p.Exact() {
		l.report.ExactJobs = append(l.report.ExactJobs, t.JobID)
	}
	charge := enclave.Charge{JobID: t.JobID, DatasetID: t.DatasetID, Buyer: t.Buyer, Privacy: p}
	for _, n := range t.Nodes {
		if len(n.Partial) == 0 || int(n.Index) >= len(ds.Signing) {
			continue // no partial, no debit (the codec's rule); an unknown node signed nothing above
		}
		key := ds.Signing[n.Index]
		if err := charge.Check(n.Index, n.Debit, key); err != nil {
			l.violation("%s: %v", name, err)
		}
		l.record(name, t.JobID, n.Index, n.Debit, key)
	}
}

// signed reports whether every node b lists signed its transcript.
func (l *ledger) signed(name string, b *Bundle, keys []ed25519.PublicKey, digest [32]byte) bool {
	t := b.Transcript
	ok := len(b.Signatures) == len(t.Nodes)
	for j, n := range t.Nodes {
		if !ok || int(n.Index) >= len(keys) || attest.Verify(keys[n.Index], TranscriptStatement{JobID: t.JobID, Digest: digest, Node: n.Index}, b.Signatures[j]) != nil {
			ok = false
			break
		}
	}
	if !ok {
		l.violation("%s: not every node it lists signed the transcript: not a released job", name)
	}
	return ok
}

// record adds the entries of node's debit d for job, when its node signed
// it and its amounts read: a debit that Charge.Check refused still shows
// where it lies in the node's ledger.
func (l *ledger) record(name, job string, node uint32, d *cohortv1.PrivacyDebit, key ed25519.PublicKey) {
	if d == nil || attest.Verify(key, enclave.DebitStatement(job, l.report.DatasetID, d), d.GetSignature().GetSignature()) != nil {
		return
	}
	rho, err := dp.ParseRho(d.GetRho())
	if err != nil {
		return
	}
	for _, e := range d.GetEntries() {
		var amounts [4]dp.Rho
		bad := false
		for i, a := range []string{e.GetEpochSpentBefore(), e.GetEpochSpentAfter(), e.GetBuyerSpentBefore(), e.GetBuyerSpentAfter()} {
			if amounts[i], err = dp.ParseRho(a); err != nil {
				l.violation("%s: node %d, epoch %d: %v", name, node, e.GetEpoch(), err)
				bad = true
			}
		}
		if bad {
			continue
		}
		k := ledgerKey{node, e.GetEpoch()}
		l.spans[k] = append(l.spans[k], debitSpan{job: job, buyer: d.GetBuyerId(), rho: rho,
			before: amounts[0], after: amounts[1], bBefore: amounts[2], bAft: amounts[3]})
	}
}

// tally lays each node's debits of each epoch side by side.
func (l *ledger) tally() {
	keys := make([]ledgerKey, 0, len(l.spans))
	for k := range l.spans {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ledgerKey) int { return cmp.Or(cmp.Compare(a.epoch, b.epoch), cmp.Compare(a.node, b.node)) })
	for _, k := range keys {
		if n := len(l.report.Epochs); n == 0 || l.report.Epochs[n-1].Epoch != k.epoch {
			l.report.Epochs = append(l.report.Epochs, LedgerEpoch{Epoch: k.epoch})
		}
		ep := &l.report.Epochs[len(l.report.Epochs)-1]
		ep.Nodes = append(ep.Nodes, l.node(k, l.spans[k]))
	}
}

// node is one node's ledger of one epoch.
func (l *ledger) node(k ledgerKey, spans []debitSpan) NodeLedger {
	where := fmt.Sprintf("node %d, epoch %d", k.node, k.epoch)
	slices.SortStableFunc(spans, func(a, b debitSpan) int { return a.before.Cmp(b.before) })
	out := NodeLedger{Node: k.node, Debits: make([]LedgerDebit, len(spans))}
	for i, s := range spans {
		out.Debits[i] = LedgerDebit{JobID: s.job, Buyer: s.buyer, Rho: s.rho.String(), Before: s.before.String(), After: s.after.String(),
			BuyerBefore: s.bBefore.String(), BuyerAfter: s.bAft.String()}
	}
	var total dp.Rho
	if l.policy != nil {
		total = l.policy.EpochTotal
	}
	released, charged, gaps := l.lay(where+", the epoch's budget", total, spans,
		func(s debitSpan) (dp.Rho, dp.Rho) { return s.before, s.after })
	out.Released, out.Charged, out.Gaps = released.String(), charged.String(), gaps

	byBuyer := map[string][]debitSpan{}
	for _, s := range spans {
		byBuyer[s.buyer] = append(byBuyer[s.buyer], s)
	}
	buyers := make([]string, 0, len(byBuyer))
	for b := range byBuyer {
		buyers = append(buyers, b)
	}
	slices.Sort(buyers)
	if l.policy != nil {
		total = l.policy.BuyerTotal
	}
	for _, b := range buyers {
		bs := byBuyer[b]
		slices.SortStableFunc(bs, func(x, y debitSpan) int { return x.bBefore.Cmp(y.bBefore) })
		released, charged, gaps := l.lay(fmt.Sprintf("%s, buyer %q's budget", where, b), total, bs,
			func(s debitSpan) (dp.Rho, dp.Rho) { return s.bBefore, s.bAft })
		out.Buyers = append(out.Buyers, BuyerLedger{Buyer: b, Released: released.String(), Charged: charged.String(), Gaps: gaps})
	}
	return out
}

// lay checks the spans of one budget of the given total, sorted by where
// they start: none overlaps the one before, none passes the total, and
// together they stay within it. It returns the ρ they debit, the budget's
// spent after the last of them, and the stretches between them.
func (l *ledger) lay(where string, total dp.Rho, spans []debitSpan, span func(debitSpan) (dp.Rho, dp.Rho)) (released, charged dp.Rho, gaps []LedgerGap) {
	var prev *debitSpan
	for i := range spans {
		s := &spans[i]
		from, to := span(*s)
		released = released.Add(s.rho)
		if to.Cmp(total) > 0 {
			l.violation("%s: job %s's debit [%s, %s) passes the total of %s", where, s.job, from, to, total)
		}
		switch c := from.Cmp(charged); {
		case prev != nil && c < 0:
			pf, pt := span(*prev)
			l.violation("%s: job %s's debit [%s, %s) overlaps job %s's [%s, %s): the node charged the same ρ twice (a rewritten ledger)",
				where, s.job, from, to, prev.job, pf, pt)
		case c > 0:
			gap, _ := from.Sub(charged)
			gaps = append(gaps, LedgerGap{From: charged.String(), To: from.String(), Rho: gap.String()})
		}
		if to.Cmp(charged) > 0 {
			charged = to
		}
		prev = s
	}
	if released.Cmp(total) > 0 {
		l.violation("%s: the released jobs debited ρ = %s in all, beyond the total of %s", where, released, total)
	}
	return released, charged, gaps
}

// WriteText writes the report for people: a header, each epoch's
// ledgers node by node with their debits, gaps and buyers, every
// violation, then a verdict.
func (r *LedgerReport) WriteText(w io.Writer) error {
	_, err := io.WriteString(w, r.String())
	return err
}

// String renders the report as WriteText does.
func (r *LedgerReport) String() string {
	var b strings.Builder
	ds := r.DatasetID
	if ds == "" {
		ds = "?"
	}
	fmt.Fprintf(&b, "cohort audit ledger: dataset %s, %s", ds, plural(r.Transcripts, "transcript"))
	if r.EpochTotal != "" {
		fmt.Fprintf(&b, ", budget ρ = %s per epoch, %s per buyer", r.EpochTotal, r.BuyerTotal)
	}
	b.WriteString("\n")
	for _, e := range r.Epochs {
		fmt.Fprintf(&b, "epoch %d\n", e.Epoch)
		for _, n := range e.Nodes {
			fmt.Fprintf(&b, "  node %d: ρ = %s debited by %s, ledger at %s", n.Node, n.Released, plural(len(n.Debits), "released job"), n.Charged)
			writeGaps(&b, n.Gaps)
			b.WriteString("\n")
			for _, d := range n.Debits {
				fmt.Fprintf(&b, "    %s: ρ = %s to %s, [%s, %s) of the epoch, [%s, %s) of the buyer's\n",
					d.JobID, d.Rho, d.Buyer, d.Before, d.After, d.BuyerBefore, d.BuyerAfter)
			}
			for _, by := range n.Buyers {
				fmt.Fprintf(&b, "    buyer %s: ρ = %s released, ledger at %s", by.Buyer, by.Released, by.Charged)
				writeGaps(&b, by.Gaps)
				b.WriteString("\n")
			}
		}
	}
	if len(r.ExactJobs) > 0 {
		fmt.Fprintf(&b, "WARNING: %s released EXACTLY under a development policy, charging no budget: %s\n",
			plural(len(r.ExactJobs), "job"), strings.Join(r.ExactJobs, ", "))
	}
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "✗ %s\n", v)
	}
	if r.OK() {
		b.WriteString("LEDGERS CONSISTENT: no debit overlaps another or passes its budget\n")
	} else {
		fmt.Fprintf(&b, "LEDGERS VIOLATED: %s\n", plural(len(r.Violations), "violation"))
	}
	return b.String()
}

func writeGaps(b *strings.Builder, gaps []LedgerGap) {
	if len(gaps) == 0 {
		return
	}
	parts := make([]string, len(gaps))
	for i, g := range gaps {
		parts[i] = fmt.Sprintf("[%s, %s)", g.From, g.To)
	}
	fmt.Fprintf(b, "; charged by jobs without a transcript here: %s", strings.Join(parts, ", "))
}

package enclave

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/cohort-dev/cohort/attest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// DefaultAttempts is how often a coordinator has the nodes select the
// cohort when their digests differ: a contribution or revocation still
// being forwarded when the job starts makes them differ for a moment.
const DefaultAttempts = 3

// DefaultRetryDelay is the wait before the second attempt; the n-th retry
// waits n times as long.
const DefaultRetryDelay = 500 * time.Millisecond

// CoordinatorConfig is what a coordinator knows of a job before its round.
type CoordinatorConfig struct {
	Job  RoundJob
	Self uint32
	// Members are the federation's signing keys by node index.
	Members []ed25519.PublicKey
	Quorum  Quorum
	// MinCohort is the job's effective minimum (EffectiveMinimum).
	MinCohort uint64
	// MaxCohort is the dataset's largest cohort (schema max_cohort): the
	// bound its sums were checked against at creation, above which they
	// may wrap and decode wrongly. Zero admits no cohort.
	MaxCohort uint64
	// Coords are the coordinates the outputs need (Coordinates).
	Coords  []int
	Schema  *schema.Schema
	Outputs []*cohortv1.Output
	// Combiner combines the partial set's partials (the backend's).
	Combiner  Combiner
	Mechanism Mechanism
	// Charge is what the job costs in each node's privacy ledger: every
	// partial must come with that node's signed debit of it (none for an
	// exact release).
	Charge Charge
	// Attempts and RetryDelay default to DefaultAttempts and
	// DefaultRetryDelay when zero.
	Attempts   int
	RetryDelay time.Duration
}

// Event is an input of Coordinator.Step.
type Event interface{ event() }

// Start begins the round of a SUBMITTED job.
type Start struct{}

// Prepared is a node's answer to MsgPrepare.
type Prepared struct {
	From    uint32
	Attempt int
	Set     EligibleSet
	Sig     Signature
}

// PartialReply is a node's answer to MsgPartial.
type PartialReply struct {
	From        uint32
	Coordinates []uint32
	Partial     []byte
	Sig         Signature
	Debit       *cohortv1.PrivacyDebit // nil for an exact release
}

// Signed is a node's answer to MsgSign.
type Signed struct {
	From uint32
	Sig  Signature
}

// NoAnswer is a node's failure to answer a message: Unreachable when it
// could not be reached (or timed out), else it refused for Reason.
type NoAnswer struct {
	From        uint32
	Kind        MsgKind
	Attempt     int
	Unreachable bool
	Reason      string
}

// Tick is the retry timer a Ready asked for (Ready.After), for Attempt.
type Tick struct{ Attempt int }

// TranscriptBuilt answers Ready.Build: the transcript's digest, the
// nodes that must sign it (those whose evidence it holds, ascending), and
// the statement each signs. The transcript itself stays with the runtime
// that built it, which sends it with each MsgSign (it may be far larger
// than memory should hold, docs/design.md §7.6).
type TranscriptBuilt struct {
	Digest    [32]byte
	Signers   []uint32
	Statement func(node uint32) attest.Statement
}

// Committed answers Ready.Release: the release is durable.
type Committed struct{}

// Abort ends the job in State (REJECTED or FAILED) for Reason, from
// outside the round: a spec or dataset refused before it started, or a
// failure of the runtime.
type Abort struct {
	State  cohortv1.JobState
	Reason string
}

// Stopped tells the machine another writer ended the job (a buyer's
// cancel): it does nothing more.
type Stopped struct{}

func (Start) event()           {}
func (Prepared) event()        {}
func (PartialReply) event()    {}
func (Signed) event()          {}
func (NoAnswer) event()        {}
func (Tick) event()            {}
func (TranscriptBuilt) event() {}
func (Committed) event()       {}
func (Abort) event()           {}
func (Stopped) event()         {}

// JobView is the part of a job's stored row the round owns.
type JobView struct {
	State           cohortv1.JobState
	Reason          string
	Progress        string
	EligibleRecords uint64
	CohortSize      uint64
}

// Outcome is what the coordinator asks the runtime to build a transcript
// from (Ready.Build).
type Outcome struct {
	Live       []uint32 // the nodes that agreed on the cohort, ascending
	PartialSet []uint32
	Evidence   []NodeEvidence // by node, ascending
	Coords     []int
	Sums       []*big.Int
	Outputs    []*cohortv1.OutputValue
	Cohort     uint64
}

// Releasing is the job's release (Ready.Release): the runtime commits the
// transcript with these signatures, the result and the job's move to DONE
// in one transaction, then answers Committed.
type Releasing struct {
	Outcome    *Outcome
	Digest     [32]byte
	Signatures [][]byte // in the order of TranscriptBuilt.Signers
}

// Ready is what a Step asks of the runtime, in this order: persist Update
// (compare-and-set on the stored state: a conflict means another writer
// ended the job, and the runtime answers Stopped), then send Send, arm a
// Tick after After, build the transcript (Build) or commit the release
// (Release).
type Ready struct {
	Update  *JobView
	Send    []Message
	After   time.Duration // > 0: step Tick{Attempt} after this delay
	Attempt int
	Build   *Outcome
	Release *Releasing
}

type phase int

const (
	phaseNew phase = iota
	phasePrepare
	phaseRetry
	phasePartial
	phaseBuild
	phaseSign
	phaseCommit
	phaseOver
)

// Coordinator is a job's round as its coordinating node runs it: an
// explicit state machine that does no I/O. Step takes one event and
// returns what to persist and send (etcd-raft style); the runtime delivers
// messages to every node, itself included, and steps their answers back.
// It is not safe for concurrent use: one goroutine steps it.
type Coordinator struct {
	cfg   CoordinatorConfig
	view  JobView
	phase phase

	attempt  int
	asked    []uint32 // who must answer in this phase
	answered map[uint32]bool
	down     map[uint32]string // unreachable: reason
	refused  map[uint32]string
	evidence map[uint32]*NodeEvidence

	own        EligibleSet
	live       []uint32
	partialSet []uint32
	outcome    *Outcome
	built      *TranscriptBuilt
	sigs       map[uint32][]byte
}

// NewCoordinator returns the machine of a SUBMITTED job.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	switch {
	case int(cfg.Self) >= len(cfg.Members):
		return nil, fmt.Errorf("enclave: coordinator %d of %d nodes", cfg.Self, len(cfg.Members))
	case cfg.Quorum.Need < 1 || cfg.Quorum.Need > len(cfg.Members):
		return nil, fmt.Errorf("enclave: quorum of %d for %d nodes", cfg.Quorum.Need, len(cfg.Members))
	case cfg.Mechanism == nil:
		return nil, errors.New("enclave: coordinator needs a release mechanism")
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	return &Coordinator{cfg: cfg, view: JobView{State: cohortv1.JobState_JOB_STATE_SUBMITTED}}, nil
}

// View returns the job's row as the round sees it.
func (c *Coordinator) View() JobView { return c.view }

// Over reports whether the round ended (in a final state, or stopped).
func (c *Coordinator) Over() bool { return c.phase == phaseOver }

// Evidence returns what the nodes sent so far, by node ascending.
func (c *Coordinator) Evidence() []NodeEvidence {
	out := make([]NodeEvidence, 0, len(c.evidence))
	for _, e := range c.evidence {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b NodeEvidence) int { return int(a.Node) - int(b.Node) })
	return out
}

// Step applies one event. A message the machine does not expect returns an
// error wrapping ErrUnexpected (ErrRoundOver once the round ended) and
// changes nothing; every decision of the round — including failing or
// rejecting the job — is a Ready with an Update.
func (c *Coordinator) Step(ev Event) (Ready, error) {
	if c.phase == phaseOver {
		return Ready{}, fmt.Errorf("%w (%T)", ErrRoundOver, ev)
	}
	switch e := ev.(type) {
	case Start:
		if c.phase != phaseNew {
			return Ready{}, fmt.Errorf("%w: start of a started round", ErrUnexpected)
		}
		rd := Ready{}
		c.view.Progress = fmt.Sprintf("selecting eligible records on %d nodes", len(c.cfg.Members))
		if err := c.move(&rd, cohortv1.JobState_JOB_STATE_ADMITTED); err != nil {
			return Ready{}, err
		}
		c.prepare(&rd)
		return rd, nil
	case Abort:
		if e.State != cohortv1.JobState_JOB_STATE_REJECTED && e.State != cohortv1.JobState_JOB_STATE_FAILED {
			return Ready{}, fmt.Errorf("enclave: abort to %s", e.State)
		}
		if Transition(c.view.State, e.State) != nil {
			e.State = cohortv1.JobState_JOB_STATE_FAILED
		}
		return c.end(e.State, e.Reason), nil
	case Stopped:
		c.phase = phaseOver
		return Ready{}, nil
	case Prepared:
		return c.prepared(e)
	case Tick:
		if c.phase != phaseRetry || e.Attempt != c.attempt+1 {
			return Ready{}, fmt.Errorf("%w: tick for attempt %d", ErrUnexpected, e.Attempt)
		}
		c.attempt++
		rd := Ready{}
		c.prepare(&rd)
		return rd, nil
	case PartialReply:
		return c.partialReply(e)
	case NoAnswer:
		return c.noAnswer(e)
	case TranscriptBuilt:
		return c.transcriptBuilt(e)
	case Signed:
		return c.signed(e)
	case Committed:
		if c.phase != phaseCommit {
			return Ready{}, fmt.Errorf("%w: commit outside the release", ErrUnexpected)
		}
		if err := Transition(c.view.State, cohortv1.JobState_JOB_STATE_DONE); err != nil {
			return Ready{}, err
		}
		c.view.State, c.view.Progress = cohortv1.JobState_JOB_STATE_DONE, ""
		c.phase = phaseOver
		return Ready{}, nil
	}
	return Ready{}, fmt.Errorf("%w: event %T", ErrUnexpected, ev)
}

// move changes the state and asks for it to be persisted.
func (c *Coordinator) move(rd *Ready, to cohortv1.JobState) error {
	if err := Transition(c.view.State, to); err != nil {
		return err
	}
	c.view.State = to
	c.update(rd)
	return nil
}

func (c *Coordinator) update(rd *Ready) {
	v := c.view
	rd.Update = &v
}

// end moves the job to a final state for reason.
func (c *Coordinator) end(to cohortv1.JobState, reason string) Ready {
	c.view.State, c.view.Reason, c.view.Progress = to, truncate(reason, 1024), ""
	c.phase = phaseOver
	rd := Ready{}
	c.update(&rd)
	return rd
}

func (c *Coordinator) fail(format string, args ...any) (Ready, error) {
	return c.end(cohortv1.JobState_JOB_STATE_FAILED, fmt.Sprintf(format, args...)), nil
}

func (c *Coordinator) reject(format string, args ...any) (Ready, error) {
	return c.end(cohortv1.JobState_JOB_STATE_REJECTED, fmt.Sprintf(format, args...)), nil
}

// ask starts a phase in which every node of to must answer.
func (c *Coordinator) ask(p phase, to []uint32) {
	c.phase = p
	c.asked = append([]uint32(nil), to...)
	c.answered, c.down, c.refused = map[uint32]bool{}, map[uint32]string{}, map[uint32]string{}
}

func (c *Coordinator) all() []uint32 {
	out := make([]uint32, len(c.cfg.Members))
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

// prepare asks every node to select the cohort (attempt c.attempt).
func (c *Coordinator) prepare(rd *Ready) {
	c.ask(phasePrepare, c.all())
	c.evidence = map[uint32]*NodeEvidence{}
	c.own = EligibleSet{}
	for _, i := range c.asked {
		rd.Send = append(rd.Send, Message{Kind: MsgPrepare, To: i, Attempt: c.attempt})
	}
}

// expect checks that from may answer now, once.
func (c *Coordinator) expect(p phase, from uint32) error {
	if c.phase != p {
		return fmt.Errorf("%w: answer of node %d outside its phase", ErrUnexpected, from)
	}
	if !slices.Contains(c.asked, from) {
		return fmt.Errorf("%w: node %d was not asked", ErrUnexpected, from)
	}
	if c.answered[from] {
		return fmt.Errorf("%w: node %d answered twice", ErrUnexpected, from)
	}
	c.answered[from] = true
	return nil
}

func (c *Coordinator) complete() bool { return len(c.answered) == len(c.asked) }

func (c *Coordinator) prepared(e Prepared) (Ready, error) {
	if c.phase == phasePrepare && e.Attempt != c.attempt {
		return Ready{}, fmt.Errorf("%w: node %d answered attempt %d, the round is at %d", ErrUnexpected, e.From, e.Attempt, c.attempt)
	}
	if err := c.expect(phasePrepare, e.From); err != nil {
		return Ready{}, err
	}
	if err := verify(c.cfg.Members, e.From, SetStatement(c.cfg.Job, e.Set, e.From), e.Sig); err != nil {
		return c.fail("node %d's eligible-set signature: %v", e.From, err)
	}
	c.evidence[e.From] = &NodeEvidence{Node: e.From, Set: e.Set, SetSignature: e.Sig}
	rd := Ready{}
	if e.From == c.cfg.Self {
		c.own = e.Set
		c.view.EligibleRecords = e.Set.Eligible
		c.view.Progress = fmt.Sprintf("comparing eligible sets with %d nodes (%d records eligible)", len(c.cfg.Members), e.Set.Eligible)
		c.update(&rd)
	}
	if !c.complete() {
		return rd, nil
	}
	return c.agree(rd)
}

// noAnswer records a node that did not answer; the phase ends when every
// node asked has answered one way or the other.
func (c *Coordinator) noAnswer(e NoAnswer) (Ready, error) {
	want := map[MsgKind]phase{MsgPrepare: phasePrepare, MsgPartial: phasePartial, MsgSign: phaseSign}[e.Kind]
	if e.Kind == MsgPrepare && c.phase == phasePrepare && e.Attempt != c.attempt {
		return Ready{}, fmt.Errorf("%w: node %d failed attempt %d, the round is at %d", ErrUnexpected, e.From, e.Attempt, c.attempt)
	}
	if err := c.expect(want, e.From); err != nil {
		return Ready{}, err
	}
	if e.Unreachable {
		c.down[e.From] = e.Reason
	} else {
		c.refused[e.From] = e.Reason
	}
	if !c.complete() {
		return Ready{}, nil
	}
	switch c.phase {
	case phasePrepare:
		return c.agree(Ready{})
	case phasePartial:
		return c.combine(Ready{})
	default:
		return c.collect(Ready{})
	}
}

// failures turns the phase's refusals and unreachable nodes into the
// job's failure, what naming what was asked; ok when none stops the job
// (unreachable nodes are left out while the quorum remains).
func (c *Coordinator) failures(what string, needAll bool) (string, bool) {
	for _, i := range sortedKeys(c.refused) {
		return fmt.Sprintf("node %d refused to %s: %s; nothing was released", i, what, c.refused[i]), false
	}
	if len(c.down) == 0 {
		return "", true
	}
	down := sortedKeys(c.down)
	if needAll || c.cfg.Quorum.Need == len(c.cfg.Members) {
		i := down[0]
		if c.cfg.Quorum.Need == len(c.cfg.Members) {
			return fmt.Sprintf("node %d is unreachable and could not %s (%s); the %s backend needs every node, nothing was released",
				i, what, c.down[i], c.cfg.Quorum.Backend), false
		}
		return fmt.Sprintf("node %d is unreachable and could not %s (%s); nothing was released", i, what, c.down[i]), false
	}
	live := len(c.asked) - len(down)
	if live < c.cfg.Quorum.Need {
		return fmt.Sprintf("nodes %v are unreachable and could not %s; %d of %d nodes answered, the %s backend needs %d, nothing was released",
			down, what, live, len(c.asked), c.cfg.Quorum.Backend, c.cfg.Quorum.Need), false
	}
	return "", true
}

// agree ends an attempt: every node answered or failed.
func (c *Coordinator) agree(rd Ready) (Ready, error) {
	if why, ok := c.failures("select the eligible records", false); !ok {
		return c.fail("%s", why)
	}
	if _, ok := c.evidence[c.cfg.Self]; !ok {
		return c.fail("the coordinating node did not select the eligible records; nothing was released")
	}
	c.live = c.live[:0]
	mismatch := ""
	for _, i := range c.asked {
		e, ok := c.evidence[i]
		if !ok {
			continue
		}
		c.live = append(c.live, i)
		if e.Set.Digest != c.own.Digest && mismatch == "" {
			mismatch = fmt.Sprintf("node %d selected %d records (digest %x…), node %d selected %d (digest %x…)",
				c.cfg.Self, c.own.Cohort, c.own.Digest[:4], i, e.Set.Cohort, e.Set.Digest[:4])
		}
	}
	if mismatch != "" {
		if c.attempt+1 >= c.cfg.Attempts {
			return c.fail("the nodes disagree on the eligible records after %d attempts (%s); nothing was aggregated", c.cfg.Attempts, mismatch)
		}
		c.phase = phaseRetry
		rd.After, rd.Attempt = time.Duration(c.attempt+1)*c.cfg.RetryDelay, c.attempt+1
		return rd, nil
	}
	cohort := c.own.Cohort
	if cohort < c.cfg.MinCohort {
		return c.reject("cohort of %d records is below the minimum of %d (%s); nothing was reconstructed", cohort, c.cfg.MinCohort, exclusionSummary(c.own))
	}
	if cohort > c.cfg.MaxCohort {
		return c.reject("cohort of %d records is above the dataset's maximum of %d (its sums were sized for at most that many); nothing was reconstructed",
			cohort, c.cfg.MaxCohort)
	}
	if err := Supports(c.cfg.Schema, c.cfg.Coords, c.cfg.Outputs, cohort); err != nil {
		return c.reject("a cohort of %d records cannot support the outputs (%v); nothing was released or charged", cohort, err)
	}
	set, err := c.cfg.Quorum.PartialSet(c.live)
	if err != nil {
		return c.fail("%v; nothing was released", err)
	}
	c.partialSet = set
	c.view.CohortSize = cohort
	c.view.Progress = fmt.Sprintf("summing %d coordinates over %d records on %d nodes", len(c.cfg.Coords), cohort, len(c.cfg.Members))
	if err := c.move(&rd, cohortv1.JobState_JOB_STATE_AGGREGATING); err != nil {
		return Ready{}, err
	}
	c.ask(phasePartial, set)
	for _, i := range set {
		rd.Send = append(rd.Send, Message{Kind: MsgPartial, To: i, SetDigest: c.own.Digest, PartialSet: set})
	}
	return rd, nil
}

// exclusionSummary says, in counts, why records were left out.
func exclusionSummary(s EligibleSet) string {
	if x := s.Excluded.String(); x != "" {
		return fmt.Sprintf("%d eligible, %s", s.Eligible, x)
	}
	return fmt.Sprintf("%d eligible", s.Eligible)
}

func (c *Coordinator) partialReply(e PartialReply) (Ready, error) {
	if err := c.expect(phasePartial, e.From); err != nil {
		return Ready{}, err
	}
	noun := c.cfg.Quorum.Partial
	st := PartialStatement(c.cfg.Job.ID, c.own.Digest, c.cfg.Coords, e.Partial, e.From)
	if !slices.Equal(st.Coordinates, e.Coordinates) {
		return c.fail("node %d's %s is at other coordinates than the job needs", e.From, noun)
	}
	if err := verify(c.cfg.Members, e.From, st, e.Sig); err != nil {
		return c.fail("node %d's %s signature: %v", e.From, noun, err)
	}
	if err := c.cfg.Charge.Check(e.From, e.Debit, c.cfg.Members[e.From]); err != nil {
		return c.fail("%v", err)
	}
	ev := c.evidence[e.From]
	ev.Partial, ev.PartialDigest, ev.PartialSignature, ev.Debit = e.Partial, st.PartialDigest, e.Sig, e.Debit
	if !c.complete() {
		return Ready{}, nil
	}
	return c.combine(Ready{})
}

// combine ends the partial phase: the partials become the released sums
// and outputs, and the transcript is to be built.
func (c *Coordinator) combine(rd Ready) (Ready, error) {
	if why, ok := c.failures("give its "+c.cfg.Quorum.Partial, true); !ok {
		return c.fail("%s", why)
	}
	if c.cfg.Combiner == nil || c.cfg.Schema == nil {
		return c.fail("the coordinator has no backend to combine the partials with")
	}
	parts := make(map[uint32][]byte, len(c.partialSet))
	for _, i := range c.partialSet {
		parts[i] = c.evidence[i].Partial
	}
	sums, err := c.cfg.Combiner.Combine(parts)
	if err != nil {
		return c.fail("%v", err)
	}
	released, err := c.cfg.Mechanism.Release(c.cfg.Coords, sums)
	if err != nil {
		return c.fail("releasing the sums: %v", err)
	}
	if err := c.move(&rd, cohortv1.JobState_JOB_STATE_RELEASING); err != nil {
		return Ready{}, err
	}
	outs, err := c.cfg.Mechanism.Outputs(c.cfg.Schema, c.cfg.Coords, released, c.cfg.Outputs, len(c.partialSet))
	if err != nil {
		return c.fail("computing the outputs: %v", err)
	}
	c.view.Progress = "collecting the nodes' signatures over the transcript"
	c.update(&rd)
	c.outcome = &Outcome{
		Live: slices.Clone(c.live), PartialSet: slices.Clone(c.partialSet), Evidence: c.Evidence(),
		Coords: slices.Clone(c.cfg.Coords), Sums: released, Outputs: outs, Cohort: c.own.Cohort,
	}
	c.phase = phaseBuild
	rd.Build = c.outcome
	return rd, nil
}

func (c *Coordinator) transcriptBuilt(e TranscriptBuilt) (Ready, error) {
	if c.phase != phaseBuild {
		return Ready{}, fmt.Errorf("%w: transcript outside the release", ErrUnexpected)
	}
	if len(e.Signers) == 0 || e.Statement == nil || !slices.Contains(e.Signers, c.cfg.Self) {
		return c.fail("the transcript names no signers or not the coordinator")
	}
	for _, i := range e.Signers {
		if !slices.Contains(c.live, i) {
			return c.fail("the transcript names node %d, which did not agree on the cohort", i)
		}
	}
	c.built = &e
	c.sigs = map[uint32][]byte{}
	c.ask(phaseSign, e.Signers)
	rd := Ready{}
	for _, i := range e.Signers {
		rd.Send = append(rd.Send, Message{Kind: MsgSign, To: i})
	}
	return rd, nil
}

func (c *Coordinator) signed(e Signed) (Ready, error) {
	if err := c.expect(phaseSign, e.From); err != nil {
		return Ready{}, err
	}
	if err := verify(c.cfg.Members, e.From, c.built.Statement(e.From), e.Sig); err != nil {
		return c.fail("node %d's transcript signature: %v", e.From, err)
	}
	c.sigs[e.From] = e.Sig.Bytes
	if !c.complete() {
		return Ready{}, nil
	}
	return c.collect(Ready{})
}

// collect ends the signing phase: with every signature the release is
// handed to the runtime to commit.
func (c *Coordinator) collect(rd Ready) (Ready, error) {
	if why, ok := c.failures("sign the transcript", true); !ok {
		return c.fail("%s", why)
	}
	sigs := make([][]byte, len(c.built.Signers))
	for k, i := range c.built.Signers {
		sigs[k] = c.sigs[i]
	}
	c.phase = phaseCommit
	rd.Release = &Releasing{Outcome: c.outcome, Digest: c.built.Digest, Signatures: sigs}
	return rd, nil
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	out := make([]uint32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

package enclave

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/attest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// The job round's scenarios, run in memory: no gRPC, store or network.
// Each scenario is a script of events stepped into one coordinator, each
// line with what the machine must answer.

// roundNet is a federation of k nodes' signing keys.
type roundNet struct {
	keys []ed25519.PrivateKey
	pubs []ed25519.PublicKey
	job  RoundJob
}

func newRoundNet(t *testing.T, k int) *roundNet {
	t.Helper()
	n := &roundNet{job: RoundJob{ID: "job-1", DatasetID: "ds", SpecDigest: sha256.Sum256([]byte("spec")), Time: time.Unix(1_800_000_000, 0), Buyer: "lab"}}
	for i := range k {
		seed := sha256.Sum256([]byte(fmt.Sprintf("round test node %d", i)))
		key := ed25519.NewKeyFromSeed(seed[:])
		n.keys = append(n.keys, key)
		n.pubs = append(n.pubs, key.Public().(ed25519.PublicKey))
	}
	return n
}

func (n *roundNet) sign(i uint32, st attest.Statement) Signature {
	return Signature{Node: i, Bytes: attest.Sign(n.keys[i], st)}
}

// sumCombiner reads each partial as a big-endian uint64 per coordinate
// and adds them.
type sumCombiner struct{ coords int }

func (s sumCombiner) Combine(parts map[uint32][]byte) ([]*big.Int, error) {
	out := make([]*big.Int, s.coords)
	for i := range out {
		out[i] = new(big.Int)
	}
	for node, p := range parts {
		if len(p) != 8*s.coords {
			return nil, fmt.Errorf("node %d sent a malformed partial", node)
		}
		for i := range out {
			out[i].Add(out[i], new(big.Int).SetUint64(binary.BigEndian.Uint64(p[8*i:])))
		}
	}
	return out, nil
}

func partialOf(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func digestOf(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// config is a count job over schema.Default on n with quorum need.
func (n *roundNet) config(need int) CoordinatorConfig {
	outs := []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}
	backend, noun := "MPC", "partial sum"
	if need < len(n.pubs) {
		backend, noun = "HE", "decryption share"
	}
	return CoordinatorConfig{
		Job: n.job, Self: 0, Members: n.pubs, MinCohort: 3, MaxCohort: 8, Coords: []int{0}, Schema: schema.Default(), Outputs: outs,
		Quorum: Quorum{Backend: backend, Need: need, Partial: noun}, Combiner: sumCombiner{coords: 1}, Mechanism: Exact{},
	}
}

// Events of a script.
func (n *roundNet) prepared(i uint32, attempt int, digest string, cohort uint64) Event {
	set := EligibleSet{Eligible: cohort + 1, Cohort: cohort, Digest: digestOf(digest), Excluded: Exclusions{Revoked: 1}}
	return Prepared{From: i, Attempt: attempt, Set: set, Sig: n.sign(i, SetStatement(n.job, set, i))}
}

func (n *roundNet) partial(i uint32, digest string, v uint64) Event {
	p := partialOf(v)
	return PartialReply{From: i, Coordinates: []uint32{0}, Partial: p, Sig: n.sign(i, PartialStatement(n.job.ID, digestOf(digest), []int{0}, p, i))}
}

type transcriptStatement struct {
	digest [32]byte
	node   uint32
}

func (s transcriptStatement) Message() []byte {
	return append(append([]byte("test transcript\x00"), s.digest[:]...), byte(s.node))
}

func built(signers ...uint32) Event {
	d := digestOf("transcript")
	return TranscriptBuilt{Digest: d, Signers: signers,
		Statement: func(i uint32) attest.Statement { return transcriptStatement{d, i} }}
}

func (n *roundNet) signed(i uint32) Event {
	return Signed{From: i, Sig: n.sign(i, transcriptStatement{digestOf("transcript"), i})}
}

// want is what one step must answer.
type want struct {
	err     error             // a sentinel the step's error wraps; nil: no error
	state   cohortv1.JobState // the job's state after the step (0: unchanged)
	reason  string            // a substring of the reason
	send    string            // the messages sent, as "prepare:0,1,2"; "-" none
	update  bool              // the step asks to persist
	after   bool              // the step arms a retry timer
	build   bool
	release bool
	sums    []int64 // the released sums, when build
}

type line struct {
	ev   Event
	want want
}

func sends(rd Ready) string {
	if len(rd.Send) == 0 {
		return "-"
	}
	var to []string
	for _, m := range rd.Send {
		to = append(to, fmt.Sprint(m.To))
	}
	return rd.Send[0].Kind.String() + ":" + strings.Join(to, ",")
}

// play steps a script into a fresh coordinator and checks every answer.
func play(t *testing.T, cfg CoordinatorConfig, script []line) *Coordinator {
	t.Helper()
	c, err := NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for k, l := range script {
		before := c.View().State
		rd, err := c.Step(l.ev)
		where := fmt.Sprintf("line %d (%T)", k+1, l.ev)
		if l.want.err != nil {
			if !errors.Is(err, l.want.err) {
				t.Fatalf("%s: error %v, want %v", where, err, l.want.err)
			}
			if rd.Update != nil || len(rd.Send) > 0 || c.View().State != before {
				t.Fatalf("%s: an ignored message changed the round", where)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if st := l.want.state; st != 0 && c.View().State != st {
			t.Fatalf("%s: state %s, want %s (reason %q)", where, c.View().State, st, c.View().Reason)
		}
		if l.want.reason != "" && !strings.Contains(c.View().Reason, l.want.reason) {
			t.Fatalf("%s: reason %q lacks %q", where, c.View().Reason, l.want.reason)
		}
		if l.want.send != "" && sends(rd) != l.want.send {
			t.Fatalf("%s: sent %s, want %s", where, sends(rd), l.want.send)
		}
		if (rd.Update != nil) != l.want.update || (rd.After > 0) != l.want.after || (rd.Build != nil) != l.want.build || (rd.Release != nil) != l.want.release {
			t.Fatalf("%s: ready update=%v after=%v build=%v release=%v, want %+v", where, rd.Update != nil, rd.After > 0, rd.Build != nil, rd.Release != nil, l.want)
		}
		if rd.Update != nil && *rd.Update != c.View() {
			t.Fatalf("%s: update %+v is not the view %+v", where, *rd.Update, c.View())
		}
		if l.want.sums != nil {
			var got []int64
			for _, s := range rd.Build.Sums {
				got = append(got, s.Int64())
			}
			if !slices.Equal(got, l.want.sums) {
				t.Fatalf("%s: sums %v, want %v", where, got, l.want.sums)
			}
		}
	}
	return c
}

const (
	admitted    = cohortv1.JobState_JOB_STATE_ADMITTED
	aggregating = cohortv1.JobState_JOB_STATE_AGGREGATING
	releasing   = cohortv1.JobState_JOB_STATE_RELEASING
	done        = cohortv1.JobState_JOB_STATE_DONE
	failedSt    = cohortv1.JobState_JOB_STATE_FAILED
	rejectedSt  = cohortv1.JobState_JOB_STATE_REJECTED
)

func TestRoundHappyPath(t *testing.T) {
	n := newRoundNet(t, 3)
	c := play(t, n.config(3), []line{
		{Start{}, want{state: admitted, send: "prepare:0,1,2", update: true}},
		{n.prepared(1, 0, "a", 5), want{send: "-"}},
		{n.prepared(0, 0, "a", 5), want{send: "-", update: true}}, // its own: eligible count and progress
		{n.prepared(2, 0, "a", 5), want{state: aggregating, send: "partial:0,1,2", update: true}},
		{n.partial(2, "a", 1), want{send: "-"}},
		{n.partial(0, "a", 3), want{send: "-"}},
		{n.partial(1, "a", 1), want{state: releasing, update: true, build: true, send: "-", sums: []int64{5}}},
		{built(0, 1, 2), want{send: "sign:0,1,2"}},
		{n.signed(1), want{send: "-"}},
		{n.signed(0), want{send: "-"}},
		{n.signed(2), want{release: true, send: "-"}},
		{Committed{}, want{state: done, send: "-"}},
		{n.signed(2), want{err: ErrRoundOver}},
	})
	if !c.Over() || c.View().CohortSize != 5 || c.View().EligibleRecords != 6 {
		t.Fatalf("view %+v", c.View())
	}
	ev := c.Evidence()
	if len(ev) != 3 || ev[1].Partial == nil || ev[1].SetSignature.Bytes == nil {
		t.Fatalf("evidence %+v", ev)
	}
}

func TestRoundDisagreement(t *testing.T) {
	n := newRoundNet(t, 3)
	t.Run("settles on the second attempt", func(t *testing.T) {
		play(t, n.config(3), []line{
			{Start{}, want{state: admitted, send: "prepare:0,1,2", update: true}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{n.prepared(1, 0, "a", 5), want{}},
			{n.prepared(2, 0, "b", 4), want{after: true, send: "-"}},
			{n.prepared(2, 0, "a", 5), want{err: ErrUnexpected}}, // late duplicate of the failed attempt
			{Tick{Attempt: 2}, want{err: ErrUnexpected}},
			{Tick{Attempt: 1}, want{send: "prepare:0,1,2"}},
			{n.prepared(1, 0, "a", 5), want{err: ErrUnexpected}}, // an answer to the earlier attempt
			{n.prepared(0, 1, "a", 5), want{update: true}},
			{n.prepared(1, 1, "a", 5), want{}},
			{n.prepared(2, 1, "a", 5), want{state: aggregating, send: "partial:0,1,2", update: true}},
		})
	})
	t.Run("fails after every attempt", func(t *testing.T) {
		script := []line{{Start{}, want{state: admitted, update: true}}}
		for a := range DefaultAttempts {
			if a > 0 {
				script = append(script, line{Tick{Attempt: a}, want{send: "prepare:0,1,2"}})
			}
			script = append(script, line{n.prepared(0, a, "a", 5), want{update: true}}, line{n.prepared(1, a, "a", 5), want{}})
			last := want{after: true}
			if a == DefaultAttempts-1 {
				last = want{state: failedSt, update: true, reason: "the nodes disagree on the eligible records after 3 attempts (node 0 selected 5 records"}
			}
			script = append(script, line{n.prepared(2, a, "b", 4), last})
		}
		play(t, n.config(3), script)
	})
}

func TestRoundNodeDown(t *testing.T) {
	n := newRoundNet(t, 3)
	down := func(i uint32, kind MsgKind) Event {
		return NoAnswer{From: i, Kind: kind, Unreachable: true, Reason: "connection refused"}
	}
	t.Run("MPC needs every node", func(t *testing.T) {
		play(t, n.config(3), []line{
			{Start{}, want{state: admitted, update: true}},
			{down(1, MsgPrepare), want{send: "-"}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{n.prepared(2, 0, "a", 5), want{state: failedSt, update: true, reason: "node 1 is unreachable and could not select the eligible records (connection refused); the MPC backend needs every node"}},
		})
	})
	t.Run("HE leaves out a node while t remain", func(t *testing.T) {
		c := play(t, n.config(2), []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{down(1, MsgPrepare), want{}},
			{n.prepared(2, 0, "a", 5), want{state: aggregating, send: "partial:0,2", update: true}},
			{n.partial(1, "a", 1), want{err: ErrUnexpected}}, // not in the partial set
			{n.partial(0, "a", 2), want{}},
			{n.partial(2, "a", 3), want{state: releasing, build: true, update: true, sums: []int64{5}}},
			{built(0, 2), want{send: "sign:0,2"}},
		})
		if out := c.outcome; !slices.Equal(out.Live, []uint32{0, 2}) || !slices.Equal(out.PartialSet, []uint32{0, 2}) {
			t.Fatalf("live %v, partial set %v", out.Live, out.PartialSet)
		}
	})
	t.Run("HE below t fails", func(t *testing.T) {
		play(t, n.config(2), []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{down(1, MsgPrepare), want{}},
			{down(2, MsgPrepare), want{state: failedSt, update: true, reason: "nodes [1 2] are unreachable and could not select the eligible records; 1 of 3 nodes answered, the HE backend needs 2"}},
		})
	})
	t.Run("a node down at the partial fails", func(t *testing.T) {
		play(t, n.config(3), []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{n.prepared(1, 0, "a", 5), want{}},
			{n.prepared(2, 0, "a", 5), want{state: aggregating, update: true}},
			{n.partial(0, "a", 1), want{}},
			{NoAnswer{From: 1, Kind: MsgPartial, Reason: "cohort of 5 records is below the job's minimum of 9"}, want{}},
			{n.partial(2, "a", 1), want{state: failedSt, update: true, reason: "node 1 refused to give its partial sum: cohort of 5 records is below"}},
		})
	})
	t.Run("a node that does not sign fails the release", func(t *testing.T) {
		play(t, n.config(3), []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{n.prepared(1, 0, "a", 5), want{}},
			{n.prepared(2, 0, "a", 5), want{state: aggregating, update: true}},
			{n.partial(0, "a", 1), want{}},
			{n.partial(1, "a", 1), want{}},
			{n.partial(2, "a", 3), want{state: releasing, update: true, build: true}},
			{built(0, 1, 2), want{send: "sign:0,1,2"}},
			{n.signed(0), want{}},
			{down(2, MsgSign), want{}},
			{n.signed(1), want{state: failedSt, update: true, reason: "node 2 is unreachable and could not sign the transcript"}},
		})
	})
}

// TestRoundCancel: a cancel recorded by another writer at each state
// stops the machine; it asks for nothing more and ignores what follows.
func TestRoundCancel(t *testing.T) {
	n := newRoundNet(t, 3)
	prefix := []line{
		{Start{}, want{state: admitted, update: true}},
		{n.prepared(0, 0, "a", 5), want{update: true}},
		{n.prepared(1, 0, "a", 5), want{}},
		{n.prepared(2, 0, "a", 5), want{state: aggregating, update: true}},
		{n.partial(0, "a", 1), want{}},
		{n.partial(1, "a", 1), want{}},
		{n.partial(2, "a", 3), want{state: releasing, update: true, build: true}},
	}
	for _, at := range []int{0, 1, 4, 7} {
		t.Run(fmt.Sprintf("after %d steps", at), func(t *testing.T) {
			script := append(slices.Clone(prefix[:at]), line{Stopped{}, want{send: "-"}}, line{n.prepared(0, 0, "a", 5), want{err: ErrRoundOver}},
				line{Committed{}, want{err: ErrRoundOver}})
			if c := play(t, n.config(3), script); !c.Over() {
				t.Fatal("not over after a stop")
			}
		})
	}
}

func TestRoundRefusals(t *testing.T) {
	n := newRoundNet(t, 3)
	forged := n.prepared(1, 0, "a", 5).(Prepared)
	forged.Sig = n.sign(2, SetStatement(n.job, forged.Set, 1)) // node 2's key for node 1's statement
	wrongCoords := n.partial(1, "a", 1).(PartialReply)
	wrongCoords.Coordinates = []uint32{1}
	agreed := []line{
		{Start{}, want{state: admitted, update: true}},
		{n.prepared(0, 0, "a", 5), want{update: true}},
		{n.prepared(1, 0, "a", 5), want{}},
		{n.prepared(2, 0, "a", 5), want{state: aggregating, update: true}},
	}
	cases := []struct {
		name   string
		script []line
	}{
		{"a duplicate answer", []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(1, 0, "a", 5), want{}},
			{n.prepared(1, 0, "a", 5), want{err: ErrUnexpected}},
		}},
		{"a node outside the federation", []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{Prepared{From: 7, Set: EligibleSet{}}, want{err: ErrUnexpected}},
		}},
		{"an answer before the start", []line{{n.prepared(1, 0, "a", 5), want{err: ErrUnexpected}}}},
		{"a partial before the agreement", []line{
			{Start{}, want{state: admitted, update: true}},
			{n.partial(1, "a", 1), want{err: ErrUnexpected}},
		}},
		{"a forged set signature", []line{
			{Start{}, want{state: admitted, update: true}},
			{forged, want{state: failedSt, update: true, reason: "node 1's eligible-set signature"}},
		}},
		{"a refusal to select", []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 5), want{update: true}},
			{NoAnswer{From: 1, Kind: MsgPrepare, Reason: "dataset \"ds\" is SETUP, not READY"}, want{}},
			{n.prepared(2, 0, "a", 5), want{state: failedSt, update: true, reason: "node 1 refused to select the eligible records: dataset"}},
		}},
		{"below the minimum cohort", []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 2), want{update: true}},
			{n.prepared(1, 0, "a", 2), want{}},
			{n.prepared(2, 0, "a", 2), want{state: rejectedSt, update: true, send: "-", reason: "cohort of 2 records is below the minimum of 3 (3 eligible, 1 revoked); nothing was reconstructed"}},
		}},
		{"above the maximum cohort", []line{
			{Start{}, want{state: admitted, update: true}},
			{n.prepared(0, 0, "a", 9), want{update: true}},
			{n.prepared(1, 0, "a", 9), want{}},
			{n.prepared(2, 0, "a", 9), want{state: rejectedSt, update: true, send: "-", reason: "cohort of 9 records is above the dataset's maximum of 8"}},
		}},
		{"a partial at other coordinates", append(slices.Clone(agreed),
			line{wrongCoords, want{state: failedSt, update: true, reason: "node 1's partial sum is at other coordinates"}})},
		{"a partial signed over another cohort", append(slices.Clone(agreed),
			line{n.partial(1, "b", 1), want{state: failedSt, update: true, reason: "node 1's partial sum signature"}})},
		{"a malformed partial", append(slices.Clone(agreed),
			line{n.partial(0, "a", 1), want{}}, line{n.partial(1, "a", 1), want{}},
			line{PartialReply{From: 2, Coordinates: []uint32{0}, Partial: []byte{1}, Sig: n.sign(2, PartialStatement(n.job.ID, digestOf("a"), []int{0}, []byte{1}, 2))},
				want{state: failedSt, update: true, reason: "node 2 sent a malformed partial"}})},
		{"a transcript without the coordinator", append(slices.Clone(agreed),
			line{n.partial(0, "a", 1), want{}}, line{n.partial(1, "a", 1), want{}}, line{n.partial(2, "a", 4), want{state: releasing, update: true, build: true}},
			line{built(1, 2), want{state: failedSt, update: true, reason: "not the coordinator"}})},
		{"a forged transcript signature", append(slices.Clone(agreed),
			line{n.partial(0, "a", 1), want{}}, line{n.partial(1, "a", 1), want{}}, line{n.partial(2, "a", 4), want{state: releasing, update: true, build: true}},
			line{built(0, 1, 2), want{}}, line{Signed{From: 1, Sig: n.sign(1, transcriptStatement{digestOf("other"), 1})}, want{state: failedSt, update: true, reason: "node 1's transcript signature"}})},
		{"a commit before the release", append(slices.Clone(agreed), line{Committed{}, want{err: ErrUnexpected}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { play(t, n.config(3), c.script) })
	}
}

// TestRoundAbort: a job refused before its round ends through the machine,
// and REJECTED after the point of no rejection reads as FAILED.
func TestRoundAbort(t *testing.T) {
	n := newRoundNet(t, 3)
	play(t, CoordinatorConfig{Job: n.job, Members: n.pubs, Quorum: Quorum{Need: 3}, Mechanism: Exact{}}, []line{
		{Abort{State: rejectedSt, Reason: "spec: outputs missing"}, want{state: rejectedSt, update: true, reason: "spec: outputs missing"}},
		{Start{}, want{err: ErrRoundOver}},
	})
	play(t, n.config(3), []line{
		{Start{}, want{state: admitted, update: true}},
		{n.prepared(0, 0, "a", 5), want{update: true}},
		{n.prepared(1, 0, "a", 5), want{}},
		{n.prepared(2, 0, "a", 5), want{state: aggregating, update: true}},
		{Abort{State: rejectedSt, Reason: "late"}, want{state: failedSt, update: true, reason: "late"}},
	})
}

func TestExactMechanism(t *testing.T) {
	got, err := Exact{}.Release([]int{0, 3}, []*big.Int{big.NewInt(4), big.NewInt(0)})
	if err != nil || got[0].Int64() != 4 || got[1].Int64() != 0 {
		t.Fatalf("%v, %v", got, err)
	}
	if _, err := (Exact{}).Release([]int{0, 3}, []*big.Int{big.NewInt(4), big.NewInt(-1)}); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("negative sum: %v", err)
	}
	if _, err := (Exact{}).Release([]int{0}, nil); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("missing sum: %v", err)
	}
	if noise, err := (Exact{}).Noise([]int{0, 1}); noise != nil || err != nil {
		t.Fatalf("exact adds noise %v, %v", noise, err)
	}
}

// TestPeerRules: a node prepares, releases one partial per job, answers
// the same partial again and refuses everything else, each refusal with
// its sentinel.
func TestPeerRules(t *testing.T) {
	n := newRoundNet(t, 3)
	set := EligibleSet{Cohort: 5, Digest: digestOf("a")}
	rec, err := PeerPrepare(nil, n.job, 1, set)
	if err != nil || rec.State != PeerPrepared || rec.SetDigest != set.Digest || rec.Coordinator != 1 {
		t.Fatalf("prepare: %+v, %v", rec, err)
	}
	settled := EligibleSet{Cohort: 6, Digest: digestOf("b")}
	again, err := PeerPrepare(&rec, n.job, 1, settled)
	if err != nil || again.SetDigest != settled.Digest || again.Cohort != 6 {
		t.Fatalf("re-prepare: %+v, %v", again, err)
	}
	other := n.job
	other.SpecDigest = digestOf("other spec")
	otherBuyer := n.job
	otherBuyer.Buyer = "someone-else"
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"another spec", func() error { _, err := PeerPrepare(&rec, other, 1, set); return err }(), ErrOtherJob},
		{"not prepared", PeerPartial(nil, n.job, 1, set.Digest, set, 3, 8, 2), ErrNotPrepared},
		{"selects another cohort", PeerPartial(&rec, n.job, 1, set.Digest, settled, 3, 8, 2), ErrOtherCohort},
		{"prepared another cohort", PeerPartial(&again, n.job, 1, set.Digest, set, 3, 8, 2), ErrOtherCohort},
		{"below the minimum", PeerPartial(&rec, n.job, 1, set.Digest, set, 6, 8, 2), ErrBelowMinimum},
		{"above the maximum", PeerPartial(&rec, n.job, 1, set.Digest, set, 3, 4, 2), ErrAboveMaximum},
		{"another spec at the partial", PeerPartial(&rec, other, 1, set.Digest, set, 3, 8, 2), ErrOtherJob},
		{"another coordinator at the partial", PeerPartial(&rec, n.job, 0, set.Digest, set, 3, 8, 2), ErrOtherJob},
		{"another coordinator at the prepare", func() error { _, err := PeerPrepare(&rec, n.job, 0, set); return err }(), ErrOtherJob},
		{"another buyer at the prepare", func() error { _, err := PeerPrepare(&rec, otherBuyer, 1, set); return err }(), ErrOtherJob},
		{"another buyer at the partial", PeerPartial(&rec, otherBuyer, 1, set.Digest, set, 3, 8, 2), ErrOtherJob},
	}
	for _, c := range cases {
		var r *Refusal
		if !errors.Is(c.err, c.want) || !errors.As(c.err, &r) || strings.HasPrefix(r.Error(), "enclave:") {
			t.Errorf("%s: %v, want %v as a Refusal", c.name, c.err, c.want)
		}
	}
	if err := PeerPartial(&rec, n.job, 1, set.Digest, set, 5, 5, 2); err != nil {
		t.Fatalf("partial: %v", err)
	}
	released, err := PeerRelease(rec, partialOf(7))
	if err != nil || released.State != PeerReleased || !slices.Equal(released.Partial, partialOf(7)) {
		t.Fatalf("release: %+v, %v", released, err)
	}
	if same, err := PeerRelease(released, partialOf(7)); err != nil || same.State != PeerReleased {
		t.Fatalf("the same partial again: %v", err)
	}
	if _, err := PeerRelease(released, partialOf(8)); !errors.Is(err, ErrReleased) {
		t.Fatalf("a second, different partial: %v", err)
	}
	if again, err := PeerRepeat(released, []uint32{0, 1}, []uint32{0, 1}, 2); err != nil || !slices.Equal(again, partialOf(7)) {
		t.Fatalf("a repeated request: %x, %v", again, err)
	}
	if _, err := PeerRepeat(released, []uint32{0, 1}, []uint32{0, 2}, 2); !errors.Is(err, ErrReleased) {
		t.Fatalf("a request for another partial set: %v", err)
	}
	if _, err := PeerRepeat(rec, nil, nil, 2); err == nil {
		t.Fatal("a repeat of a partial never released")
	}
	if _, err := PeerPrepare(&released, n.job, 1, settled); !errors.Is(err, ErrReleased) {
		t.Fatalf("re-prepare over another cohort after release: %v", err)
	}
	if _, err := PeerPrepare(&released, n.job, 1, set); err != nil {
		t.Fatalf("re-prepare over the released cohort: %v", err)
	}

	// An abort: only the coordinator's; afterwards nothing is prepared or
	// released.
	if _, err := PeerAbort(rec, 0); !errors.Is(err, ErrOtherJob) {
		t.Fatalf("an abort by another node: %v", err)
	}
	aborted, err := PeerAbort(released, 1)
	if err != nil || aborted.State != PeerAborted {
		t.Fatalf("abort: %+v, %v", aborted, err)
	}
	if again, err := PeerAbort(aborted, 1); err != nil || again.State != PeerAborted {
		t.Fatalf("an abort repeated: %+v, %v", again, err)
	}
	if _, err := PeerPrepare(&aborted, n.job, 1, set); !errors.Is(err, ErrAborted) {
		t.Fatalf("prepare after abort: %v", err)
	}
	if err := PeerPartial(&aborted, n.job, 1, set.Digest, set, 3, 8, 2); !errors.Is(err, ErrAborted) {
		t.Fatalf("partial after abort: %v", err)
	}
	if _, err := PeerRelease(aborted, partialOf(7)); !errors.Is(err, ErrAborted) {
		t.Fatalf("release after abort: %v", err)
	}
}

// TestRoundPrivacyRefusals: a cohort the outputs' statistics cannot use is
// rejected before any node releases or spends anything, and a partial of a
// charged job that comes without its node's signed debit fails the job.
func TestRoundPrivacyRefusals(t *testing.T) {
	n := newRoundNet(t, 3)
	l := schema.Default().Layout()

	small := n.config(3)
	small.Outputs = []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, Fields: []string{"age"}}}
	coords, err := Coordinates(l, small.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	small.Coords, small.MinCohort = coords, 1
	play(t, small, []line{
		{Start{}, want{state: admitted, update: true}},
		{n.prepared(0, 0, "a", 1), want{update: true}},
		{n.prepared(1, 0, "a", 1), want{}},
		{n.prepared(2, 0, "a", 1), want{state: rejectedSt, update: true, send: "-", reason: "a cohort of 1 records cannot support the outputs"}},
	})

	charged := n.config(3)
	spec := &cohortv1.JobSpec{EpochFrom: 1, EpochTo: 1, Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_SUM, Fields: []string{"age"}}},
		Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: "1/4"}}}
	if _, err := JobPrivacy(DefaultPolicy(), spec, l, []int{0}); err == nil {
		t.Fatal("a count alone was calibrated")
	}
	p, err := JobPrivacy(DefaultPolicy(), spec, l, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	charged.Charge = Charge{JobID: n.job.ID, DatasetID: n.job.DatasetID, Buyer: n.job.Buyer, Privacy: p}
	play(t, charged, []line{
		{Start{}, want{state: admitted, update: true}},
		{n.prepared(0, 0, "a", 5), want{update: true}},
		{n.prepared(1, 0, "a", 5), want{}},
		{n.prepared(2, 0, "a", 5), want{state: aggregating, update: true}},
		{n.partial(0, "a", 1), want{state: failedSt, update: true, reason: "node 0 released a noised partial without debiting its ledger"}},
	})
}

package audit

import (
	"bytes"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The checks of what was released: the coordinates, the outputs and the
// nodes' signatures over the transcript.

func (v *verification) checkCoordinates(c *check) {
	if !v.needSpec(c) {
		return
	}
	t, l := v.t, v.ds.Schema.Layout()
	want, err := enclave.Coordinates(l, v.spec.GetOutputs())
	if err != nil {
		c.fail("the outputs need no computable coordinates: %v", err)
		return
	}
	got := make([]int, len(t.Sums))
	for i, s := range t.Sums {
		got[i] = int(s.Coordinate)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			c.fail("coordinate %d (%s): the outputs need it, but it was not released", w, l.SumName(w))
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			c.fail("coordinate %d (%s): released, but no output needs it", g, l.SumName(g))
		}
	}
	if len(t.Sums) > 0 && t.Sums[0].Coordinate == 0 {
		if cnt := t.Sums[0].Value; cnt == nil || !cnt.IsUint64() || cnt.Uint64() != uint64(v.n) {
			c.fail("the count coordinate sums to %v, but %d records are listed", cnt, v.n)
		}
	}
	c.detail = fmt.Sprintf("%d of %d coordinates released, exactly those the %d outputs need; the count equals the cohort (%d)",
		len(got), l.Len, len(v.spec.GetOutputs()), v.n)
}

func (v *verification) checkOutputs(c *check) {
	if !v.needSpec(c) {
		return
	}
	t := v.t
	res := new(cohortv1.Result)
	if err := proto.Unmarshal(t.Result, res); err != nil {
		c.fail("the released result does not decode: %v", err)
		return
	}
	n := uint64(v.n)
	switch {
	case res.GetJobId() != t.JobID:
		c.fail("the result is for job %q, the transcript for %q", clip(res.GetJobId()), t.JobID)
	case res.GetDatasetId() != t.DatasetID:
		c.fail("the result is for dataset %q, the transcript for %q", clip(res.GetDatasetId()), t.DatasetID)
	case res.GetCohortSize() != n:
		c.fail("the result states a cohort of %d, the transcript lists %d records", res.GetCohortSize(), n)
	case res.GetBackend() != v.ds.Desc.GetBackend():
		c.fail("the result names backend %s, the dataset uses %s", res.GetBackend(), v.ds.Desc.GetBackend())
	case res.GetTranscriptId() != "":
		c.fail("the result inside the transcript names a transcript id")
	case res.GetReleasedAt() < t.JobTime:
		c.fail("the result was released at %s, before the job time %s", unixTime(res.GetReleasedAt()), unixTime(t.JobTime))
	}
	rel, err := v.release()
	if err != nil {
		c.fail("the outputs cannot be recomputed: %v", err)
		return
	}
	if !slices.Equal(rel.coords, rel.privacy.Coords) {
		c.fail("the outputs cannot be recomputed: sums released at coordinates %v, the outputs need %v", rel.coords, rel.privacy.Coords)
		return
	}
	outs := v.spec.GetOutputs()
	want, err := rel.mech.Outputs(v.ds.Schema, rel.coords, rel.sums, outs, rel.noising)
	if err != nil {
		c.fail("the outputs cannot be recomputed from the released sums (%s): %v", rel.mech.Name(), err)
		return
	}
	got := res.GetOutputs()
	if len(got) != len(want) {
		c.fail("%d outputs released, %d requested", len(got), len(want))
		return
	}
	for i := range want {
		gb, err1 := deterministic.Marshal(got[i])
		wb, err2 := deterministic.Marshal(want[i])
		if err1 == nil && err2 == nil && bytes.Equal(gb, wb) {
			continue
		}
		d := diffOutput(got[i], want[i])
		if d == "" {
			d = "the released output carries fields the recomputation does not produce"
		}
		c.fail("output %d (%s): %s", i, describeOutput(outs[i]), d)
	}
	// The release info is the release-mechanism check's to check.
	expect := &cohortv1.Result{JobId: t.JobID, CohortSize: n, Outputs: want, ReleasedAt: res.GetReleasedAt(),
		DatasetId: t.DatasetID, Backend: v.ds.Desc.GetBackend(), Release: res.GetRelease()}
	if eb, err := deterministic.Marshal(expect); c.failed == 0 && (err != nil || !bytes.Equal(eb, t.Result)) {
		c.fail("the released result is not in its deterministic encoding, or carries fields the recomputation does not produce")
	}
	c.failDetail = plural(c.failed, "problem") + " with the released outputs"
	c.detail = fmt.Sprintf("the %d outputs recomputed from the released sums (%s) equal the released ones bit for bit (released %s)",
		len(want), rel.mech.Name(), unixTime(res.GetReleasedAt()))
}

func (v *verification) checkTranscriptSignatures(c *check) {
	if !v.needDataset(c) {
		return
	}
	if v.digest == nil {
		c.skip("the transcript does not encode, so it has no digest")
		return
	}
	k := len(v.ds.Signing)
	if th, all := v.be.AuditQuorum(); !all {
		v.checkLiveSignatures(c, th)
		return
	}
	if len(v.b.Signatures) != k {
		c.fail("%d transcript signatures, the dataset has %d nodes", len(v.b.Signatures), k)
	}
	for i := range k {
		if i >= len(v.b.Signatures) {
			c.fail("node %d: no transcript signature", i)
			continue
		}
		st := TranscriptStatement{JobID: v.t.JobID, Digest: *v.digest, Node: uint32(i)}
		if err := attest.Verify(v.ds.Signing[i], st, v.b.Signatures[i]); err != nil {
			c.fail("node %d: transcript signature does not verify", i)
		}
	}
	c.detail = fmt.Sprintf("all %d nodes signed transcript %x…", k, v.digest[:4])
}

// checkLiveSignatures is the transcript-signatures check of a backend
// whose quorum is a threshold th of live nodes: every live node listed
// signed the transcript, and they are at least th.
func (v *verification) checkLiveSignatures(c *check, th int) {
	t := v.t
	k := len(v.ds.Signing)
	if len(t.Nodes) < th {
		c.fail("only %s signed, fewer than the dataset's threshold of %d", plural(len(t.Nodes), "live node"), th)
	}
	if len(v.b.Signatures) != len(t.Nodes) {
		c.fail("%d transcript signatures for %d live nodes", len(v.b.Signatures), len(t.Nodes))
	}
	live := make([]uint32, len(t.Nodes))
	for j, n := range t.Nodes {
		live[j] = n.Index
		switch {
		case int(n.Index) >= k:
			c.fail("node %d: not a node of the dataset", n.Index)
			continue
		case j >= len(v.b.Signatures):
			c.fail("node %d: no transcript signature", n.Index)
			continue
		}
		st := TranscriptStatement{JobID: t.JobID, Digest: *v.digest, Node: n.Index}
		if err := attest.Verify(v.ds.Signing[n.Index], st, v.b.Signatures[j]); err != nil {
			c.fail("node %d: transcript signature does not verify", n.Index)
		}
	}
	c.detail = fmt.Sprintf("all %d live nodes %v signed transcript %x… (threshold %d of %d)", len(t.Nodes), live, v.digest[:4], th, k)
}

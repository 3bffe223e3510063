package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"text/tabwriter"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
)

type demoOptions struct {
	contributors int
	nodes        int
	depth        int
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the contribution pipeline end to end on the embedded fitness schema",
		Long: `demo runs, in one process: a key ceremony among the nodes, contributors
proving and sealing their records, and every node verifying all proofs,
opening its own share and summing; the sums are then reconstructed and
printed beside the plaintext truth.`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd.OutOrStdout(), o) },
	}
	cmd.Flags().IntVar(&o.contributors, "contributors", 50, "number of contributors")
	cmd.Flags().IntVar(&o.nodes, "nodes", 3, "number of nodes (and ceremony participants)")
	cmd.Flags().IntVar(&o.depth, "registry-depth", merkle.DefaultDepth, "registry Merkle tree depth")
	return cmd
}

// demoNode is one node's state in the in-process demo.
type demoNode struct {
	key     *mpc.NodeKey
	partial *mpc.Partial
}

func runDemo(out io.Writer, o demoOptions) error {
	if o.contributors < 1 {
		return errors.New("demo: --contributors must be at least 1")
	}
	s := schema.Default()
	step := func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }

	// 1. The dataset's circuit and its keys, from a ceremony among the nodes.
	sh, err := circuits.NewMPCShape(s, o.nodes, o.depth)
	if err != nil {
		return err
	}
	start := time.Now()
	sys, err := circuits.CompileMPC(sh)
	if err != nil {
		return err
	}
	step("dataset %q: record vector of %d coordinates, circuit of %d constraints (compiled in %s)",
		s.ID, sh.Layout.Len, sys.CCS.GetNbConstraints(), since(start))

	b1, b2, err := demoBeacons()
	if err != nil {
		return err
	}
	start = time.Now()
	keys, transcript, err := setup.RunLocalCeremony(sys.CCS, o.nodes, b1, b2)
	if err != nil {
		return err
	}
	step("Groth16 ceremony: %d participants per phase, beacons %s… / %s… (%s)",
		o.nodes, hex.EncodeToString(b1[:6]), hex.EncodeToString(b2[:6]), since(start))
	start = time.Now()
	if _, err := transcript.Verify(sys.CCS); err != nil {
		return fmt.Errorf("demo: ceremony transcript: %w", err)
	}
	step("ceremony transcript re-verified from public data; it yields the verifying key (%s)", since(start))

	// 2. The nodes and their sealing keys.
	nodes := make([]*demoNode, o.nodes)
	pubs := make([]*mpc.NodePublicKey, o.nodes)
	for j := range nodes {
		k, err := mpc.GenerateNodeKey()
		if err != nil {
			return err
		}
		p, err := mpc.NewPartial(sh.Layout.Len)
		if err != nil {
			return err
		}
		nodes[j], pubs[j] = &demoNode{key: k, partial: p}, k.Public()
	}
	step("%d nodes, each with an HPKE key (%s)", o.nodes, mpc.DefaultSuite)

	// 3. Contributors join the registry.
	tree, err := merkle.New(o.depth)
	if err != nil {
		return err
	}
	secrets := make([]fr.Element, o.contributors)
	for i := range secrets {
		if _, err := secrets[i].SetRandom(); err != nil {
			return err
		}
		if _, err := tree.Append(circuits.IdentityCommitment(secrets[i])); err != nil {
			return err
		}
	}
	root := tree.Root()
	step("registry: %d members, root %s…", tree.Len(), hex.EncodeToString(rootBytes(root)[:6]))

	// 4. Each contributor encodes, shares, proves and seals one record.
	prover, err := mpc.NewProver(sys, keys.PK, pubs)
	if err != nil {
		return err
	}
	epoch := s.Epoch.Index(time.Now())
	terms := circuits.Terms{
		Dataset:  circuits.DatasetField(s.ID),
		Epoch:    epoch,
		Expiry:   uint64(time.Now().Add(90 * 24 * time.Hour).Unix()),
		Purposes: 0b011, // public-health, academic-research
	}
	gen := mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
	records := make([][]uint64, o.contributors)
	wires := make([][]byte, o.contributors)
	start = time.Now()
	for i := range records {
		v, err := s.Encode(fitnessRecord(gen))
		if err != nil {
			return err
		}
		records[i] = v
		path, err := tree.Path(uint64(i))
		if err != nil {
			return err
		}
		t := terms
		t.MinCohort = uint32(10 + gen.IntN(11))
		p, err := prover.Build(mpc.Contribution{Secret: secrets[i], Root: root, Path: path, Terms: t, Record: v}, nil)
		if err != nil {
			return fmt.Errorf("demo: contributor %d: %w", i, err)
		}
		if wires[i], err = p.MarshalBinary(); err != nil {
			return err
		}
		if (i+1)%10 == 0 || i+1 == len(records) {
			fmt.Fprintf(out, "  proved and sealed %d/%d records (%.2f s per proof)\n", i+1, len(records), time.Since(start).Seconds()/float64(i+1))
		}
	}
	step("%d payloads of %d bytes each (proof, public inputs, %d sealed shares)", len(wires), len(wires[0]), o.nodes)

	// A payload tampered in transit: one byte of node 1's sealed share.
	tampered := append([]byte(nil), wires[0]...)
	tampered[len(tampered)-10] ^= 1
	wires = append(wires, tampered)

	// 5. Every node verifies all proofs in one batch, opens its share, sums.
	verifier, err := circuits.NewVerifier(keys.VK, sh.NumPublic())
	if err != nil {
		return err
	}
	lim := mpc.PayloadLimits{Nodes: o.nodes, Len: sh.Layout.Len}
	accepted := make([]bool, len(wires))
	for i := range accepted {
		accepted[i] = true
	}
	start = time.Now()
	payloads := make([]*mpc.Payload, len(wires))
	stmts := make([]circuits.Statement, len(wires))
	for i, w := range wires {
		p, err := mpc.UnmarshalPayload(w, lim)
		if err != nil {
			return err
		}
		payloads[i], stmts[i] = p, p.Statement()
	}
	for i, err := range verifier.VerifyBatch(stmts) {
		if err != nil {
			accepted[i] = false
			fmt.Fprintf(out, "  payload %d refused: %v\n", i, err)
		}
	}
	step("verified %d proofs in %s", len(stmts), since(start))
	// Each node opens its share of every payload once and keeps it.
	opened := make([][]mpc.Share, len(nodes))
	for j, node := range nodes {
		opened[j] = make([]mpc.Share, len(payloads))
		for i, p := range payloads {
			s, err := mpc.OpenPayload(node.key, j, lim.Len, p)
			if err != nil {
				if accepted[i] {
					fmt.Fprintf(out, "  node %d refuses payload %d: %v\n", j, i, err)
				}
				accepted[i] = false
				continue
			}
			opened[j][i] = s
		}
	}
	// A record counts only if every node accepted it; nodes sum the agreed set.
	n := 0
	for i := range payloads {
		if !accepted[i] {
			continue
		}
		n++
		for j, node := range nodes {
			if err := node.partial.Add(opened[j][i].Values); err != nil {
				return err
			}
		}
	}
	step("%d of %d payloads accepted by every node; each node holds only its partial sum", n, len(payloads))

	// 6. The partial sums, combined, are the record sums and nothing more.
	var partials [][]fr.Element
	for _, node := range nodes {
		partials = append(partials, node.partial.Sum())
	}
	sum, err := mpc.Reconstruct(partials...)
	if err != nil {
		return err
	}
	sums, err := mpc.ToBig(sum, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return err
	}
	got, err := sh.Layout.Decode(sums)
	if err != nil {
		return err
	}
	want, err := plaintextSums(sh.Layout, records)
	if err != nil {
		return err
	}
	return printComparison(out, s, got, want)
}

func plaintextSums(l schema.Layout, records [][]uint64) (*schema.Sums, error) {
	S := make([]*big.Int, l.Len)
	for i := range S {
		S[i] = new(big.Int)
	}
	for _, v := range records {
		for i, x := range v {
			S[i].Add(S[i], new(big.Int).SetUint64(x))
		}
	}
	return l.Decode(S)
}

func printComparison(out io.Writer, s *schema.Schema, got, want *schema.Sums) error {
	fmt.Fprintf(out, "\nreconstructed from shares vs plaintext (n = %s / %s):\n", got.Count, want.Count)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "statistic\tfrom shares\tplaintext\t")
	mismatch := false
	row := func(name string, a, b *big.Rat) {
		if a.Cmp(b) != 0 {
			mismatch = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", name, a.FloatString(3), b.FloatString(3))
	}
	n := new(big.Rat).SetInt(got.Count)
	nw := new(big.Rat).SetInt(want.Count)
	for _, f := range s.Fields {
		if f.Type == schema.Category {
			for _, v := range f.Values {
				row(fmt.Sprintf("count %s=%s", f.Name, v), new(big.Rat).SetInt(got.Counts[f.Name][v]), new(big.Rat).SetInt(want.Counts[f.Name][v]))
			}
			continue
		}
		row("mean "+f.Name, new(big.Rat).Quo(got.Sum[f.Name], n), new(big.Rat).Quo(want.Sum[f.Name], nw))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if mismatch {
		return errors.New("demo: reconstructed sums differ from the plaintext")
	}
	fmt.Fprintln(out, "\nall sums equal the plaintext exactly.")
	return nil
}

// demoBeacons draws the two ceremony beacons. A federation takes them from a
// public randomness beacon after the last contribution; the demo draws them.
func demoBeacons() (setup.Beacon, setup.Beacon, error) {
	var raw [64]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, nil, err
	}
	b1, err := setup.NewBeacon(raw[:32])
	if err != nil {
		return nil, nil, err
	}
	b2, err := setup.NewBeacon(raw[32:])
	return b1, b2, err
}

func rootBytes(e fr.Element) []byte { b := e.Bytes(); return b[:] }

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// env is what every part of a node shares: its options, logger, store,
// clock, metrics and lifetime. The node's parts below the Node itself
// (peers, datasets, the registry, the job runners) hold an env, never the
// Node, so that they import nothing above them.
type env struct {
	opts    Options
	log     *slog.Logger
	store   store.Store
	now     func() time.Time
	metrics *metrics
	ctx     context.Context // ends when the node stops
	bg      *sync.WaitGroup // background work, waited for at Stop
}

// sign returns this node's signature over a statement's bytes.
func (n *env) sign(msg []byte) *cohortv1.NodeSignature {
	return &cohortv1.NodeSignature{
		NodeIndex: n.opts.Index,
		Scheme:    cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519,
		Signature: ed25519.Sign(n.opts.Signing, msg),
	}
}

// verifySig checks a peer's signature over msg.
func (n *env) verifySig(from uint32, msg []byte, sig *cohortv1.NodeSignature) error {
	if sig == nil || sig.GetNodeIndex() != from || int(from) >= len(n.opts.Members) ||
		sig.GetScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 {
		return fmt.Errorf("node %d: signature missing or from the wrong signer", from)
	}
	if !ed25519.Verify(n.opts.Members[from].Signing, msg, sig.GetSignature()) {
		return fmt.Errorf("node %d: signature does not verify", from)
	}
	return nil
}

// others lists the indices of every node but this one.
func (n *env) others() []uint32 {
	out := make([]uint32, 0, len(n.opts.Members)-1)
	for i := range n.opts.Members {
		if uint32(i) != n.opts.Index {
			out = append(out, uint32(i))
		}
	}
	return out
}

// signingKeys lists the federation's signing keys by node index.
func (n *env) signingKeys() []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(n.opts.Members))
	for i, m := range n.opts.Members {
		out[i] = m.Signing
	}
	return out
}

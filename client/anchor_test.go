package client

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/client/clienttest"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/seal"
)

// TestSubstitutedDescriptorRefused is a node that serves a dataset
// descriptor naming its own keys in place of the other nodes' — to open
// every share sealed to them, or to sign the receipt for them — or another
// node count. The client pins the federation and refuses each before
// anything is fetched, sealed or sent.
func TestSubstitutedDescriptorRefused(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	c := dialFake(t, f)
	ctx := testContext(t)
	id := registered(t, c, f, 1)

	attacker, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	attackerSigning, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	own := f.Dataset.Desc.GetNodes()[0]
	cases := map[string]func(d *cohortv1.DatasetDescriptor){
		"node 1's seal key is the attacker's": func(d *cohortv1.DatasetDescriptor) {
			d.Nodes[1].SealPublicKey = attacker.Public().Marshal()
		},
		"every seal key is the serving node's": func(d *cohortv1.DatasetDescriptor) {
			for _, n := range d.Nodes {
				n.SealPublicKey = bytes.Clone(own.GetSealPublicKey())
			}
		},
		"node 2's signing key is the attacker's": func(d *cohortv1.DatasetDescriptor) {
			d.Nodes[2].SigningPublicKey = attackerSigning
		},
		"two nodes only": func(d *cohortv1.DatasetDescriptor) {
			d.Nodes, d.NodeCount = d.Nodes[:2], 2
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			f.SetHooks(clienttest.Hooks{Dataset: edit})
			defer f.SetHooks(clienttest.Hooks{})
			_, err := c.Contribute(ctx, id, testOptions(f))
			if !errors.Is(err, federation.ErrNotAnchored) {
				t.Fatalf("contribute: %v, want ErrNotAnchored", err)
			}
			t.Log(err)
			if f.ChunksSent() != 0 || len(f.Accepted()) != 0 {
				t.Fatalf("proving key chunks %d, contributions %d: want nothing fetched or sent", f.ChunksSent(), len(f.Accepted()))
			}
			// Dataset and Receipt, which check signatures with it, refuse it too.
			d, err := c.Dataset(ctx, f.Dataset.Desc.GetId())
			if !errors.Is(err, federation.ErrNotAnchored) || d != nil {
				t.Fatalf("dataset: %v, want ErrNotAnchored", err)
			}
			var nf [32]byte
			if _, err := c.Receipt(ctx, f.Dataset.Desc.GetId(), nf); !errors.Is(err, federation.ErrNotAnchored) {
				t.Fatalf("receipt: %v, want ErrNotAnchored", err)
			}
		})
	}

	t.Run("a dataset handed in by the caller is checked as well", func(t *testing.T) {
		o := testOptions(f)
		o.Dataset = f.Dataset
		other := clienttest.New(t, clienttest.Options{})
		pinnedElsewhere, err := Dial(f.Addr, WithInsecure(), WithFederation(other.Federation))
		if err != nil {
			t.Fatal(err)
		}
		defer pinnedElsewhere.Close()
		if _, err := pinnedElsewhere.Contribute(ctx, id, o); !errors.Is(err, federation.ErrNotAnchored) {
			t.Fatalf("contribute: %v, want ErrNotAnchored", err)
		}
		if f.ChunksSent() != 0 || len(f.Accepted()) != 0 {
			t.Fatal("something was fetched or sent")
		}
	})

	t.Run("no federation pinned", func(t *testing.T) {
		unpinned, err := Dial(f.Addr, WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		defer unpinned.Close()
		if _, err := unpinned.Contribute(ctx, id, testOptions(f)); !errors.Is(err, ErrNoFederation) {
			t.Fatalf("contribute: %v, want ErrNoFederation", err)
		}
		if f.ChunksSent() != 0 || len(f.Accepted()) != 0 {
			t.Fatal("something was fetched or sent")
		}
		if _, err := Dial(f.Addr, WithInsecure(), WithFederation(nil)); err == nil {
			t.Fatal("WithFederation(nil) accepted")
		}
		bad := *f.Federation
		bad.Nodes = bad.Nodes[:1]
		if _, err := Dial(f.Addr, WithInsecure(), WithFederation(&bad)); !errors.Is(err, federation.ErrInvalid) {
			t.Fatalf("a descriptor of one node: %v, want ErrInvalid", err)
		}
	})

	t.Run("the federation's own descriptor passes", func(t *testing.T) {
		if _, err := c.Dataset(ctx, f.Dataset.Desc.GetId()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAlteredDescriptorLacksSignatures is a node that serves the
// federation's dataset with its keys intact but the descriptor altered —
// a release policy that releases exact sums, another creation time — or
// re-signed by itself alone. Every node signed the READY descriptor; the
// altered one lacks the other nodes' signatures and the client refuses it
// before anything is fetched, sealed or sent.
func TestAlteredDescriptorLacksSignatures(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	c := dialFake(t, f)
	ctx := testContext(t)
	id := registered(t, c, f, 1)

	resign := func(d *cohortv1.DatasetDescriptor) {
		sig, err := dataset.SignReady(d, 0, f.Signing[0])
		if err != nil {
			t.Fatal(err)
		}
		d.ReadySignatures[0] = sig
	}
	cases := map[string]func(d *cohortv1.DatasetDescriptor){
		"exact release policy": func(d *cohortv1.DatasetDescriptor) {
			d.Privacy = &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
		},
		"exact release policy, re-signed by the serving node": func(d *cohortv1.DatasetDescriptor) {
			d.Privacy = &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
			resign(d)
		},
		"another creation time": func(d *cohortv1.DatasetDescriptor) { d.CreatedAt++ },
		"only the serving node's signature": func(d *cohortv1.DatasetDescriptor) {
			d.ReadySignatures = d.ReadySignatures[:1]
		},
		"node 0's signature in place of node 1's": func(d *cohortv1.DatasetDescriptor) {
			d.ReadySignatures[1] = proto.Clone(d.ReadySignatures[0]).(*cohortv1.NodeSignature)
			d.ReadySignatures[1].NodeIndex = 1
		},
		"no signatures": func(d *cohortv1.DatasetDescriptor) { d.ReadySignatures = nil },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			f.SetHooks(clienttest.Hooks{Dataset: edit})
			defer f.SetHooks(clienttest.Hooks{})
			_, err := c.Contribute(ctx, id, testOptions(f))
			if !errors.Is(err, dataset.ErrUnsigned) {
				t.Fatalf("contribute: %v, want ErrUnsigned", err)
			}
			t.Log(err)
			if f.ChunksSent() != 0 || len(f.Accepted()) != 0 {
				t.Fatalf("proving key chunks %d, contributions %d: want nothing fetched or sent", f.ChunksSent(), len(f.Accepted()))
			}
			if d, err := c.Dataset(ctx, f.Dataset.Desc.GetId()); !errors.Is(err, dataset.ErrUnsigned) || d != nil {
				t.Fatalf("dataset: %v, want ErrUnsigned", err)
			}
		})
	}
	t.Run("the descriptor every node signed passes", func(t *testing.T) {
		if _, err := c.Dataset(ctx, f.Dataset.Desc.GetId()); err != nil {
			t.Fatal(err)
		}
	})
}

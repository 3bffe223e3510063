package dataset

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

func testNodes(t *testing.T, k int) []Node {
	t.Helper()
	nodes := make([]Node, k)
	for i := range nodes {
		sk, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = Node{Name: "n", Address: "127.0.0.1:1", Seal: sk.Public(), Signing: pub}
	}
	return nodes
}

func TestNewAndFrom(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a circuit")
	}
	ds, err := New(schema.Default(), testNodes(t, 3), 8, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Desc.GetSchema().GetSchema().GetEpoch() != cohortv1.EpochPeriod_EPOCH_PERIOD_WEEKLY {
		t.Fatalf("epoch %v", ds.Desc.GetSchema().GetSchema().GetEpoch())
	}
	again, err := From(proto.Clone(ds.Desc).(*cohortv1.DatasetDescriptor))
	if err != nil {
		t.Fatal(err)
	}
	if again.Policy.Exact() || again.Policy.EpochTotal.String() != "1" {
		t.Fatalf("a new dataset's policy is %+v, want the default (discrete Gaussian)", again.Policy)
	}
	if _, err := again.Compile(); err != nil {
		t.Fatal(err)
	}

	cases := map[string]func(d *cohortv1.DatasetDescriptor){
		"bad id":           func(d *cohortv1.DatasetDescriptor) { d.Id = "Bad_ID" },
		"other id":         func(d *cohortv1.DatasetDescriptor) { d.Id = "other" },
		"digest":           func(d *cohortv1.DatasetDescriptor) { d.Schema.Digest[0] ^= 1 },
		"non-canonical":    func(d *cohortv1.DatasetDescriptor) { d.Schema.Canonical = append([]byte(" "), d.Schema.Canonical...) },
		"node count":       func(d *cohortv1.DatasetDescriptor) { d.NodeCount = 2 },
		"node order":       func(d *cohortv1.DatasetDescriptor) { d.Nodes[0].Index = 1 },
		"seal key":         func(d *cohortv1.DatasetDescriptor) { d.Nodes[1].SealPublicKey = d.Nodes[1].SealPublicKey[:10] },
		"signing key":      func(d *cohortv1.DatasetDescriptor) { d.Nodes[2].SigningPublicKey = nil },
		"depth":            func(d *cohortv1.DatasetDescriptor) { d.RegistryDepth = 33 },
		"ready without vk": func(d *cohortv1.DatasetDescriptor) { d.State = cohortv1.DatasetState_DATASET_STATE_READY },
		"backend":          func(d *cohortv1.DatasetDescriptor) { d.Backend = cohortv1.Backend_BACKEND_UNSPECIFIED },
		"no policy":        func(d *cohortv1.DatasetDescriptor) { d.Privacy = nil },
		"bad policy":       func(d *cohortv1.DatasetDescriptor) { d.Privacy.BuyerRho = "2" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			d := proto.Clone(ds.Desc).(*cohortv1.DatasetDescriptor)
			mutate(d)
			if _, err := From(d); !errors.Is(err, ErrInvalid) {
				t.Fatalf("From = %v, want ErrInvalid", err)
			}
		})
	}
	// A circuit digest that is not the compiled circuit's is caught by Compile.
	d := proto.Clone(ds.Desc).(*cohortv1.DatasetDescriptor)
	d.CircuitDigest[0] ^= 1
	bad, err := From(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Compile(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Compile = %v, want ErrInvalid", err)
	}
}

func TestFromNil(t *testing.T) {
	if _, err := From(nil); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := From(&cohortv1.DatasetDescriptor{Id: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

package federation

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validDescriptorYAML returns the federation.yaml of a fresh 3-node
// federation.
func validDescriptorYAML(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir() + "/fed"
	res, err := Init(dir, InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(res.DescriptorPath)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDescriptorRoundTrip(t *testing.T) {
	data := validDescriptorYAML(t)
	d, err := ParseDescriptor(data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("Marshal(Parse(x)) != x:\n%s\n---\n%s", again, data)
	}
	d2, err := ParseDescriptor(again)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, d2) {
		t.Error("descriptor does not round-trip")
	}
	for _, key := range []string{"registry_depth: 20", "registry_sequencer: 0", "root_window: 1h0m0s", "admission: invite",
		"api_address: 127.0.0.1:7400", "peer_address: 127.0.0.1:7401", "seal_public_key: ", "signing_public_key: ", "ca: |"} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("federation.yaml lacks %q", key)
		}
	}
	if n, ok := d.Node(2); !ok || n.Index != 2 {
		t.Errorf("Node(2) = %v, %v", n.Index, ok)
	}
	if _, ok := d.Node(3); ok {
		t.Error("Node(3) found in a 3-node federation")
	}
	pool, err := d.CAPool()
	if err != nil || pool == nil {
		t.Fatalf("CAPool: %v", err)
	}
}

func TestDescriptorValidate(t *testing.T) {
	valid := validDescriptorYAML(t)
	other := validDescriptorYAML(t)
	otherD, err := ParseDescriptor(other)
	if err != nil {
		t.Fatal(err)
	}
	// A node certificate is a valid certificate but not a CA.
	leafPEM := func() string {
		dir := t.TempDir() + "/fed"
		if _, err := Init(dir, InitOptions{Nodes: 2}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(nodePath(dir, 0, "tls.crt"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}()

	tests := []struct {
		name   string
		mutate func(d *Descriptor)
		ok     bool
	}{
		{"valid", func(d *Descriptor) {}, true},
		{"two nodes", func(d *Descriptor) { d.Nodes = d.Nodes[:2] }, true},
		{"sequencer 2", func(d *Descriptor) { d.RegistrySequencer = 2 }, true},
		{"depth 32", func(d *Descriptor) { d.RegistryDepth = 32 }, true},
		{"DNS hosts", func(d *Descriptor) { d.Nodes[0].APIAddress = "node0.example.org:443" }, true},
		{"IPv6 host", func(d *Descriptor) { d.Nodes[0].PeerAddress = "[2001:db8::1]:7401" }, true},
		{"open admission", func(d *Descriptor) { d.Admission = AdmissionOpen }, true},

		{"version 0", func(d *Descriptor) { d.Version = 0 }, false},
		{"version 2", func(d *Descriptor) { d.Version = 2 }, false},
		{"empty name", func(d *Descriptor) { d.Name = "" }, false},
		{"upper-case name", func(d *Descriptor) { d.Name = "Cohort" }, false},
		{"name with slash", func(d *Descriptor) { d.Name = "a/b" }, false},
		{"leading hyphen", func(d *Descriptor) { d.Name = "-a" }, false},
		{"65-character name", func(d *Descriptor) { d.Name = strings.Repeat("a", 65) }, false},
		{"depth 0", func(d *Descriptor) { d.RegistryDepth = 0 }, false},
		{"depth 33", func(d *Descriptor) { d.RegistryDepth = 33 }, false},
		{"sequencer 3", func(d *Descriptor) { d.RegistrySequencer = 3 }, false},
		{"zero root window", func(d *Descriptor) { d.RootWindow = 0 }, false},
		{"negative root window", func(d *Descriptor) { d.RootWindow = -time.Hour }, false},
		{"unknown admission", func(d *Descriptor) { d.Admission = "anyone" }, false},
		{"empty admission", func(d *Descriptor) { d.Admission = "" }, false},
		{"no CA", func(d *Descriptor) { d.CA = "" }, false},
		{"CA not PEM", func(d *Descriptor) { d.CA = "certificate" }, false},
		{"CA garbage DER", func(d *Descriptor) { d.CA = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, false},
		{"CA is a leaf", func(d *Descriptor) { d.CA = leafPEM }, false},
		{"two CAs", func(d *Descriptor) { d.CA += otherD.CA }, false},
		{"one node", func(d *Descriptor) { d.Nodes = d.Nodes[:1] }, false},
		{"no nodes", func(d *Descriptor) { d.Nodes = nil }, false},
		{"17 nodes", func(d *Descriptor) {
			for len(d.Nodes) < 17 {
				d.Nodes = append(d.Nodes, d.Nodes[0])
			}
		}, false},
		{"indices out of order", func(d *Descriptor) { d.Nodes[0], d.Nodes[1] = d.Nodes[1], d.Nodes[0] }, false},
		{"index gap", func(d *Descriptor) { d.Nodes[2].Index = 3 }, false},
		{"duplicate name", func(d *Descriptor) { d.Nodes[1].Name = "node-0" }, false},
		{"empty node name", func(d *Descriptor) { d.Nodes[1].Name = "" }, false},
		{"address without port", func(d *Descriptor) { d.Nodes[0].APIAddress = "127.0.0.1" }, false},
		{"address without host", func(d *Descriptor) { d.Nodes[0].APIAddress = ":7400" }, false},
		{"port 0", func(d *Descriptor) { d.Nodes[0].PeerAddress = "127.0.0.1:0" }, false},
		{"port 65536", func(d *Descriptor) { d.Nodes[0].PeerAddress = "127.0.0.1:65536" }, false},
		{"port with sign", func(d *Descriptor) { d.Nodes[0].PeerAddress = "127.0.0.1:+80" }, false},
		{"port with leading zero", func(d *Descriptor) { d.Nodes[0].PeerAddress = "127.0.0.1:080" }, false},
		{"named port", func(d *Descriptor) { d.Nodes[0].PeerAddress = "127.0.0.1:https" }, false},
		{"unspecified host", func(d *Descriptor) { d.Nodes[0].APIAddress = "0.0.0.0:7400" }, false},
		{"IPv6 unspecified host", func(d *Descriptor) { d.Nodes[0].APIAddress = "[::]:7400" }, false},
		{"host with space", func(d *Descriptor) { d.Nodes[0].APIAddress = "a b:7400" }, false},
		{"URL as address", func(d *Descriptor) { d.Nodes[0].APIAddress = "https://a:7400" }, false},
		{"API address reused", func(d *Descriptor) { d.Nodes[1].APIAddress = d.Nodes[0].APIAddress }, false},
		{"API and peer address equal", func(d *Descriptor) { d.Nodes[0].PeerAddress = d.Nodes[0].APIAddress }, false},
		{"no seal key", func(d *Descriptor) { d.Nodes[0].SealPublicKey = nil }, false},
		{"short seal key", func(d *Descriptor) { d.Nodes[0].SealPublicKey = d.Nodes[0].SealPublicKey[:100] }, false},
		{"seal key unknown suite", func(d *Descriptor) { d.Nodes[0].SealPublicKey[0] = 0x7f }, false},
		{"seal key reused", func(d *Descriptor) { d.Nodes[1].SealPublicKey = d.Nodes[0].SealPublicKey }, false},
		{"no signing key", func(d *Descriptor) { d.Nodes[0].SigningPublicKey = nil }, false},
		{"31-byte signing key", func(d *Descriptor) { d.Nodes[0].SigningPublicKey = d.Nodes[0].SigningPublicKey[:31] }, false},
		{"33-byte signing key", func(d *Descriptor) {
			d.Nodes[0].SigningPublicKey = append(ed25519.PublicKey{0}, d.Nodes[0].SigningPublicKey...)
		}, false},
		{"signing key reused", func(d *Descriptor) { d.Nodes[2].SigningPublicKey = d.Nodes[1].SigningPublicKey }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDescriptor(valid)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(d)
			err = d.Validate()
			if tc.ok {
				wantErr(t, err, nil)
				// What validates also marshals and parses back.
				data, err := d.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				d2, err := ParseDescriptor(data)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(d, d2) {
					t.Error("descriptor does not round-trip")
				}
				return
			}
			wantErr(t, err, ErrInvalid)
			if _, err := d.Marshal(); err == nil {
				t.Error("Marshal accepted an invalid descriptor")
			}
		})
	}
}

func TestParseDescriptorStrict(t *testing.T) {
	valid := string(validDescriptorYAML(t))
	tests := []struct {
		name string
		doc  string
	}{
		{"empty", ""},
		{"null", "null\n"},
		{"not a mapping", "- 1\n- 2\n"},
		{"unknown top-level key", valid + "threshold: 2\n"},
		{"unknown node key", strings.Replace(valid, "    name: node-1\n", "    name: node-1\n    weight: 3\n", 1)},
		{"duplicate key", valid + "name: other\n"},
		{"second document", valid + "---\nversion: 1\n"},
		{"root window as integer", strings.Replace(valid, "root_window: 1h0m0s", "root_window: 3600", 1)},
		{"root window unparsable", strings.Replace(valid, "root_window: 1h0m0s", "root_window: an hour", 1)},
		{"negative index", strings.Replace(valid, "index: 2", "index: -2", 1)},
		{"index too large", strings.Replace(valid, "index: 2", "index: 4294967298", 1)},
		{"seal key not base64", strings.Replace(valid, "seal_public_key: ", "seal_public_key: !!", 1)},
		{"signing key not base64", strings.Replace(valid, "signing_public_key: ", "signing_public_key: *", 1)},
		{"signing key URL base64", strings.Replace(valid, "signing_public_key: ", "signing_public_key: _-", 1)},
		{"oversized", valid + "# " + strings.Repeat("x", MaxDescriptorBytes) + "\n"},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDescriptor([]byte(tc.doc))
			wantErr(t, err, ErrInvalid)
			if d != nil {
				t.Error("a descriptor returned beside an error")
			}
		})
	}
}

func FuzzParseDescriptor(f *testing.F) {
	valid := validDescriptorYAML(f)
	f.Add(valid)
	f.Add([]byte(""))
	f.Add([]byte("version: 1\nname: cohort\n"))
	f.Add([]byte("version: 1\nnodes:\n  - index: 0\n    seal_public_key: AQ==\n"))
	f.Add(bytes.Replace(valid, []byte("root_window: 1h0m0s"), []byte("root_window: 3600"), 1))
	f.Add(bytes.Replace(valid, []byte("index: 1"), []byte("index: 7"), 1))
	f.Add([]byte("a: &a [x, x]\nb: [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDescriptor(data)
		if err != nil {
			if d != nil {
				t.Fatal("descriptor returned beside an error")
			}
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("a parsed descriptor does not marshal: %v", err)
		}
		d2, err := ParseDescriptor(out)
		if err != nil {
			t.Fatalf("a marshalled descriptor does not parse: %v", err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatal("descriptor does not round-trip")
		}
	})
}

func FuzzParseNodeConfig(f *testing.F) {
	dir := f.TempDir() + "/fed"
	res, err := Init(dir, InitOptions{Nodes: 2})
	if err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(res.NodeConfigs[1])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(""))
	f.Add([]byte("version: 1\nfederation: f.yaml\nadmin_token_sha256: " + strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte("version: 1\nlimits:\n  peer_timeout: 1ns\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseNodeConfig(data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned beside an error")
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("a parsed config does not marshal: %v", err)
		}
		c2, err := ParseNodeConfig(out)
		if err != nil {
			t.Fatalf("a marshalled config does not parse: %v", err)
		}
		if *c != *c2 {
			t.Fatalf("config does not round-trip:\n%+v\n%+v", *c, *c2)
		}
	})
}

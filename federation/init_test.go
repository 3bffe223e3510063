package federation

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestInitLayout(t *testing.T) {
	dir, res := initFederation(t, InitOptions{})

	type file struct {
		path string
		mode os.FileMode
	}
	files := []file{
		{filepath.Join(dir, "ca-key.pem"), 0o600},
	}
	for i := range 3 {
		for _, name := range []string{"node.yaml", "signing.key", "seal.key", "tls.key", "admin.token"} {
			files = append(files, file{nodePath(dir, i, name), 0o600})
		}
		files = append(files, file{nodePath(dir, i, ""), 0o700 | os.ModeDir}, file{nodePath(dir, i, "data"), 0o700 | os.ModeDir})
	}
	for _, f := range files {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode() & (os.ModePerm | os.ModeDir); got != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, got, f.mode)
		}
	}
	// Public files are readable by their owner and not executable; how far
	// beyond that depends on the umask.
	for _, p := range []string{filepath.Join(dir, "federation.yaml"), filepath.Join(dir, "ca.pem"), nodePath(dir, 0, "tls.crt")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o600 != 0o600 || perm&0o111 != 0 || perm&0o022 != 0 {
			t.Errorf("%s: mode %v", p, perm)
		}
	}

	if res.DescriptorPath != filepath.Join(dir, "federation.yaml") || len(res.NodeConfigs) != 3 || len(res.AdminTokens) != 3 {
		t.Fatalf("InitResult = %+v", res)
	}
	d := res.Descriptor
	if d.Name != "cohort" || d.Version != 1 || d.RegistryDepth != 20 || d.RegistrySequencer != 0 || d.RootWindow != time.Hour || d.Admission != AdmissionInvite {
		t.Errorf("descriptor defaults: %+v", d)
	}
	loaded, err := LoadDescriptor(res.DescriptorPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, d) {
		t.Error("federation.yaml does not load back to the descriptor Init returned")
	}
	caPEM, err := os.ReadFile(res.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(caPEM) != d.CA {
		t.Error("ca.pem differs from the descriptor's CA")
	}

	nodes := loadNodes(t, res)
	for i, n := range nodes {
		e := n.Entry()
		if e.Index != uint32(i) || e.Name != "node-"+strconv.Itoa(i) {
			t.Errorf("node %d: entry %d %q", i, e.Index, e.Name)
		}
		wantAPI := net.JoinHostPort("127.0.0.1", strconv.Itoa(7400+10*i))
		wantPeer := net.JoinHostPort("127.0.0.1", strconv.Itoa(7401+10*i))
		wantMetrics := net.JoinHostPort("127.0.0.1", strconv.Itoa(7402+10*i))
		if e.APIAddress != wantAPI || e.PeerAddress != wantPeer {
			t.Errorf("node %d: addresses %s %s", i, e.APIAddress, e.PeerAddress)
		}
		c := n.Config
		if c.Listen != wantAPI || c.PeerListen != wantPeer || c.MetricsListen != wantMetrics {
			t.Errorf("node %d: listen %s %s %s", i, c.Listen, c.PeerListen, c.MetricsListen)
		}
		if c.Limits != DefaultLimits() || c.Store.Driver != StoreSQLite || c.Log != (LogConfig{"info", "text"}) || c.AllowInsecureDevSetup {
			t.Errorf("node %d: config %+v", i, c)
		}
		if got, want := n.DataPath(), filepath.Join(dir, "node-"+strconv.Itoa(i), "data"); !sameFile(t, got, want) || !filepath.IsAbs(got) {
			t.Errorf("node %d: DataPath %s, want %s", i, got, want)
		}

		tok, err := os.ReadFile(res.AdminTokens[i])
		if err != nil {
			t.Fatal(err)
		}
		token := strings.TrimSpace(string(tok))
		if len(token) != 43 {
			t.Errorf("node %d: token %d characters, want 43", i, len(token))
		}
		sum := sha256.Sum256([]byte(token))
		if c.AdminTokenSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("node %d: admin_token_sha256 is not the token's hash", i)
		}
		if !n.CheckAdminToken(token) {
			t.Errorf("node %d: its own token refused", i)
		}
		if i > 0 {
			prev, _ := os.ReadFile(res.AdminTokens[i-1])
			if n.CheckAdminToken(strings.TrimSpace(string(prev))) {
				t.Errorf("node %d: accepts node %d's token", i, i-1)
			}
		}
		nodeYAML, err := os.ReadFile(res.NodeConfigs[i])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(nodeYAML), token) {
			t.Errorf("node %d: node.yaml holds the admin token", i)
		}
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}

func TestInitCertificates(t *testing.T) {
	_, res := initFederation(t, InitOptions{Name: "acme", Nodes: 2, Hosts: []string{"n0.example.org", "10.1.2.3"}})
	ca, err := res.Descriptor.CACertificate()
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.MaxPathLen != 0 || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v MaxPathLen %d KeyUsage %v", ca.IsCA, ca.MaxPathLen, ca.KeyUsage)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life < CAValidity {
		t.Errorf("CA valid for %v", life)
	}
	nodes := loadNodes(t, res)
	for i, n := range nodes {
		leaf := n.Cert.Leaf
		if leaf.Subject.CommonName != "node-"+strconv.Itoa(i) {
			t.Errorf("node %d: CN %q", i, leaf.Subject.CommonName)
		}
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "cohort-node://acme/"+strconv.Itoa(i) {
			t.Errorf("node %d: URIs %v", i, leaf.URIs)
		}
		if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
			t.Errorf("node %d: ExtKeyUsage %v", i, leaf.ExtKeyUsage)
		}
		if leaf.IsCA {
			t.Errorf("node %d: certificate is a CA", i)
		}
		for _, h := range []string{"localhost", "127.0.0.1", "::1", res.Descriptor.Nodes[i].APIAddress[:strings.LastIndex(res.Descriptor.Nodes[i].APIAddress, ":")]} {
			if err := leaf.VerifyHostname(h); err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		}
		if err := leaf.VerifyHostname("n1.example.org"); err == nil {
			t.Errorf("node %d: certificate covers a host it should not", i)
		}
		if life := leaf.NotAfter.Sub(leaf.NotBefore); life < NodeCertValidity || life > NodeCertValidity+2*time.Hour {
			t.Errorf("node %d: certificate valid for %v", i, life)
		}
	}
	if got := res.Descriptor.Nodes[0].PeerAddress; got != "n0.example.org:7401" {
		t.Errorf("node 0 peer address %s", got)
	}
	if got := res.Descriptor.Nodes[1].APIAddress; got != "10.1.2.3:7410" {
		t.Errorf("node 1 API address %s", got)
	}
}

func TestInitAddressOverrides(t *testing.T) {
	_, res := initFederation(t, InitOptions{
		Nodes: 2,
		Addresses: []NodeAddresses{
			{API: "127.0.0.1:40001", Peer: "127.0.0.1:40002", Metrics: "[::1]:40003"},
			{Peer: "localhost:40012"},
		},
	})
	nodes := loadNodes(t, res)
	got := [][3]string{
		{nodes[0].Config.Listen, nodes[0].Config.PeerListen, nodes[0].Config.MetricsListen},
		{nodes[1].Config.Listen, nodes[1].Config.PeerListen, nodes[1].Config.MetricsListen},
	}
	want := [][3]string{
		{"127.0.0.1:40001", "127.0.0.1:40002", "[::1]:40003"},
		{"127.0.0.1:7410", "localhost:40012", "127.0.0.1:7412"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listen addresses %v, want %v", got, want)
	}

	_, res = initFederation(t, InitOptions{Nodes: 2, DisableMetrics: true})
	for _, n := range loadNodes(t, res) {
		if n.Config.MetricsListen != "" {
			t.Errorf("metrics %q with DisableMetrics", n.Config.MetricsListen)
		}
	}
}

func TestInitRefusesOptions(t *testing.T) {
	tests := []struct {
		name string
		o    InitOptions
		want error
	}{
		{"one node", InitOptions{Nodes: 1}, ErrInvalid},
		{"17 nodes", InitOptions{Nodes: 17}, ErrInvalid},
		{"negative nodes", InitOptions{Nodes: -3}, ErrInvalid},
		{"upper-case name", InitOptions{Name: "Cohort"}, ErrInvalid},
		{"name with dot", InitOptions{Name: "a.b"}, ErrInvalid},
		{"unknown admission", InitOptions{Admission: "everyone"}, ErrInvalid},
		{"open admission without dev flag", InitOptions{Admission: AdmissionOpen}, ErrInsecureDevSetup},
		{"ports overflow", InitOptions{BasePort: 65520}, ErrInvalid},
		{"negative base port", InitOptions{BasePort: -1}, ErrInvalid},
		{"hosts length", InitOptions{Hosts: []string{"a", "b"}}, ErrInvalid},
		{"addresses length", InitOptions{Addresses: []NodeAddresses{{}}}, ErrInvalid},
		{"unspecified host", InitOptions{Host: "0.0.0.0"}, ErrInvalid},
		{"bad host", InitOptions{Host: "a b"}, ErrInvalid},
		{"metrics off loopback", InitOptions{Nodes: 2, Addresses: []NodeAddresses{{Metrics: "10.0.0.1:9000"}, {}}}, ErrInvalid},
		{"duplicate address", InitOptions{Nodes: 2, Addresses: []NodeAddresses{{API: "127.0.0.1:7410"}, {}}}, ErrInvalid},
		{"address without port", InitOptions{Nodes: 2, Addresses: []NodeAddresses{{Peer: "127.0.0.1"}, {}}}, ErrInvalid},
		{"registry depth", InitOptions{RegistryDepth: 33}, ErrInvalid},
		{"negative root window", InitOptions{RootWindow: -time.Second}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fed")
			_, err := Init(dir, tc.o)
			wantErr(t, err, tc.want)
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("refused Init left %s behind", dir)
			}
		})
	}
}

func TestInitRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Init(dir, InitOptions{Nodes: 2})
	wantErr(t, err, ErrNotEmpty)

	if _, err := Init(dir, InitOptions{Nodes: 2, Force: true}); err != nil {
		t.Fatalf("Init with Force: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("Force removed an unrelated file: %v", err)
	}

	// A node's data directory holding a store is never overwritten.
	store := filepath.Join(dir, "node-1", "data", "cohort.db")
	if err := os.WriteFile(store, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Init(dir, InitOptions{Nodes: 2, Force: true})
	wantErr(t, err, ErrNotEmpty)
}

func TestInitForceRewritesModes(t *testing.T) {
	dir, res := initFederation(t, InitOptions{Nodes: 2})
	key := nodePath(dir, 0, "signing.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	res2, err := Init(dir, InitOptions{Nodes: 2, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("rewritten key has mode %v", st.Mode().Perm())
	}
	if reflect.DeepEqual(res.Descriptor.Nodes[0].SigningPublicKey, res2.Descriptor.Nodes[0].SigningPublicKey) {
		t.Error("Force kept the old signing key")
	}
	loadNodes(t, res2)
}

func TestInitOpenAdmission(t *testing.T) {
	dir, res := initFederation(t, InitOptions{Nodes: 2, Admission: AdmissionOpen, AllowInsecureDevSetup: true})
	nodes := loadNodes(t, res)
	if !nodes[0].Config.AllowInsecureDevSetup || nodes[0].Federation.Admission != AdmissionOpen {
		t.Fatal("open admission not recorded")
	}
	editFile(t, nodePath(dir, 0, "node.yaml"), "allow_insecure_dev_setup: true", "allow_insecure_dev_setup: false")
	_, err := LoadNode(nodePath(dir, 0, "node.yaml"))
	wantErr(t, err, ErrInsecureDevSetup)
}

func TestWriteSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := WriteSecretFile(path, []byte("secret\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if err := WriteSecretFile(path, []byte("other\n")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "secret\n" {
		t.Fatalf("the existing file was changed: %q", b)
	}
}

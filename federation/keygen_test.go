package federation

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/attest"
)

// twoStep sets up a federation of n nodes the way separate operators do:
// each node's keys in its own directory, a CA in another, and the
// assembler's output in a third.
type twoStep struct {
	nodeDirs []string
	requests []*NodeRequest
	caCert   []byte
	caKey    []byte
	out      string
	res      *AssembleResult
}

func keygenNodes(t *testing.T, n int) *twoStep {
	t.Helper()
	root := t.TempDir()
	s := &twoStep{out: filepath.Join(root, "assembled")}
	for i := range n {
		dir := filepath.Join(root, "operator-"+strconv.Itoa(i))
		res, err := Keygen(dir, KeygenOptions{
			Federation: "cohort", Index: uint32(i),
			Addresses: NodeAddresses{API: "127.0.0.1:" + strconv.Itoa(7400+10*i), Peer: "127.0.0.1:" + strconv.Itoa(7401+10*i)},
		})
		if err != nil {
			t.Fatalf("Keygen node %d: %v", i, err)
		}
		data, err := os.ReadFile(res.RequestPath)
		if err != nil {
			t.Fatal(err)
		}
		req, err := ParseNodeRequest(data)
		if err != nil {
			t.Fatalf("node %d's request: %v", i, err)
		}
		s.nodeDirs = append(s.nodeDirs, dir)
		s.requests = append(s.requests, req)
	}
	certPath, keyPath, err := NewCA(filepath.Join(root, "ca"), "cohort")
	if err != nil {
		t.Fatal(err)
	}
	if s.caCert, s.caKey, err = LoadCA(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *twoStep) assemble(t *testing.T) {
	t.Helper()
	res, err := Assemble(s.out, s.requests, AssembleOptions{CACertPEM: s.caCert, CAKeyPEM: s.caKey})
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	s.res = res
}

func (s *twoStep) install(t *testing.T) []*Node {
	t.Helper()
	desc, err := os.ReadFile(s.res.DescriptorPath)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*Node, len(s.nodeDirs))
	for i, dir := range s.nodeDirs {
		cert, err := os.ReadFile(s.res.Certificates[i])
		if err != nil {
			t.Fatal(err)
		}
		res, err := Install(filepath.Join(dir, NodeConfigFile), desc, cert)
		if err != nil {
			t.Fatalf("Install node %d: %v", i, err)
		}
		nodes[i] = res.Node
	}
	return nodes
}

// TestKeygenAssembleInstall is the two-step setup end to end: every node
// generates its own secrets, the assembler sees only public requests and
// writes only public files, and the installed nodes load and talk mutual
// TLS to each other.
func TestKeygenAssembleInstall(t *testing.T) {
	s := keygenNodes(t, 3)
	for i, dir := range s.nodeDirs {
		for _, f := range []string{"signing.key", "seal.key", "tls.key", AdminTokenFile, NodeConfigFile} {
			st, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("node %d: %s has mode %#o, want 0600", i, f, st.Mode().Perm())
			}
		}
		if st, err := os.Stat(filepath.Join(dir, "data")); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("node %d: data directory: %v %v", i, st, err)
		}
	}
	s.assemble(t)

	// Nothing the assembler wrote is a secret, nor holds one of a node's.
	var secrets [][]byte
	for _, dir := range s.nodeDirs {
		for _, f := range []string{"signing.key", "seal.key", "tls.key", AdminTokenFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, bytes.TrimSpace(b))
		}
	}
	var wrote []string
	err := filepath.WalkDir(s.out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		wrote = append(wrote, d.Name())
		st, err := d.Info()
		if err != nil {
			return err
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("assembler wrote %s with mode %#o, want a public 0644", d.Name(), st.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("assembler wrote a private key in %s", d.Name())
		}
		for _, sec := range secrets {
			if bytes.Contains(b, sec) {
				t.Errorf("assembler's %s holds a node secret", d.Name())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(wrote, " "); got != "ca.pem federation.yaml node-0.crt node-1.crt node-2.crt" {
		t.Errorf("assembler wrote %s", got)
	}

	nodes := s.install(t)
	for i, n := range nodes {
		e := n.Entry()
		if !bytes.Equal(e.SealPublicKey, s.requests[i].SealPublicKey) || !e.SigningPublicKey.Equal(s.requests[i].SigningPublicKey) {
			t.Errorf("node %d's descriptor entry is not its request's keys", i)
		}
	}
	for _, pair := range [][2]int{{0, 1}, {1, 2}, {2, 0}} {
		client, err := nodes[pair[0]].PeerClientTLS(uint32(pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		srv, cli := tlsPair(t, nodes[pair[1]].PeerServerTLS(), client)
		if srv.err != nil || cli.err != nil {
			t.Fatalf("node %d → %d: server %v, client %v", pair[0], pair[1], srv.err, cli.err)
		}
		if got, err := PeerIndex(srv.state, "cohort"); err != nil || got != uint32(pair[0]) {
			t.Errorf("node %d sees peer %d, %v; want %d", pair[1], got, err, pair[0])
		}
	}
}

// TestAssembleRefusesTamperedRequest is a request altered between its
// node and the assembler — another seal or signing key, another address —
// and inconsistent sets of requests: each is refused and nothing is
// written.
func TestAssembleRefusesTamperedRequest(t *testing.T) {
	s := keygenNodes(t, 3)
	other := keygenNodes(t, 2)
	data, err := os.ReadFile(filepath.Join(s.nodeDirs[1], RequestFile))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := Keygen(filepath.Join(t.TempDir(), "foreign"), KeygenOptions{Federation: "other", Index: 1,
		Addresses: NodeAddresses{API: "127.0.0.1:7410", Peer: "127.0.0.1:7411"}})
	if err != nil {
		t.Fatal(err)
	}
	// A node may sign a request naming another node's public seal key (to
	// have shares for it sealed twice, or to confuse contributors).
	copiedDir := filepath.Join(t.TempDir(), "copied")
	copied, err := Keygen(copiedDir, KeygenOptions{Index: 1,
		Addresses: NodeAddresses{API: "127.0.0.1:7410", Peer: "127.0.0.1:7411"}})
	if err != nil {
		t.Fatal(err)
	}
	copied.Request.SealPublicKey = s.requests[0].SealPublicKey
	copied.Request.Signature = attest.Sign(signingKeyOf(t, copiedDir), copied.Request.statement())
	reqOf := func(t *testing.T, edit func(*NodeRequest)) []*NodeRequest {
		t.Helper()
		r, err := ParseNodeRequest(data)
		if err != nil {
			t.Fatal(err)
		}
		edit(r)
		return []*NodeRequest{s.requests[0], r, s.requests[2]}
	}
	cases := map[string]struct {
		requests []*NodeRequest
		want     error
	}{
		"seal key replaced":            {reqOf(t, func(r *NodeRequest) { r.SealPublicKey = other.requests[0].SealPublicKey }), ErrBadRequest},
		"peer address moved":           {reqOf(t, func(r *NodeRequest) { r.PeerAddress = "10.0.0.9:7411" }), ErrBadRequest},
		"certificate request replaced": {reqOf(t, func(r *NodeRequest) { r.CSR = other.requests[1].CSR }), ErrBadRequest},
		"signing key replaced, old signature": {reqOf(t, func(r *NodeRequest) {
			r.SigningPublicKey = other.requests[1].SigningPublicKey
		}), ErrBadRequest},
		"index changed":                      {reqOf(t, func(r *NodeRequest) { r.Index = 2 }), ErrBadRequest},
		"two requests for one index":         {[]*NodeRequest{s.requests[0], s.requests[1], s.requests[1]}, ErrInvalid},
		"a node of another federation":       {[]*NodeRequest{s.requests[0], foreign.Request, s.requests[2]}, ErrInvalid},
		"a node offering another's seal key": {[]*NodeRequest{s.requests[0], copied.Request, s.requests[2]}, ErrInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := Assemble(out, c.requests, AssembleOptions{CACertPEM: s.caCert, CAKeyPEM: s.caKey})
			wantErr(t, err, c.want)
			t.Log(err)
			if empty, _ := dirEmpty(out); !empty {
				t.Error("a refused assembly wrote files")
			}
		})
	}

	t.Run("a tampered file is refused as it is read", func(t *testing.T) {
		tampered := strings.Replace(string(data), "127.0.0.1:7411", "127.0.0.1:7499", 1)
		if tampered == string(data) {
			t.Fatal("the request names no peer address 127.0.0.1:7411")
		}
		_, err := ParseNodeRequest([]byte(tampered))
		wantErr(t, err, ErrBadRequest)
	})

	t.Run("another federation's CA", func(t *testing.T) {
		_, err := Assemble(filepath.Join(t.TempDir(), "out"), s.requests, AssembleOptions{CACertPEM: other.caCert, CAKeyPEM: s.caKey})
		wantErr(t, err, ErrKeyMismatch)
	})
}

// TestInstallRefusesForeignFiles: a node installs only a descriptor that
// names its own keys and a certificate for its own TLS key; a refused
// install leaves nothing behind.
func TestInstallRefusesForeignFiles(t *testing.T) {
	s := keygenNodes(t, 3)
	s.assemble(t)
	desc, err := os.ReadFile(s.res.DescriptorPath)
	if err != nil {
		t.Fatal(err)
	}
	cert1, err := os.ReadFile(s.res.Certificates[1])
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(s.nodeDirs[0], NodeConfigFile)
	if _, err := Install(cfg, desc, cert1); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("node 0 installing node 1's certificate: %v, want ErrKeyMismatch", err)
	}
	other := keygenNodes(t, 3)
	other.assemble(t)
	otherDesc, err := os.ReadFile(other.res.DescriptorPath)
	if err != nil {
		t.Fatal(err)
	}
	cert0, err := os.ReadFile(s.res.Certificates[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Install(cfg, otherDesc, cert0); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("node 0 installing a descriptor without its keys: %v, want ErrKeyMismatch", err)
	}
	for _, f := range []string{DescriptorFile, TLSCertFile} {
		if _, err := os.Stat(filepath.Join(s.nodeDirs[0], f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused install left %s: %v", f, err)
		}
	}
	if _, err := Install(cfg, desc, cert0); err != nil {
		t.Fatal(err)
	}
}

// TestKeygenRefuses: a directory in use and missing addresses.
func TestKeygenRefuses(t *testing.T) {
	dir := t.TempDir()
	addrs := NodeAddresses{API: "127.0.0.1:7400", Peer: "127.0.0.1:7401"}
	if _, err := Keygen(filepath.Join(dir, "a"), KeygenOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no addresses: %v", err)
	}
	if _, err := Keygen(filepath.Join(dir, "a"), KeygenOptions{Addresses: addrs}); err != nil {
		t.Fatal(err)
	}
	if _, err := Keygen(filepath.Join(dir, "a"), KeygenOptions{Addresses: addrs}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("second keygen into a node directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "data", "store.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Keygen(filepath.Join(dir, "a"), KeygenOptions{Addresses: addrs, Force: true}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("keygen over a node's store: %v", err)
	}
	if _, err := Keygen(filepath.Join(dir, "b"), KeygenOptions{Federation: "Bad Name", Addresses: addrs}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad federation name: %v", err)
	}
}

func FuzzParseNodeRequest(f *testing.F) {
	dir := f.TempDir()
	res, err := Keygen(filepath.Join(dir, "n"), KeygenOptions{Addresses: NodeAddresses{API: "127.0.0.1:7400", Peer: "127.0.0.1:7401"}})
	if err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(res.RequestPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("version: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseNodeRequest(b)
		if err != nil {
			return
		}
		if err := r.Verify(); err != nil {
			t.Fatalf("a parsed request does not verify: %v", err)
		}
	})
}

// signingKeyOf reads the Ed25519 key Keygen wrote in dir.
func signingKeyOf(t *testing.T, dir string) ed25519.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	der, err := decodeOnePEM(data, "PRIVATE KEY")
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

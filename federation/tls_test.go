package federation

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPeerMutualTLS(t *testing.T) {
	_, res := initFederation(t, InitOptions{})
	nodes := loadNodes(t, res)
	client, err := nodes[1].PeerClientTLS(0)
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := tlsPair(t, nodes[0].PeerServerTLS(), client)
	if srv.err != nil || cli.err != nil {
		t.Fatalf("handshake: server %v, client %v", srv.err, cli.err)
	}
	if srv.state.Version != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", srv.state.Version)
	}
	got, err := PeerIndex(srv.state, "cohort")
	if err != nil || got != 1 {
		t.Errorf("server sees PeerIndex %d, %v; want 1", got, err)
	}
	got, err = PeerIndex(cli.state, "cohort")
	if err != nil || got != 0 {
		t.Errorf("client sees PeerIndex %d, %v; want 0", got, err)
	}
	if _, err := PeerIndex(srv.state, "other"); err == nil {
		t.Error("PeerIndex accepted the identity for another federation")
	}
}

func TestPeerServerRefuses(t *testing.T) {
	dir, res := initFederation(t, InitOptions{})
	nodes := loadNodes(t, res)
	_, otherRes := initFederation(t, InitOptions{})
	others := loadNodes(t, otherRes)
	server := nodes[0].PeerServerTLS()

	// A client that trusts node 0 but offers the given certificate (or none).
	clientWith := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: nodes[0].CAPool, ServerName: "127.0.0.1", Certificates: certs}
	}
	caCert, caKey := loadCA(t, dir)
	issue := func(federation string, index uint32, usage ...x509.ExtKeyUsage) tls.Certificate {
		cert, key, err := issueNodeCert(caCert, caKey, federation, index, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if usage != nil {
			// Re-issue with restricted usages.
			tmpl := *cert
			tmpl.ExtKeyUsage = usage
			der, err := x509.CreateCertificate(rand.Reader, &tmpl, caCert, key.Public(), caKey)
			if err != nil {
				t.Fatal(err)
			}
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		}
		return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
	}
	otherClient, err := others[1].PeerClientTLS(0)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		client     *tls.Config
		identity   bool // the server's refusal is ErrPeerIdentity
		clientSide bool // the client refuses first
	}{
		{"no client certificate", clientWith(), false, false},
		{"certificate of another federation's CA", clientWith(others[1].Cert), false, false},
		{"another federation dialling", otherClient, false, true},
		{"same CA, other federation name", clientWith(issue("other", 1)), true, false},
		{"same CA, index outside the federation", clientWith(issue("cohort", 3)), true, false},
		{"same CA, no identity", clientWith(func() tls.Certificate {
			c := issue("cohort", 1)
			leaf, _ := x509.ParseCertificate(c.Certificate[0])
			tmpl := *leaf
			tmpl.URIs = []*url.URL{{Scheme: "https", Host: "cohort", Path: "/1"}}
			der, err := x509.CreateCertificate(rand.Reader, &tmpl, caCert, c.PrivateKey.(crypto.Signer).Public(), caKey)
			if err != nil {
				t.Fatal(err)
			}
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: c.PrivateKey}
		}()), true, false},
		{"server-auth-only certificate", clientWith(issue("cohort", 1, x509.ExtKeyUsageServerAuth)), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := tlsPair(t, server, tc.client)
			if srv.err == nil {
				t.Fatalf("server accepted the client (PeerIndex %v)", must(PeerIndex(srv.state, "cohort")))
			}
			if cli.err == nil {
				t.Error("client saw no failure")
			}
			if tc.identity {
				wantErr(t, srv.err, ErrPeerIdentity)
			}
			if tc.clientSide && !strings.Contains(cli.err.Error(), "certificate") {
				t.Errorf("client error %v", cli.err)
			}
		})
	}
}

func TestPeerClientRefusesWrongNode(t *testing.T) {
	_, res := initFederation(t, InitOptions{})
	nodes := loadNodes(t, res)
	// Node 1 means to call node 2 but reaches node 0.
	client, err := nodes[1].PeerClientTLS(2)
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := tlsPair(t, nodes[0].PeerServerTLS(), client)
	wantErr(t, cli.err, ErrPeerIdentity)
	if srv.err == nil {
		t.Error("server completed a handshake the client refused")
	}
	if _, err := nodes[1].PeerClientTLS(3); err == nil {
		t.Error("PeerClientTLS accepted a node outside the federation")
	}

	// The API listener presents the same certificate: dialling node 2's
	// peer port and landing on node 0's API is refused too.
	srv, cli = tlsPair(t, nodes[0].APIServerTLS(), client)
	wantErr(t, cli.err, ErrPeerIdentity)
}

func TestAPITLS(t *testing.T) {
	_, res := initFederation(t, InitOptions{})
	nodes := loadNodes(t, res)
	caPEM, err := os.ReadFile(res.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ClientTLS(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		c := client.Clone()
		c.ServerName = name
		srv, cli := tlsPair(t, nodes[0].APIServerTLS(), c)
		if srv.err != nil || cli.err != nil {
			t.Fatalf("%s: handshake: server %v, client %v", name, srv.err, cli.err)
		}
		if cn := cli.state.PeerCertificates[0].Subject.CommonName; cn != "node-0" {
			t.Errorf("server certificate CN %q", cn)
		}
		if len(srv.state.PeerCertificates) != 0 {
			t.Error("API listener received a client certificate")
		}
		if _, err := PeerIndex(srv.state, "cohort"); err == nil {
			t.Error("PeerIndex found an identity on a connection without client certificate")
		}
	}

	// A client with a node's certificate is served, but no identity is taken
	// from it: the API does not ask for one.
	peerClient := client.Clone()
	peerClient.ServerName = "127.0.0.1"
	peerClient.Certificates = []tls.Certificate{nodes[1].Cert}
	srv, cli := tlsPair(t, nodes[0].APIServerTLS(), peerClient)
	if srv.err != nil || cli.err != nil {
		t.Fatalf("handshake: server %v, client %v", srv.err, cli.err)
	}
	if _, err := PeerIndex(srv.state, "cohort"); err == nil {
		t.Error("API listener verified a client certificate")
	}

	// Wrong host name, and another federation's CA, are refused.
	c := client.Clone()
	c.ServerName = "example.org"
	if _, cli := tlsPair(t, nodes[0].APIServerTLS(), c); cli.err == nil {
		t.Error("client accepted a certificate for another host")
	}
	_, otherRes := initFederation(t, InitOptions{})
	otherPEM, err := os.ReadFile(otherRes.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err = ClientTLS(otherPEM)
	if err != nil {
		t.Fatal(err)
	}
	c.ServerName = "127.0.0.1"
	if _, cli := tlsPair(t, nodes[0].APIServerTLS(), c); cli.err == nil {
		t.Error("client trusting another CA accepted the node")
	}

	// TLS 1.2 is refused.
	c = client.Clone()
	c.ServerName = "127.0.0.1"
	c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if _, cli := tlsPair(t, nodes[0].APIServerTLS(), c); cli.err == nil {
		t.Error("API listener accepted TLS 1.2")
	}
}

func TestPeerIndexUnverified(t *testing.T) {
	_, res := initFederation(t, InitOptions{Nodes: 2})
	n := loadNodes(t, res)[1]
	// The certificate is presented but not verified: no identity.
	state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{n.Cert.Leaf}}
	_, err := PeerIndex(state, "cohort")
	wantErr(t, err, ErrPeerIdentity)
	state.VerifiedChains = [][]*x509.Certificate{{n.Cert.Leaf}}
	if i, err := PeerIndex(state, "cohort"); err != nil || i != 1 {
		t.Errorf("PeerIndex = %d, %v", i, err)
	}
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		uri  string
		want uint32
		ok   bool
	}{
		{"cohort-node://cohort/0", 0, true},
		{"cohort-node://cohort/15", 15, true},
		{"cohort-node://cohort/4294967295", 4294967295, true},
		{"cohort-node://cohort/4294967296", 0, false},
		{"cohort-node://cohort/01", 0, false},
		{"cohort-node://cohort/+1", 0, false},
		{"cohort-node://cohort/-1", 0, false},
		{"cohort-node://cohort/", 0, false},
		{"cohort-node://cohort", 0, false},
		{"cohort-node://cohort/1/2", 0, false},
		{"cohort-node://cohort/1?x=1", 0, false},
		{"cohort-node://cohort/1#x", 0, false},
		{"cohort-node://user@cohort/1", 0, false},
		{"cohort-node://cohort:80/1", 0, false},
		{"cohort-node://other/1", 0, false},
		{"cohort-node:cohort/1", 0, false},
		{"https://cohort/1", 0, false},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseIdentity(u, "cohort")
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("parseIdentity(%q) = %d, %v", tc.uri, got, err)
		}
		if err != nil {
			wantErr(t, err, ErrPeerIdentity)
		}
	}
	if got := NodeIdentity("cohort", 7).String(); got != "cohort-node://cohort/7" {
		t.Errorf("NodeIdentity = %q", got)
	}
}

func TestClientTLSRefuses(t *testing.T) {
	dir, res := initFederation(t, InitOptions{Nodes: 2})
	caPEM, err := os.ReadFile(res.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := os.ReadFile(nodePath(dir, 0, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(nodePath(dir, 0, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":          nil,
		"not PEM":        []byte("hello"),
		"leaf":           leaf,
		"private key":    key,
		"trailing junk":  append(append([]byte{}, caPEM...), "junk"...),
		"CA then a leaf": append(append([]byte{}, caPEM...), leaf...),
	} {
		if _, err := ClientTLS(data); err == nil {
			t.Errorf("%s: ClientTLS accepted it", name)
		} else {
			wantErr(t, err, ErrInvalid)
		}
	}
	cfg, err := ClientTLS(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.InsecureSkipVerify {
		t.Errorf("client config %+v", cfg)
	}
}

func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"cohort-node://cohort/0", "cohort-node://cohort/01", "cohort-node://x/4294967296", "https://cohort/1", "cohort-node:opaque", "CohoRt-node://cohort/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		i, err := parseIdentity(u, "cohort")
		if err != nil {
			return
		}
		// The one URI that names node i (url.Parse lower-cases the scheme).
		if got := NodeIdentity("cohort", i).String(); got != u.String() {
			t.Fatalf("identity %q parses to %d, which prints as %q", s, i, got)
		}
	})
}

func FuzzClientTLS(f *testing.F) {
	dir := f.TempDir() + "/fed"
	res, err := Init(dir, InitOptions{Nodes: 2})
	if err != nil {
		f.Fatal(err)
	}
	caPEM, err := os.ReadFile(res.CAPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(caPEM)
	f.Add(append(append([]byte{}, caPEM...), caPEM...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ClientTLS(data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned beside an error")
			}
			return
		}
		if cfg.RootCAs == nil || cfg.MinVersion != tls.VersionTLS13 {
			t.Fatalf("config %+v", cfg)
		}
	})
}

// loadCA reads the federation CA certificate and key from dir.
func loadCA(t *testing.T, dir string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	certData, err := os.ReadFile(dir + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCA(string(certData))
	if err != nil {
		t.Fatal(err)
	}
	keyData, err := os.ReadFile(dir + "/ca-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	der, err := decodeOnePEM(keyData, "PRIVATE KEY")
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key.(crypto.Signer)
}

func must[T any](v T, _ error) T { return v }

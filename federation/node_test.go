package federation

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadNodeRefusesLooseKeyFiles(t *testing.T) {
	dir, _ := initFederation(t, InitOptions{Nodes: 2})
	for _, name := range []string{"signing.key", "seal.key", "tls.key"} {
		for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o601} {
			t.Run(fmt.Sprintf("%s %#o", name, mode), func(t *testing.T) {
				path := nodePath(dir, 1, name)
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				defer os.Chmod(path, 0o600)
				_, err := LoadNode(nodePath(dir, 1, "node.yaml"))
				wantErr(t, err, ErrInsecureKeyFile)
				if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
					t.Errorf("error %q does not name the file and the fix", msg)
				}
			})
		}
	}
	// 0400 is fine: only the owner may read.
	if err := os.Chmod(nodePath(dir, 1, "signing.key"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNode(nodePath(dir, 1, "node.yaml")); err != nil {
		t.Errorf("LoadNode with a 0400 key: %v", err)
	}
}

func TestLoadNodeRefusesForeignKeys(t *testing.T) {
	dir, _ := initFederation(t, InitOptions{Nodes: 2})
	other, _ := initFederation(t, InitOptions{Nodes: 2})
	tests := []struct {
		name  string
		files map[string]string // node-0 file ← source
	}{
		{"signing key of node 1", map[string]string{"signing.key": nodePath(dir, 1, "signing.key")}},
		{"seal key of node 1", map[string]string{"seal.key": nodePath(dir, 1, "seal.key")}},
		{"certificate and key of node 1", map[string]string{"tls.crt": nodePath(dir, 1, "tls.crt"), "tls.key": nodePath(dir, 1, "tls.key")}},
		{"certificate of node 1, own key", map[string]string{"tls.crt": nodePath(dir, 1, "tls.crt")}},
		{"certificate of another federation", map[string]string{"tls.crt": nodePath(other, 0, "tls.crt"), "tls.key": nodePath(other, 0, "tls.key")}},
		{"signing key of another federation", map[string]string{"signing.key": nodePath(other, 0, "signing.key")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			saved := map[string][]byte{}
			for name, src := range tc.files {
				dst := nodePath(dir, 0, name)
				old, err := os.ReadFile(dst)
				if err != nil {
					t.Fatal(err)
				}
				saved[dst] = old
				copyFile(t, src, dst)
			}
			defer func() {
				for dst, data := range saved {
					if err := os.WriteFile(dst, data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}()
			_, err := LoadNode(nodePath(dir, 0, "node.yaml"))
			wantErr(t, err, ErrKeyMismatch)
		})
	}
	if _, err := LoadNode(nodePath(dir, 0, "node.yaml")); err != nil {
		t.Fatalf("restored node does not load: %v", err)
	}
}

func TestLoadNodeRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name      string
		file      string // "node" or "federation"
		old, new  string
		want      error
		wantInMsg string
	}{
		{"unknown node.yaml key", "node", "version: 1\n", "version: 1\nlisten_addr: x\n", ErrInvalid, "listen_addr"},
		{"unknown federation.yaml key", "federation", "version: 1\n", "version: 1\nthreshold: 2\n", ErrInvalid, "threshold"},
		{"index outside federation", "node", "index: 1\n", "index: 2\n", ErrInvalid, "index 2"},
		{"missing descriptor", "node", "federation: ../federation.yaml", "federation: ../nowhere.yaml", nil, "nowhere.yaml"},
		{"missing key file", "node", "seal_key_file: seal.key", "seal_key_file: gone.key", nil, "gone.key"},
		{"public address on metrics", "node", "metrics_listen: 127.0.0.1:7412", "metrics_listen: 0.0.0.0:7412", ErrInvalid, "loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := initFederation(t, InitOptions{Nodes: 2})
			path := nodePath(dir, 1, "node.yaml")
			if tc.file == "federation" {
				path = dir + "/federation.yaml"
			}
			editFile(t, path, tc.old, tc.new)
			_, err := LoadNode(nodePath(dir, 1, "node.yaml"))
			if err == nil {
				t.Fatal("LoadNode accepted the configuration")
			}
			if tc.want != nil {
				wantErr(t, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantInMsg)
			}
		})
	}
}

func TestLoadNodeRefusesBadKeyFiles(t *testing.T) {
	tests := []struct {
		name string
		file string // in node-1
		from string // file of node-1 copied over it, or "" for garbage
		want error
	}{
		{"signing key garbage", "signing.key", "", ErrInvalid},
		{"signing key is ECDSA", "signing.key", "tls.key", ErrInvalid},
		{"signing key is a seal key", "signing.key", "seal.key", ErrInvalid},
		{"seal key garbage", "seal.key", "", ErrInvalid},
		{"seal key is Ed25519", "seal.key", "signing.key", ErrInvalid},
		{"TLS key garbage", "tls.key", "", ErrKeyMismatch},
		{"TLS key is Ed25519", "tls.key", "signing.key", ErrKeyMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := initFederation(t, InitOptions{Nodes: 2})
			dst := nodePath(dir, 1, tc.file)
			if tc.from == "" {
				if err := os.WriteFile(dst, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				copyFile(t, nodePath(dir, 1, tc.from), dst)
			}
			_, err := LoadNode(nodePath(dir, 1, "node.yaml"))
			wantErr(t, err, tc.want)
		})
	}
}

func TestLoadNodeCertificateHosts(t *testing.T) {
	dir, _ := initFederation(t, InitOptions{Nodes: 2})
	// The descriptor moves node 1 to a host its certificate does not name.
	editFile(t, dir+"/federation.yaml", "api_address: 127.0.0.1:7410", "api_address: 10.9.9.9:7410")
	_, err := LoadNode(nodePath(dir, 1, "node.yaml"))
	wantErr(t, err, ErrKeyMismatch)
	if _, err := LoadNode(nodePath(dir, 0, "node.yaml")); err != nil {
		t.Errorf("node 0: %v", err)
	}
}

func TestLoadNodeAbsolutePaths(t *testing.T) {
	dir, _ := initFederation(t, InitOptions{Nodes: 2})
	moved := t.TempDir() + "/signing.key"
	if err := os.Rename(nodePath(dir, 1, "signing.key"), moved); err != nil {
		t.Fatal(err)
	}
	editFile(t, nodePath(dir, 1, "node.yaml"), "signing_key_file: signing.key", "signing_key_file: "+moved)
	n, err := LoadNode(nodePath(dir, 1, "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Index() != 1 {
		t.Errorf("Index %d", n.Index())
	}
}

func TestLoadNodeStoreDSN(t *testing.T) {
	dir, _ := initFederation(t, InitOptions{Nodes: 2})
	path := nodePath(dir, 0, "node.yaml")
	editFile(t, path, "driver: sqlite", "driver: postgres")

	t.Setenv(StoreDSNEnv, "")
	_, err := LoadNode(path)
	wantErr(t, err, ErrInvalid)

	const dsn = "postgres://cohort:hunter2@db/cohort"
	t.Setenv(StoreDSNEnv, dsn)
	n, err := LoadNode(path)
	if err != nil {
		t.Fatal(err)
	}
	if n.Config.Store.DSN != dsn {
		t.Errorf("DSN %q, want the environment's", n.Config.Store.DSN)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, n.Config); strings.Contains(s, "hunter2") {
			t.Errorf("%s of the config prints the DSN: %s", verb, s)
		}
	}

	// A DSN in node.yaml wins over the environment.
	editFile(t, path, `dsn: ""`, `dsn: postgres://file/cohort`)
	if n, err = LoadNode(path); err != nil {
		t.Fatal(err)
	}
	if n.Config.Store.DSN != "postgres://file/cohort" {
		t.Errorf("DSN %q, want node.yaml's", n.Config.Store.DSN)
	}

	// node.yaml holding a DSN is a secret file.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadNode(path)
	wantErr(t, err, ErrInsecureKeyFile)
}

func TestNodeNeverPrintsKeys(t *testing.T) {
	_, res := initFederation(t, InitOptions{Nodes: 2})
	n := loadNodes(t, res)[1]
	seed := n.Signing.Seed()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		for _, v := range []any{n, *n} {
			s := fmt.Sprintf(verb, v)
			if s != "federation.Node(cohort/1)" {
				t.Errorf("%s: %q", verb, s)
			}
			if bytes.Contains([]byte(s), seed) {
				t.Errorf("%s prints the signing key", verb)
			}
		}
	}
}

func TestNodeKeysWork(t *testing.T) {
	_, res := initFederation(t, InitOptions{Nodes: 2})
	for _, n := range loadNodes(t, res) {
		msg := []byte("partial aggregate digest")
		if !ed25519.Verify(n.Entry().SigningPublicKey, msg, ed25519.Sign(n.Signing, msg)) {
			t.Errorf("node %d: signature does not verify under the descriptor's key", n.Index())
		}
		pub, err := n.Entry().SealKey()
		if err != nil {
			t.Fatal(err)
		}
		if !n.Seal.Public().Equal(pub) {
			t.Errorf("node %d: seal key differs from the descriptor's", n.Index())
		}
	}
}

func TestCheckAdminToken(t *testing.T) {
	_, res := initFederation(t, InitOptions{Nodes: 2})
	n := loadNodes(t, res)[0]
	raw, err := os.ReadFile(res.AdminTokens[0])
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	tests := []struct {
		token string
		want  bool
	}{
		{token, true},
		{"", false},
		{token + "\n", false},
		{token[:len(token)-1], false},
		{strings.ToUpper(token), token == strings.ToUpper(token)},
		{n.Config.AdminTokenSHA256, false},
	}
	for _, tc := range tests {
		if got := n.CheckAdminToken(tc.token); got != tc.want {
			t.Errorf("CheckAdminToken(%q) = %v", tc.token, got)
		}
	}
	var empty Node
	if empty.CheckAdminToken("") || empty.CheckAdminToken(token) {
		t.Error("a node without a token hash accepts a token")
	}
}

func TestParseNodeConfig(t *testing.T) {
	const hash = "0000000000000000000000000000000000000000000000000000000000000001"
	base := "version: 1\nfederation: ../federation.yaml\nindex: 0\nadmin_token_sha256: " + hash + "\n"

	c, err := ParseNodeConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	want := NodeConfig{
		Version: 1, Federation: "../federation.yaml", DataDir: "data",
		Store:          StoreConfig{Driver: StoreSQLite},
		SigningKeyFile: "signing.key", SealKeyFile: "seal.key", TLSCertFile: "tls.crt", TLSKeyFile: "tls.key",
		AdminTokenSHA256: hash, Limits: DefaultLimits(), Log: LogConfig{"info", "text"},
	}
	if *c != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}

	c, err = ParseNodeConfig([]byte(base + "limits:\n  peer_timeout: 2m\n  max_message_bytes: 4096\nmetrics_listen: '[::1]:9100'\nlisten: ':7400'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.PeerTimeout != 2*time.Minute || c.Limits.MaxMessageBytes != 4096 || c.Limits.KeepaliveTime != 30*time.Second || c.Limits.PublicRate != 100 {
		t.Errorf("limits %+v", c.Limits)
	}

	c, err = ParseNodeConfig([]byte(base + "limits:\n  public_rate: 2.5\n  public_burst: 10\n  heavy_streams: 8\n  heavy_streams_per_client: 1\n  max_transcript_bytes: 67108864\n  max_api_streams: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Limits; l.PublicRate != 2.5 || l.PublicBurst != 10 || l.HeavyStreams != 8 || l.HeavyStreamsPerClient != 1 || l.MaxTranscriptBytes != 64<<20 || l.MaxAPIStreams != 4 {
		t.Errorf("public limits %+v", l)
	}

	refused := []struct{ name, extra string }{
		{"unknown key", "colour: blue\n"},
		{"unknown nested key", "limits:\n  max_streams: 4\n"},
		{"duplicate key", "index: 1\n"},
		{"wrong type", "limits:\n  max_message_bytes: lots\n"},
		{"duration as integer", "limits:\n  peer_timeout: 30\n"},
		{"negative duration", "limits:\n  keepalive_time: -1s\n"},
		{"negative size", "limits:\n  max_message_bytes: -1\n"},
		{"huge size", "limits:\n  max_message_bytes: 2000000000\n"},
		{"ingest concurrency", "limits:\n  ingest_concurrency: -2\n"},
		{"negative public rate", "limits:\n  public_rate: -1\n"},
		{"public rate not a number", "limits:\n  public_rate: .nan\n"},
		{"public burst", "limits:\n  public_burst: -5\n"},
		{"tiny transcript limit", "limits:\n  max_transcript_bytes: 1000\n"},
		{"heavy streams per client above the node's", "limits:\n  heavy_streams: 2\n  heavy_streams_per_client: 3\n"},
		{"api streams", "limits:\n  max_api_streams: 100000\n"},
		{"job lease below a second", "limits:\n  job_lease: 500ms\n"},
		{"job lease above ten minutes", "limits:\n  job_lease: 1h\n"},
		{"metrics on all interfaces", "metrics_listen: ':9100'\n"},
		{"metrics on public host", "metrics_listen: 'example.org:9100'\n"},
		{"listen without port", "listen: 127.0.0.1\n"},
		{"store driver", "store:\n  driver: mysql\n"},
		{"log level", "log:\n  level: trace\n"},
		{"log format", "log:\n  format: xml\n"},
		{"second document", "---\nversion: 1\n"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNodeConfig([]byte(base + tc.extra))
			wantErr(t, err, ErrInvalid)
		})
	}
	for name, doc := range map[string]string{
		"empty":              "",
		"version 2":          strings.Replace(base, "version: 1", "version: 2", 1),
		"no federation":      strings.Replace(base, "federation: ../federation.yaml\n", "", 1),
		"no admin hash":      strings.Replace(base, "admin_token_sha256: "+hash+"\n", "", 1),
		"short admin hash":   strings.Replace(base, hash, hash[:62], 1),
		"admin hash not hex": strings.Replace(base, hash, "zz"+hash[2:], 1),
		"negative index":     strings.Replace(base, "index: 0", "index: -1", 1),
		"oversized":          base + "# " + strings.Repeat("x", MaxNodeConfigBytes) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseNodeConfig([]byte(doc))
			wantErr(t, err, ErrInvalid)
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9100", "[::1]:9100", "localhost:0"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{":9100", "0.0.0.0:9100", "example.org:9100", "127.0.0.1"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

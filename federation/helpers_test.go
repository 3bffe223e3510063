package federation

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// initFederation creates a federation in a fresh temporary directory.
func initFederation(t *testing.T, o InitOptions) (string, *InitResult) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fed")
	res, err := Init(dir, o)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return dir, res
}

// loadNodes loads every node of an Init result.
func loadNodes(t *testing.T, res *InitResult) []*Node {
	t.Helper()
	nodes := make([]*Node, len(res.NodeConfigs))
	for i, p := range res.NodeConfigs {
		n, err := LoadNode(p)
		if err != nil {
			t.Fatalf("LoadNode(%s): %v", p, err)
		}
		nodes[i] = n
	}
	return nodes
}

// nodePath is the path of a file in node i's directory.
func nodePath(dir string, i int, name string) string {
	return filepath.Join(dir, "node-"+strconv.Itoa(i), name)
}

// copyFile copies src over dst, keeping dst's mode.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// editFile rewrites path by replacing old with new (which must occur).
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// handshake is one side's view of a TLS handshake.
type handshake struct {
	state tls.ConnectionState
	err   error
}

// tlsPair runs one TLS handshake over loopback between a server with
// serverCfg and a client with clientCfg, and returns both sides' results.
func tlsPair(t *testing.T, serverCfg, clientCfg *tls.Config) (server, client handshake) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan handshake, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- handshake{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- handshake{err: err}
			return
		}
		// Confirm the connection carries data both ways.
		buf := make([]byte, 1)
		if _, err := tc.Read(buf); err != nil {
			done <- handshake{err: err}
			return
		}
		if _, err := tc.Write(buf); err != nil {
			done <- handshake{err: err}
			return
		}
		done <- handshake{state: tc.ConnectionState()}
	}()

	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, clientCfg)
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	client.err = tc.Handshake()
	if client.err == nil {
		// In TLS 1.3 the server checks the client certificate after the
		// client has finished: a refusal shows on the first read.
		if _, err := tc.Write([]byte{1}); err != nil {
			client.err = err
		} else if _, err := tc.Read(make([]byte, 1)); err != nil {
			client.err = err
		}
		client.state = tc.ConnectionState()
	}
	if client.err != nil {
		tc.Close()
	}
	return <-done, client
}

// wantErr fails unless err wraps target (or, for a nil target, err is nil).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if target == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

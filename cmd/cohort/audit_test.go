package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditVerifyPinFlags checks what `audit verify` refuses before it reads
// a bundle: a malformed --descriptor-digest, a --federation file that does
// not load.
func TestAuditVerifyPinFlags(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "job.bundle")
	if err := os.WriteFile(bundle, []byte("not a bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "federation.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nunknown: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"short digest":       {[]string{"--descriptor-digest", "abcd", bundle}, "64 hex digits"},
		"not hex":            {[]string{"--descriptor-digest", strings.Repeat("zz", 32), bundle}, "64 hex digits"},
		"no federation file": {[]string{"--federation", filepath.Join(dir, "none.yaml"), bundle}, "--federation"},
		"bad federation":     {[]string{"--federation", bad, bundle}, "--federation"},
		"unpinned":           {[]string{bundle}, "do not verify"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := newRootCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"audit", "verify"}, tc.args...))
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q\n%s", err, tc.want, out.String())
			}
			if name == "unpinned" && !strings.Contains(out.String(), "neither --federation nor --descriptor-digest") {
				t.Errorf("no warning that nothing is pinned:\n%s", out.String())
			}
		})
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runFlags executes args on the real command tree with the leaf's RunE
// replaced, and returns the values its connection flags ended with.
func runFlags(t *testing.T, args ...string) (map[string]string, error) {
	t.Helper()
	root := newRootCmd()
	leaf, _, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	leaf.RunE = func(cmd *cobra.Command, _ []string) error {
		for _, n := range profileFlags {
			if f := cmd.Flags().Lookup(n); f != nil {
				got[n] = f.Value.String()
			}
		}
		return nil
	}
	leaf.Run = nil
	root.SetArgs(args)
	return got, root.Execute()
}

func TestClientConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "profile.yaml")
	if err := os.WriteFile(prof, []byte("node: 10.0.0.1:7400\nca: fed/ca.pem\nbuyer:\n  node: 10.0.0.2:7400\n  token-file: acme.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(profileEnv, prof)
	t.Setenv(buyerTokenEnv, "")

	// Profile: the section beats the top level; relative paths are the profile's.
	got, err := runFlags(t, "buyer", "datasets")
	if err != nil {
		t.Fatal(err)
	}
	if got["node"] != "10.0.0.2:7400" || got["ca"] != filepath.Join(dir, "fed/ca.pem") || got["token-file"] != filepath.Join(dir, "acme.token") {
		t.Fatalf("from the profile: %v", got)
	}
	got, err = runFlags(t, "contributor", "jobs", "--dataset", "d")
	if err != nil || got["node"] != "10.0.0.1:7400" {
		t.Fatalf("contributor from the profile's top level: %v, %v", got, err)
	}

	// The environment beats the profile; the command line beats both.
	t.Setenv("COHORT_NODE", "10.0.0.3:7400")
	if got, err = runFlags(t, "buyer", "datasets"); err != nil || got["node"] != "10.0.0.3:7400" {
		t.Fatalf("from the environment: %v, %v", got, err)
	}
	if got, err = runFlags(t, "buyer", "datasets", "--node", "10.0.0.4:7400"); err != nil || got["node"] != "10.0.0.4:7400" {
		t.Fatalf("from the command line: %v, %v", got, err)
	}

	// A buyer token in the environment beats the profile's token file.
	t.Setenv(buyerTokenEnv, "cohort-buyer-x")
	if got, err = runFlags(t, "buyer", "datasets"); err != nil || got["token-file"] != "buyer.token" {
		t.Fatalf("token file with %s set: %v, %v", buyerTokenEnv, got, err)
	}
}

func TestClientConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key":      "nodes: 10.0.0.1:7400\n",
		"unknown in group": "buyer:\n  tokn-file: x\n",
		"not a string":     "node: [1, 2]\n",
		"not yaml":         "node: [\n",
	} {
		prof := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(prof, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(profileEnv, prof)
		_, err := runFlags(t, "buyer", "datasets")
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "profile") {
			t.Errorf("%s: err = %v (exit %d), want a profile usage error", name, err, exitCode(err))
		}
	}
	t.Setenv(profileEnv, filepath.Join(dir, "missing.yaml"))
	if _, err := runFlags(t, "buyer", "datasets"); err == nil || exitCode(err) != exitUsage {
		t.Errorf("a named profile that does not exist: err = %v", err)
	}

	// Server and setup commands never read the profile or the environment.
	t.Setenv(profileEnv, filepath.Join(dir, "missing.yaml"))
	t.Setenv("COHORT_DIR", "/nonexistent")
	if _, err := runFlags(t, "federation", "init", "--dir", filepath.Join(dir, "fed"), "--nodes", "3"); err != nil {
		t.Errorf("federation init read the client configuration: %v", err)
	}
}

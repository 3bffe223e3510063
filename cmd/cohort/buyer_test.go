package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/client"
)

func TestBuyerToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "buyer.token")
	os.WriteFile(file, []byte("cohort-buyer-from-file\n"), 0o600)

	t.Setenv(buyerTokenEnv, "")
	g := &buyerFlags{tokenFile: file}
	if tok, err := g.token(); err != nil || tok != "cohort-buyer-from-file" {
		t.Fatalf("from the file: %q, %v", tok, err)
	}
	t.Setenv(buyerTokenEnv, "cohort-buyer-from-env")
	if tok, _ := g.token(); tok != "cohort-buyer-from-env" {
		t.Fatalf("the environment does not override the default file: %q", tok)
	}
	g.tokenSet = true
	if tok, _ := g.token(); tok != "cohort-buyer-from-file" {
		t.Fatalf("an explicit --token-file does not win over the environment: %q", tok)
	}
	t.Setenv(buyerTokenEnv, "")
	g = &buyerFlags{tokenFile: filepath.Join(dir, "none")}
	if _, err := g.token(); err == nil || !strings.Contains(err.Error(), buyerTokenEnv) {
		t.Fatalf("missing token: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := (&buyerFlags{tokenFile: empty}).token(); err == nil {
		t.Fatal("empty token file accepted")
	}
}

func TestBuyerCommandFlags(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "buyer.token")
	os.WriteFile(tok, []byte("cohort-buyer-x\n"), 0o600)
	spec := filepath.Join(dir, "job.yaml")
	os.WriteFile(spec, []byte("dataset: d\nepoch: 1\npurpose: p\noutputs: [count]\n"), 0o600)
	t.Setenv(buyerTokenEnv, "")
	key, err := client.GenerateBuyerKey("lab-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.WriteBuyerKey(filepath.Join(dir, "buyer.key"), key); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"buyer", "--token-file", tok, "--key-file", filepath.Join(dir, "none.key"), "--node", "127.0.0.1:1", "--insecure-plaintext", "submit", spec}, "no buyer key"},
		{[]string{"buyer", "--token-file", tok, "--key-file", spec, "--insecure-plaintext", "jobs"}, "--key-file"},
		{[]string{"buyer", "--token-file", tok, "keygen", "lab-2"}, "exists"},
		{[]string{"buyer", "--token-file", tok, "jobs"}, "--ca is required"},
		{[]string{"buyer", "--token-file", tok, "--ca", "x.pem", "--insecure-plaintext", "jobs"}, "not both"},
		{[]string{"buyer", "--token-file", tok, "--ca", filepath.Join(dir, "none.pem"), "jobs"}, "--ca"},
		{[]string{"buyer", "--token-file", filepath.Join(dir, "none"), "jobs"}, "no buyer token"},
		{[]string{"buyer", "--token-file", tok, "--insecure-plaintext", "submit", filepath.Join(dir, "none.yaml")}, "no such file"},
		{[]string{"buyer", "--token-file", tok, "--insecure-plaintext", "result"}, "accepts 1 arg"},
		{[]string{"buyer", "--token-file", tok, "--node", "127.0.0.1:1", "--insecure-plaintext", "submit", spec}, "Unavailable"},
		{[]string{"admin", "buyers", "create"}, "accepts 1 arg"},
		{[]string{"admin", "buyers", "credit", "alice"}, "accepts 2 arg"},
		{[]string{"admin", "buyers", "credit", "alice", "five"}, "want a positive integer"},
		{[]string{"admin", "buyers", "credit", "alice", "0"}, "want a positive integer"},
		{[]string{"buyer", "--token-file", tok, "--node", "127.0.0.1:1", "--insecure-plaintext", "balance"}, "Unavailable"},
	}
	for _, tc := range cases {
		root := newRootCmd()
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(tc.args)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
	"github.com/cohort-dev/cohort/webapp"
)

// appFlags are the flags of "cohort app": the client connection flags of
// the contributor and buyer commands, and where to listen.
type appFlags struct {
	contributorFlags
	tokenFile string
	keyFile   string
	listen    string
}

func newAppCmd() *cobra.Command {
	f := &appFlags{}
	cmd := &cobra.Command{
		Use:   "app --node HOST:PORT --federation federation.yaml [--token-file FILE] [--listen 127.0.0.1:PORT]",
		Short: "Serve the local web app for contributors, buyers and auditors",
		Long: `app serves a web app on a loopback address of this machine: the federation
and its datasets; a contributor's identity, registration, contributions
with their consent terms, receipts, the released jobs that counted them,
and revocation; a buyer's job builder, live progress, results as tables
and charts, and budget; an auditor's verification of transcript bundles.

It is backed by the same client as the other commands: the identity secret
and the buyer token stay in this process and are never sent to the
browser. It answers only requests addressed to its loopback address, needs
its per-process CSRF token on every change, and forbids other origins
(docs/design.md §8.5). Open the address it prints; stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := webapp.CheckListenAddress(f.listen); err != nil {
				return usageError{err}
			}
			lis, err := net.Listen("tcp", f.listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			return runApp(ctx, f, lis, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	var defIdentity, defCache string
	if home, err := os.UserHomeDir(); err == nil {
		defIdentity = filepath.Join(home, ".cohort", "identity.json")
		defCache = filepath.Join(home, ".cohort", "cache")
	}
	fl := cmd.Flags()
	fl.StringVar(&f.node, "node", "", "address host:port of a node of the federation")
	fl.StringVar(&f.ca, "ca", "", "the federation's CA certificate (ca.pem) (default: the CA in --federation)")
	fl.StringVar(&f.fed, "federation", "", "the federation's public descriptor (federation.yaml), from the federation itself: datasets are checked against it, and contributing and pinned audits need it")
	fl.StringVar(&f.identity, "identity", defIdentity, "identity file the contributor page opens (holds your secret; mode 0600)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding a buyer token, for the buyer page (default: $"+buyerTokenEnv+" when set, else no buyer page)")
	fl.StringVar(&f.keyFile, "key-file", "", "the buyer's signing key (cohort buyer keygen), with which the buyer page signs jobs (default: buyer.key beside --token-file)")
	fl.StringVar(&f.cache, "cache", defCache, `directory that keeps proving keys between runs ("" for none)`)
	fl.BoolVar(&f.insecure, "insecure-plaintext", false, "talk to the node unencrypted and unauthenticated (local tests only)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7480", "loopback address to serve the app on (127.0.0.1, ::1 or localhost; port 0 picks one)")
	return cmd
}

// buyerToken returns the buyer token from --token-file, else from
// $COHORT_BUYER_TOKEN; "" when neither is given.
func (f *appFlags) buyerToken() (string, error) {
	if f.tokenFile == "" {
		return strings.TrimSpace(os.Getenv(buyerTokenEnv)), nil
	}
	b, err := readBounded(f.tokenFile, client.MaxBuyerTokenLen+2)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--token-file %s is empty", f.tokenFile)
	}
	return t, nil
}

// dialBuyer connects a buyer client with the same transport as the
// contributor client.
func (f *appFlags) dialBuyer(token string, stderr io.Writer) (*client.Buyer, error) {
	// Jobs are signed with the buyer's key (docs/design.md §8.2); without
	// one the buyer page can read but every node refuses its submissions.
	var opts []client.DialOption
	keyPath := f.keyFile
	if keyPath == "" && f.tokenFile != "" {
		keyPath = filepath.Join(filepath.Dir(f.tokenFile), "buyer.key")
	}
	if keyPath != "" {
		switch key, err := client.ReadBuyerKey(keyPath); {
		case err == nil:
			opts = append(opts, client.WithBuyerKey(key))
		case !errors.Is(err, fs.ErrNotExist) || f.keyFile != "":
			return nil, fmt.Errorf("--key-file: %w", err)
		}
	}
	switch {
	case f.insecure:
		return client.DialBuyer(f.node, token, append(opts, client.WithInsecure())...)
	case f.ca != "":
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		return client.DialBuyer(f.node, token, append(opts, client.WithCA(pem))...)
	}
	d, err := federation.LoadDescriptor(f.fed)
	if err != nil {
		return nil, fmt.Errorf("--federation: %w", err)
	}
	return client.DialBuyer(f.node, token, append(opts, client.WithCA([]byte(d.CA)))...)
}

// runApp serves the app on lis until ctx ends.
func runApp(ctx context.Context, f *appFlags, lis net.Listener, stdout, stderr io.Writer) error {
	defer lis.Close()
	c, err := f.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	var fed *federation.Descriptor
	if f.fed != "" {
		if fed, err = federation.LoadDescriptor(f.fed); err != nil {
			return fmt.Errorf("--federation: %w", err)
		}
	} else {
		fmt.Fprintln(stderr, "WARNING: no --federation: datasets are not checked against the federation's descriptor, contributing is off, and audits are not pinned")
	}
	var buyer *client.Buyer
	tok, err := f.buyerToken()
	if err != nil {
		return err
	}
	if tok != "" {
		if buyer, err = f.dialBuyer(tok, stderr); err != nil {
			return err
		}
		defer buyer.Close()
	}
	srv, err := webapp.New(webapp.Config{
		Addr: lis.Addr().String(), Node: f.node, Client: c, Buyer: buyer,
		Federation: fed, IdentityPath: f.identity, CacheDir: f.cache,
	})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(lis) }()
	fmt.Fprintf(stdout, "cohort app: open http://%s/ (this machine only; Ctrl-C stops it)\n", lis.Addr())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

package main

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client"
)

// Exit statuses, by class of error, so that a script can branch without
// parsing messages. README "Exit statuses" lists them; keep the two in step.
const (
	exitOK          = 0 // success
	exitFailure     = 1 // anything else: a check failed, a job ended other than DONE, an internal error
	exitUsage       = 2 // bad flags or arguments, or input the node refused as invalid
	exitNotFound    = 3 // no such dataset, job, buyer, transcript or file
	exitAuth        = 4 // missing or wrong credentials, or not allowed for this caller
	exitRefused     = 5 // refused by policy: budget spent, cohort too small, dataset not ready, replay
	exitUnavailable = 6 // the node or a peer could not be reached in time; retrying may help
)

// usageError marks an error in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode classifies err. A gRPC status anywhere in its chain decides first
// (client.RPCError carries one); then the client's and the file system's
// sentinels.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return exitUsage
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		switch st.Code() {
		case codes.InvalidArgument, codes.OutOfRange:
			return exitUsage
		case codes.NotFound:
			return exitNotFound
		case codes.Unauthenticated, codes.PermissionDenied:
			return exitAuth
		case codes.FailedPrecondition, codes.ResourceExhausted, codes.AlreadyExists, codes.Aborted:
			return exitRefused
		case codes.Unavailable, codes.DeadlineExceeded:
			return exitUnavailable
		}
		return exitFailure
	}
	switch {
	case errors.Is(err, client.ErrInvalidOptions):
		return exitUsage
	case errors.Is(err, fs.ErrNotExist):
		return exitNotFound
	case errors.Is(err, client.ErrNotRegistered), errors.Is(err, client.ErrDatasetNotReady):
		return exitRefused
	}
	return exitFailure
}

// isCobraUsage recognises the errors cobra itself returns for a command
// line it cannot parse; cobra has no typed errors for them.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command ", "unknown flag: ", "unknown shorthand flag: ", "required flag(s) ", "if any flags in the group ", "flag needs an argument: ", "invalid argument "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// markUsage makes every flag and positional-argument error of root and its
// subcommands a usageError, so that it exits with exitUsage.
func markUsage(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

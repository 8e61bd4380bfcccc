package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries a specific exit code out of a command's RunE.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode maps an error returned by the command tree to a process exit code:
// usage mistakes exit 2, everything else 1 unless the command said otherwise.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return exitUsage
	}
	return exitFailure
}

// isCobraUsageError recognises the usage errors cobra reports before any
// command runs, which it returns untyped: an unknown command and a missing
// required flag.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ")
}

// argsAreUsage makes the argument checks of cmd and its subcommands report
// usage errors.
func argsAreUsage(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return &usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		argsAreUsage(sub)
	}
}

// usageError marks a mistake in how the command was called.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// requirePositive checks that each named flag of f is positive: a duration
// above zero, a count of at least one. A negative interval would spin and
// a count below one cannot bound anything, so either is a usage error.
func requirePositive(f *pflag.FlagSet, names ...string) error {
	for _, name := range names {
		switch f.Lookup(name).Value.Type() {
		case "duration":
			if d, _ := f.GetDuration(name); d <= 0 {
				return &usageError{fmt.Errorf("--%s must be positive, got %s", name, d)}
			}
		case "int":
			if n, _ := f.GetInt(name); n < 1 {
				return &usageError{fmt.Errorf("--%s must be at least 1, got %d", name, n)}
			}
		}
	}
	return nil
}

// routeClientLogs sends what the controller-runtime clients log to h, in
// the command's own format, so that --log-format json stays one object per
// line; unset, controller-runtime prints a multi-line warning once a process
// is 30 s old. It takes the first logger it is given, so each command calls
// this once, before it creates any client.
func routeClientLogs(h slog.Handler) {
	ctrllog.SetLogger(logr.FromSlogHandler(h))
}

// clientLogsTo routes the clients' logs of a command that logs nothing of
// its own to w, as text, beside its progress and warnings.
func clientLogsTo(w io.Writer) {
	routeClientLogs(slog.NewTextHandler(w, nil))
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tandem",
		Short: "GitOps for IoT solutions across a cloud cluster and many edge sites",
		Long: `tandem reconciles a Git repository of solution descriptors onto a cloud
cluster and many edge-site Kubernetes clusters.

For each commit it renders every tier with kustomize, scales the edge sites in
proportion to the cloud tier (linked scaling), server-side-applies the result
to every cluster, prunes what the commit removed and waits for health.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err}
	})
	root.AddCommand(newVersionCommand())
	root.AddCommand(newRenderCommand())
	root.AddCommand(newValidateCommand())
	root.AddCommand(newServeCommand())
	root.AddCommand(newAgentCommand())
	root.AddCommand(newDiffCommand())
	root.AddCommand(newApplyCommand())
	root.AddCommand(newStatusCommand())
	root.AddCommand(newModelCommand())
	root.AddCommand(newRolloutCommand())
	root.AddCommand(newSiteCommand())
	argsAreUsage(root)
	return root
}

package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-gitops/tandem/sources/modelfetch"
)

func newModelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Deliver the ML models a solution serves",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newModelFetchCommand())
	return cmd
}

type modelFetchOptions struct {
	uri, sha256, dest string
	attempts          int
	backoff           time.Duration
}

func newModelFetchCommand() *cobra.Command {
	var o modelFetchOptions
	cmd := &cobra.Command{
		Use:   "fetch --uri URI --sha256 DIGEST --dest DIR",
		Short: "Download a model, verify its sha256 and write it into a directory",
		Long: `Download a model over HTTP or HTTPS into --dest, as the last element of
the URI's path, and verify it against --sha256. This is what the init
container runs that tandem adds to a workload serving a model given by uri.

A dropped download is resumed with a Range request where the server allows
it, and failed requests are retried with exponential backoff; a 404 or
another client error is not retried. The model is written to a temporary
file in --dest and renamed into place only once its digest matches, so
--dest holds the whole, verified model or nothing. A model already there
with the right digest is kept.

Exit codes: 0 fetched, 1 the download failed or is not the model, 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requirePositive(cmd.Flags(), "attempts", "backoff"); err != nil {
				return err
			}
			f := &modelfetch.Fetcher{
				Attempts: o.attempts,
				Backoff:  o.backoff,
				Log:      slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)),
			}
			// The kubelet stops an init container with SIGTERM; stopping
			// the download then removes its partial file.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			path, err := f.Fetch(ctx, o.uri, o.sha256, o.dest)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "fetched %s (sha256 %s) to %s\n", o.uri, o.sha256, path)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.uri, "uri", "", "http or https URL of the model")
	f.StringVar(&o.sha256, "sha256", "", "hex sha256 digest the model must have")
	f.StringVar(&o.dest, "dest", "", "directory to write the model into")
	f.IntVar(&o.attempts, "attempts", 5, "requests to make before giving up")
	f.DurationVar(&o.backoff, "backoff", time.Second, "wait after the first failed request, doubled after each further one (at most 30s)")
	for _, name := range []string{"uri", "sha256", "dest"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

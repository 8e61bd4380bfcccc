// Command demo runs tandem's local demo: a cloud cluster and three edge
// sites, a Git server holding the smart-factory config repository, and
// "tandem serve" keeping the sites converged to it. It runs in the
// foreground until interrupted (Ctrl-C, or "demo down"), then stops every
// process it started and removes its state.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

const pidFileName = "demo.pid"

func main() {
	root := &cobra.Command{
		Use:           "demo",
		Short:         "Run tandem's local demo: local clusters, a Git server and the daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var dir string
	root.PersistentFlags().StringVar(&dir, "dir", filepath.Join(".cache", "demo"), "directory for the demo's state and logs")
	root.AddCommand(newUpCommand(&dir), newDownCommand(&dir))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func newUpCommand(dir *string) *cobra.Command {
	var cfg config
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the demo and keep it running until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			abs, err := filepath.Abs(*dir)
			if err != nil {
				return err
			}
			cfg.dir = abs
			return run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.tandemBin, "tandem", filepath.Join("bin", "tandem"), "the tandem binary to run")
	f.StringVar(&cfg.fixture, "fixture", filepath.Join("fixtures", "smart-factory"), "config repository to serve")
	f.StringSliceVar(&cfg.clusters, "clusters", []string{"cloud", "plant-a", "plant-b", "plant-c"}, "clusters to start")
	f.StringVar(&cfg.readyFile, "ready-file", "", "write the guide to this file once the fleet has converged")
	return cmd
}

func newDownCommand(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop a running demo and wait until everything it started is gone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			running, err := testbed.StopRecorded(filepath.Join(*dir, pidFileName), 2*time.Minute)
			if !running {
				fmt.Fprintln(os.Stderr, "no demo running")
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "demo stopped")
			return nil
		},
	}
}

// claim makes dir the demo's own: it refuses when another demo runs there,
// and otherwise clears what an earlier run left.
func claim(dir string) (release func(), err error) {
	if pid, ok := testbed.RunningPID(filepath.Join(dir, pidFileName)); ok {
		return nil, fmt.Errorf("a demo is already running (pid %d): stop it with Ctrl-C or \"make demo-down\"", pid)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clear earlier demo state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := testbed.WritePIDFile(filepath.Join(dir, pidFileName)); err != nil {
		return nil, err
	}
	return func() { os.RemoveAll(dir) }, nil
}

// step prints a step's name, runs it and prints how long it took, or why it
// failed.
func step(name string, fn func() error) error {
	fmt.Printf("==> %s\n", name)
	began := time.Now()
	if err := fn(); err != nil {
		fmt.Printf("    failed after %s\n", time.Since(began).Round(100*time.Millisecond))
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("    done in %s\n", time.Since(began).Round(100*time.Millisecond))
	return nil
}

var errInterrupted = errors.New("interrupted")

func interrupted(ctx context.Context) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	return nil
}

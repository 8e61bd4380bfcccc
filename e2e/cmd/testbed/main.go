// Command testbed starts and stops local Kubernetes clusters outside tests,
// for the demo and for trying tandem by hand.
//
//	go run ./e2e/cmd/testbed up --clusters cloud,plant-a,plant-b --full
//	go run ./e2e/cmd/testbed down
//
// "up" runs in the foreground until interrupted or until "down" is run with
// the same --dir; either way it stops every process it started.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

const pidFile = "testbed.pid"

func main() {
	root := &cobra.Command{
		Use:           "testbed",
		Short:         "Start and stop local Kubernetes clusters for tandem",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var dir string
	root.PersistentFlags().StringVar(&dir, "dir", filepath.Join(".cache", "testbed"),
		"directory for the clusters' state, kubeconfig and logs")
	root.AddCommand(newUpCommand(&dir), newDownCommand(&dir))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func newUpCommand(dir *string) *cobra.Command {
	var names string
	var full bool
	var ready string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start clusters and keep them running until interrupted",
		Example: `  testbed up --clusters cloud,plant-a,plant-b --full
  export KUBECONFIG=.cache/testbed/kubeconfig; kubectl --context plant-a get nodes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return up(ctx, *dir, strings.Split(names, ","), full, ready)
		},
	}
	cmd.Flags().StringVar(&names, "clusters", "cloud,plant-a,plant-b", "comma-separated cluster names; each becomes a kubeconfig context")
	cmd.Flags().BoolVar(&full, "full", false, "also run controller-manager, scheduler and a kwok node, so workloads become Available")
	cmd.Flags().StringVar(&ready, "ready-file", "", "write the kubeconfig path to this file once every cluster is ready")
	return cmd
}

func up(ctx context.Context, dir string, names []string, full bool, readyFile string) error {
	if err := refuseRunning(dir); err != nil {
		return err
	}
	// Start from clean state: etcd data and certificates of an earlier run
	// would not match the new processes.
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := testbed.WritePIDFile(filepath.Join(dir, pidFile)); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(dir, pidFile))

	began := time.Now()
	fleet, err := testbed.Start(ctx, testbed.Options{
		Names: names, Full: full, Dir: dir,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	})
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(fleet.Kubeconfig)
	fmt.Fprintf(os.Stderr, "%d clusters ready in %s\n", len(names), time.Since(began).Round(time.Millisecond))
	fmt.Println(abs)
	if readyFile != "" {
		if err := os.WriteFile(readyFile, []byte(abs+"\n"), 0o644); err != nil {
			return errors.Join(err, fleet.Stop())
		}
	}
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping clusters")
	return fleet.Stop()
}

// refuseRunning fails when another "up" still serves dir.
func refuseRunning(dir string) error {
	pid, ok := testbed.RunningPID(filepath.Join(dir, pidFile))
	if !ok {
		return nil
	}
	return fmt.Errorf("clusters in %s are still running (pid %d): run \"testbed down --dir %s\" first", dir, pid, dir)
}

func newDownCommand(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the clusters started by \"up\" and wait until they are gone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			running, err := testbed.StopRecorded(filepath.Join(*dir, pidFile), time.Minute)
			if !running {
				fmt.Fprintf(os.Stderr, "no clusters running in %s\n", *dir)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "clusters in %s stopped\n", *dir)
			return nil
		},
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// TestServeLogsOnlyJSONLinesWithLogFormatJSON runs serve in a process of its
// own, the test binary run again, until it logs "tandem serving", stops it
// with SIGTERM, and then has controller-runtime log a line, as its clients
// do: every line on standard error must be one JSON object, the
// controller-runtime one included.
func TestServeLogsOnlyJSONLinesWithLogFormatJSON(t *testing.T) {
	if args := os.Getenv("TANDEM_TEST_SERVE_ARGS"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			t.Fatal(err)
		}
		cmd := newRootCommand()
		cmd.SetArgs(argv)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		ctrllog.Log.WithName("probe").Info("controller-runtime probe", "after", "serve")
		return
	}
	repo := configRepo(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "--repo", "file://" + repo, "--ref", "main", "--listen", "127.0.0.1:0",
		"--cache-dir", t.TempDir(), "--kubeconfig", kubeconfig, "--log-format", "json", "--shutdown-timeout", "10s"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeLogsOnlyJSONLinesWithLogFormatJSON$")
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "TANDEM_TEST_SERVE_ARGS="+string(encoded))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var lines []string
	serving, probed := false, false
	scanner := bufio.NewScanner(stderr)
	for scanner.Scan() {
		line := scanner.Text()
		lines = append(lines, line)
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("stderr line is not a JSON object: %q", line)
			continue
		}
		switch entry["msg"] {
		case "tandem serving":
			if !serving {
				serving = true
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
		case "controller-runtime probe":
			probed = true
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if !serving || !probed {
		t.Errorf("serve logged no %q line or controller-runtime no probe line:\n%s", "tandem serving", strings.Join(lines, "\n"))
	}
}

func TestServeRenderTimeoutMustBePositive(t *testing.T) {
	for _, value := range []string{"0s", "-1m"} {
		args := []string{"serve", "--repo", "file:///nonexistent/config.git", "--listen", "127.0.0.1:0",
			"--cache-dir", t.TempDir(), "--render-timeout", value}
		_, _, err := run(t, args...)
		if got := exitCode(err); got != exitUsage || !strings.Contains(err.Error(), "--render-timeout must be positive") {
			t.Errorf("tandem %q = %v (exit %d); want a usage error naming --render-timeout", args, err, got)
		}
	}
}

package testbed

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOptionsValidateRejectsBadNames(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{nil, "no cluster names"},
		{[]string{"Cloud"}, `cluster name "Cloud"`},
		{[]string{"-edge"}, `cluster name "-edge"`},
		{[]string{"plant_a"}, `cluster name "plant_a"`},
		{[]string{"cloud", "cloud"}, `"cloud" given twice`},
	}
	for _, tt := range tests {
		opts := Options{Names: tt.names, Dir: t.TempDir()}
		err := opts.validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("validate(%q) = %v, want error containing %q", tt.names, err, tt.want)
		}
	}
	ok := Options{Names: []string{"cloud", "plant-a", "site7"}, Dir: t.TempDir()}
	if err := ok.validate(); err != nil {
		t.Errorf("validate(%q) = %v, want nil", ok.Names, err)
	}
}

func TestOptionsValidateRefusesLeanFullClusters(t *testing.T) {
	opts := Options{Names: []string{"cloud"}, Dir: t.TempDir(), Full: true, Lean: true}
	if err := opts.validate(); err == nil || !strings.Contains(err.Error(), "lean") {
		t.Errorf("validate() of lean full clusters = %v, want an error naming lean", err)
	}
}

func TestStopKillsTheWholeProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	// The shell ignores SIGTERM and starts a child, so stopping must reach
	// the child too and fall back to SIGKILL for the shell.
	p, err := startProcess("test/sh", "/bin/sh",
		[]string{"-c", `trap "" TERM; sleep 300 & echo $! > ` + pidFile + `; wait`},
		filepath.Join(dir, "sh.log"), false)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(pidFile); err == nil && len(data) > 1 {
			child = atoi(t, strings.TrimSpace(string(data)))
			break
		}
	}
	if child == 0 {
		t.Fatal("child never started")
	}
	if err := p.stop(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if done, _ := p.exited(); !done {
		t.Error("shell still running after stop")
	}
	if syscall.Kill(child, 0) == nil {
		t.Errorf("child %d still running after stop", child)
	}
}

func TestStartFailureShowsTheLog(t *testing.T) {
	dir := t.TempDir()
	p, err := startProcess("test/failing", "/bin/sh", []string{"-c", "echo cannot bind port 6443; exit 3"},
		filepath.Join(dir, "failing.log"), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = waitHTTP(ctx, p, http.DefaultClient, "http://127.0.0.1:1/", "")
	if err == nil {
		t.Fatal("waitHTTP succeeded on an exited process")
	}
	err = p.failure(err)
	for _, want := range []string{"test/failing", "exited before it was ready", "failing.log", "cannot bind port 6443"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestMissingBinariesNameTheMakeTarget(t *testing.T) {
	t.Setenv(ProviderEnv, "local")
	_, err := Start(context.Background(), Options{Names: []string{"cloud"}, Full: true, Dir: t.TempDir(), BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `make controlplane`) {
		t.Fatalf("Start with an empty bin dir = %v, want an error naming make controlplane", err)
	}
}

func TestKindProviderExplainsMissingDocker(t *testing.T) {
	t.Setenv(ProviderEnv, "kind")
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background(), Options{Names: []string{"cloud"}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "needs Docker") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Start = %v, want a one-line error saying Docker is needed", err)
	}
}

func TestKindProviderExplainsUnusableDocker(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\necho 'second line' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ProviderEnv, "kind")
	t.Setenv("PATH", bin)
	_, err := Start(context.Background(), Options{Names: []string{"cloud"}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Cannot connect to the Docker daemon") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Start = %v, want a one-line error quoting docker", err)
	}
}

func TestKindProviderPullsNoNodeImage(t *testing.T) {
	if err := DockerUsable(context.Background()); err != nil {
		t.Skipf("the engine's answer is what this checks: %v", err)
	}
	t.Setenv(ProviderEnv, "kind")
	t.Setenv(KindNodeImageEnv, "tandem.invalid/no-such-node:v0")
	_, err := Start(context.Background(), Options{Names: []string{"cloud"}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "node image tandem.invalid/no-such-node:v0 is not in the Docker engine") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Start = %v, want a one-line error naming the missing image", err)
	}
}

func TestUnknownProviderIsAnError(t *testing.T) {
	t.Setenv(ProviderEnv, "minikube")
	_, err := Start(context.Background(), Options{Names: []string{"cloud"}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `"minikube"`) {
		t.Fatalf("Start = %v, want an error naming the provider", err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("not a pid: %q", s)
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func TestRunningPIDIgnoresStaleAndForeignProcesses(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "own.pid")
	if err := WritePIDFile(own); err != nil {
		t.Fatal(err)
	}
	if pid, ok := RunningPID(own); !ok || pid != os.Getpid() {
		t.Errorf("RunningPID of this process = %d, %v", pid, ok)
	}
	foreign := exec.Command("sleep", "30")
	if err := foreign.Start(); err != nil {
		t.Fatal(err)
	}
	defer foreign.Process.Kill()
	other := filepath.Join(dir, "other.pid")
	os.WriteFile(other, []byte(strconv.Itoa(foreign.Process.Pid)), 0o644)
	if _, ok := RunningPID(other); ok {
		t.Error("RunningPID accepted a process running another program")
	}
	if _, ok := RunningPID(filepath.Join(dir, "missing.pid")); ok {
		t.Error("RunningPID accepted a missing pid file")
	}
}

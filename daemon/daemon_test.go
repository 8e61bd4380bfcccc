package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
	"github.com/tandem-gitops/tandem/sources"
)

// logBuffer collects JSON log lines written from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count returns how many lines have message msg and key revision rev.
func (l *logBuffer) count(t *testing.T, msg, rev string) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg && m["revision"] == rev {
			n++
		}
	}
	return n
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newConfigRepo creates a bare config repository with a branch main and
// a clone of it to commit in.
func newConfigRepo(t *testing.T) (bare, work string) {
	t.Helper()
	root := t.TempDir()
	bare, work = filepath.Join(root, "config.git"), filepath.Join(root, "work")
	git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	git(t, root, "clone", "--quiet", bare, work)
	return bare, work
}

// commitFiles writes files into work, commits and pushes them, and
// returns the commit.
func commitFiles(t *testing.T, work, message string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, work, "add", "--all")
	git(t, work, "commit", "--quiet", "-m", message)
	git(t, work, "push", "--quiet", "origin", "HEAD:main")
	return git(t, work, "rev-parse", "HEAD")
}

// commitSolution writes a one-tier solution at the given scale into work,
// commits and pushes it, and returns the commit.
func commitSolution(t *testing.T, work string, scale int) string {
	t.Helper()
	return commitFiles(t, work, "Scale to "+strconv.Itoa(scale), map[string]string{
		"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata: {name: factory}
spec:
  scale: ` + strconv.Itoa(scale) + `
  tiers:
  - name: cloud
    path: tiers/cloud
    targets: {clusters: [cloud]}
    replicas:
    - {workload: ingest, perScale: 1}
`,
		"tiers/cloud/kustomization.yaml": "resources: [ingest.yaml]\n",
		"tiers/cloud/ingest.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: ingest, namespace: factory}
spec:
  selector: {matchLabels: {app: ingest}}
  template:
    metadata: {labels: {app: ingest}}
    spec:
      containers: [{name: ingest, image: ingest:1}]
`,
	})
}

// specOf is the spec a test daemon follows bare with.
func specOf(bare string) sources.Spec {
	return sources.Spec{URL: "file://" + bare, Ref: sources.Ref{Branch: "main"}, Interval: time.Hour}
}

func revisionOf(commit string) string {
	return sources.Revision{Ref: "refs/heads/main", Commit: commit}.String()
}

// testDaemon is a daemon following a test repository, run until the test
// ends, whose clusters cannot be reached: the tests using it are about
// revisions, not passes.
type testDaemon struct {
	*Daemon
	poller *sources.Poller
	logs   *logBuffer
}

// startDaemon runs a daemon with cfg following bare's branch main.
func startDaemon(t *testing.T, bare string, cfg Config) *testDaemon {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	repo, err := sources.Open(specOf(bare), sources.Options{CacheDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	poller := sources.NewPoller(repo, sources.PollerOptions{})
	unreachable := clusters.ResolverFunc(func(context.Context, string) (*rest.Config, error) {
		return nil, errors.New("no such cluster")
	})
	cfg.Source, cfg.Trees, cfg.Logger = poller, repo, logger
	cfg.Applier = reconciler.New(unreachable, reconciler.Options{Logger: logger, RetryInterval: time.Hour, MaxRetryInterval: time.Hour})
	d := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return &testDaemon{Daemon: d, poller: poller, logs: logs}
}

// waitRender waits until the daemon's render status satisfies done, which
// what describes.
func (d *testDaemon) waitRender(t *testing.T, what string, done func(RenderStatus) bool) RenderStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := d.Status().Render
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not within 10s; render status %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rendered waits until the daemon has rendered commit.
func (d *testDaemon) rendered(t *testing.T, commit string) string {
	t.Helper()
	rev := revisionOf(commit)
	d.waitRender(t, "revision "+rev+" rendered", func(st RenderStatus) bool { return st.LastGoodRevision == rev })
	return rev
}

// failed waits until the daemon has failed to render commit and returns
// why.
func (d *testDaemon) failed(t *testing.T, commit string) RenderStatus {
	t.Helper()
	rev := revisionOf(commit)
	return d.waitRender(t, "revision "+rev+" failed", func(st RenderStatus) bool { return st.Revision == rev && st.Error != "" })
}

func TestNewRevisionIsLoggedOncePerRevision(t *testing.T) {
	bare, work := newConfigRepo(t)
	first := commitSolution(t, work, 1)
	d := startDaemon(t, bare, Config{})

	revs := []string{d.rendered(t, first)}
	second := commitSolution(t, work, 2)
	d.poller.Trigger()
	revs = append(revs, d.rendered(t, second))
	for _, rev := range revs {
		if n := d.logs.count(t, "new revision", rev); n != 1 {
			t.Errorf("%q logged %d times for %s, want once", "new revision", n, rev)
		}
	}
}

func TestRenderOverItsTimeBudgetFailsTheRevisionAndTheDaemonGoesOn(t *testing.T) {
	bare, work := newConfigRepo(t)
	first := commitSolution(t, work, 1)
	stateDir := t.TempDir()
	d := startDaemon(t, bare, Config{RenderTimeout: time.Nanosecond, StateDir: stateDir})

	st := d.failed(t, first)
	want := "render revision " + revisionOf(first) + ": exceeded the render time budget of 1ns "
	if !strings.HasPrefix(st.Error, want) || st.LastGoodRevision != "" {
		t.Errorf("render status %+v; want error %q… and no good revision", st, want)
	}
	// The daemon goes on to the next revision.
	second := commitSolution(t, work, 2)
	d.poller.Trigger()
	d.failed(t, second)
	if n := d.logs.count(t, "revision does not render; the last good revision stays applied", revisionOf(second)); n != 1 {
		t.Errorf("the failed render of %s logged %d times, want once", second, n)
	}
	if entries, err := os.ReadDir(stateDir); err != nil || len(entries) != 0 {
		t.Errorf("state directory after failed renders holds %v (%v), want nothing", entries, err)
	}
}

func TestRevisionOverABudgetLeavesTheLastGoodRevisionToTheClusters(t *testing.T) {
	bare, work := newConfigRepo(t)
	first := commitSolution(t, work, 1)
	d := startDaemon(t, bare, Config{})
	good := d.rendered(t, first)

	// Nine levels of nine aliases: 9^9 strings from 300 bytes.
	bomb := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb, namespace: factory}\ndata:\n  a: &a [l,l,l,l,l,l,l,l,l]\n"
	for c := 'b'; c <= 'i'; c++ {
		p := string(c - 1)
		bomb += fmt.Sprintf("  %c: &%c [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, p, p, p, p, p, p, p, p, p)
	}
	second := commitFiles(t, work, "Add a bomb", map[string]string{
		"tiers/cloud/kustomization.yaml": "resources: [ingest.yaml, bomb.yaml]\n",
		"tiers/cloud/bomb.yaml":          bomb,
	})
	d.poller.Trigger()
	st := d.failed(t, second)
	if !strings.Contains(st.Error, "tiers/cloud/bomb.yaml: YAML expands to more than") || st.LastGoodRevision != good {
		t.Errorf("render status %+v; want the bomb's budget error and last good revision %s", st, good)
	}
	targets := d.Status().Targets
	if len(targets) == 0 {
		t.Error("no targets after the failed render; want the last good revision's")
	}
	for _, ts := range targets {
		if ts.DesiredRevision != good {
			t.Errorf("target %s/%s on %s desires %s; want the last good revision %s", ts.Solution, ts.Tier, ts.Cluster, ts.DesiredRevision, good)
		}
	}
	third := commitSolution(t, work, 3)
	d.poller.Trigger()
	d.rendered(t, third)
}

// TestCommitBeingRenderedWhenTheProcessDiedIsNotRenderedAgain leaves the
// marker a process killed while rendering a commit leaves behind, and
// starts a daemon: it must not render that commit, and must render the
// next.
func TestCommitBeingRenderedWhenTheProcessDiedIsNotRenderedAgain(t *testing.T) {
	bare, work := newConfigRepo(t)
	killer := commitSolution(t, work, 1)
	stateDir := t.TempDir()
	if err := newRenderMarker(stateDir, specOf(bare)).write(killer); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bare, Config{StateDir: stateDir})

	st := d.failed(t, killer)
	want := "the previous process stopped while rendering commit " + killer + "; it is not rendered again — push a new commit"
	if st.Error != want {
		t.Errorf("render error = %q; want %q", st.Error, want)
	}
	rev := revisionOf(killer)
	if n := d.logs.count(t, "revision not rendered; the last good revision stays applied", rev); n != 1 {
		t.Errorf("%s logged as not rendered %d times, want once", rev, n)
	}
	if n := d.logs.count(t, "revision rendered", rev); n != 0 {
		t.Errorf("%s rendered %d times, want never", rev, n)
	}

	next := commitSolution(t, work, 2)
	d.poller.Trigger()
	d.rendered(t, next)
	if entries, err := os.ReadDir(stateDir); err != nil || len(entries) != 0 {
		t.Errorf("state directory after a render holds %v (%v), want nothing", entries, err)
	}
}

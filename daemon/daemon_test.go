package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// commitSolution writes a one-tier solution at the given scale into work,
// commits and pushes it, and returns the commit.
func commitSolution(t *testing.T, work string, scale int) string {
	t.Helper()
	files := map[string]string{
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
	}
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
	git(t, work, "commit", "--quiet", "-m", "Scale to "+strconv.Itoa(scale))
	git(t, work, "push", "--quiet", "origin", "HEAD:main")
	return git(t, work, "rev-parse", "HEAD")
}

func TestNewRevisionIsLoggedOncePerRevision(t *testing.T) {
	root := t.TempDir()
	bare, work := filepath.Join(root, "config.git"), filepath.Join(root, "work")
	git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	git(t, root, "clone", "--quiet", bare, work)
	first := commitSolution(t, work, 1)

	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	repo, err := sources.Open(sources.Spec{URL: "file://" + bare, Ref: sources.Ref{Branch: "main"}, Interval: time.Hour},
		sources.Options{CacheDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	poller := sources.NewPoller(repo, sources.PollerOptions{})
	// The solution's cluster cannot be reached: this test is about the
	// revisions, not the passes.
	unreachable := reconciler.ResolverFunc(func(context.Context, string) (*rest.Config, error) {
		return nil, errors.New("no such cluster")
	})
	d := New(Config{Repository: repo, Poller: poller, Logger: logger}, func(observe func(reconciler.Result)) *reconciler.Reconciler {
		return reconciler.New(unreachable, reconciler.Options{Logger: logger, Observe: observe, RetryInterval: time.Hour, MaxRetryInterval: time.Hour})
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	// rendered waits until the daemon has rendered commit.
	rendered := func(commit string) string {
		t.Helper()
		rev := sources.Revision{Ref: "refs/heads/main", Commit: commit}.String()
		deadline := time.Now().Add(10 * time.Second)
		for d.Status().Render.LastGoodRevision != rev {
			if time.Now().After(deadline) {
				t.Fatalf("revision %s not rendered within 10s; render status %+v", rev, d.Status().Render)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return rev
	}

	revs := []string{rendered(first)}
	second := commitSolution(t, work, 2)
	poller.Trigger()
	revs = append(revs, rendered(second))
	for _, rev := range revs {
		if n := logs.count(t, "new revision", rev); n != 1 {
			t.Errorf("%q logged %d times for %s, want once", "new revision", n, rev)
		}
	}
}

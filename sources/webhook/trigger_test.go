package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gitops/tandem/sources"
)

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

// commitAndPush commits a file in work and pushes it, returning the commit.
func commitAndPush(t *testing.T, work, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(work, "tandem.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "tandem.yaml")
	git(t, work, "commit", "--quiet", "-m", "Change scale")
	git(t, work, "push", "--quiet", "origin", "HEAD:main")
	return git(t, work, "rev-parse", "HEAD")
}

func TestPushDeliveryFetchesImmediately(t *testing.T) {
	root := t.TempDir()
	bare, work := filepath.Join(root, "config.git"), filepath.Join(root, "work")
	git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	git(t, root, "clone", "--quiet", bare, work)
	commitAndPush(t, work, "scale: 1\n")

	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	repo, err := sources.Open(sources.Spec{URL: "file://" + bare, Ref: sources.Ref{Branch: "main"}, Interval: time.Hour},
		sources.Options{CacheDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	poller := sources.NewPoller(repo, sources.PollerOptions{})
	receiver, err := NewReceiver(Options{Secret: []byte(secret), Logger: logger}, poller)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- poller.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	}()
	next := func() sources.Revision {
		t.Helper()
		select {
		case rev := <-poller.Revisions():
			return rev
		case <-time.After(10 * time.Second):
			t.Fatal("no revision")
			return sources.Revision{}
		}
	}
	next()

	want := commitAndPush(t, work, "scale: 2\n")
	body := `{"repository":"file://` + bare + `","ref":"refs/heads/main"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("X-Tandem-Signature-256", "sha256="+hexMAC(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d, want 202", resp.StatusCode)
	}
	if rev := next(); rev.Commit != want {
		t.Errorf("revision after the delivery = %s, want %s", rev.Commit, want)
	}
}

package gitwrite

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-gitops/tandem/sources"
)

// The helpers below stand in for the remote as sources' own tests do.

// gitHTTPBackend is Debian's git smart-HTTP CGI program.
const gitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// runGit runs the git CLI in dir with a configuration isolated from the
// machine's, and returns its trimmed standard output.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := gitCommand(dir, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func gitCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Author", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
	return cmd
}

// upstream is a bare repository standing in for the remote, and a clone in
// which tests author commits and push them to it, as a person would.
type upstream struct {
	t    testing.TB
	bare string // the bare repository
	work string // a clone with a worktree
}

// newUpstream creates a bare repository whose branch main has one commit
// holding files.
func newUpstream(t testing.TB, files map[string]string) *upstream {
	t.Helper()
	root := t.TempDir()
	u := &upstream{t: t, bare: filepath.Join(root, "config.git"), work: filepath.Join(root, "work")}
	runGit(t, root, "init", "--quiet", "--bare", "--initial-branch=main", u.bare)
	runGit(t, u.bare, "config", "http.receivepack", "true")
	runGit(t, root, "init", "--quiet", "--initial-branch=main", u.work)
	runGit(t, u.work, "remote", "add", "origin", u.bare)
	u.commit("Initial configuration", files)
	return u
}

// fileURL is the upstream's file:// URL.
func (u *upstream) fileURL() string { return "file://" + u.bare }

// write changes files in the clone without committing; an empty content
// removes the file.
func (u *upstream) write(files map[string]string) {
	u.t.Helper()
	for name, content := range files {
		p := filepath.Join(u.work, filepath.FromSlash(name))
		if content == "" {
			runGit(u.t, u.work, "rm", "--quiet", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			u.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			u.t.Fatal(err)
		}
	}
}

// commit writes files, commits them on the clone's current branch, pushes
// it and returns the new commit's SHA.
func (u *upstream) commit(subject string, files map[string]string) string {
	u.t.Helper()
	u.write(files)
	runGit(u.t, u.work, "add", "--all")
	runGit(u.t, u.work, "commit", "--quiet", "--allow-empty", "-m", subject)
	runGit(u.t, u.work, "push", "--quiet", "origin", "HEAD")
	return runGit(u.t, u.work, "rev-parse", "HEAD")
}

// commitRebasing is commit for a person racing other pushers: when the push
// is rejected, it rebases onto the new head and pushes again.
func (u *upstream) commitRebasing(subject string, files map[string]string) {
	u.t.Helper()
	u.write(files)
	runGit(u.t, u.work, "add", "--all")
	runGit(u.t, u.work, "commit", "--quiet", "-m", subject)
	for range 20 {
		if err := gitCommand(u.work, "push", "--quiet", "origin", "HEAD").Run(); err == nil {
			return
		}
		runGit(u.t, u.work, "pull", "--quiet", "--rebase", "origin", "main")
	}
	u.t.Fatalf("could not push %q", subject)
}

// head returns the commit a branch points to in the bare repository.
func (u *upstream) head(branch string) string {
	u.t.Helper()
	return runGit(u.t, u.bare, "rev-parse", "refs/heads/"+branch)
}

// show returns a file's content at a branch of the bare repository.
func (u *upstream) show(branch, name string) string {
	u.t.Helper()
	return runGit(u.t, u.bare, "show", "refs/heads/"+branch+":"+name)
}

// serveHTTP serves the upstream over smart HTTP with git's own
// http-backend, requiring basic authentication as user:password.
func (u *upstream) serveHTTP(user, password string) string {
	u.t.Helper()
	url, _ := u.serveHTTPUntilStopped(user, password)
	return url
}

// serveHTTPUntilStopped is serveHTTP, also returning a function that stops
// the server so that later connections are refused.
func (u *upstream) serveHTTPUntilStopped(user, password string) (string, func()) {
	u.t.Helper()
	srv := httptest.NewServer(u.gitHandler(user, password))
	u.t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(u.bare), srv.Close
}

// gitHandler is git's http-backend for the upstream behind basic
// authentication.
func (u *upstream) gitHandler(user, password string) http.Handler {
	u.t.Helper()
	if _, err := os.Stat(gitHTTPBackend); err != nil {
		u.t.Skipf("git smart HTTP server not available: %v", err)
	}
	backend := &cgi.Handler{
		Path: gitHTTPBackend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(u.bare),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

func openTestRepository(t testing.TB, spec sources.Spec, cacheDir string) *sources.Repository {
	t.Helper()
	repo, err := sources.Open(spec, sources.Options{CacheDir: cacheDir, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

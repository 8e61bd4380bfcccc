// Package gitserver serves Git repositories over smart HTTP on 127.0.0.1 for
// tandem's end-to-end tests and its demo: git's own http-backend behind
// net/http/cgi, so clients meet the real protocol. After every push it can
// post a signed webhook, as a Git hosting service would.
package gitserver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// HTTPBackend is where Debian's git package installs the smart-HTTP program.
const HTTPBackend = "/usr/lib/git-core/git-http-backend"

// Options configures a Server.
type Options struct {
	// Root holds the bare repositories, served as /<name>.git.
	Root string
	// WebhookURL, when set, receives a POST after every successful push,
	// signed in X-Tandem-Signature-256 with WebhookSecret.
	WebhookURL    string
	WebhookSecret []byte
	// Logger receives a line per push and webhook; slog.Default() when nil.
	Logger *slog.Logger
}

// Server serves the repositories under Options.Root.
type Server struct {
	opts     Options
	listener net.Listener
	srv      *http.Server
	// notifying counts webhook deliveries in flight; Close waits for them.
	notifying sync.WaitGroup
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL string
}

// Start serves opts.Root on a free port of 127.0.0.1.
func Start(opts Options) (*Server, error) {
	if _, err := os.Stat(HTTPBackend); err != nil {
		return nil, fmt.Errorf("git server needs git's http-backend (Debian package git): %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("git server: %w", err)
	}
	s := &Server{opts: opts, listener: l, URL: "http://" + l.Addr().String()}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

// Close stops the server and waits for webhook deliveries in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.notifying.Wait()
	return err
}

// RepoURL returns the clone URL of the named repository.
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// CreateRepo creates the bare repository name whose branch main holds the
// files of dir in one commit, and returns its clone URL.
func (s *Server) CreateRepo(name, dir, message string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	bare := filepath.Join(s.opts.Root, name+".git")
	work, err := os.MkdirTemp("", "gitserver-seed-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	steps := [][]string{
		{"-C", s.opts.Root, "init", "--quiet", "--bare", "--initial-branch=main", bare},
		{"-C", bare, "config", "http.receivepack", "true"},
		{"-C", work, "init", "--quiet", "--initial-branch=main"},
		{"-C", dir, "--git-dir", filepath.Join(work, ".git"), "--work-tree", dir, "add", "--all", "."},
		{"-C", dir, "--git-dir", filepath.Join(work, ".git"), "--work-tree", dir, "commit", "--quiet", "-m", message},
		{"-C", work, "push", "--quiet", bare, "main"},
	}
	for _, args := range steps {
		if out, err := Git(args...); err != nil {
			return "", fmt.Errorf("create repository %s: git %s: %w\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	return s.RepoURL(name), nil
}

// Git runs the git command with a configuration isolated from the machine's
// and a fixed identity, returning its combined output.
func Git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=tandem demo", "GIT_AUTHOR_EMAIL=demo@tandem.dev",
		"GIT_COMMITTER_NAME=tandem demo", "GIT_COMMITTER_EMAIL=demo@tandem.dev",
	)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// ServeHTTP hands the request to git http-backend, then posts the webhook
// if the request was a push.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := &cgi.Handler{
		Path: HTTPBackend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.opts.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
		},
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.ServeHTTP(rec, r)
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && rec.status == http.StatusOK {
		repo := strings.TrimSuffix(r.URL.Path, "/git-receive-pack")
		s.opts.Logger.Info("push received", "repo", repo)
		if s.opts.WebhookURL != "" {
			s.notifying.Go(func() { s.notify(s.URL + repo) })
		}
	}
}

// notify posts the generic push webhook tandem's receiver understands.
func (s *Server) notify(repoURL string) {
	body, _ := json.Marshal(map[string]string{"repository": repoURL})
	mac := hmac.New(sha256.New, s.opts.WebhookSecret)
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, s.opts.WebhookURL, bytes.NewReader(body))
	if err != nil {
		s.opts.Logger.Error("webhook", "error", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tandem-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		s.opts.Logger.Warn("webhook not delivered", "url", s.opts.WebhookURL, "error", err)
		return
	}
	resp.Body.Close()
	s.opts.Logger.Info("webhook delivered", "url", s.opts.WebhookURL, "status", resp.StatusCode)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-gitops/tandem/sources"
)

// fakeTarget records its triggers.
type fakeTarget struct {
	name      string
	spec      sources.Spec
	mu        sync.Mutex
	triggered int
}

func (f *fakeTarget) Spec() sources.Spec { return f.spec }

func (f *fakeTarget) Trigger() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggered++
}

func (f *fakeTarget) wasTriggered() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.triggered > 0
}

// logBuffer collects a handler's output; the server writes it from its own
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines decodes the JSON lines written so far.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

const secret = "webhook-secret"

func githubPush(repo, ref string) string {
	return `{"ref":"` + ref + `","repository":{"clone_url":"` + repo + `"}}`
}

// signedGitHub returns the headers GitHub sends with a delivery of event.
func signedGitHub(event, body string) map[string]string {
	return map[string]string{
		"X-GitHub-Event":      event,
		"X-GitHub-Delivery":   "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		"X-Hub-Signature-256": "sha256=" + hexMAC(secret, body),
	}
}

// logKeys are the keys every delivery's line carries.
var logKeys = []string{"provider", "event", "repo", "ref", "status", "remote"}

func TestReceiverAnswersAndLogsEachDeliveryOnce(t *testing.T) {
	sha := strings.Repeat("a", 40)
	const config = "https://github.com/acme/config.git"
	mainPush := githubPush(config, "refs/heads/main")
	giteaBody := githubPush("https://gitea.example.com/acme/config.git", "refs/heads/main")
	gitlabPush := `{"ref":"refs/heads/main","project":{"git_http_url":"https://gitlab.com/acme/edge.git","git_ssh_url":"git@gitlab.com:acme/edge.git"}}`
	pullRequest := `{"action":"opened","number":7,"pull_request":{"base":{"ref":"main"}},"repository":{"clone_url":"` + config + `"}}`
	ping := `{"zen":"Keep it simple.","hook_id":1,"repository":{"clone_url":"` + config + `"}}`
	tests := []struct {
		name     string
		method   string
		headers  map[string]string
		body     string
		status   int
		response string   // a part of the response body
		want     []string // triggered targets
		level    string
		msg      string
		log      map[string]any // keys the line must hold, with their values
	}{
		{
			name:    "github push to the followed branch",
			headers: signedGitHub("push", mainPush), body: mainPush,
			status: http.StatusAccepted, response: "triggered 1", want: []string{"main"},
			level: "INFO", msg: "push received; fetching now",
			log: map[string]any{"provider": "github", "event": "push", "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
				"repo": config, "ref": "refs/heads/main", "targets": 1.0, "status": 202.0},
		},
		{
			name:    "github push to another branch",
			headers: signedGitHub("push", githubPush(config, "refs/heads/dev")), body: githubPush(config, "refs/heads/dev"),
			status: http.StatusOK, response: "ignored: no target follows this ref",
			level: "INFO", msg: "webhook delivery ignored",
			log: map[string]any{"provider": "github", "event": "push", "repo": config, "ref": "refs/heads/dev",
				"reason": "no target follows this ref", "status": 200.0},
		},
		{
			name:    "github push of the followed tag matches the scp-like URL",
			headers: signedGitHub("push", githubPush(config, "refs/tags/v1")), body: githubPush(config, "refs/tags/v1"),
			status: http.StatusAccepted, want: []string{"release"},
			level: "INFO", msg: "push received; fetching now",
			log: map[string]any{"ref": "refs/tags/v1", "targets": 1.0},
		},
		{
			name:    "github push to another repository",
			headers: signedGitHub("push", githubPush("https://github.com/acme/other.git", "refs/heads/main")),
			body:    githubPush("https://github.com/acme/other.git", "refs/heads/main"),
			status:  http.StatusOK, response: "ignored: no target follows this repository",
			level: "INFO", msg: "webhook delivery ignored",
			log: map[string]any{"repo": "https://github.com/acme/other.git", "ref": "refs/heads/main",
				"reason": "no target follows this repository"},
		},
		{
			name:    "github push to the repository of a pinned commit only",
			headers: signedGitHub("push", githubPush("https://github.com/acme/pinned.git", "refs/heads/main")),
			body:    githubPush("https://github.com/acme/pinned.git", "refs/heads/main"),
			status:  http.StatusOK, response: "ignored: no target follows this ref",
			level: "INFO", msg: "webhook delivery ignored",
			log: map[string]any{"reason": "no target follows this ref"},
		},
		{
			name:    "github ping",
			headers: signedGitHub("ping", ping), body: ping,
			status: http.StatusOK, response: "ignored: not a push event",
			level: "INFO", msg: "webhook delivery ignored",
			log: map[string]any{"provider": "github", "event": "ping", "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
				"repo": config, "ref": "", "reason": "not a push event", "status": 200.0},
		},
		{
			name:    "github pull request",
			headers: signedGitHub("pull_request", pullRequest), body: pullRequest,
			status: http.StatusOK, response: "ignored: not a push event",
			level: "INFO", msg: "webhook delivery ignored",
			log: map[string]any{"event": "pull_request", "repo": config, "reason": "not a push event"},
		},
		{
			name:    "github event whose body is not a push payload is still only ignored",
			headers: signedGitHub("workflow_run", `[1,2]`), body: `[1,2]`,
			status: http.StatusOK,
			level:  "INFO", msg: "webhook delivery ignored",
			log: map[string]any{"event": "workflow_run", "repo": "", "reason": "not a push event"},
		},
		{
			name:    "github bad signature",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC("guess", mainPush)},
			body:    mainPush,
			status:  http.StatusUnauthorized, response: "bad signature",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"provider": "github", "event": "push", "repo": "", "reason": "bad signature", "status": 401.0},
		},
		{
			name:    "github without a secret configured",
			headers: map[string]string{"X-GitHub-Event": "push"},
			body:    mainPush,
			status:  http.StatusUnauthorized, response: "missing signature",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"provider": "github", "event": "push", "reason": "missing signature"},
		},
		{
			name:   "unknown sender",
			body:   mainPush,
			status: http.StatusUnauthorized, response: "missing signature",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"provider": "", "event": "", "reason": "missing signature"},
		},
		{
			name:    "oversized body",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
			body:    strings.Repeat(" ", 2048),
			status:  http.StatusRequestEntityTooLarge, response: "body exceeds 1024 bytes",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"reason": "body exceeds 1024 bytes", "status": 413.0},
		},
		{
			name:   "not a POST",
			method: http.MethodGet,
			status: http.StatusMethodNotAllowed, response: "only POST is accepted",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"reason": "only POST is accepted", "status": 405.0},
		},
		{
			name:    "signed but malformed",
			headers: signedGitHub("push", `{"ref":`), body: `{"ref":`,
			status: http.StatusBadRequest, response: "malformed push payload",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"event": "push", "reason": "malformed push payload: unexpected end of JSON input"},
		},
		{
			name:    "signed push without a ref",
			headers: signedGitHub("push", `{"repository":{"clone_url":"`+config+`"}}`), body: `{"repository":{"clone_url":"` + config + `"}}`,
			status: http.StatusBadRequest, response: "ref must be set",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"repo": config, "reason": "malformed push payload: ref must be set"},
		},
		{
			name:    "gitlab push",
			headers: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e"},
			body:    gitlabPush,
			status:  http.StatusAccepted, want: []string{"gitlab"},
			level: "INFO", msg: "push received; fetching now",
			log: map[string]any{"provider": "gitlab", "event": "Push Hook", "delivery": "13792a34-cac6-4fda-95a8-c58e00a3954e",
				"repo": "https://gitlab.com/acme/edge.git", "ref": "refs/heads/main", "targets": 1.0},
		},
		{
			name:    "gitlab wrong token",
			headers: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"},
			body:    gitlabPush,
			status:  http.StatusUnauthorized, response: "bad token",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"provider": "gitlab", "event": "Push Hook", "reason": "bad token"},
		},
		{
			name:    "gitlab without a token",
			headers: map[string]string{"X-Gitlab-Event": "Push Hook"},
			body:    gitlabPush,
			status:  http.StatusUnauthorized, response: "missing token",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"provider": "gitlab", "reason": "missing token"},
		},
		{
			name:    "gitlab merge request",
			headers: map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": secret},
			body:    `{"object_kind":"merge_request","project":{"git_http_url":"https://gitlab.com/acme/edge.git"}}`,
			status:  http.StatusOK, response: "ignored: not a push event",
			level: "INFO", msg: "webhook delivery ignored",
			log: map[string]any{"provider": "gitlab", "event": "Merge Request Hook", "repo": "https://gitlab.com/acme/edge.git",
				"ref": "", "reason": "not a push event"},
		},
		{
			name:    "gitea push",
			headers: map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473", "X-Gitea-Signature": hexMAC(secret, giteaBody)},
			body:    giteaBody,
			status:  http.StatusAccepted, want: []string{"gitea"},
			level: "INFO", msg: "push received; fetching now",
			log: map[string]any{"provider": "gitea", "event": "push", "delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
		},
		{
			name:    "gitea bad signature is not rescued by a good GitHub one",
			headers: map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hexMAC("guess", giteaBody), "X-Hub-Signature-256": "sha256=" + hexMAC(secret, giteaBody)},
			body:    giteaBody,
			status:  http.StatusUnauthorized, response: "bad signature",
			level: "WARN", msg: "webhook delivery refused",
			log: map[string]any{"provider": "gitea", "reason": "bad signature"},
		},
		{
			name:    "forgejo push",
			headers: map[string]string{"X-Forgejo-Event": "push", "X-Forgejo-Signature": hexMAC(secret, giteaBody)},
			body:    giteaBody,
			status:  http.StatusAccepted, want: []string{"gitea"},
			level: "INFO", msg: "push received; fetching now",
			log: map[string]any{"provider": "forgejo", "event": "push"},
		},
		{
			name:    "generic without ref triggers every followed ref but not a pinned commit",
			headers: map[string]string{"X-Tandem-Signature-256": "sha256=" + hexMAC(secret, `{"repository":"https://github.com/acme/config"}`)},
			body:    `{"repository":"https://github.com/acme/config"}`,
			status:  http.StatusAccepted, response: "triggered 2", want: []string{"main", "release"},
			level: "INFO", msg: "push received; fetching now",
			log: map[string]any{"provider": "generic", "event": "push", "repo": "https://github.com/acme/config", "ref": "", "targets": 2.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := []*fakeTarget{
				{name: "main", spec: sources.Spec{URL: "https://github.com/acme/config.git", Ref: sources.Ref{Branch: "main"}}},
				{name: "release", spec: sources.Spec{URL: "git@github.com:acme/config.git", Ref: sources.Ref{Tag: "v1"}}},
				{name: "pinned", spec: sources.Spec{URL: "https://github.com/acme/config.git", Ref: sources.Ref{Commit: sha}}},
				{name: "pinned only", spec: sources.Spec{URL: "https://github.com/acme/pinned.git", Ref: sources.Ref{Commit: sha}}},
				{name: "gitlab", spec: sources.Spec{URL: "https://gitlab.com/acme/edge", Ref: sources.Ref{Branch: "main"}}},
				{name: "gitea", spec: sources.Spec{URL: "ssh://git@gitea.example.com:2222/acme/config.git", Ref: sources.Ref{Branch: "main"}}},
			}
			var asTargets []Target
			for _, f := range targets {
				asTargets = append(asTargets, f)
			}
			logs := &logBuffer{}
			r, err := NewReceiver(Options{Secret: []byte(secret), MaxBodyBytes: 1024, Logger: slog.New(slog.NewJSONHandler(logs, nil))}, asTargets...)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(r)
			defer srv.Close()

			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, srv.URL+"/hooks/git", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.response) {
				t.Errorf("response = %d %q, want %d containing %q", resp.StatusCode, body, tt.status, tt.response)
			}
			var got []string
			for _, f := range targets {
				if f.wasTriggered() {
					got = append(got, f.name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("triggered %v, want %v", got, tt.want)
			}

			lines := logs.lines(t)
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1: %v", len(lines), lines)
			}
			line := lines[0]
			if line["level"] != tt.level || line["msg"] != tt.msg {
				t.Errorf("logged %v %q, want %s %q", line["level"], line["msg"], tt.level, tt.msg)
			}
			for _, k := range logKeys {
				if _, ok := line[k]; !ok {
					t.Errorf("log line lacks %q: %v", k, line)
				}
			}
			if _, ok := line["reason"]; ok != (tt.status != http.StatusAccepted) {
				t.Errorf("log line has a reason: %v, want %v: %v", ok, !ok, line)
			}
			for k, want := range tt.log {
				if line[k] != want {
					t.Errorf("logged %s=%#v, want %#v", k, line[k], want)
				}
			}
		})
	}
}

func TestNewReceiverRequiresSecret(t *testing.T) {
	if _, err := NewReceiver(Options{}); err == nil {
		t.Error("NewReceiver without a secret succeeded")
	}
}

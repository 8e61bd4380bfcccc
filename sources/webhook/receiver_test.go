package webhook

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tandem-gitops/tandem/sources"
)

// fakeTarget records its triggers.
type fakeTarget struct {
	name      string
	spec      sources.Spec
	triggered int
}

func (f *fakeTarget) Spec() sources.Spec { return f.spec }
func (f *fakeTarget) Trigger()           { f.triggered++ }

const secret = "webhook-secret"

func githubPush(repo, ref string) string {
	return `{"ref":"` + ref + `","repository":{"clone_url":"` + repo + `"}}`
}

func TestReceiver(t *testing.T) {
	sha := strings.Repeat("a", 40)
	giteaBody := githubPush("https://gitea.example.com/acme/config.git", "refs/heads/main")
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		body    string
		status  int
		want    []string // triggered targets
	}{
		{
			name:    "github push to the followed branch",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC(secret, githubPush("https://github.com/acme/config.git", "refs/heads/main"))},
			body:    githubPush("https://github.com/acme/config.git", "refs/heads/main"),
			status:  http.StatusAccepted, want: []string{"main"},
		},
		{
			name:    "github push to another branch",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC(secret, githubPush("https://github.com/acme/config.git", "refs/heads/dev"))},
			body:    githubPush("https://github.com/acme/config.git", "refs/heads/dev"),
			status:  http.StatusOK,
		},
		{
			name:    "github push of the followed tag matches the scp-like URL",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC(secret, githubPush("https://github.com/acme/config.git", "refs/tags/v1"))},
			body:    githubPush("https://github.com/acme/config.git", "refs/tags/v1"),
			status:  http.StatusAccepted, want: []string{"release"},
		},
		{
			name:    "github push to another repository",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC(secret, `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/acme/other.git"}}`)},
			body:    `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/acme/other.git"}}`,
			status:  http.StatusOK,
		},
		{
			name:    "github ping",
			headers: map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + hexMAC(secret, `{"zen":"Keep it simple."}`)},
			body:    `{"zen":"Keep it simple."}`,
			status:  http.StatusOK,
		},
		{
			name:    "github bad signature",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC("guess", githubPush("https://github.com/acme/config.git", "refs/heads/main"))},
			body:    githubPush("https://github.com/acme/config.git", "refs/heads/main"),
			status:  http.StatusUnauthorized,
		},
		{
			name:    "missing signature",
			headers: map[string]string{"X-GitHub-Event": "push"},
			body:    githubPush("https://github.com/acme/config.git", "refs/heads/main"),
			status:  http.StatusUnauthorized,
		},
		{
			name:    "oversized body",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
			body:    strings.Repeat(" ", 2048),
			status:  http.StatusRequestEntityTooLarge,
		},
		{
			name:   "not a POST",
			method: http.MethodGet,
			status: http.StatusMethodNotAllowed,
		},
		{
			name:    "signed but malformed",
			headers: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC(secret, `{"ref":`)},
			body:    `{"ref":`,
			status:  http.StatusBadRequest,
		},
		{
			name:    "gitlab push",
			headers: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			body:    `{"ref":"refs/heads/main","project":{"git_http_url":"https://gitlab.com/acme/edge.git","git_ssh_url":"git@gitlab.com:acme/edge.git"}}`,
			status:  http.StatusAccepted, want: []string{"gitlab"},
		},
		{
			name:    "gitlab wrong token",
			headers: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"},
			body:    `{"ref":"refs/heads/main","project":{"git_http_url":"https://gitlab.com/acme/edge.git"}}`,
			status:  http.StatusUnauthorized,
		},
		{
			name:    "gitea push",
			headers: map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hexMAC(secret, giteaBody)},
			body:    giteaBody,
			status:  http.StatusAccepted, want: []string{"gitea"},
		},
		{
			name:    "gitea bad signature is not rescued by a good GitHub one",
			headers: map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hexMAC("guess", giteaBody), "X-Hub-Signature-256": "sha256=" + hexMAC(secret, giteaBody)},
			body:    giteaBody,
			status:  http.StatusUnauthorized,
		},
		{
			name:    "forgejo push",
			headers: map[string]string{"X-Forgejo-Event": "push", "X-Forgejo-Signature": hexMAC(secret, giteaBody)},
			body:    giteaBody,
			status:  http.StatusAccepted, want: []string{"gitea"},
		},
		{
			name:    "generic without ref triggers every followed ref but not a pinned commit",
			headers: map[string]string{"X-Tandem-Signature-256": "sha256=" + hexMAC(secret, `{"repository":"https://github.com/acme/config"}`)},
			body:    `{"repository":"https://github.com/acme/config"}`,
			status:  http.StatusAccepted, want: []string{"main", "release"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := []*fakeTarget{
				{name: "main", spec: sources.Spec{URL: "https://github.com/acme/config.git", Ref: sources.Ref{Branch: "main"}}},
				{name: "release", spec: sources.Spec{URL: "git@github.com:acme/config.git", Ref: sources.Ref{Tag: "v1"}}},
				{name: "pinned", spec: sources.Spec{URL: "https://github.com/acme/config.git", Ref: sources.Ref{Commit: sha}}},
				{name: "gitlab", spec: sources.Spec{URL: "https://gitlab.com/acme/edge", Ref: sources.Ref{Branch: "main"}}},
				{name: "gitea", spec: sources.Spec{URL: "ssh://git@gitea.example.com:2222/acme/config.git", Ref: sources.Ref{Branch: "main"}}},
			}
			var asTargets []Target
			for _, f := range targets {
				asTargets = append(asTargets, f)
			}
			r, err := NewReceiver(Options{Secret: []byte(secret), MaxBodyBytes: 1024, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}, asTargets...)
			if err != nil {
				t.Fatal(err)
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/hooks/git", strings.NewReader(tt.body))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)

			if rec.Code != tt.status {
				body, _ := io.ReadAll(rec.Body)
				t.Errorf("status = %d (%s), want %d", rec.Code, strings.TrimSpace(string(body)), tt.status)
			}
			var got []string
			for _, f := range targets {
				if f.triggered > 0 {
					got = append(got, f.name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("triggered %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewReceiverRequiresSecret(t *testing.T) {
	if _, err := NewReceiver(Options{}); err == nil {
		t.Error("NewReceiver without a secret succeeded")
	}
}

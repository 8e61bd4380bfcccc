package webhook

import (
	"encoding/json"
	"net/url"
	"path"
	"strings"
)

// push is what a receiver needs from a push event.
type push struct {
	// repos are the URLs the sender gives for the repository.
	repos []string
	// ref is the full ref pushed; empty means any ref (generic sender only).
	ref string
}

// GenericPayload is the body a generic sender posts, signed in the
// X-Tandem-Signature-256 header as "sha256=" followed by the hex
// HMAC-SHA256 of the body with the receiver's secret.
type GenericPayload struct {
	// Repository is the URL of the repository pushed to. Required.
	Repository string `json:"repository"`
	// Ref is the full ref pushed, e.g. "refs/heads/main"; empty triggers
	// every target following the repository.
	Ref string `json:"ref,omitempty"`
}

// repo returns the first repository URL given, for logs.
func (p push) repo() string {
	for _, r := range p.repos {
		if r != "" {
			return r
		}
	}
	return ""
}

// The parsers below read what a delivery names without judging it: an
// event that is not a push names its repository for the log, and
// provider.check decides whether a push can be acted on.

func parseGenericPush(body []byte) (push, error) {
	var p GenericPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return push{}, err
	}
	return push{repos: []string{p.Repository}, ref: p.Ref}, nil
}

// parseGitHubPush reads GitHub's push payload, which Gitea and Forgejo
// share.
func parseGitHubPush(body []byte) (push, error) {
	var p struct {
		Ref        string `json:"ref"`
		Repository struct {
			CloneURL string `json:"clone_url"`
			SSHURL   string `json:"ssh_url"`
			GitURL   string `json:"git_url"`
			HTMLURL  string `json:"html_url"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return push{}, err
	}
	r := p.Repository
	return push{ref: p.Ref, repos: []string{r.CloneURL, r.SSHURL, r.GitURL, r.HTMLURL}}, nil
}

func parseGitLabPush(body []byte) (push, error) {
	var p struct {
		Ref     string `json:"ref"`
		Project struct {
			HTTPURL string `json:"git_http_url"`
			SSHURL  string `json:"git_ssh_url"`
			WebURL  string `json:"web_url"`
		} `json:"project"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return push{}, err
	}
	r := p.Project
	return push{ref: p.Ref, repos: []string{r.HTTPURL, r.SSHURL, r.WebURL}}, nil
}

// repoKey reduces a repository URL to what identifies the repository
// across the forms a host publishes it under (https, ssh, scp-like, with or
// without ".git", user or port): lower-cased host and path. File URLs keep
// their path.
func repoKey(raw string) string {
	raw = strings.TrimSpace(raw)
	var host, p string
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && strings.Contains(raw, "://") {
		host, p = u.Hostname(), u.Path
	} else if at, rest, ok := strings.Cut(raw, ":"); ok && !strings.Contains(at, "/") {
		// scp-like: [user@]host:path
		_, host, _ = strings.Cut(at, "@")
		if host == "" {
			host = at
		}
		p = rest
	} else {
		return ""
	}
	p = strings.TrimSuffix(strings.Trim(path.Clean("/"+p), "/"), ".git")
	if p == "" {
		return ""
	}
	return strings.ToLower(host + "/" + p)
}

package webhook

import (
	"slices"
	"testing"
)

func TestRepoKeyIdentifiesOneRepositoryAcrossURLForms(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"https://github.com/Acme/Factory-Config.git", "github.com/acme/factory-config"},
		{"https://github.com/acme/factory-config", "github.com/acme/factory-config"},
		{"https://github.com/acme/factory-config/", "github.com/acme/factory-config"},
		{"git@github.com:acme/factory-config.git", "github.com/acme/factory-config"},
		{"ssh://git@github.com:22/acme/factory-config.git", "github.com/acme/factory-config"},
		{"git://github.com/acme/factory-config.git", "github.com/acme/factory-config"},
		{"https://gitlab.example.com:8443/group/sub/config.git", "gitlab.example.com/group/sub/config"},
		{"file:///srv/git/config.git", "/srv/git/config"},
		{"https://github.com/", ""},
		{"not a url", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := repoKey(tt.url); got != tt.want {
			t.Errorf("repoKey(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestParseAndCheckPushPayloads(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		body     string
		wantRef  string
		wantRepo string
		wantErr  bool
	}{
		{"github", "github", `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/acme/config.git"}}`, "refs/heads/main", "https://github.com/acme/config.git", false},
		{"github without ref", "github", `{"repository":{"clone_url":"https://github.com/acme/config.git"}}`, "", "https://github.com/acme/config.git", true},
		{"github without repository", "github", `{"ref":"refs/heads/main"}`, "refs/heads/main", "", true},
		{"gitea shares github's payload", "gitea", `{"ref":"refs/heads/main","repository":{"ssh_url":"git@gitea.example.com:acme/config.git"}}`, "refs/heads/main", "git@gitea.example.com:acme/config.git", false},
		{"gitlab", "gitlab", `{"ref":"refs/tags/v1","project":{"git_ssh_url":"git@gitlab.com:acme/config.git"}}`, "refs/tags/v1", "git@gitlab.com:acme/config.git", false},
		{"gitlab without ref", "gitlab", `{"project":{"git_ssh_url":"git@gitlab.com:acme/config.git"}}`, "", "git@gitlab.com:acme/config.git", true},
		{"generic any ref", "generic", `{"repository":"https://git.example.com/config"}`, "", "https://git.example.com/config", false},
		{"generic without repository", "generic", `{"ref":"refs/heads/main"}`, "refs/heads/main", "", true},
		{"not json", "github", `ref=main`, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := slices.IndexFunc(providers, func(p provider) bool { return p.name == tt.provider })
			p := providers[i]
			ev, err := p.parse([]byte(tt.body))
			if err == nil {
				err = p.check(ev)
			}
			if (err != nil) != tt.wantErr || ev.ref != tt.wantRef || ev.repo() != tt.wantRepo {
				t.Errorf("parse and check = %+v, %v; want ref %q, repository %q, error %v", ev, err, tt.wantRef, tt.wantRepo, tt.wantErr)
			}
		})
	}
}

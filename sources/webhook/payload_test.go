package webhook

import "testing"

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

func TestParsePayloads(t *testing.T) {
	tests := []struct {
		name    string
		parse   func([]byte) (push, error)
		body    string
		wantRef string
		wantErr bool
	}{
		{"github", parseGitHubPush, `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/acme/config.git"}}`, "refs/heads/main", false},
		{"github without ref", parseGitHubPush, `{"repository":{"clone_url":"https://github.com/acme/config.git"}}`, "", true},
		{"github without repository", parseGitHubPush, `{"ref":"refs/heads/main"}`, "", true},
		{"gitlab", parseGitLabPush, `{"ref":"refs/tags/v1","project":{"git_ssh_url":"git@gitlab.com:acme/config.git"}}`, "refs/tags/v1", false},
		{"generic any ref", parseGenericPush, `{"repository":"https://git.example.com/config"}`, "", false},
		{"generic without repository", parseGenericPush, `{"ref":"refs/heads/main"}`, "", true},
		{"not json", parseGitHubPush, `ref=main`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.parse([]byte(tt.body))
			if (err != nil) != tt.wantErr || p.ref != tt.wantRef {
				t.Errorf("parse = %+v, %v; want ref %q, error %v", p, err, tt.wantRef, tt.wantErr)
			}
		})
	}
}

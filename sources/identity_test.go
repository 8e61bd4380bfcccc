package sources

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestIdentityIsTheSameForEveryURLOfOneRepository(t *testing.T) {
	tests := []struct {
		url, ref, dir string
		want          string
	}{
		{"https://git.example.com/iot/config.git", "refs/heads/main", "", "git.example.com/iot/config@main"},
		{"https://token@Git.Example.com/iot/config/", "refs/heads/main", "", "git.example.com/iot/config@main"},
		{"ssh://git@git.example.com/iot/config.git", "refs/heads/main", "", "git.example.com/iot/config@main"},
		{"git@git.example.com:iot/config.git", "refs/heads/main", "", "git.example.com/iot/config@main"},
		{"https://git.example.com:8443/iot/config", "refs/tags/v1.2.0", "", "git.example.com:8443/iot/config@tags/v1.2.0"},
		{"file:///srv/git/config.git", "0123456789abcdef0123456789abcdef01234567", "", "/srv/git/config"},
		{"https://git.example.com/iot/mono", "refs/heads/prod", "deploy/fleet/", "git.example.com/iot/mono@prod//deploy/fleet"},
		{"/srv/git/config", "", "", "/srv/git/config"},
	}
	for _, tt := range tests {
		if got := Identity(tt.url, tt.ref, tt.dir); got != tt.want {
			t.Errorf("Identity(%q, %q, %q) = %q, want %q", tt.url, tt.ref, tt.dir, got, tt.want)
		}
	}
}

func TestLocalIdentityNamesOriginBranchAndDirectory(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "--quiet", "--initial-branch", "prod")
	if err := os.MkdirAll(filepath.Join(dir, "fleet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fleet", "tandem.yaml"), []byte("x: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "--quiet", "-m", "Add the fleet")

	local, err := OpenLocal(filepath.Join(dir, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if got, err := local.Identity(); err != nil || got != dir+"@prod//fleet" {
		t.Errorf("without a remote: Identity() = %q, %v; want %q", got, err, dir+"@prod//fleet")
	}

	git("remote", "add", "origin", "git@git.example.com:iot/mono.git")
	local, err = OpenLocal(filepath.Join(dir, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if got, err := local.Identity(); err != nil || got != "git.example.com/iot/mono@prod//fleet" {
		t.Errorf("with origin: Identity() = %q, %v; want git.example.com/iot/mono@prod//fleet", got, err)
	}

	// CI checks out a commit, and its branch is one of origin's.
	git("update-ref", "refs/remotes/origin/prod", "HEAD")
	git("checkout", "--quiet", "--detach", "HEAD")
	git("branch", "--quiet", "-D", "prod")
	local, err = OpenLocal(filepath.Join(dir, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if got, err := local.Identity(); err != nil || got != "git.example.com/iot/mono@prod//fleet" {
		t.Errorf("detached at origin/prod: Identity() = %q, %v; want git.example.com/iot/mono@prod//fleet", got, err)
	}
}

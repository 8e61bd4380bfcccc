package sources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"
)

func openTestRepository(t testing.TB, spec Spec, cacheDir string) *Repository {
	t.Helper()
	repo, err := Open(spec, Options{CacheDir: cacheDir, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

func readFile(t testing.TB, repo *Repository, commit, name string) string {
	t.Helper()
	fsys, err := repo.FS(commit)
	if err != nil {
		t.Fatalf("FS(%s): %v", commit, err)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", name, err)
	}
	return string(b)
}

func TestFetchResolvesBranchToRevision(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	want := up.commit("Scale to 3\n\nThe plant doubled its lines.", map[string]string{"tandem.yaml": "scale: 3\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())

	rev, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if rev.Commit != want || rev.Ref != "refs/heads/main" || rev.Subject != "Scale to 3" || rev.URL != up.fileURL() {
		t.Errorf("Fetch = %+v, want commit %s on refs/heads/main with subject %q", rev, want, "Scale to 3")
	}
	if rev.AuthorTime.IsZero() {
		t.Error("AuthorTime is zero")
	}
	if got := readFile(t, repo, rev.Commit, "tandem.yaml"); got != "scale: 3\n" {
		t.Errorf("tandem.yaml = %q, want scale 3", got)
	}
}

func TestFetchOverSmartHTTPWithBasicAuth(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	url := up.serveHTTP("tandem", "s3cret")
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := openTestRepository(t, Spec{
		URL:  url,
		Ref:  Ref{Branch: "main"},
		Auth: Auth{Username: "tandem", PasswordFile: secret},
	}, t.TempDir())

	rev, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if rev.Commit != up.head("main") {
		t.Errorf("Fetch = %s, want %s", rev.Commit, up.head("main"))
	}
}

func TestFetchOverHTTPSTrustsCAFile(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	url, caFile := up.serveHTTPS("tandem", "s3cret")
	t.Setenv("TANDEM_TEST_TOKEN", "s3cret")
	spec := Spec{URL: url, Ref: Ref{Branch: "main"}, Auth: Auth{Username: "tandem", PasswordEnv: "TANDEM_TEST_TOKEN"}}

	if _, err := openTestRepository(t, spec, t.TempDir()).Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Fetch without the CA: error = %v, want a certificate error", err)
	}
	spec.CAFile = caFile
	if rev, err := openTestRepository(t, spec, t.TempDir()).Fetch(context.Background()); err != nil || rev.Commit != up.head("main") {
		t.Errorf("Fetch with the CA = %s, %v; want %s", rev.Commit, err, up.head("main"))
	}
}

func TestFetchWithWrongCredentialsSaysAuthenticationFailed(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	url := up.serveHTTP("tandem", "s3cret")
	t.Setenv("TANDEM_TEST_TOKEN", "wrong-token")
	repo := openTestRepository(t, Spec{
		URL:  url,
		Ref:  Ref{Branch: "main"},
		Auth: Auth{Username: "tandem", PasswordEnv: "TANDEM_TEST_TOKEN"},
	}, t.TempDir())

	_, err := repo.Fetch(context.Background())
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Fatalf("Fetch error = %v, want authentication required", err)
	}
	for _, want := range []string{"fetch refs/heads/main from " + url, "authentication required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("error %q reveals the token", err)
	}
}

func TestFetchFollowsTag(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	tagged := up.head("main")
	runGit(t, up.work, "tag", "-a", "-m", "Release 1.0", "v1.0.0")
	runGit(t, up.work, "push", "--quiet", "origin", "v1.0.0")
	up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Tag: "v1.0.0"}}, t.TempDir())

	rev, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if rev.Commit != tagged || rev.Ref != "refs/tags/v1.0.0" {
		t.Errorf("Fetch = %s %s, want %s refs/tags/v1.0.0", rev.Ref, rev.Commit, tagged)
	}
}

func TestFetchPinnedCommit(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	pinned := up.head("main")
	up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Commit: pinned}}, t.TempDir())

	rev, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if rev.Commit != pinned || rev.String() != "sha1:"+pinned {
		t.Errorf("Fetch = %s, want sha1:%s", rev, pinned)
	}

	missing := strings.Repeat("0", 40)
	repo = openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Commit: missing}}, t.TempDir())
	if _, err := repo.Fetch(context.Background()); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("Fetch of a missing commit: error = %v, want ErrRefNotFound", err)
	}
}

func TestFetchDeletedBranchKeepsLastFetchedRevision(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	runGit(t, up.work, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "feature"}}, t.TempDir())
	first, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}

	runGit(t, up.work, "push", "--quiet", "origin", ":refs/heads/feature")
	_, err = repo.Fetch(context.Background())
	if !errors.Is(err, ErrRefNotFound) || !strings.Contains(err.Error(), "refs/heads/feature") {
		t.Fatalf("Fetch after delete: error = %v, want ErrRefNotFound naming refs/heads/feature", err)
	}
	if rev, err := repo.Resolve(); err != nil || rev.Commit != first.Commit {
		t.Errorf("Resolve after delete = %s, %v; want the last fetched %s", rev.Commit, err, first.Commit)
	}
}

func TestReopenedMirrorResolvesWithoutNetwork(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	cache := t.TempDir()
	spec := Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}
	first, err := openTestRepository(t, spec, cache).Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if err := os.RemoveAll(up.bare); err != nil {
		t.Fatal(err)
	}

	repo := openTestRepository(t, spec, cache)
	rev, err := repo.Resolve()
	if err != nil || rev != first {
		t.Errorf("Resolve after reopen = %+v, %v; want %+v", rev, err, first)
	}
	if _, err := repo.Fetch(context.Background()); err == nil {
		t.Error("Fetch from a removed remote succeeded")
	}
}

func TestOpenRejectsInvalidSpecs(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no url", Spec{Ref: Ref{Branch: "main"}}, "url: must be set"},
		{"no ref", Spec{URL: "https://example.com/r.git"}, "exactly one of branch, tag or commit"},
		{"two refs", Spec{URL: "https://example.com/r.git", Ref: Ref{Branch: "main", Tag: "v1"}}, "exactly one"},
		{"short commit", Spec{URL: "https://example.com/r.git", Ref: Ref{Commit: "abc123"}}, "full lower-case 40-character SHA"},
		{"bad branch", Spec{URL: "https://example.com/r.git", Ref: Ref{Branch: "a..b"}}, "refs/heads/a..b"},
		{"password in url", Spec{URL: "https://me:hunter2@example.com/r.git", Ref: Ref{Branch: "main"}}, "must not embed credentials"},
		{"key for https", Spec{URL: "https://example.com/r.git", Ref: Ref{Branch: "main"}, Auth: Auth{SSHKeyFile: "k"}}, "not an SSH key"},
		{"password for ssh", Spec{URL: "ssh://git@example.com/r.git", Ref: Ref{Branch: "main"}, Auth: Auth{PasswordEnv: "T"}}, "takes sshKeyFile"},
		{"unsupported scheme", Spec{URL: "ftp://example.com/r.git", Ref: Ref{Branch: "main"}}, "unsupported scheme"},
		{"CA for ssh", Spec{URL: "git@example.com:r.git", Ref: Ref{Branch: "main"}, CAFile: "ca.pem"}, "caFile applies only to https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.spec, Options{CacheDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestFetchAndPushOverSSHCheckHostKey(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	remote := up.serveSSH()
	spec := Spec{URL: remote.url, Ref: Ref{Branch: "main"}, Auth: Auth{SSHKeyFile: remote.keyFile, KnownHostsFile: remote.knownHostsFile}}
	repo := openTestRepository(t, spec, t.TempDir())

	rev, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if rev.Commit != up.head("main") {
		t.Errorf("Fetch = %s, want %s", rev.Commit, up.head("main"))
	}
	commit := commitOnHead(t, repo, rev.Commit, "Scale to 2")
	pushed, err := repo.Push(context.Background(), commit)
	if err != nil || pushed.Commit != up.head("main") {
		t.Errorf("Push over SSH = %s, %v; remote head %s", pushed.Commit, err, up.head("main"))
	}

	// A host missing from known_hosts, or presenting another key than the
	// one listed, is refused.
	addr := strings.TrimSuffix(strings.TrimPrefix(remote.url, "ssh://git@"), "/config.git")
	mismatch := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, newSSHSigner(t, "").PublicKey())
	if err := os.WriteFile(mismatch, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{up.serveSSH().knownHostsFile: "key is unknown", mismatch: "key mismatch"} {
		spec.Auth.KnownHostsFile = file
		if _, err := openTestRepository(t, spec, t.TempDir()).Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Fetch with a wrong known_hosts: error = %v, want %q", err, want)
		}
	}
}

func TestMirrorIsRepackedWhenPacksAccumulate(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	cache := t.TempDir()
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, cache)
	repo.maxPacks = 2
	var revs []Revision
	for i := range 4 {
		up.commit(fmt.Sprintf("Scale to %d", i+2), map[string]string{"tandem.yaml": fmt.Sprintf("scale: %d\n", i+2)})
		rev, err := repo.Fetch(context.Background())
		if err != nil {
			t.Fatalf("Fetch %d: %v", i, err)
		}
		revs = append(revs, rev)
	}

	packs, err := filepath.Glob(filepath.Join(repo.dir, "objects", "pack", "*.pack"))
	if err != nil || len(packs) > repo.maxPacks {
		t.Errorf("mirror has %d packs, want at most %d", len(packs), repo.maxPacks)
	}
	for i, rev := range revs {
		if got, want := readFile(t, repo, rev.Commit, "tandem.yaml"), fmt.Sprintf("scale: %d\n", i+2); got != want {
			t.Errorf("tandem.yaml at %s = %q, want %q", rev.Commit, got, want)
		}
	}
}

func TestMirrorNameIsReadableAndUniquePerURLAndRef(t *testing.T) {
	main := Spec{URL: "git@github.com:acme/factory-config.git", Ref: Ref{Branch: "main"}}
	name := mirrorName(main)
	if !strings.HasPrefix(name, "github.com_factory-config-") {
		t.Errorf("mirrorName(%s) = %q, want it to start with the host and repository", main.URL, name)
	}
	for _, other := range []Spec{
		{URL: main.URL, Ref: Ref{Tag: "main"}},
		{URL: "https://github.com/acme/factory-config.git", Ref: main.Ref},
	} {
		if mirrorName(other) == name {
			t.Errorf("%s %s shares the mirror of %s %s", other.URL, other.Ref, main.URL, main.Ref)
		}
	}
}

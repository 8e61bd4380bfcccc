package sources

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenRevisionReadsEveryLocationAUserCanPointAt opens one repository
// as a directory, as a local Git repository from a subdirectory, and as a
// remote, where a plain name with no branch of its own is a tag.
func TestOpenRevisionReadsEveryLocationAUserCanPointAt(t *testing.T) {
	up := newUpstream(t, map[string]string{"config/tandem.yaml": "scale: 3\n"})
	first := up.head("main")
	runGit(t, up.work, "tag", "--annotate", "-m", "Release 1", "v1")
	runGit(t, up.work, "push", "--quiet", "origin", "v1")
	second := up.commit("Scale out", map[string]string{"config/tandem.yaml": "scale: 5\n"})
	subdir := filepath.Join(up.work, "config")

	tests := []struct {
		name      string
		loc       Location
		rev       string
		want      string // tandem.yaml
		wantName  string // Revision.String
		wantShort string
	}{
		{"directory on disk", Location{Path: subdir}, "", "scale: 5\n", "dir:" + subdir, subdir},
		{"local branch from a subdirectory", Location{Path: subdir}, "main", "scale: 5\n", "refs/heads/main@sha1:" + second, "main (" + second[:7] + ")"},
		{"local HEAD~1", Location{Path: subdir}, "HEAD~1", "scale: 3\n", "sha1:" + first, "HEAD~1 (" + first[:7] + ")"},
		{"local tag", Location{Path: subdir}, "v1", "scale: 3\n", "refs/tags/v1@sha1:" + first, "v1 (" + first[:7] + ")"},
		{"remote branch", Location{Remote: Spec{URL: up.fileURL()}}, "main", "scale: 5\n", "refs/heads/main@sha1:" + second, "main (" + second[:7] + ")"},
		{"remote tag by its plain name", Location{Remote: Spec{URL: up.fileURL()}}, "v1", "scale: 3\n", "refs/tags/v1@sha1:" + first, "v1 (" + first[:7] + ")"},
		{"remote commit", Location{Remote: Spec{URL: up.fileURL()}, CacheDir: t.TempDir()}, first, "scale: 3\n", "sha1:" + first, first[:7]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := OpenRevision(context.Background(), tt.loc, tt.rev)
			if err != nil {
				t.Fatalf("OpenRevision: %v", err)
			}
			defer snap.Close()
			name := "tandem.yaml"
			if tt.loc.Remote.URL != "" {
				name = "config/tandem.yaml"
			}
			if got, err := fs.ReadFile(snap.FS, name); err != nil || string(got) != tt.want {
				t.Errorf("%s = %q, %v; want %q", name, got, err, tt.want)
			}
			if got := snap.Revision.String(); got != tt.wantName {
				t.Errorf("String() = %q, want %q", got, tt.wantName)
			}
			if got := snap.Revision.Short(); got != tt.wantShort {
				t.Errorf("Short() = %q, want %q", got, tt.wantShort)
			}
		})
	}
}

func TestOpenRevisionOfARemoteRemovesItsTemporaryMirror(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 3\n"})
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	snap, err := OpenRevision(context.Background(), Location{Remote: Spec{URL: up.fileURL()}}, "main")
	if err != nil {
		t.Fatalf("OpenRevision: %v", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
		t.Errorf("%d entries in the temporary directory while open, want the mirror", len(entries))
	}
	if err := snap.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("the temporary mirror is left behind: %v", entries)
	}

	_, err = OpenRevision(context.Background(), Location{Remote: Spec{URL: up.fileURL()}}, "no-such-branch")
	if err == nil || !strings.Contains(err.Error(), `"no-such-branch"`) {
		t.Errorf("OpenRevision of a missing ref: error = %v, want it to name the ref", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("a failed open leaves %v behind", entries)
	}
}

func TestRevisionNamesItselfOneWay(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		rev         Revision
		name, short string
	}{
		{Revision{Ref: "refs/heads/main", Commit: sha}, "refs/heads/main@sha1:" + sha, "main (0123456)"},
		{Revision{Ref: "refs/heads/main", Commit: sha, Given: "origin/main"}, "refs/heads/main@sha1:" + sha, "origin/main (0123456)"},
		{Revision{Ref: sha, Commit: sha}, "sha1:" + sha, "0123456"},
		{Revision{Ref: sha, Commit: sha, Given: sha[:10]}, "sha1:" + sha, "0123456"},
		{Revision{Dir: "/srv/config", Digest: "sha256:fe8b", Given: "config"}, "dir:/srv/config@sha256:fe8b", "config"},
		{Revision{}, "", ""},
	}
	for _, tt := range tests {
		if got := tt.rev.String(); got != tt.name {
			t.Errorf("%+v.String() = %q, want %q", tt.rev, got, tt.name)
		}
		if got := tt.rev.Short(); got != tt.short {
			t.Errorf("%+v.Short() = %q, want %q", tt.rev, got, tt.short)
		}
	}
}

func TestCommitOfReadsTheCommitARevisionNames(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		revision string
		commit   string
		ok       bool
	}{
		{"refs/heads/main@sha1:" + sha, sha, true},
		{"sha1:" + sha, sha, true},
		{Revision{Ref: "refs/tags/v1.2.0", Commit: sha}.String(), sha, true},
		{"refs/heads/sha1:x@sha1:" + sha, sha, true},
		{"sha1:" + sha[:12], sha[:12], false},
		{"sha1:" + strings.ToUpper(sha), strings.ToUpper(sha), false},
		{"sha1:" + sha + "0", sha + "0", false},
		{"dir:/srv/sha1:" + sha, "", false},
		{"dir:/srv/config@sha256:fe8b", "", false},
		{sha, "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		commit, ok := CommitOf(tt.revision)
		if ok != tt.ok || (ok && commit != tt.commit) {
			t.Errorf("CommitOf(%q) = %q, %v; want %q, %v", tt.revision, commit, ok, tt.commit, tt.ok)
		}
	}
}

func TestFollowFollowsATagWhenTheRemoteHasNoBranchOfThatName(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 3\n"})
	first := up.head("main")
	runGit(t, up.work, "tag", "--annotate", "-m", "Release 1", "v1")
	runGit(t, up.work, "push", "--quiet", "origin", "v1")
	up.commit("Scale out", map[string]string{"tandem.yaml": "scale: 5\n"})
	for _, tt := range []struct{ rev, ref, commit string }{
		{"v1", "refs/tags/v1", first},
		{"main", "refs/heads/main", up.head("main")},
	} {
		repo, rev, err := Follow(context.Background(), Spec{URL: up.fileURL()}, tt.rev, Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatalf("follow %s: %v", tt.rev, err)
		}
		if repo.Spec().Ref.String() != tt.ref || rev.Commit != tt.commit {
			t.Errorf("follow %s: %s at %s, want %s at %s", tt.rev, repo.Spec().Ref, rev.Commit, tt.ref, tt.commit)
		}
		repo.Close()
	}
	if repo, _, err := Follow(context.Background(), Spec{URL: up.fileURL()}, "v9", Options{CacheDir: t.TempDir()}); repo != nil || !errors.Is(err, ErrRefNotFound) {
		t.Errorf("follow v9, neither branch nor tag: %v, want ErrRefNotFound and no mirror", err)
	}
}

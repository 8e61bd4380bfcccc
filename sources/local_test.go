package sources

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalRepositoryResolvesRevisionsAsGitRevParseDoes(t *testing.T) {
	u := newUpstream(t, map[string]string{"tandem.yaml": "scale: 3\n", "sites/plant-a.yaml": "weight: 1\n"})
	first := runGit(t, u.work, "rev-parse", "HEAD")
	runGit(t, u.work, "tag", "--annotate", "-m", "Release 1", "v1")
	second := u.commit("Scale out", map[string]string{"tandem.yaml": "scale: 5\n"})
	runGit(t, u.work, "checkout", "--quiet", "-b", "feature")

	// Open from a subdirectory, as a command run anywhere in a checkout does.
	repo, err := OpenLocal(filepath.Join(u.work, "sites"))
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	t.Cleanup(func() { repo.Close() })

	tests := []struct {
		rev, wantCommit, wantRef string
	}{
		{"main", second, "refs/heads/main"},
		{"HEAD", second, "refs/heads/feature"},
		{"HEAD~1", first, first},
		{"v1", first, "refs/tags/v1"},
		{"origin/main", second, "refs/remotes/origin/main"},
		{first[:10], first, first},
		{second, second, second},
	}
	for _, tt := range tests {
		t.Run(tt.rev, func(t *testing.T) {
			rev, err := repo.Resolve(tt.rev)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if rev.Commit != tt.wantCommit || rev.Ref != tt.wantRef {
				t.Errorf("Resolve(%q) = %s at %s, want %s at %s", tt.rev, rev.Ref, rev.Commit, tt.wantRef, tt.wantCommit)
			}
		})
	}
}

func TestLocalRepositoryReadsTheTreeOfAnyCommit(t *testing.T) {
	u := newUpstream(t, map[string]string{"tandem.yaml": "scale: 3\n"})
	u.commit("Scale out", map[string]string{"tandem.yaml": "scale: 5\n"})
	repo, err := OpenLocal(u.work)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	t.Cleanup(func() { repo.Close() })

	for rev, want := range map[string]string{"HEAD~1": "scale: 3\n", "HEAD": "scale: 5\n"} {
		r, err := repo.Resolve(rev)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", rev, err)
		}
		fsys, err := repo.FS(r.Commit)
		if err != nil {
			t.Fatalf("FS(%s): %v", r.Commit, err)
		}
		got, err := fs.ReadFile(fsys, "tandem.yaml")
		if err != nil {
			t.Fatalf("read tandem.yaml at %s: %v", rev, err)
		}
		if string(got) != want {
			t.Errorf("tandem.yaml at %s = %q, want %q", rev, got, want)
		}
	}
}

func TestLocalRepositoryNamesAnUnknownRevision(t *testing.T) {
	u := newUpstream(t, map[string]string{"tandem.yaml": "scale: 3\n"})
	repo, err := OpenLocal(u.work)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	t.Cleanup(func() { repo.Close() })
	_, err = repo.Resolve("no-such-branch")
	if err == nil {
		t.Fatal("Resolve of an unknown revision succeeded")
	}
	if got := err.Error(); !strings.Contains(got, `"no-such-branch"`) {
		t.Errorf("error %q does not name the revision", got)
	}
}

func TestOpenLocalRefusesADirectoryOutsideARepository(t *testing.T) {
	if _, err := OpenLocal(t.TempDir()); err == nil {
		t.Fatal("OpenLocal of a plain directory succeeded")
	}
}

func TestLocalRepositoryOpenedInASubdirectoryReadsThatSubdirectory(t *testing.T) {
	u := newUpstream(t, map[string]string{
		"README.md":                         "not a config repository\n",
		"fixtures/smart/tandem.yaml":        "scale: 3\n",
		"fixtures/smart/sites/plant-a.yaml": "weight: 1\n",
	})
	repo, err := OpenLocal(filepath.Join(u.work, "fixtures", "smart"))
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	rev, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := repo.FS(rev.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := fs.ReadFile(tree, "tandem.yaml"); err != nil || string(data) != "scale: 3\n" {
		t.Errorf("tandem.yaml of the subdirectory = %q, %v", data, err)
	}
	if _, err := fs.Stat(tree, "README.md"); err == nil {
		t.Error("the subdirectory's tree shows the repository root's README.md")
	}
}

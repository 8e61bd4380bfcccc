package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-gitops/tandem/renderer"
)

// smartFactoryDir is the fixture config repository on disk.
var smartFactoryDir = filepath.Join("..", "fixtures", "smart-factory")

// filesOf reads every regular file of a file system.
func filesOf(t testing.TB, fsys fs.FS) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		files[name] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return files
}

// smartFactoryCommit commits the smart-factory fixture and returns the
// repository mirroring it and the commit.
func smartFactoryCommit(t testing.TB) (*Repository, string) {
	t.Helper()
	up := newUpstream(t, filesOf(t, os.DirFS(smartFactoryDir)))
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	rev, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return repo, rev.Commit
}

func TestRenderFromCommitIsByteIdenticalToRenderFromDisk(t *testing.T) {
	repo, commit := smartFactoryCommit(t)
	fsys, err := repo.FS(commit)
	if err != nil {
		t.Fatalf("FS: %v", err)
	}
	ctx := context.Background()
	fromGit, err := renderer.Render(ctx, fsys, renderer.Options{})
	if err != nil {
		t.Fatalf("render from commit: %v", err)
	}
	fromDisk, err := renderer.Render(ctx, os.DirFS(smartFactoryDir), renderer.Options{})
	if err != nil {
		t.Fatalf("render from disk: %v", err)
	}
	if len(fromDisk.Targets) == 0 {
		t.Fatal("the fixture rendered no targets")
	}
	gitBytes, diskBytes := encodeResult(t, fromGit), encodeResult(t, fromDisk)
	if !bytes.Equal(gitBytes, diskBytes) {
		t.Errorf("render from commit differs from render from disk (-disk +commit):\n%s", cmp.Diff(string(diskBytes), string(gitBytes)))
	}
}

func encodeResult(t testing.TB, r *renderer.Result) []byte {
	t.Helper()
	b, err := json.MarshalIndent(struct {
		Targets  []renderer.Target
		Warnings []string
	}{r.Targets, r.Warnings}, "", "  ")
	if err != nil {
		t.Fatalf("encode rendered result: %v", err)
	}
	return b
}

func TestSmartFactoryTreeMatchesDirectory(t *testing.T) {
	repo, commit := smartFactoryCommit(t)
	fsys, err := repo.FS(commit)
	if err != nil {
		t.Fatalf("FS: %v", err)
	}
	if err := fstest.TestFS(fsys, "tandem.yaml", "tiers/cloud/kustomization.yaml", "sites/plant-c/edge/kustomization.yaml"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snapshot(t, os.DirFS(smartFactoryDir)), snapshot(t, fsys)); diff != "" {
		t.Errorf("tree differs from the directory (-directory +tree):\n%s", diff)
	}
}

package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// configFiles is a small config repository with nested directories.
var configFiles = map[string]string{
	"tandem.yaml":                       "apiVersion: tandem.dev/v1alpha1\nkind: Solution\n",
	"sites/plant-berlin.yaml":           "kind: Site\n",
	"sites/plant-lyon.yaml":             "kind: Site\n",
	"tiers/cloud/kustomization.yaml":    "resources: [ingest.yaml]\n",
	"tiers/cloud/ingest.yaml":           "kind: Deployment\n",
	"tiers/edge/kustomization.yaml":     "resources: [inference.yaml]\n",
	"tiers/edge/inference.yaml":         "kind: Deployment\n",
	"tiers/edge/base/README.md":         "",
	"tiers/edge-overlays/a/patch.yaml":  "replicas: 1\n",
	"tiers/edge.yaml":                   "name sorts between edge/ and edge-overlays/ in git's order\n",
	"tiers.yaml":                        "name sorts before tiers/ in git's order, at the root too\n",
	"scripts/check.sh":                  "#!/bin/sh\nexit 0\n",
	"tiers/platform-edge/namespace.yml": "kind: Namespace\n",
}

// newConfigUpstream commits configFiles plus an executable and symbolic
// links inside the tree, and, when escaping is set, links leaving it. It
// returns the upstream and its head.
func newConfigUpstream(t testing.TB, escaping bool) (*upstream, string) {
	t.Helper()
	up := newUpstream(t, configFilesWithContent())
	if err := os.Chmod(filepath.Join(up.work, "scripts/check.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"sites/current.yaml": "plant-berlin.yaml",
		"tiers/shared":       "cloud",
		"tiers/edge/up.yaml": "../../tandem.yaml",
	}
	if escaping {
		links["escape"] = "../outside"
		links["absolute"] = "/etc/passwd"
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(up.work, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	return up, up.commit("Add links", nil)
}

// checkout writes a commit's tree to a fresh directory with git itself.
func (u *upstream) checkout(commit string) string {
	u.t.Helper()
	dir := u.t.TempDir()
	runGit(u.t, u.bare, "--work-tree="+dir, "checkout", "--force", commit, "--", ".")
	return dir
}

// fetchedTree mirrors up's main branch and returns the tree of commit.
func fetchedTree(t *testing.T, up *upstream, commit string) fs.FS {
	t.Helper()
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	if _, err := repo.Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	fsys, err := repo.FS(commit)
	if err != nil {
		t.Fatalf("FS: %v", err)
	}
	return fsys
}

func TestTreeFSPassesFSTest(t *testing.T) {
	up, head := newConfigUpstream(t, false)
	fsys := fetchedTree(t, up, head)
	if err := fstest.TestFS(fsys, "tandem.yaml", "tiers/cloud/ingest.yaml", "sites/current.yaml", "tiers/edge/up.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestTreeFSMatchesCheckout(t *testing.T) {
	up, head := newConfigUpstream(t, true)
	fsys := fetchedTree(t, up, head)
	if diff := cmp.Diff(snapshot(t, os.DirFS(up.checkout(head))), snapshot(t, fsys)); diff != "" {
		t.Errorf("tree differs from a checkout (-checkout +tree):\n%s", diff)
	}
}

// snapshot describes every entry of a file system: type and permission
// bits, and content or link target.
func snapshot(t testing.TB, fsys fs.FS) map[string]string {
	t.Helper()
	out, err := describe(fsys)
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return out
}

// describe is snapshot for any goroutine.
func describe(fsys fs.FS) (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := fs.Lstat(fsys, name)
		if err != nil {
			return err
		}
		if info.Mode().Type() != d.Type() {
			return fmt.Errorf("%s: Lstat type %v, ReadDir type %v", name, info.Mode().Type(), d.Type())
		}
		switch {
		case d.IsDir():
			out[name] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(fsys, name)
			if err != nil {
				return err
			}
			out[name] = "link -> " + target
		default:
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			out[name] = info.Mode().Perm().String() + " " + string(b)
		}
		return nil
	})
	return out, err
}

func TestTreeFSSymbolicLinks(t *testing.T) {
	up, head := newConfigUpstream(t, true)
	fsys := fetchedTree(t, up, head)

	if b, err := fs.ReadFile(fsys, "tiers/edge/up.yaml"); err != nil || string(b) != configFiles["tandem.yaml"] {
		t.Errorf("ReadFile through a link to the parent = %q, %v", b, err)
	}
	if b, err := fs.ReadFile(fsys, "tiers/shared/ingest.yaml"); err != nil || string(b) != configFiles["tiers/cloud/ingest.yaml"] {
		t.Errorf("ReadFile through a linked directory = %q, %v", b, err)
	}
	if entries, err := fs.ReadDir(fsys, "tiers/shared"); err != nil || len(entries) != 2 {
		t.Errorf("ReadDir of a linked directory = %v, %v; want the two files of tiers/cloud", entries, err)
	}
	if info, err := fs.Stat(fsys, "sites/current.yaml"); err != nil || info.Name() != "current.yaml" || !info.Mode().IsRegular() {
		t.Errorf("Stat(link) = %v, %v; want the regular target, named as the link", info, err)
	}
	if info, err := fs.Lstat(fsys, "sites/current.yaml"); err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(link) = %v, %v; want a symbolic link", info, err)
	}
	for _, name := range []string{"escape", "absolute"} {
		if target, err := fs.ReadLink(fsys, name); err != nil || target == "" {
			t.Errorf("ReadLink(%s) = %q, %v", name, target, err)
		}
		if _, err := fsys.Open(name); !errors.Is(err, errLinkEscapes) {
			t.Errorf("Open(%s) error = %v, want %v", name, err, errLinkEscapes)
		}
	}
	if _, err := fs.ReadLink(fsys, "tandem.yaml"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink of a regular file: error = %v, want fs.ErrInvalid", err)
	}
}

func TestTwoRevisionsReadSideBySide(t *testing.T) {
	up := newUpstream(t, map[string]string{"tandem.yaml": "scale: 1\n"})
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	base, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	oldFS, err := repo.FS(base.Commit)
	if err != nil {
		t.Fatalf("FS: %v", err)
	}
	up.commit("Scale to 2", map[string]string{"tandem.yaml": "scale: 2\n", "sites/new.yaml": "kind: Site\n"})
	head, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	newFS, err := repo.FS(head.Commit)
	if err != nil {
		t.Fatalf("FS: %v", err)
	}

	for _, c := range []struct {
		fsys fs.FS
		want string
	}{{oldFS, "scale: 1\n"}, {newFS, "scale: 2\n"}} {
		if b, err := fs.ReadFile(c.fsys, "tandem.yaml"); err != nil || !bytes.Equal(b, []byte(c.want)) {
			t.Errorf("ReadFile = %q, %v; want %q", b, err, c.want)
		}
	}
	if _, err := fs.Stat(oldFS, "sites/new.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old revision has sites/new.yaml: %v", err)
	}
}

// TestReadsDuringFetches reads one revision while the mirror fetches
// others; run with -race it checks that the mirror serialises its use.
func TestReadsDuringFetches(t *testing.T) {
	up := newUpstream(t, configFilesWithContent())
	repo := openTestRepository(t, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, t.TempDir())
	repo.maxPacks = 2 // repack while reading, too
	first, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	fsys, err := repo.FS(first.Commit)
	if err != nil {
		t.Fatalf("FS: %v", err)
	}
	want := snapshot(t, fsys)

	stop := make(chan struct{})
	errs := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			fresh, err := repo.FS(first.Commit)
			if err != nil {
				errs <- err.Error()
				return
			}
			got, err := describe(fresh)
			if err != nil {
				errs <- err.Error()
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				errs <- diff
				return
			}
		}
	})
	for i := range 5 {
		up.commit(fmt.Sprintf("Change %d", i), map[string]string{"tandem.yaml": fmt.Sprintf("scale: %d\n", i)})
		if _, err := repo.Fetch(context.Background()); err != nil {
			t.Errorf("Fetch %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Errorf("reading during fetches: %s", e)
	default:
	}
}

func configFilesWithContent() map[string]string {
	files := map[string]string{}
	for k, v := range configFiles {
		if v != "" {
			files[k] = v
		}
	}
	return files
}

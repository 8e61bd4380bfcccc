package sources

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-gitops/tandem/renderer"
)

// BenchmarkNoChangePoll measures a poll that finds nothing new, against
// `git fetch` into a bare mirror, the way tools shelling out to git poll.
func BenchmarkNoChangePoll(b *testing.B) {
	up := newUpstream(b, filesOf(b, os.DirFS(smartFactoryDir)))
	b.Setenv("TANDEM_BENCH_TOKEN", "s3cret")
	httpURL := up.serveHTTP("tandem", "s3cret")
	httpAuth := Auth{Username: "tandem", PasswordEnv: "TANDEM_BENCH_TOKEN"}

	for _, c := range []struct {
		name string
		spec Spec
	}{
		{"poller/file", Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}},
		{"poller/http", Spec{URL: httpURL, Ref: Ref{Branch: "main"}, Auth: httpAuth}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := NewPoller(openTestRepository(b, c.spec, b.TempDir()), PollerOptions{})
			ctx := context.Background()
			p.poll(ctx)
			for b.Loop() {
				p.poll(ctx)
			}
			if st := p.Status(); st.LastError != nil {
				b.Fatal(st.LastError)
			}
		})
	}
	b.Run("git-cli/http", func(b *testing.B) {
		mirror := filepath.Join(b.TempDir(), "mirror.git")
		authURL := "http://tandem:s3cret@" + httpURL[len("http://"):]
		runGit(b, up.work, "clone", "--quiet", "--mirror", authURL, mirror)
		for b.Loop() {
			runGit(b, mirror, "fetch", "--quiet", "origin", "+refs/heads/main:refs/heads/main")
		}
	})
}

// BenchmarkReadFixture reads every file of the smart-factory fixture and
// renders it, from a commit's tree and from a checkout on disk; the
// checkout cases with "+checkout" include writing the checkout, which the
// tree spares.
func BenchmarkReadFixture(b *testing.B) {
	repo, commit := smartFactoryCommit(b)
	up := newUpstream(b, filesOf(b, os.DirFS(smartFactoryDir)))
	checkout := up.checkout("main")
	ctx := context.Background()

	treeFS := func(b *testing.B) fs.FS {
		fsys, err := repo.FS(commit)
		if err != nil {
			b.Fatal(err)
		}
		return fsys
	}
	b.Run("read/tree", func(b *testing.B) {
		for b.Loop() {
			filesOf(b, treeFS(b))
		}
	})
	b.Run("read/checkout", func(b *testing.B) {
		for b.Loop() {
			filesOf(b, os.DirFS(checkout))
		}
	})
	b.Run("read/checkout+checkout", func(b *testing.B) {
		for b.Loop() {
			filesOf(b, os.DirFS(up.checkout("main")))
		}
	})
	b.Run("render/tree", func(b *testing.B) {
		for b.Loop() {
			if _, err := renderer.Render(ctx, treeFS(b), renderer.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("render/checkout", func(b *testing.B) {
		for b.Loop() {
			if _, err := renderer.Render(ctx, os.DirFS(checkout), renderer.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFetch5000Files measures a first fetch (a clone into an empty
// mirror) of a repository of 5,000 files, against `git clone --mirror`.
func BenchmarkFetch5000Files(b *testing.B) {
	files := map[string]string{}
	for i := range 5000 {
		files[fmt.Sprintf("sites/%02d/site-%04d.yaml", i%50, i)] = fmt.Sprintf("kind: Site\nmetadata: {name: site-%04d}\nspec: {weight: %d}\n", i, i%4+1)
	}
	up := newUpstream(b, files)
	b.Setenv("TANDEM_BENCH_TOKEN", "s3cret")
	httpURL := up.serveHTTP("tandem", "s3cret")

	for _, c := range []struct {
		name string
		spec Spec
	}{
		{"go-git/file", Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}},
		{"go-git/http", Spec{URL: httpURL, Ref: Ref{Branch: "main"}, Auth: Auth{Username: "tandem", PasswordEnv: "TANDEM_BENCH_TOKEN"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				repo, err := Open(c.spec, Options{CacheDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := repo.Fetch(context.Background()); err != nil {
					b.Fatal(err)
				}
				repo.Close()
			}
		})
	}
	b.Run("git-cli/http", func(b *testing.B) {
		authURL := "http://tandem:s3cret@" + httpURL[len("http://"):]
		for b.Loop() {
			runGit(b, up.work, "clone", "--quiet", "--mirror", authURL, filepath.Join(b.TempDir(), "mirror.git"))
		}
	})
}

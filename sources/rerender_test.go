package sources

import (
	"context"
	"strings"
	"testing"

	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
)

// BenchmarkRerenderCommitAfterOneSiteChange renders, as the daemon does,
// commits of the smart-factory solution with 1,000 generated sites, each
// after the other with the same renderer.Renderer: a commit changing one
// Site file's weight, then one reverting it.
func BenchmarkRerenderCommitAfterOneSiteChange(b *testing.B) {
	repo, err := fixtures.SmartFactoryWithSites(1000)
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]string{}
	for name, f := range repo {
		files[name] = string(f.Data)
	}
	const site = "sites/generated/site-0500.yaml"
	up := newUpstream(b, files)
	base := up.head("main")
	next := up.commit("Weigh site-0500 more", map[string]string{site: strings.Replace(files[site], "weight: ", "weight: 3", 1)})
	mirror := openTestRepository(b, Spec{URL: up.fileURL(), Ref: Ref{Branch: "main"}}, b.TempDir())
	ctx := context.Background()
	if _, err := mirror.Fetch(ctx); err != nil {
		b.Fatal(err)
	}
	var r renderer.Renderer
	render := func(commit string) {
		fsys, err := mirror.FS(commit)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Render(ctx, fsys, renderer.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	render(base)
	b.ReportAllocs()
	for b.Loop() {
		render(next)
		render(base)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(2*b.N), "ms/render")
}

package diff_test

import (
	"context"
	"io"
	"testing"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
)

// BenchmarkDiff1000Sites measures a scale change of the smart-factory
// solution with 1,000 generated sites: first rendering the two revisions
// alone, the floor of any diff, then the whole of "tandem diff": rendering
// both, comparing, and writing the Markdown and the JSON.
func BenchmarkDiff1000Sites(b *testing.B) {
	repo, err := fixtures.SmartFactoryWithSites(1000)
	if err != nil {
		b.Fatal(err)
	}
	head := applyEdits(b, repo, scenarios[0].edits)
	ctx := context.Background()
	renderBoth := func(b *testing.B) (diff.Revision, diff.Revision) {
		before, err := renderer.Render(ctx, repo, renderer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		after, err := renderer.Render(ctx, head, renderer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return diff.Revision{Name: "main", Result: before}, diff.Revision{Name: "scale-out", Result: after}
	}
	b.Run("render-both", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			renderBoth(b)
		}
	})
	b.Run("diff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := diff.Compare(renderBoth(b))
			if err != nil {
				b.Fatal(err)
			}
			if err := diff.WriteMarkdown(io.Discard, r, 0); err != nil {
				b.Fatal(err)
			}
			if err := diff.WriteJSON(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package renderer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// nodesFile is a small YAML file whose aliases expand to most of a
// million nodes: under the budget for one file, while a dozen or so pass
// the one for a revision.
func nodesFile() string {
	return "a: &a [x, x, x, x, x, x, x, x, x]\n" +
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
		"f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
}

// budgetRepo returns a solution of tiers tiers, each a ConfigMap
// generated from a file, all of them small but those of the tiers in big,
// which are nodesFile.
func budgetRepo(tiers int, big func(int) bool) fstest.MapFS {
	repo := fstest.MapFS{}
	var sol strings.Builder
	sol.WriteString("apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: shop}\nspec:\n  scale: 1\n  tiers:\n")
	for i := range tiers {
		fmt.Fprintf(&sol, "  - {name: t%02d, path: t/%02d, namespace: shop, targets: {clusters: [c]}}\n", i, i)
		repo[fmt.Sprintf("t/%02d/kustomization.yaml", i)] = &fstest.MapFile{Data: []byte("configMapGenerator:\n- {name: data, files: [data.yaml]}\n")}
		data := "a: b\n"
		if big(i) {
			data = nodesFile()
		}
		repo[fmt.Sprintf("t/%02d/data.yaml", i)] = &fstest.MapFile{Data: []byte(data)}
	}
	repo["tandem.yaml"] = &fstest.MapFile{Data: []byte(sol.String())}
	return repo
}

func TestRendererChargesTheFilesOfTheBuildsItReuses(t *testing.T) {
	var b budget
	if _, err := b.check("data.yaml", []byte(nodesFile())); err != nil {
		t.Fatal(err)
	}
	tiers := int(MaxRevisionNodes/b.spent.nodes) + 1
	under := budgetRepo(tiers, func(i int) bool { return i < tiers-1 })
	over := budgetRepo(tiers, func(int) bool { return true })
	ctx := context.Background()
	if _, err := Render(ctx, under, Options{}); err != nil {
		t.Fatalf("Render of %d files under the revision budget: %v", tiers-1, err)
	}
	_, want := Render(ctx, over, Options{})
	if want == nil || !strings.Contains(want.Error(), "over the budget for one revision") {
		t.Fatalf("Render of %d files over the revision budget: %v", tiers, want)
	}
	var r Renderer
	if _, err := r.Render(ctx, under, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Render(ctx, over, Options{}); err == nil || err.Error() != want.Error() {
		t.Fatalf("Renderer: %v, want the fresh render's %v", err, want)
	}
}

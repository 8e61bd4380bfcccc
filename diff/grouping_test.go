package diff_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/fixtures"
	"github.com/tandem-gitops/tandem/renderer"
)

// fleet is the smart-factory fixture with n generated sites more.
func fleet(t testing.TB, n int) renderer.Result {
	t.Helper()
	repo, err := fixtures.SmartFactoryWithSites(n)
	if err != nil {
		t.Fatal(err)
	}
	res, err := renderer.Render(context.Background(), repo, renderer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return *res
}

func TestScaleChangeAcross200SitesGroupsSitesThatChangeAlike(t *testing.T) {
	repo, err := fixtures.SmartFactoryWithSites(200)
	if err != nil {
		t.Fatal(err)
	}
	base := render(t, "main", repo)
	head := render(t, "scale-out", applyEdits(t, repo, scenarios[0].edits))
	r, err := diff.Compare(base, head)
	if err != nil {
		t.Fatal(err)
	}

	// What each site should show, from the replica preview that the GUI
	// and the renderer share.
	sol := base.Result.Solutions[0]
	before, err := sol.Replicas(3, base.Result.Sites)
	if err != nil {
		t.Fatal(err)
	}
	after, err := sol.Replicas(5, base.Result.Sites)
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string][]string{}
	for i, w := range after {
		if w.Tier == "edge" && before[i].Replicas != w.Replicas {
			changes[w.Site] = append(changes[w.Site], fmt.Sprintf("%s replicas %d → %d", w.Workload, before[i].Replicas, w.Replicas))
		}
	}
	want := map[string][]string{}
	for site, lines := range changes {
		k := strings.Join(lines, "; ")
		want[k] = append(want[k], site)
	}

	got := map[string][]string{}
	edgeGroups := 0
	for _, g := range r.Summary {
		if g.Tier != "edge" {
			continue
		}
		edgeGroups++
		var lines []string
		for _, e := range g.Effects {
			for _, h := range e.Highlights {
				lines = append(lines, e.Name+" "+h.String())
			}
		}
		got[strings.Join(lines, "; ")] = g.Sites
	}
	for _, sites := range want {
		slices.Sort(sites)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("edge groups (-want +got):\n%s", d)
	}
	if edgeGroups > 4 {
		t.Errorf("203 sites of 4 weights fall into %d edge groups, want at most 4", edgeGroups)
	}

	var md bytes.Buffer
	if err := diff.WriteMarkdown(&md, r, 0); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(md.String(), "<details>"); n > 5 {
		t.Errorf("Markdown has %d sections for 4 kinds of change, want identical clusters in one section", n)
	}
	golden(t, "scale-change-200-sites.md", md.Bytes())
}

func TestMarkdownIsCappedWithANoteOfWhatWasLeftOut(t *testing.T) {
	base := fleet(t, 0)
	head := fleet(t, 30)
	r, err := diff.Compare(diff.Revision{Name: "main", Result: &base}, diff.Revision{Name: "thirty-plants", Result: &head})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 20_000
	var full, capped bytes.Buffer
	if err := diff.WriteMarkdown(&full, r, 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := diff.WriteMarkdown(&capped, r, limit); err != nil {
		t.Fatal(err)
	}
	if full.Len() <= limit {
		t.Fatalf("uncapped output is %d bytes, want a test input over %d", full.Len(), limit)
	}
	out := capped.String()
	if capped.Len() > limit {
		t.Errorf("capped output is %d bytes, want at most %d", capped.Len(), limit)
	}
	if !strings.Contains(out, "are left out to keep this comment under 20 KB") {
		t.Errorf("capped output has no note of what was cut:\n%s", out[max(0, len(out)-500):])
	}
	if !strings.Contains(out, "| edge |") || !strings.Contains(out, "Sites added:") {
		t.Errorf("capped output lost its summary")
	}
	if open, closed := strings.Count(out, "<details>"), strings.Count(out, "</details>"); open != closed || open == 0 {
		t.Errorf("capped output has %d sections opened and %d closed", open, closed)
	}
}

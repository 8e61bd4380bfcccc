package diff_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tandem-gitops/tandem/diff"
	"github.com/tandem-gitops/tandem/fixtures"
)

func TestDiffSaysWhichWaveEachChangedSiteIsInAndWhenItsWindowOpens(t *testing.T) {
	repo, err := fixtures.SmartFactoryWithSites(0)
	if err != nil {
		t.Fatal(err)
	}
	site := string(repo["sites/plant-c.yaml"].Data)
	repo["sites/plant-c.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(site, "spec:\n",
		"spec:\n  windows: [{schedule: \"0 22 * * *\", duration: 4h, timeZone: Europe/Berlin}]\n", 1))}
	base := render(t, "main", repo)
	head := render(t, "scale-out", applyEdits(t, repo, scenarios[0].edits))
	r, err := diff.Compare(base, head)
	if err != nil {
		t.Fatal(err)
	}
	diff.Rollouts(r, head.Result, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	var got []string
	for _, s := range r.Rollout {
		line := fmt.Sprintf("%s %d/%d", s.Site, s.Wave, s.Waves)
		if s.WindowOpens != nil {
			line += " " + s.WindowOpens.UTC().Format(time.RFC3339)
		}
		got = append(got, line)
	}
	want := "plant-a 1/2,plant-b 2/2,plant-c 2/2 2026-12-01T21:00:00Z"
	if strings.Join(got, ",") != want {
		t.Errorf("rollout %v, want %s", got, want)
	}
	var text bytes.Buffer
	if err := diff.WriteText(&text, r, false); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"smart-factory wave 1 of 2: plant-a", "smart-factory wave 2 of 2: plant-b, plant-c; next windows open: plant-c at 2026-12-01 21:00 UTC"} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("the text report does not say %q:\n%s", line, text.String())
		}
	}
}

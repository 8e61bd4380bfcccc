package console

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-gitops/tandem/fixtures"
)

func TestPreviewShowsReplicasOfExpressionRules(t *testing.T) {
	repo, err := fixtures.SmartFactoryWithSites(0)
	if err != nil {
		t.Fatal(err)
	}
	sol := string(repo["tandem.yaml"].Data)
	linked := "{workload: inference, linkedTo: cloud/ingest, ratio: 0.5, min: 1, max: 6}"
	if !strings.Contains(sol, linked) {
		t.Fatalf("the fixture has no %s", linked)
	}
	repo["tandem.yaml"].Data = []byte(strings.Replace(sol, linked,
		`{workload: inference, min: 1, max: 6, expr: 'site.labels.?ring.orValue("") == "canary" ? 1.0 : replicas["cloud/ingest"] * 0.5 * site.weight'}`, 1))
	tc := newTestConsole(t, repo)
	ada := tc.client(t, "ada")
	code, page := get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=5")
	if code != http.StatusOK {
		t.Fatalf("preview: %d\n%s", code, page)
	}
	got := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		got[m[1]+"/"+m[3]+"@"+m[2]] = m[4] + "→" + m[5]
	}
	// Scale 3 → 5: the canary plant-a keeps 1; plant-b (weight 2) gets
	// ingest × 0.5 × 2; plant-c (weight 0.5) ingest × 0.25, rounded up. The
	// gateway follows inference by 0.5, between 1 and 3.
	want := map[string]string{
		"cloud/ingest@cloud":            "3→5",
		"cloud/mqtt-broker@cloud":       "2→3",
		"edge/inference@plant-a":        "1→1",
		"edge/protocol-gateway@plant-a": "1→1",
		"edge/inference@plant-b":        "3→5",
		"edge/protocol-gateway@plant-b": "2→3",
		"edge/inference@plant-c":        "1→2",
		"edge/protocol-gateway@plant-c": "1→1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("preview rows (-want +got):\n%s", diff)
	}

	_, page = get(t, ada, tc.srv.URL+"/console/solutions/smart-factory?scale=12")
	over := "scale 12 asks edge/inference for 12 replicas at plant-b, over its max of 6"
	if !strings.Contains(html.UnescapeString(page), over) {
		t.Errorf("the preview at scale 12 does not say %q:\n%s", over, page)
	}
}

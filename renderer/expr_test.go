package renderer

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// exprRepo is testRepo with till scaled by an expression over the site:
// sites on the fast line get half of api per unit of weight, the others
// four replicas per core of their capacity, or four without one.
func exprRepo(files map[string]string) map[string]string {
	changes := map[string]string{
		"tandem.yaml": solutionWith("{workload: till, linkedTo: cloud/api, ratio: 0.5}",
			`{workload: till, expr: 'site.labels.?line.orValue("") == "fast" ? replicas["cloud/api"] * 0.5 * site.weight : site.capacity[?"cpu"].orValue(1.0) * 4.0'}`),
		"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "{tier: edge}", "{tier: edge, line: fast}", 1),
		"sites/c.yaml": "apiVersion: tandem.dev/v1alpha1\nkind: Site\nmetadata: {name: c, labels: {tier: edge}}\nspec: {capacity: {cpu: 750m, memory: 1Gi}}\n",
	}
	for k, v := range files {
		changes[k] = v
	}
	return changes
}

// replicasByPlace returns the spec.replicas of each Deployment, keyed
// "site or cluster/name".
func replicasByPlace(t *testing.T, targets []Target) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for _, tg := range targets {
		for _, o := range tg.Objects {
			if o.GetKind() != "Deployment" {
				continue
			}
			n, _, err := unstructured.NestedInt64(o.Object, "spec", "replicas")
			if err != nil {
				t.Fatalf("%s/%s: %v", tg.Cluster, o.GetName(), err)
			}
			place := tg.Site
			if place == "" {
				place = tg.Cluster
			}
			got[place+"/"+o.GetName()] = n
		}
	}
	return got
}

func TestRenderScalesByExpressionPerSite(t *testing.T) {
	res, err := Render(context.Background(), repoWith(exprRepo(nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// api = 4; a is fast with weight 2: 4 × 0.5 × 2; b has no capacity: 1 × 4;
	// c has 750m cores: 0.75 × 4.
	want := map[string]int64{"cloud/api": 4, "a/till": 4, "b/till": 4, "c/till": 3}
	if diff := cmp.Diff(want, replicasByPlace(t, res.Targets)); diff != "" {
		t.Errorf("replicas (-want +got):\n%s", diff)
	}
}

func TestReplicasPreviewsAndOverMaxCheckExpressions(t *testing.T) {
	repo := repoWith(exprRepo(map[string]string{"tandem.yaml": solutionWith("{workload: till, linkedTo: cloud/api, ratio: 0.5}",
		`{workload: till, max: 6, expr: 'site.labels.?line.orValue("") == "fast" ? replicas["cloud/api"] * 0.5 * site.weight : site.capacity[?"cpu"].orValue(1.0) * 4.0'}`)}))
	res, err := Render(context.Background(), repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sol := res.Solutions[0]
	got, err := sol.Replicas(8, res.Sites)
	if err != nil {
		t.Fatal(err)
	}
	want := []WorkloadReplicas{
		{Tier: "cloud", Workload: "api", Cluster: "cloud", Replicas: 8},
		{Tier: "edge", Workload: "till", Cluster: "a", Site: "a", Replicas: 6},
		{Tier: "edge", Workload: "till", Cluster: "b", Site: "b", Replicas: 4},
		{Tier: "edge", Workload: "till", Cluster: "c", Site: "c", Replicas: 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Replicas(8) (-want +got):\n%s", diff)
	}
	if err := sol.OverMax(4, res.Sites); err != nil {
		t.Errorf("OverMax(4) = %v; want nil", err)
	}
	wantErr := "tandem.yaml:17: spec.tiers[1].replicas[0].max: scale 8 asks edge/till for 8 replicas at a, over its max of 6"
	if err := sol.OverMax(8, res.Sites); err == nil || err.Error() != wantErr {
		t.Errorf("OverMax(8) = %v; want %s", err, wantErr)
	}
}

func TestRenderNamesWhereAnExpressionIsWrong(t *testing.T) {
	edge := func(rule string) map[string]string {
		return exprRepo(map[string]string{"tandem.yaml": solutionWith("{workload: till, linkedTo: cloud/api, ratio: 0.5}", rule)})
	}
	cloud := func(rule string) map[string]string {
		return map[string]string{"tandem.yaml": solutionWith("{workload: api, perScale: 1, max: 10}", rule)}
	}
	tests := []struct {
		name    string
		changes map[string]string
		wants   []string
	}{
		{"an unknown field", edge(`{workload: till, expr: 'site.lables["line"] == "fast" ? 2 : 1'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: 1:5: undefined field 'lables'`}},
		{"on the second line of a block", edge("\n      workload: till\n      expr: |\n        scale *\n          sit\n"),
			[]string{`tandem.yaml:19: spec.tiers[1].replicas[0].expr: 2:3: undeclared reference to 'sit'`}},
		{"mixed number types", edge(`{workload: till, expr: 'scale > 2.0 ? scale : 1'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: 1:13: found no matching overload for '_?_:_' applied to '(bool, double, int)'`}},
		{"not a number", edge(`{workload: till, expr: 'site.name'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: 1:5: expression gives a string; it must give a number (int, uint or double)`}},
		{"a key that is not constant", edge(`{workload: till, expr: 'replicas[site.name]'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: 1:1: replicas can only be read as replicas["tier/workload"], with a constant key`}},
		{"a key naming no rule", edge(`{workload: till, expr: 'replicas["cloud/apu"]'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: 1:10: no replica rule for workload cloud/apu`}},
		{"a cluster tier reading a site tier", cloud(`{workload: api, expr: 'replicas["edge/till"] + 1.0'}`),
			[]string{`tandem.yaml:12: spec.tiers[0].replicas[0].expr: 1:10: edge/till is scaled per site; a cluster tier cannot read it`}},
		{"a cycle", cloud(`{workload: api, expr: 'replicas["cloud/api"] * 2.0'}`),
			[]string{`tandem.yaml:12: spec.tiers[0].replicas[0].expr: expr forms a cycle: cloud/api → cloud/api`}},
		{"expr beside perScale", cloud(`{workload: api, perScale: 1, expr: '2'}`),
			[]string{`tandem.yaml:12: spec.tiers[0].replicas[0].expr: perScale and expr are mutually exclusive`}},
		{"expr beside a zero perScale", cloud(`{workload: api, perScale: 0, expr: '2'}`),
			[]string{`tandem.yaml:12: spec.tiers[0].replicas[0].expr: perScale and expr are mutually exclusive`}},
		{"expr beside linkedTo", edge(`{workload: till, linkedTo: cloud/api, ratio: 0.5, expr: '2'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: linkedTo and expr are mutually exclusive`}},
		{"expr beside ratio", edge(`{workload: till, ratio: 0.5, expr: '2'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].ratio: ratio needs linkedTo`}},
		{"an empty expr", edge(`{workload: till, expr: ''}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: 1:1: expression is empty`}},
		{"a label one site lacks", edge(`{workload: till, expr: 'site.labels["line"] == "fast" ? 2 : 1'}`),
			[]string{
				`tandem.yaml:17: spec.tiers[1].replicas[0].expr: solution shop at site b: expr of edge/till failed: no such key: line`,
				`tandem.yaml:17: spec.tiers[1].replicas[0].expr: solution shop at site c: expr of edge/till failed: no such key: line`,
			}},
		{"a negative count at one site", edge(`{workload: till, expr: '1.0 - site.weight'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: solution shop at site a: expr of edge/till gives -1, not a replica count: a finite number ≥ 0`}},
		{"too many at one site", edge(`{workload: till, expr: 'site.weight * 2e9'}`),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].expr: solution shop at site a: too many replicas: edge/till would get 4000000000 replicas from its expr, more than the 2147483647 a workload can have; lower what expr gives or set max`}},
		{"too many on a cluster", cloud(`{workload: api, expr: 'scale * 1e12'}`),
			[]string{`tandem.yaml:12: spec.tiers[0].replicas[0].expr: solution shop: too many replicas: cloud/api would get 4000000000000 replicas from its expr`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, repoWith(tt.changes), tt.wants)
		})
	}
}

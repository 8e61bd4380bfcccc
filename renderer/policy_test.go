package renderer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// withPolicy returns the test solution with a spec.policy of the YAML
// lines given, indented under it; policy: is line 18, the first given 19.
func withPolicy(lines ...string) string {
	return testRepo["tandem.yaml"] + "  policy:\n    " + strings.Join(lines, "\n    ") + "\n"
}

// privilegedOverlay is a site overlay of the edge tier that makes till's
// container privileged.
var privilegedOverlay = map[string]string{
	"sites/b.yaml": testRepo["sites/b.yaml"] + "spec: {overlay: sites/b}\n",
	"sites/b/edge/kustomization.yaml": `resources: [../../../tiers/edge]
patches:
- target: {kind: Deployment, name: till}
  patch: '[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext", "value": {"privileged": true}}]'
`,
}

func TestRenderRefusesABadPolicy(t *testing.T) {
	big := "[" + strings.Repeat("0, ", 1499) + "0]"
	tests := []struct {
		name  string
		repo  fstest.MapFS
		wants []string
	}{
		{"an expression that does not compile, with CEL's position",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: [edge]", "  expression: \"object.kind == 'Deployment' && objct.spec.replicas > 1\"")}),
			[]string{`tandem.yaml:22: spec.policy.rules[0].expression: does not compile: 1:32: undeclared reference to 'objct'`}},
		{"a syntax error on the expression's second line",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: [edge]", "  expression: |", "    object.kind == 'Deployment' &&", "      object.spec.replicas >")}),
			[]string{`tandem.yaml:22: spec.policy.rules[0].expression: does not compile: 3:1: Syntax error: mismatched input '<EOF>'`}},
		{"a field the site has not",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: [edge]", "  expression: site.zone == 'eu'")}),
			[]string{`tandem.yaml:22: spec.policy.rules[0].expression: does not compile: 1:5: undefined field 'zone'`}},
		{"an expression that is not a bool",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: [edge]", "  expression: size(object.metadata)")}),
			[]string{`tandem.yaml:22: spec.policy.rules[0].expression: returns int, want bool`}},
		{"an expression that must cost too much",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: [edge]", "  expression: \""+big+".map(a, "+big+".map(b, a + b)).size() > 0\"")}),
			[]string{`tandem.yaml:22: spec.policy.rules[0].expression: costs at least 33799523 to evaluate, over the limit of 1000000`}},
		{"an unknown tier",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: [edge, egde]", "  expression: 'true'")}),
			[]string{`tandem.yaml:21: spec.policy.rules[0].tiers[1]: unknown tier "egde"`}},
		{"no tiers",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  expression: 'true'")}),
			[]string{`tandem.yaml:20: spec.policy.rules[0].tiers: tiers are required: name the tiers, or "*" for every tier`}},
		{"every tier and one more",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: ['*', edge]", "  expression: 'true'")}),
			[]string{`tandem.yaml:21: spec.policy.rules[0].tiers[0]: "*" names every tier and must stand alone`}},
		{"a rule without a name or an expression, and one named twice",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- tiers: [edge]", "- {name: r, tiers: [edge], expression: 'true'}", "- {name: r, tiers: [edge], expression: 'true'}", "- {name: baseline/mine, tiers: [edge], expression: 'true'}")}),
			[]string{
				`tandem.yaml:20: spec.policy.rules[0].name: name is required`,
				`tandem.yaml:20: spec.policy.rules[0].expression: expression is required`,
				`tandem.yaml:22: spec.policy.rules[2].name: duplicate rule name "r"`,
				`tandem.yaml:23: spec.policy.rules[3].name: rule name "baseline/mine": names starting with baseline/ are the baseline's`,
			}},
		{"a baseline for an unknown tier",
			repoWith(map[string]string{"tandem.yaml": withPolicy("baseline: [cloud, edge, shop]")}),
			[]string{`tandem.yaml:19: spec.policy.baseline[2]: unknown tier "shop"`}},
		{"a registry with a digest and a bad cluster pattern",
			repoWith(map[string]string{"tandem.yaml": withPolicy("allowedRegistries: [example.com@sha256]", "allowedClusters: ['plant-[', Plant_A]")}),
			[]string{
				`tandem.yaml:19: spec.policy.allowedRegistries[0]: "example.com@sha256" is not a registry prefix such as registry.example.com/iot`,
				`tandem.yaml:20: spec.policy.allowedClusters[0]: pattern "plant-[": syntax error in pattern`,
				`tandem.yaml:20: spec.policy.allowedClusters[1]: "Plant_A": a lowercase RFC 1123 subdomain`,
			}},
		{"an unknown policy field",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rule: []")}),
			[]string{`tandem.yaml:19: spec.policy.rule: unknown field "rule"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, tt.repo, tt.wants)
		})
	}
}

func TestRenderRefusesObjectsAPolicyRuleDoesNotAllow(t *testing.T) {
	zoned := map[string]string{"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "{tier: edge}", "{tier: edge, zone: eu}", 1)}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	notPrivileged := `podSpec.containers.all(c, c.?securityContext.?privileged.orValue(false) != true)`
	tests := []struct {
		name  string
		repo  fstest.MapFS
		wants []string
	}{
		{"a rule over the site's labels refuses the site without the label",
			repoWith(merge(zoned, map[string]string{"tandem.yaml": withPolicy("rules:", "- name: zoned", "  tiers: [edge]", "  expression: \"'zone' in site.labels\"", "  message: sites need a zone label")})),
			[]string{`tandem.yaml:20: spec.policy.rules[0]: Deployment/shop/till of tier edge at site b: sites need a zone label (rule zoned)`}},
		{"a violation only a site's overlay makes is reported at that site",
			repoWith(merge(privilegedOverlay, map[string]string{"tandem.yaml": withPolicy("rules:", "- name: no-privileged", "  tiers: [edge]", "  expression: "+notPrivileged, "  message: containers must not be privileged")})),
			[]string{`tandem.yaml:20: spec.policy.rules[0]: Deployment/shop/till of tier edge at site b: containers must not be privileged (rule no-privileged)`}},
		{"a tier on named clusters sees a site with no name and its cluster",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: r", "  tiers: ['*']", "  expression: \"site.name != '' && site.weight >= 1.0\"")}),
			[]string{`tandem.yaml:20: spec.policy.rules[0]: Deployment/shop/api of tier cloud at cluster cloud: site.name != '' && site.weight >= 1.0 (rule r)`}},
		{"the message defaults to the expression, and rules apply only to their tiers",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: one", "  tiers: [edge]", "  expression: object.spec.replicas <= 2", "- name: cloud-only", "  tiers: [cloud]", "  expression: \"site.cluster == 'cloud'\"")}),
			[]string{`tandem.yaml:20: spec.policy.rules[0]: Deployment/shop/till of tier edge at site a: object.spec.replicas <= 2 (rule one)`}},
		{"an evaluation error names the rule and the object",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: paused", "  tiers: [edge]", "  expression: object.spec.paused == false")}),
			[]string{
				`tandem.yaml:20: spec.policy.rules[0]: Deployment/shop/till of tier edge at site a: rule paused does not evaluate: no such key: paused`,
				`tandem.yaml:20: spec.policy.rules[0]: Deployment/shop/till of tier edge at site b: rule paused does not evaluate: no such key: paused`,
			}},
		{"a field that is not a bool at evaluation",
			repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- name: replicas", "  tiers: [cloud]", "  expression: object.spec.replicas")}),
			[]string{`tandem.yaml:20: spec.policy.rules[0]: Deployment/shop/api of tier cloud at cluster cloud: rule replicas returns int, want bool`}},
		{"a baseline on the edge tier refuses its unpinned image without requests at every site",
			repoWith(map[string]string{"tandem.yaml": withPolicy("baseline: [edge]")}),
			[]string{
				`tandem.yaml:19: spec.policy.baseline[0]: Deployment/shop/till of tier edge at site a: images must be pinned by digest (@sha256:) or come from spec.policy.allowedRegistries: container app (rule baseline/image-pinned)`,
				`tandem.yaml:19: spec.policy.baseline[0]: Deployment/shop/till of tier edge at site b: images must be pinned by digest (@sha256:) or come from spec.policy.allowedRegistries: container app (rule baseline/image-pinned)`,
				`tandem.yaml:19: spec.policy.baseline[0]: Deployment/shop/till of tier edge at site a: containers must request cpu and memory: container app (rule baseline/resource-requests)`,
				`tandem.yaml:19: spec.policy.baseline[0]: Deployment/shop/till of tier edge at site b: containers must request cpu and memory: container app (rule baseline/resource-requests)`,
			}},
		{"allowed registries let an image by tag through, and a site overlay's privilege is caught",
			repoWith(merge(privilegedOverlay, map[string]string{
				"tandem.yaml":          withPolicy("baseline: ['*']", "allowedRegistries: [example.com]"),
				"tiers/edge/till.yaml": strings.Replace(deployment("till"), "image: example.com/till:1", "image: example.com/till:1, resources: {requests: {cpu: 1, memory: 1Gi}}", 1),
			})),
			[]string{
				`tandem.yaml:19: spec.policy.baseline[0]: Deployment/shop/api of tier cloud at cluster cloud: containers must request cpu and memory: container app (rule baseline/resource-requests)`,
				`tandem.yaml:19: spec.policy.baseline[0]: Deployment/shop/till of tier edge at site b: containers must not be privileged: container app (rule baseline/no-privileged)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, tt.repo, tt.wants)
		})
	}
}

func TestRenderAllowsWhatThePolicyAllows(t *testing.T) {
	repo := repoWith(map[string]string{
		"tandem.yaml": withPolicy("rules:", "- name: labelled", "  tiers: ['*']", "  expression: \"object.metadata.labels['tandem.dev/solution'] == 'shop'\"",
			"baseline: [edge]", "allowedRegistries: [example.com/]", "allowedClusters: [cloud, a, 'b*']"),
		"tiers/edge/till.yaml": strings.Replace(deployment("till"), "image: example.com/till:1", "image: example.com/till:1, resources: {requests: {cpu: 1, memory: 1Gi}}", 1),
	})
	if _, err := Render(context.Background(), repo, Options{}); err != nil {
		t.Fatalf("Render: %v", err)
	}
}

func TestRenderBoundsTheObjectsARuleRefuses(t *testing.T) {
	changes := map[string]string{"tandem.yaml": withPolicy("rules:", "- {name: never, tiers: [edge], expression: 'false'}")}
	for i := range 25 {
		changes[fmt.Sprintf("sites/s%02d.yaml", i)] = strings.Replace(testRepo["sites/b.yaml"], "name: b", fmt.Sprintf("name: s%02d", i), 1)
	}
	wants := []string{"and 7 more objects rule never refuses"}
	for _, s := range []string{"a", "b", "s00", "s17"} {
		wants = append(wants, "Deployment/shop/till of tier edge at site "+s+": false (rule never)")
	}
	_, err := Render(context.Background(), repoWith(changes), Options{})
	if err == nil {
		t.Fatal("Render succeeded; want the rule to refuse every site")
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != shownViolations+1 {
		t.Errorf("got %d errors, want %d:\n%v", got, shownViolations+1, err)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors do not contain %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "site s18:") {
		t.Errorf("errors list site s18, past the first %d:\n%v", shownViolations, err)
	}
}

func TestRenderStopsARuleOverItsCostLimit(t *testing.T) {
	var data strings.Builder
	for i := range 200 {
		fmt.Fprintf(&data, "  k%03d: v\n", i)
	}
	repo := repoWith(map[string]string{
		"tandem.yaml":                   withPolicy("rules:", "- name: cubic", "  tiers: [edge]", "  expression: \"!has(object.data) || object.data.all(a, object.data.all(b, object.data.all(c, a + b + c != '')))\""),
		"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, data.yaml]\n",
		"tiers/edge/data.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: data}\ndata:\n" + data.String(),
	})
	requireRenderErrors(t, repo, []string{
		`tandem.yaml:20: spec.policy.rules[0]: ConfigMap/shop/data of tier edge at site a: rule cubic costs more than the limit of 1000000 to evaluate, and is not evaluated on more objects`,
	})
}

func TestRenderRefusesASiteOnAClusterTheSolutionDoesNotAllow(t *testing.T) {
	tests := []struct {
		name  string
		repo  fstest.MapFS
		wants []string
	}{
		{"a site on the cluster a tier names",
			repoWith(map[string]string{"tandem.yaml": withPolicy("allowedClusters: [a, b]"), "sites/b.yaml": testRepo["sites/b.yaml"] + "spec: {cluster: cloud}\n"}),
			[]string{`sites/b.yaml:6: spec.cluster: cluster "cloud" is not allowed by solution shop, whose tier edge selects site b: spec.policy.allowedClusters is [a, b], and tier cloud runs there by name`}},
		{"a site no pattern matches",
			repoWith(map[string]string{"tandem.yaml": withPolicy("allowedClusters: ['plant-*', a]"), "sites/b.yaml": testRepo["sites/b.yaml"] + "spec: {cluster: mgmt}\n"}),
			[]string{`sites/b.yaml:6: spec.cluster: cluster "mgmt" is not allowed by solution shop, whose tier edge selects site b: spec.policy.allowedClusters is [plant-*, a]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, tt.repo, tt.wants)
		})
	}
}

func TestRenderNamesTheLineOfASiteWhoseDefaultClusterIsNotAllowed(t *testing.T) {
	repo := repoWith(map[string]string{"tandem.yaml": withPolicy("allowedClusters: [a]")})
	requireRenderErrors(t, repo, []string{`sites/b.yaml:4: spec.cluster: cluster "b" is not allowed by solution shop, whose tier edge selects site b: spec.policy.allowedClusters is [a]`})
}

func TestCheckPolicyStopsWhenTheRenderTimeIsUp(t *testing.T) {
	repo := repoWith(map[string]string{"tandem.yaml": withPolicy("rules:", "- {name: r, tiers: ['*'], expression: 'true'}")})
	res, err := Render(context.Background(), repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	spent, cancel := context.WithTimeoutCause(context.Background(), 0, errTimeBudget)
	defer cancel()
	<-spent.Done()
	err = (&run{}).checkPolicy(spent, res, time.Second)
	if want := "exceeded the render time budget of 1s checking rule r of solution shop"; err == nil || err.Error() != want {
		t.Errorf("checkPolicy = %v; want %q", err, want)
	}
}

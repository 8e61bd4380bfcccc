package renderer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// solutionWith returns the test solution with old replaced by new.
func solutionWith(old, new string) string {
	s := testRepo["tandem.yaml"]
	if !strings.Contains(s, old) {
		panic("test solution has no " + old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestRenderNamesWhereEachBadInputIs(t *testing.T) {
	tests := []struct {
		name  string
		repo  fstest.MapFS
		wants []string // each must be the start of, or inside, one error line
	}{
		{"malformed YAML", repoWith(map[string]string{"tandem.yaml": solutionWith("  scale: 4\n", "  scale: 4\n   oops: [\n")}),
			[]string{"tandem.yaml:7: malformed YAML"}},
		{"unknown field", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    replica: []\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].replica: unknown field "replica"`}},
		{"unknown field in a site", repoWith(map[string]string{"sites/b.yaml": testRepo["sites/b.yaml"] + "spec: {wieght: 2}\n"}),
			[]string{`sites/b.yaml:6: spec.wieght: unknown field "wieght"`}},
		{"unquoted version", repoWith(map[string]string{"tandem.yaml": testRepo["tandem.yaml"] + "  models:\n  - {name: m, version: 1.10, uri: https://x/m, sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, tier: edge, workload: till}\n"}),
			[]string{`tandem.yaml:19: spec.models[0].version: want a string, got float "1.10" (quote it)`}},
		{"duplicate site name", repoWith(map[string]string{"sites/c.yaml": strings.Replace(testRepo["sites/b.yaml"], "name: b", "name: a", 1)}),
			[]string{`sites/c.yaml:4: metadata.name: duplicate site name "a", also declared in sites/a.yaml`}},
		{"duplicate cluster", repoWith(map[string]string{"sites/b.yaml": testRepo["sites/b.yaml"] + "spec: {cluster: a}\n"}),
			[]string{`sites/b.yaml:6: spec.cluster: cluster "a" already belongs to site a`}},
		{"duplicate tier name", repoWith(map[string]string{"tandem.yaml": solutionWith("  - name: edge", "  - name: cloud")}),
			[]string{`tandem.yaml:13: spec.tiers[1].name: duplicate tier name "cloud"`}},
		{"path with ..", repoWith(map[string]string{"tandem.yaml": solutionWith("path: tiers/edge", "path: tiers/../../edge")}),
			[]string{`tandem.yaml:14: spec.tiers[1].path: path "tiers/../../edge" escapes the repository`}},
		{"absolute path", repoWith(map[string]string{"tandem.yaml": solutionWith("path: tiers/edge", "path: /etc")}),
			[]string{`tandem.yaml:14: spec.tiers[1].path: path "/etc" is absolute`}},
		{"symlink out of the repository", withFile(repoWith(map[string]string{"tandem.yaml": solutionWith("path: tiers/edge", "path: tiers/out/x")}), "tiers/out", symlink("../../etc")),
			[]string{`tandem.yaml:14: spec.tiers[1].path: path "tiers/out/x": symlink tiers/out points outside the repository, to ../../etc`}},
		{"missing directory", repoWith(map[string]string{"tandem.yaml": solutionWith("path: tiers/edge", "path: tiers/nope")}),
			[]string{`tandem.yaml:14: spec.tiers[1].path: directory tiers/nope does not exist`}},
		{"directory without kustomization", repoWith(map[string]string{"tiers/edge/kustomization.yaml": ""}),
			[]string{`tandem.yaml:14: spec.tiers[1].path: tiers/edge is not a kustomize directory`}},
		{"replica rule for a workload the tier lacks", repoWith(map[string]string{"tandem.yaml": solutionWith("workload: till,", "workload: tll,")}),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].workload: tier edge renders no Deployment, StatefulSet, ReplicaSet or ReplicationController named "tll"`}},
		{"replica rule for a DaemonSet", repoWith(map[string]string{
			"tandem.yaml":                   solutionWith("workload: till,", "workload: node-agent,"),
			"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, node-agent.yaml]\n",
			"tiers/edge/node-agent.yaml":    strings.Replace(deployment("node-agent"), "kind: Deployment", "kind: DaemonSet", 1),
		}), []string{`tandem.yaml:17: spec.tiers[1].replicas[0].workload: tier edge renders no Deployment, StatefulSet, ReplicaSet or ReplicationController named "node-agent" but a DaemonSet: DaemonSets are not scaled by replicas, they run one pod per node`}},
		{"model for a DaemonSet", repoWith(map[string]string{
			"tandem.yaml":                   testRepo["tandem.yaml"] + "  models:\n  - {name: m, version: \"1\", uri: https://x/m, sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, tier: edge, workload: node-agent}\n",
			"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, node-agent.yaml]\n",
			"tiers/edge/node-agent.yaml":    strings.Replace(deployment("node-agent"), "kind: Deployment", "kind: DaemonSet", 1),
		}), []string{`tandem.yaml:19: spec.models[0].workload: tier edge renders no Deployment, StatefulSet, ReplicaSet or ReplicationController named "node-agent" but a DaemonSet: DaemonSets are not scaled by replicas`}},
		{"replica rule for a workload by its name before namePrefix", repoWith(map[string]string{"tiers/edge/kustomization.yaml": "namespace: shop\nnamePrefix: shop-\nresources: [till.yaml]\n"}),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].workload: tier edge renders no Deployment, StatefulSet, ReplicaSet or ReplicationController named "till"; did you mean shop-till, its name after namePrefix or nameSuffix?`}},
		{"model for a workload by its name before nameSuffix", repoWith(map[string]string{
			"tandem.yaml":                   solutionWith("workload: till,", "workload: till-eu,") + "  models:\n  - {name: m, version: \"1\", uri: https://x/m, sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, tier: edge, workload: till}\n",
			"tiers/edge/kustomization.yaml": "namespace: shop\nnameSuffix: -eu\nresources: [till.yaml]\n",
		}), []string{`tandem.yaml:19: spec.models[0].workload: tier edge renders no Deployment, StatefulSet, ReplicaSet or ReplicationController named "till"; did you mean till-eu, its name after namePrefix or nameSuffix?`}},
		{"linkedTo unknown tier", repoWith(map[string]string{"tandem.yaml": solutionWith("linkedTo: cloud/api", "linkedTo: clod/api")}),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].linkedTo: unknown tier "clod"`}},
		{"linkedTo unknown workload", repoWith(map[string]string{"tandem.yaml": solutionWith("linkedTo: cloud/api", "linkedTo: cloud/web")}),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].linkedTo: no replica rule for workload cloud/web`}},
		{"linkedTo cycle", repoWith(map[string]string{"tandem.yaml": solutionWith("{workload: api, perScale: 1, max: 10}", "{workload: api, linkedTo: cloud/api2, ratio: 1}\n    - {workload: api2, linkedTo: cloud/api, ratio: 1}")}),
			[]string{`tandem.yaml:12: spec.tiers[0].replicas[0].linkedTo: linkedTo forms a cycle: cloud/api → cloud/api2 → cloud/api`}},
		{"negative ratio", repoWith(map[string]string{"tandem.yaml": solutionWith("ratio: 0.5", "ratio: -0.5")}),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].ratio: ratio -0.5 must be > 0`}},
		{"zero ratio", repoWith(map[string]string{"tandem.yaml": solutionWith("ratio: 0.5", "ratio: 0")}),
			[]string{`tandem.yaml:17: spec.tiers[1].replicas[0].ratio: ratio 0 must be > 0`}},
		{"zero weight", repoWith(map[string]string{"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "weight: 2", "weight: 0", 1)}),
			[]string{`sites/a.yaml:7: spec.weight: weight 0 must be > 0`}},
		{"negative weight", repoWith(map[string]string{"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "weight: 2", "weight: -1", 1)}),
			[]string{`sites/a.yaml:7: spec.weight: weight -1 must be > 0`}},
		{"unknown site mode", repoWith(map[string]string{"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "weight: 2", "weight: 2\n  mode: poll", 1)}),
			[]string{`sites/a.yaml:8: spec.mode: mode "poll": want push or pull`}},
		{"min above max", repoWith(map[string]string{"tandem.yaml": solutionWith("max: 10", "min: 11, max: 10")}),
			[]string{`tandem.yaml:12: spec.tiers[0].replicas[0].max: max 10 is less than min 11`}},
		{"dependsOn cycle", repoWith(map[string]string{"tandem.yaml": strings.Replace(solutionWith("    path: tiers/cloud\n", "    path: tiers/cloud\n    dependsOn: [edge]\n"), "    path: tiers/edge\n", "    path: tiers/edge\n    dependsOn: [cloud]\n", 1)}),
			[]string{`spec.tiers[1].dependsOn[0]: dependsOn forms a cycle: cloud → edge → cloud`}},
		{"dependsOn unknown tier", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    dependsOn: [platform]\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].dependsOn[0]: unknown tier "platform"`}},
		{"tier namespace not a DNS label", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    namespace: Shop_Edge\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].namespace: "Shop_Edge": a lowercase RFC 1123 label`}},
		{"tier namespace reserved", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    namespace: tandem-system\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].namespace: namespace tandem-system is reserved: it holds tandem's ApplySet parents and cluster credentials`}},
		{"zero health timeout", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    health: {timeout: 0s}\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].health.timeout: timeout 0s must be > 0`}},
		{"negative health timeout", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    health: {timeout: -2m}\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].health.timeout: timeout -2m0s must be > 0`}},
		{"health timeout without a unit", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    health: {timeout: 90}\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].health.timeout: want a duration such as 90s or 2m, got int "90"`}},
		{"health timeout not a duration", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    health: {timeout: soon}\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].health.timeout: want a duration such as 90s or 2m, got "soon"`}},
		{"unknown health field", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    health: {wiat: false}\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].health.wiat: unknown field "wiat"`}},
		{"adopt not a boolean", repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n    adopt: yes please\n")}),
			[]string{`tandem.yaml:15: spec.tiers[1].adopt: want a boolean, got str "yes please"`}},
		{"file over the size limit", repoWith(map[string]string{"sites/huge.yaml": "# tandem.dev/\n" + strings.Repeat("#", MaxFileSize)}),
			[]string{`sites/huge.yaml: file is 8388622 bytes, over the 8388608 byte limit`}},
		{"unknown kind", repoWith(map[string]string{"sites/b.yaml": strings.Replace(testRepo["sites/b.yaml"], "kind: Site", "kind: Plant", 1)}),
			[]string{`sites/b.yaml:2: kind: unknown kind "Plant"`}},
		{"every problem, not just the first", repoWith(map[string]string{
			"tandem.yaml":  solutionWith("ratio: 0.5", "ratio: -1"),
			"sites/a.yaml": strings.Replace(testRepo["sites/a.yaml"], "weight: 2", "weight: 0", 1),
			"sites/b.yaml": testRepo["sites/b.yaml"] + "status: {}\n",
		}), []string{
			`sites/a.yaml:7: spec.weight: weight 0 must be > 0`,
			`sites/b.yaml:6: status: unknown field "status"`,
			`tandem.yaml:17: spec.tiers[1].replicas[0].ratio: ratio -1 must be > 0`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, tt.repo, tt.wants)
		})
	}
}

func TestLoadReadsATiersNamespaceAdoptionAndHealth(t *testing.T) {
	repo := repoWith(map[string]string{"tandem.yaml": solutionWith("    path: tiers/edge\n",
		"    path: tiers/edge\n    namespace: shop-edge\n    adopt: true\n    health: {wait: false, timeout: 2m}\n")})
	cfg, err := Load(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	cloud, edge := cfg.Solutions[0].Spec.Tiers[0], cfg.Solutions[0].Spec.Tiers[1]
	if edge.Namespace != "shop-edge" || !edge.Adopt || edge.Health.Waits() || edge.Health.Timeout == nil || edge.Health.Timeout.Duration != 2*time.Minute {
		t.Errorf("edge tier: namespace %q, adopt %v, waits %v, timeout %v; want shop-edge, true, false, 2m",
			edge.Namespace, edge.Adopt, edge.Health.Waits(), edge.Health.Timeout)
	}
	if cloud.Namespace != "" || cloud.Adopt || !cloud.Health.Waits() || cloud.Health.Timeout != nil {
		t.Errorf("cloud tier: namespace %q, adopt %v, waits %v, timeout %v; want the defaults",
			cloud.Namespace, cloud.Adopt, cloud.Health.Waits(), cloud.Health.Timeout)
	}
}

func TestLoadDefaultsASitesModeToPushAndReadsPull(t *testing.T) {
	repo := repoWith(map[string]string{"sites/b.yaml": testRepo["sites/b.yaml"] + "spec: {mode: pull}\n"})
	cfg, err := Load(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]SiteMode{}
	for _, s := range cfg.Sites {
		modes[s.Name] = s.Spec.Mode
	}
	if want := map[string]SiteMode{"a": ModePush, "b": ModePull}; !maps.Equal(modes, want) {
		t.Errorf("site modes %v, want %v", modes, want)
	}
}

func withFile(m fstest.MapFS, name string, f *fstest.MapFile) fstest.MapFS {
	m[name] = f
	return m
}

func TestRenderWarnsAboutSitesNoTierSelects(t *testing.T) {
	repo := repoWith(map[string]string{"sites/c.yaml": "apiVersion: tandem.dev/v1alpha1\nkind: Site\nmetadata:\n  name: c\n  labels: {tier: lab}\n"})
	res, err := Render(context.Background(), repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "sites/c.yaml:5: metadata.labels: site c is selected by no tier of any solution"
	if len(res.Warnings) != 1 || res.Warnings[0] != want {
		t.Errorf("Warnings = %q; want [%q]", res.Warnings, want)
	}
}

func TestRenderWarnsAboutWhatItRendersAnyway(t *testing.T) {
	idle := "apiVersion: tandem.dev/v1alpha1\nkind: Solution\nmetadata: {name: idle}\nspec:\n  scale: 1\n  %s\n  tiers:\n  - {name: t, path: tiers/empty, targets: {clusters: [cloud]}}\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"kustomize replicas a rule overrides", map[string]string{
			"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, other.yaml]\nreplicas:\n- name: other\n  count: 1\n- name: till\n  count: 3\n",
			"tiers/edge/other.yaml":         deployment("other"),
		}, []string{"tiers/edge/kustomization.yaml:6: replicas[1]: kustomize sets till to 3 replicas, which tandem.yaml spec.tiers[1].replicas[0] overrides"}},
		{"kustomize replicas of a workload by its name before namePrefix", map[string]string{
			"tandem.yaml":                   solutionWith("workload: till,", "workload: shop-till,"),
			"tiers/edge/kustomization.yaml": "namespace: shop\nnamePrefix: shop-\nresources: [till.yaml]\nreplicas: [{name: till, count: 3}]\n",
		}, []string{"tiers/edge/kustomization.yaml:4: replicas[0]: kustomize sets till to 3 replicas, which tandem.yaml spec.tiers[1].replicas[0] overrides"}},
		{"a solution that renders nothing", map[string]string{
			"idle.yaml":                      fmt.Sprintf(idle, "allowEmpty: false"),
			"tiers/empty/kustomization.yaml": "resources: []\n",
		}, []string{"idle.yaml:7: spec.tiers: solution idle renders no objects on any cluster; a cluster it applied objects to keeps them until spec.allowEmpty is set"}},
		{"a solution that renders nothing, as it allows", map[string]string{
			"idle.yaml":                      fmt.Sprintf(idle, "allowEmpty: true"),
			"tiers/empty/kustomization.yaml": "resources: []\n",
		}, []string{"idle.yaml:7: spec.tiers: solution idle renders no objects on any cluster"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Render(context.Background(), repoWith(tt.files), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, res.Warnings); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderRefusesRemoteResources(t *testing.T) {
	repo := repoWith(map[string]string{"tiers/edge/kustomization.yaml": "resources:\n- till.yaml\n- https://github.com/example/repo//base?ref=v1\n"})
	_, err := Render(context.Background(), repo, Options{})
	if err == nil || !strings.Contains(err.Error(), "remote resources are not supported") {
		t.Errorf("Render error = %v; want remote resources refused", err)
	}
}

// requireRenderErrors renders repo and requires a *ValidationError of
// exactly len(wants) errors, each of wants among them.
func requireRenderErrors(t *testing.T, repo fs.FS, wants []string) {
	t.Helper()
	_, err := Render(context.Background(), repo, Options{})
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Render error = %v; want a *ValidationError", err)
	}
	if len(verr.Errors) != len(wants) {
		t.Errorf("got %d errors, want %d:\n%v", len(verr.Errors), len(wants), err)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors do not contain %q:\n%v", want, err)
		}
	}
}

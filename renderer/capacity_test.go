package renderer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// objects decodes YAML documents into the objects of a target.
func objects(t testing.TB, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range docs {
		data, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// workload is a YAML object of kind (apps/v1 unless kind is core) with a
// pod spec: replicas "" leaves spec.replicas unset.
func workload(kind, name, replicas, podSpec string) string {
	apiVersion := "apps/v1"
	if kind == "ReplicationController" || kind == "Pod" {
		apiVersion = "v1"
	}
	if kind == "Job" {
		apiVersion = "batch/v1"
	}
	if kind == "Pod" {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: shop}\nspec: %s\n", name, podSpec)
	}
	spec := "template: {spec: " + podSpec + "}"
	if replicas != "" {
		spec = "replicas: " + replicas + ", " + spec
	}
	return fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata: {name: %s, namespace: shop}\nspec: {%s}\n", apiVersion, kind, name, spec)
}

func TestSiteDemandAddsRequestsAsTheSchedulerDoes(t *testing.T) {
	site := &Site{Spec: SiteSpec{Cluster: "plant-a", Nodes: 1}}
	site.Name = "plant-a"
	tests := []struct {
		name    string
		nodes   int
		objects []string
		want    map[string]string // Total, in canonical form
	}{
		{"millicores and a fraction of a core add up",
			1, []string{workload("Deployment", "app", "1", `{containers: [{name: a, resources: {requests: {cpu: 100m}}}, {name: b, resources: {requests: {cpu: "0.5"}}}]}`)},
			map[string]string{"cpu": "600m", "pods": "1"}},
		{"binary and decimal suffixes are different units",
			1, []string{
				workload("Deployment", "a", "2", `{containers: [{name: a, resources: {requests: {memory: 64Mi}}}]}`),
				workload("Deployment", "b", "1", `{containers: [{name: b, resources: {requests: {memory: 64M}}}]}`),
			},
			map[string]string{"memory": "193572Ki", "pods": "3"}},
		{"binary suffixes stay binary",
			1, []string{
				workload("Deployment", "a", "1", `{containers: [{name: a, resources: {requests: {memory: 512Mi}}}]}`),
				workload("StatefulSet", "b", "1", `{containers: [{name: b, resources: {requests: {memory: 1536Mi}}}]}`),
			},
			map[string]string{"memory": "2Gi", "pods": "2"}},
		{"an init container larger than the containers sets the pod's request",
			1, []string{workload("Deployment", "app", "3", `{initContainers: [{name: fetch, resources: {requests: {cpu: "1", memory: 100Mi}}}], containers: [{name: a, resources: {requests: {cpu: 100m, memory: 200Mi}}}, {name: b, resources: {requests: {cpu: 100m}}}]}`)},
			map[string]string{"cpu": "3", "memory": "600Mi", "pods": "3"}},
		{"a sidecar adds to the containers and to the init containers after it",
			1, []string{workload("Deployment", "app", "1", `{initContainers: [{name: proxy, restartPolicy: Always, resources: {requests: {cpu: 50m}}}, {name: migrate, resources: {requests: {cpu: 500m}}}], containers: [{name: a, resources: {requests: {cpu: 100m}}}]}`)},
			map[string]string{"cpu": "550m", "pods": "1"}},
		{"limits stand in for missing requests",
			1, []string{workload("Deployment", "app", "2", `{containers: [{name: a, resources: {limits: {cpu: "1", memory: 1Gi}, requests: {memory: 512Mi}}}]}`)},
			map[string]string{"cpu": "2", "memory": "1Gi", "pods": "2"}},
		{"a DaemonSet runs once per node",
			3, []string{workload("DaemonSet", "agent", "", `{containers: [{name: a, resources: {requests: {cpu: 100m}}}]}`)},
			map[string]string{"cpu": "300m", "pods": "3"}},
		{"an extended resource adds up like cpu",
			1, []string{workload("Deployment", "app", "2", `{containers: [{name: a, resources: {limits: {nvidia.com/gpu: 1}}}]}`)},
			map[string]string{"nvidia.com/gpu": "2", "pods": "2"}},
		{"unset replicas are one",
			1, []string{workload("ReplicaSet", "app", "", `{containers: [{name: a, resources: {requests: {cpu: 250m}}}]}`)},
			map[string]string{"cpu": "250m", "pods": "1"}},
		{"zero replicas ask nothing",
			1, []string{workload("ReplicationController", "app", "0", `{containers: [{name: a, resources: {requests: {cpu: 250m}}}]}`)},
			map[string]string{"cpu": "0", "pods": "0"}},
		{"a bare Pod is one pod, with its overhead",
			1, []string{workload("Pod", "app", "", `{overhead: {cpu: 10m}, containers: [{name: a, resources: {requests: {cpu: 90m}}}]}`)},
			map[string]string{"cpu": "100m", "pods": "1"}},
		{"Jobs and objects without pods are not counted",
			1, []string{
				workload("Job", "once", "", `{containers: [{name: a, resources: {requests: {cpu: "4"}}}]}`),
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n",
			},
			map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := *site
			s.Spec.Nodes = tt.nodes
			d, err := SiteDemand(&s, []Target{{Tier: "edge", Cluster: "plant-a", Site: "plant-a", Objects: objects(t, tt.objects...)}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for name, q := range d.Total {
				got[string(name)] = q.String()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Total (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSiteDemandCountsTheSiteAndTheTiersOnItsCluster(t *testing.T) {
	site := &Site{Spec: SiteSpec{Cluster: "plant-a", Nodes: 1}}
	site.Name = "plant-a"
	pod := func(cpu string) []*unstructured.Unstructured {
		return objects(t, workload("Deployment", "app", "1", `{containers: [{name: a, resources: {requests: {cpu: `+cpu+`}}}]}`))
	}
	d, err := SiteDemand(site, []Target{
		{Tier: "edge", Cluster: "plant-a", Site: "plant-a", Objects: pod("100m")},
		{Tier: "monitoring", Cluster: "plant-a", Objects: pod("20m")},
		{Tier: "edge", Cluster: "plant-b", Site: "plant-b", Objects: pod("1")},
		{Tier: "cloud", Cluster: "cloud", Objects: pod("2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if q := d.Total["cpu"]; q.String() != "120m" || len(d.Contributions) != 2 {
		t.Errorf("cpu = %s from %d contributions; want 120m from the site's edge and the cluster's monitoring", q.String(), len(d.Contributions))
	}
}

func TestSiteDemandNamesAQuantityThatDoesNotParse(t *testing.T) {
	site := &Site{Spec: SiteSpec{Cluster: "a", Nodes: 1}}
	site.Name = "a"
	_, err := SiteDemand(site, []Target{{Tier: "edge", Cluster: "a", Site: "a",
		Objects: objects(t, workload("Deployment", "app", "1", `{containers: [{name: a, resources: {requests: {cpu: lots}}}]}`))}})
	want := "Deployment shop/app of tier edge: containers[0].resources.requests.cpu: quantities must match the regular expression"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("SiteDemand error = %v; want %q…", err, want)
	}
}

// capacityRepo is testRepo with site a given spec lines (after weight 2,
// from line 8) and the edge tier rendering till with requests, plus files.
// Site a runs 4 tills, site b 2.
func capacityRepo(siteSpec, tillResources string, files map[string]string) map[string]string {
	till := strings.Replace(deployment("till"), "containers: [{name: app, image: example.com/till:1}]",
		"containers: [{name: app, image: example.com/till:1, resources: "+tillResources+"}]", 1)
	changes := map[string]string{
		"sites/a.yaml":         testRepo["sites/a.yaml"] + siteSpec,
		"tiers/edge/till.yaml": till,
	}
	for k, v := range files {
		changes[k] = v
	}
	return changes
}

// smallDeployments returns n Deployments named small-1… with cpu requests
// of 10m, 20m, …, and the kustomization listing them after till.
func smallDeployments(n int) map[string]string {
	files := map[string]string{}
	resources := []string{"till.yaml"}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("small-%d", i)
		files["tiers/edge/"+name+".yaml"] = strings.Replace(deployment(name), "image: example.com/"+name+":1}",
			fmt.Sprintf("image: example.com/%s:1, resources: {requests: {cpu: %dm}}}", name, 10*i), 1)
		resources = append(resources, name+".yaml")
	}
	files["tiers/edge/kustomization.yaml"] = "namespace: shop\nresources: [" + strings.Join(resources, ", ") + "]\n"
	return files
}

// edgeQuota is a ResourceQuota named edge with spec given in flow style.
func edgeQuota(spec string) string {
	return "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: edge}\nspec: " + spec + "\n"
}

// withQuota lists quota.yaml, holding quota, in the edge tier after till.
func withQuota(quota string) map[string]string {
	return map[string]string{
		"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, quota.yaml]\n",
		"tiers/edge/quota.yaml":         quota,
	}
}

func TestRenderRefusesASiteOverItsCapacity(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		want    string // the whole error; "" renders
	}{
		{"a site within its capacity renders",
			capacityRepo("  capacity: {cpu: \"6\", memory: 1Gi, pods: \"4\"}\n", `{requests: {cpu: 1500m, memory: 256Mi}}`, nil), ""},
		{"a site without capacity is not checked",
			capacityRepo("", `{requests: {cpu: "1000", memory: 1Ti}}`, nil), ""},
		{"cpu over capacity",
			capacityRepo("  capacity:\n    cpu: \"4\"\n", `{requests: {cpu: 1500m}}`, nil),
			"sites/a.yaml:9: spec.capacity.cpu: revision asks 6 of 4 (edge/till 4 × 1500m)"},
		{"memory over capacity, in binary units",
			capacityRepo("  capacity:\n    memory: 1Gi\n", `{limits: {memory: 300Mi}}`, nil),
			"sites/a.yaml:9: spec.capacity.memory: revision asks 1200Mi of 1Gi (edge/till 4 × 300Mi)"},
		{"an extended resource over capacity",
			capacityRepo("  capacity:\n    nvidia.com/gpu: \"1\"\n", `{limits: {nvidia.com/gpu: "1"}}`, nil),
			"sites/a.yaml:9: spec.capacity.nvidia.com/gpu: revision asks 4 of 1 (edge/till 4 × 1)"},
		{"pods over capacity",
			capacityRepo("  capacity: {pods: \"3\"}\n", `{}`, nil),
			"sites/a.yaml:8: spec.capacity.pods: revision asks 4 of 3 (edge/till 4 × 1)"},
		{"contributions largest first, five of them, then how many more",
			capacityRepo("  capacity:\n    cpu: 500m\n", `{requests: {cpu: 100m}}`, smallDeployments(6)),
			"sites/a.yaml:9: spec.capacity.cpu: revision asks 610m of 500m (edge/till 4 × 100m, edge/small-6 1 × 60m, edge/small-5 1 × 50m, edge/small-4 1 × 40m, edge/small-3 1 × 30m, and 2 more)"},
		{"a ResourceQuota larger than the capacity is no problem",
			capacityRepo("  capacity:\n    cpu: \"8\"\n", `{requests: {cpu: 100m}}`,
				withQuota(edgeQuota(`{hard: {requests.cpu: "16", limits.cpu: "64", count/deployments.apps: "100"}}`))), ""},
		{"pods of a namespace asking more than its ResourceQuota holds",
			capacityRepo("  capacity:\n    cpu: \"8\"\n", `{requests: {cpu: 100m, memory: 1Gi}}`,
				withQuota(edgeQuota(`{hard: {requests.cpu: 300m, memory: 8Gi, pods: "3", limits.cpu: 100m}}`))),
			"tandem.yaml:13: spec.tiers[1]: ResourceQuota shop/edge at site a: revision asks pods 4 of 3 (edge/till 4 × 1), requests.cpu 400m of 300m (edge/till 4 × 100m)"},
		{"a ResourceQuota is checked at a site without capacity too",
			capacityRepo("", `{requests: {cpu: 100m}}`, withQuota(edgeQuota(`{hard: {requests.cpu: 300m}}`))),
			"tandem.yaml:13: spec.tiers[1]: ResourceQuota shop/edge at site a: revision asks requests.cpu 400m of 300m (edge/till 4 × 100m)"},
		{"a ResourceQuota is checked on a named cluster",
			capacityRepo("", `{requests: {cpu: 100m}}`, map[string]string{
				"tiers/cloud/kustomization.yaml": "namespace: shop\nresources: [api.yaml, quota.yaml]\n",
				"tiers/cloud/quota.yaml":         edgeQuota(`{hard: {pods: "2"}}`),
			}),
			"tandem.yaml:8: spec.tiers[0]: ResourceQuota shop/edge at cluster cloud: revision asks pods 4 of 2 (cloud/api 4 × 1)"},
		{"a request that does not parse is reported once, at its tier",
			capacityRepo("", `{requests: {cpu: half}}`, withQuota(edgeQuota(`{hard: {requests.cpu: "8"}}`))),
			"tandem.yaml:13: spec.tiers[1]: Deployment shop/till of tier edge: containers[0].resources.requests.cpu: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"},
		{"a scoped ResourceQuota is not checked",
			capacityRepo("  capacity:\n    cpu: \"8\"\n", `{requests: {cpu: 100m}}`,
				withQuota(edgeQuota(`{hard: {requests.cpu: 100m}, scopes: [BestEffort]}`))), ""},
		{"a ResourceQuota bounds only its own namespace",
			capacityRepo("  capacity:\n    cpu: \"8\"\n", `{requests: {cpu: 100m}}`,
				map[string]string{
					"tiers/edge/kustomization.yaml": "resources: [till.yaml, quota.yaml]\npatches:\n- {target: {kind: Deployment}, patch: '" + `[{"op": "add", "path": "/metadata/namespace", "value": "shop"}]` + "'}\n",
					"tiers/edge/quota.yaml":         strings.Replace(edgeQuota(`{hard: {requests.cpu: 100m}}`), "{name: edge}", "{name: edge, namespace: other}", 1),
				}), ""},
		{"every resource over capacity, in line order",
			capacityRepo("  capacity:\n    memory: 100Mi\n    cpu: 100m\n", `{requests: {cpu: 100m, memory: 100Mi}}`, nil),
			"sites/a.yaml:9: spec.capacity.memory: revision asks 400Mi of 100Mi (edge/till 4 × 100Mi)\n" +
				"sites/a.yaml:10: spec.capacity.cpu: revision asks 400m of 100m (edge/till 4 × 100m)"},
		{"a DaemonSet on several nodes",
			capacityRepo("  nodes: 3\n  capacity: {cpu: 500m}\n", `{requests: {cpu: 50m}}`, map[string]string{
				"tiers/edge/kustomization.yaml": "namespace: shop\nresources: [till.yaml, agent.yaml]\n",
				"tiers/edge/agent.yaml": strings.Replace(strings.Replace(deployment("agent"), "kind: Deployment", "kind: DaemonSet", 1),
					"image: example.com/agent:1}", "image: example.com/agent:1, resources: {requests: {cpu: 200m}}}", 1),
			}),
			"sites/a.yaml:9: spec.capacity.cpu: revision asks 800m of 500m (edge/agent 3 × 200m, edge/till 4 × 50m)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(context.Background(), repoWith(tt.changes), Options{})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Render: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("Render error = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestRenderRefusesABadCapacity(t *testing.T) {
	tests := []struct {
		name string
		spec string // after weight 2, from line 8
		want string
	}{
		{"not a quantity", "  capacity: {cpu: lots}\n",
			"sites/a.yaml:8: spec.capacity.cpu: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"},
		{"negative", "  capacity:\n    memory: -1Gi\n",
			"sites/a.yaml:9: spec.capacity.memory: capacity -1Gi must be ≥ 0"},
		{"unknown resource", "  capacity:\n    requests.cpu: \"8\"\n",
			`sites/a.yaml:9: spec.capacity.requests.cpu: unknown resource "requests.cpu": want cpu, memory, ephemeral-storage, pods, hugepages-<size> or an extended resource with a domain, such as nvidia.com/gpu`},
		{"half a pod", "  capacity:\n    pods: 2.5\n",
			"sites/a.yaml:9: spec.capacity.pods: capacity 2500m must be a whole number: there is no fraction of a pod or of an extended resource"},
		{"half a GPU", "  capacity:\n    nvidia.com/gpu: \"0.5\"\n",
			"sites/a.yaml:9: spec.capacity.nvidia.com/gpu: capacity 500m must be a whole number: there is no fraction of a pod or of an extended resource"},
		{"no nodes", "  nodes: 0\n",
			"sites/a.yaml:8: spec.nodes: nodes 0 must be ≥ 1"},
		{"nodes not a number", "  nodes: three\n",
			`sites/a.yaml:8: spec.nodes: want an integer, got str "three"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(context.Background(), repoWith(map[string]string{"sites/a.yaml": testRepo["sites/a.yaml"] + tt.spec}), Options{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Render error = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestCapacityAcceptsEveryKindOfResourceName(t *testing.T) {
	spec := "  capacity: {cpu: 8, memory: 16Gi, ephemeral-storage: 100Gi, pods: \"110\", hugepages-2Mi: 1Gi, nvidia.com/gpu: \"1\", example.com/dongle: \"2\"}\n"
	res, err := Render(context.Background(), repoWith(map[string]string{"sites/a.yaml": testRepo["sites/a.yaml"] + spec}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Sites[0].Spec.Capacity["cpu"]; got.String() != "8" || res.Sites[0].Spec.Nodes != 1 {
		t.Errorf("cpu = %s, nodes = %d; want 8 and the default 1", got.String(), res.Sites[0].Spec.Nodes)
	}
}

func TestRenderOfOneSiteRefusesWhatAnotherSiteIsRefusedFor(t *testing.T) {
	repo := repoWith(capacityRepo("  capacity:\n    cpu: \"4\"\n", `{requests: {cpu: 1500m}}`, nil))
	want := "sites/a.yaml:9: spec.capacity.cpu: revision asks 6 of 4 (edge/till 4 × 1500m)"
	for _, opts := range []Options{{Site: "b"}, {Cluster: "cloud"}} {
		if _, err := Render(context.Background(), repo, opts); err == nil || err.Error() != want {
			t.Errorf("Render(%+v) error = %v; want %s", opts, err, want)
		}
	}
}

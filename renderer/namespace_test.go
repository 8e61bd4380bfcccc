package renderer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuiltinScopeKnowsKindsAtEveryVersion(t *testing.T) {
	tests := []struct {
		apiVersion, kind string
		want             scope
	}{
		{"apps/v1", "Deployment", scopeNamespaced},
		{"v1", "ConfigMap", scopeNamespaced},
		{"v1", "Namespace", scopeCluster},
		{"rbac.authorization.k8s.io/v1", "ClusterRole", scopeCluster},
		{"apiextensions.k8s.io/v1", "CustomResourceDefinition", scopeCluster},
		{"autoscaling/v2", "HorizontalPodAutoscaler", scopeNamespaced},
		{"flowcontrol.apiserver.k8s.io/v1", "FlowSchema", scopeCluster},
		{"factory.example.com/v1", "Namespace", scopeUnknown},
		{"factory.example.com/v1", "Line", scopeUnknown},
		{"a/b/c", "Deployment", scopeUnknown},
	}
	for _, tt := range tests {
		if got := builtinScope(tt.apiVersion, tt.kind); got != tt.want {
			t.Errorf("builtinScope(%s, %s) = %v, want %v", tt.apiVersion, tt.kind, got, tt.want)
		}
	}
}

// crd returns a CustomResourceDefinition of kind in group factory.example.com.
func crd(kind, scope string) string {
	plural := strings.ToLower(kind) + "s"
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %s.factory.example.com}
spec:
  group: factory.example.com
  scope: %s
  names: {kind: %s, plural: %s}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, plural, scope, kind, plural)
}

// object returns a manifest of apiVersion, kind and name, in namespace
// unless it is empty.
func object(apiVersion, kind, name, namespace string) string {
	meta := "{name: " + name + "}"
	if namespace != "" {
		meta = "{name: " + name + ", namespace: " + namespace + "}"
	}
	return "apiVersion: " + apiVersion + "\nkind: " + kind + "\nmetadata: " + meta + "\n"
}

// stream joins manifests into one YAML stream.
func stream(docs ...string) string { return strings.Join(docs, "---\n") }

// withEdgeObjects returns testRepo with tier edge rendering objects (after
// its Deployment till) from a kustomization without a namespace, tier
// cloud rendering cloudObjects too, and the edge tier's descriptor lines
// extended by tierFields.
func withEdgeObjects(tierFields, objects, cloudObjects string) map[string]string {
	files := map[string]string{
		"tiers/edge/kustomization.yaml": "resources: [till.yaml, objects.yaml]\n",
		"tiers/edge/objects.yaml":       objects,
		"tandem.yaml":                   solutionWith("    path: tiers/edge\n", "    path: tiers/edge\n"+tierFields),
	}
	if cloudObjects != "" {
		files["tiers/cloud/kustomization.yaml"] = "namespace: shop\nresources: [api.yaml, objects.yaml]\n"
		files["tiers/cloud/objects.yaml"] = cloudObjects
	}
	return files
}

func TestRenderPlacesEachObjectInTheNamespaceItIsAppliedIn(t *testing.T) {
	objects := stream(
		object("v1", "ConfigMap", "settings", ""),
		object("v1", "ConfigMap", "elsewhere", "other"),
		object("v1", "Namespace", "shop-edge", "stray"),
		object("rbac.authorization.k8s.io/v1", "ClusterRole", "reader", "stray"),
		object("autoscaling/v2", "HorizontalPodAutoscaler", "till", ""),
		object("factory.example.com/v1", "Line", "line-1", ""),
		object("factory.example.com/v1", "Plant", "plant", "stray"),
		object("factory.example.com/v1", "Gauge", "gauge", ""),
		object("factory.example.com/v1", "Robot", "robot", "stray"),
	)
	cloud := stream(crd("Line", "Namespaced"), crd("Plant", "Cluster"))
	want := map[string]string{
		"Deployment/till":              "shop-edge",
		"ConfigMap/settings":           "shop-edge",
		"ConfigMap/elsewhere":          "other",
		"Namespace/shop-edge":          "",
		"ClusterRole/reader":           "",
		"HorizontalPodAutoscaler/till": "shop-edge",
		"Line/line-1":                  "shop-edge",
		"Plant/plant":                  "",
		"Gauge/gauge":                  "shop-edge", // unknown: the cluster decides
		"Robot/robot":                  "stray",
	}
	repo := repoWith(withEdgeObjects("    namespace: shop-edge\n", objects, cloud))
	// A render narrowed to one site knows the CRDs of the tiers it leaves out.
	for _, opts := range []Options{{}, {Site: "b"}} {
		res, err := Render(context.Background(), repo, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range res.Targets {
			if tg.Tier != "edge" {
				continue
			}
			got := map[string]string{}
			for _, o := range tg.Objects {
				got[o.GetKind()+"/"+o.GetName()] = o.GetNamespace()
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%+v: namespaces on site %s (-want +got):\n%s", opts, tg.Site, diff)
			}
		}
	}
}

func TestRenderLeavesAnUnknownKindWithoutANamespaceWhenTheTierHasNone(t *testing.T) {
	repo := repoWith(withEdgeObjects("", object("factory.example.com/v1", "Gauge", "gauge", ""), ""))
	repo["tiers/edge/till.yaml"].Data = []byte(strings.Replace(deployment("till"), "name: till\n", "name: till\n  namespace: shop\n", 1))
	res, err := Render(context.Background(), repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range res.Targets {
		for _, o := range tg.Objects {
			if o.GetKind() == "Gauge" && o.GetNamespace() != "" {
				t.Errorf("site %s: Gauge/gauge in namespace %q, want none", tg.Site, o.GetNamespace())
			}
		}
	}
}

func TestRenderRefusesObjectsWithoutANamespaceAndWritesToWhatTandemReserves(t *testing.T) {
	var sevenConfigMaps []string
	for i := range 7 {
		sevenConfigMaps = append(sevenConfigMaps, object("v1", "ConfigMap", fmt.Sprint("c", i), ""))
	}
	overlay := map[string]string{
		"sites/a.yaml":                         testRepo["sites/a.yaml"] + "  overlay: sites/shared\n",
		"sites/b.yaml":                         testRepo["sites/b.yaml"] + "spec: {overlay: sites/shared}\n",
		"sites/shared/edge/kustomization.yaml": "resources: [../../../tiers/edge, service.yaml]\n",
		"sites/shared/edge/service.yaml":       object("v1", "Service", "till", ""),
		"tiers/edge/kustomization.yaml":        "namespace: shop\nresources: [till.yaml]\n",
	}
	tests := []struct {
		name  string
		files map[string]string
		wants []string // each must be the start of, or inside, one error line
	}{
		{"one object", withEdgeObjects("", object("v1", "ConfigMap", "settings", "shop"), ""),
			[]string{"tandem.yaml:13: spec.tiers[1].namespace: tier edge renders Deployment/till without a namespace; set metadata.namespace in it or namespace: on the tier"}},
		{"many objects", withEdgeObjects("", stream(sevenConfigMaps...), ""),
			[]string{"tandem.yaml:13: spec.tiers[1].namespace: tier edge renders 8 namespaced objects without a namespace (ConfigMap/c0, ConfigMap/c1, ConfigMap/c2, ConfigMap/c3, ConfigMap/c4, and 3 more); set metadata.namespace in them or namespace: on the tier"}},
		{"a custom resource of a kind another tier defines", withEdgeObjects("", object("factory.example.com/v1", "Line", "line-1", ""), crd("Line", "Namespaced")),
			[]string{"tandem.yaml:13: spec.tiers[1].namespace: tier edge renders 2 namespaced objects without a namespace (Deployment/till, Line/line-1)"}},
		{"an overlay's object, once for every site that shares it", overlay,
			[]string{"tandem.yaml:13: spec.tiers[1].namespace: tier edge (overlay sites/shared/edge) renders Service/till without a namespace"}},
		{"an object in tandem-system", withEdgeObjects("    namespace: shop\n", object("v1", "ConfigMap", "settings", ReservedNamespace), ""),
			[]string{"tandem.yaml:13: spec.tiers[1]: tier edge renders ConfigMap/settings in namespace tandem-system, which tandem reserves: it holds tandem's ApplySet parents and cluster credentials"}},
		{"the namespace tandem-system", withEdgeObjects("    namespace: shop\n", object("v1", "Namespace", ReservedNamespace, ""), ""),
			[]string{"tandem.yaml:13: spec.tiers[1]: tier edge renders Namespace/tandem-system, which tandem reserves: it holds tandem's ApplySet parents and cluster credentials"}},
		{"a cluster credential", withEdgeObjects("    namespace: shop\n", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plant-z\n  labels: {tandem.dev/cluster: plant-z}\n", ""),
			[]string{"tandem.yaml:13: spec.tiers[1]: tier edge renders Secret/shop/plant-z labelled tandem.dev/cluster, which tandem reserves for the Secrets that hold cluster credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRenderErrors(t, repoWith(tt.files), tt.wants)
		})
	}
}

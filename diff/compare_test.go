package diff

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-gitops/tandem/renderer"
)

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not in the manifest")
	}
	return strings.Replace(s, old, new, 1)
}

// revision is a render of a single edge tier on the given clusters, one
// site each, every cluster holding the given manifests.
func revision(t *testing.T, name string, clusters []string, manifests ...string) Revision {
	t.Helper()
	res := &renderer.Result{}
	for _, c := range clusters {
		target := renderer.Target{Solution: "factory", Tier: "edge", Cluster: c, Site: c}
		for _, m := range manifests {
			target.Objects = append(target.Objects, object(t, m))
		}
		res.Targets = append(res.Targets, target)
	}
	return Revision{Name: name, Result: res}
}

type actionOf struct {
	Key    string
	Action Action
}

func actions(r *Report) []actionOf {
	var out []actionOf
	for _, c := range r.Changes {
		out = append(out, actionOf{c.Cluster + " " + c.ObjectKey.String(), c.Action})
	}
	return out
}

const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gateway, namespace: edge}\ndata: {protocol: opc-ua}\n"

func TestComparePairsObjectsByClusterGroupKindNamespaceAndName(t *testing.T) {
	service := "apiVersion: v1\nkind: Service\nmetadata: {name: gateway, namespace: edge}\nspec: {ports: [{port: 80}]}\n"
	otherNamespace := replace(configMap, "namespace: edge", "namespace: cloud")
	base := revision(t, "base", []string{"a", "b"}, configMap, service, inference)
	head := revision(t, "head", []string{"b", "c"},
		replace(configMap, "opc-ua", "modbus"), otherNamespace, service, replace(inference, "apps/v1", "apps/v1beta2"))

	r, err := Compare(base, head)
	if err != nil {
		t.Fatal(err)
	}
	want := []actionOf{
		{"a ConfigMap/edge/gateway", Removed},
		{"a Service/edge/gateway", Removed},
		{"a Deployment/factory-edge/inference", Removed},
		{"b ConfigMap/cloud/gateway", Added},
		{"b ConfigMap/edge/gateway", Changed},
		{"b Deployment/factory-edge/inference", Changed},
		{"c ConfigMap/cloud/gateway", Added},
		{"c ConfigMap/edge/gateway", Added},
		{"c Service/edge/gateway", Added},
		{"c Deployment/factory-edge/inference", Added},
	}
	if d := cmp.Diff(want, actions(r)); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if r.Clusters != 3 {
		t.Errorf("Clusters = %d, want 3", r.Clusters)
	}
}

func TestCompareIgnoresKeyAndDocumentOrderAndNullFields(t *testing.T) {
	reordered := `
kind: Deployment
spec:
  template:
    spec:
      containers:
      - {image: ghcr.io/acme/inference:2.3.0, name: inference}
      - {name: exporter, image: ghcr.io/acme/exporter@sha256:aaaa}
      initContainers:
      - {image: ghcr.io/acme/fetch:1.0, name: fetch}
    metadata:
      annotations:
        model.tandem.dev/defect-detector.uri: https://models.example/1.4.0
        model.tandem.dev/defect-detector.version: "1.4.0"
      labels: null
  replicas: 2
metadata: {namespace: factory-edge, name: inference, annotations: null}
apiVersion: apps/v1
`
	r, err := Compare(revision(t, "base", []string{"a"}, inference, configMap), revision(t, "head", []string{"a"}, configMap, reordered))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty() {
		t.Errorf("reordered keys and documents and null fields reported as changes: %+v", actions(r))
	}
}

func TestCompareReportsAReorderedListAsAChange(t *testing.T) {
	swapped := replace(replace(inference, "      - {name: inference, image: ghcr.io/acme/inference:2.3.0}\n", ""),
		"      - {name: exporter, image: ghcr.io/acme/exporter@sha256:aaaa}\n",
		"      - {name: exporter, image: ghcr.io/acme/exporter@sha256:aaaa}\n      - {name: inference, image: ghcr.io/acme/inference:2.3.0}\n")
	r, err := Compare(revision(t, "base", []string{"a"}, inference), revision(t, "head", []string{"a"}, swapped))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]actionOf{{"a Deployment/factory-edge/inference", Changed}}, actions(r)); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
}

func TestCompareOfEmptyRendersIsEmpty(t *testing.T) {
	r, err := Compare(Revision{Name: "a"}, Revision{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty() || len(r.Summary) != 0 {
		t.Errorf("Compare of two empty renders = %+v, want empty", r)
	}
}

func TestUnifiedDiffOfAnAddedObjectAddsEveryLine(t *testing.T) {
	d, err := newPrinter().unified(nil, object(t, configMap))
	if err != nil {
		t.Fatal(err)
	}
	want := `@@ -0,0 +1,7 @@
+apiVersion: v1
+data:
+  protocol: opc-ua
+kind: ConfigMap
+metadata:
+  name: gateway
+  namespace: edge
`
	if d != want {
		t.Errorf("unified =\n%s\nwant\n%s", d, want)
	}
}

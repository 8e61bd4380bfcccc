package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

// liveRepo is a repository whose objects are healthy once applied, without
// controllers: a namespace from the tier, a custom resource of each scope
// and a cluster-scoped object written with a namespace it cannot have.
var liveRepo = map[string]string{
	"tandem.yaml": `apiVersion: tandem.dev/v1alpha1
kind: Solution
metadata: {name: lab}
spec:
  scale: 1
  tiers:
  - {name: base, path: base, namespace: lab, targets: {clusters: [lab]}}
`,
	"base/kustomization.yaml": "resources: [objects.yaml]\n",
	"base/objects.yaml": `apiVersion: v1
kind: Namespace
metadata: {name: lab}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: lab}
---
apiVersion: v1
kind: Service
metadata: {name: probe}
spec:
  selector: {app: probe}
  ports: [{port: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: lab-reader, namespace: lab}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: lines.factory.example.com}
spec:
  group: factory.example.com
  scope: Namespaced
  names: {kind: Line, plural: lines}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: plants.factory.example.com}
spec:
  group: factory.example.com
  scope: Cluster
  names: {kind: Plant, plural: plants}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
---
apiVersion: factory.example.com/v1
kind: Line
metadata: {name: line-1}
spec: {speed: 3}
---
apiVersion: factory.example.com/v1
kind: Plant
metadata: {name: berlin, namespace: lab}
spec: {lines: 1}
`,
}

// TestRenderOfAnAppliedRepositoryIsWhatTheClusterHolds applies a
// repository, renders it, and server-side dry-runs every rendered file
// under tandem's field manager, as "kubectl diff --server-side
// --field-manager tandem" does: each must come back as the live object.
func TestRenderOfAnAppliedRepositoryIsWhatTheClusterHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes control plane")
	}
	fleet := testbed.StartT(t, testbed.Options{Names: []string{"lab"}})
	repo := writeRepo(t, liveRepo)
	if stdout, stderr, err := run(t, "apply", repo, "--kubeconfig", fleet.Kubeconfig, "--timeout", "2m"); err != nil {
		t.Fatalf("apply: %v\n%s\n%s", err, stderr, stdout)
	}
	out := t.TempDir()
	if _, stderr, err := run(t, "render", repo, "--out", out); err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}

	cfg := fleet.Cluster("lab").RESTConfig()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	files := treeFiles(t, out)
	if len(files) != 8 {
		t.Errorf("rendered %d files, want 8: %v", len(files), files)
	}
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			t.Fatal(err)
		}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		res := client.Resource(m.Resource).Namespace(obj.GetNamespace())
		live, err := res.Get(t.Context(), obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		dryRun, err := res.Apply(t.Context(), obj.GetName(), &obj, metav1.ApplyOptions{FieldManager: "tandem", DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Errorf("%s: server-side dry run: %v", file, err)
			continue
		}
		for _, o := range []*unstructured.Unstructured{live, dryRun} {
			unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
		}
		if diff := cmp.Diff(live.Object, dryRun.Object); diff != "" {
			t.Errorf("%s: server-side diff (-live +rendered):\n%s", file, diff)
		}
	}
}

package clusters

import (
	"context"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

func TestMapperKeepsTheKindsAskedAboutAndFindsADefinitionAppliedAfterAMiss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"mapper"}})
	conn, err := Connect("mapper", f.Cluster("mapper").RESTConfig(), Options{FieldManager: "tandem", RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := conn.mapper.(*kindMapper)
	for _, c := range []struct {
		gk       schema.GroupKind
		versions []string
		want     schema.GroupVersionResource
		root     bool
	}{
		{schema.GroupKind{Kind: "ConfigMap"}, nil, schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, false},
		{schema.GroupKind{Kind: "Namespace"}, []string{"v1"}, schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, true},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, nil, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, false},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"v1beta9", "v1"}, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, false},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, []string{"v1"}, schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, true},
	} {
		mapping, err := m.RESTMapping(c.gk, c.versions...)
		if err != nil {
			t.Errorf("RESTMapping(%s, %q) = %v", c.gk, c.versions, err)
			continue
		}
		if mapping.Resource != c.want || (mapping.Scope.Name() == meta.RESTScopeNameRoot) != c.root {
			t.Errorf("RESTMapping(%s, %q) = %s scoped %s; want %s, cluster-scoped %v", c.gk, c.versions, mapping.Resource, mapping.Scope.Name(), c.want, c.root)
		}
	}
	// Of each group asked about, only the kinds asked about are kept: the
	// ones above, by version asked.
	if got := len(m.mappings); got != 5 {
		t.Errorf("the mapper keeps %d mappings, want the 5 asked about: %v", got, m.mappings)
	}

	for _, c := range []struct {
		gk       schema.GroupKind
		versions []string
	}{
		{schema.GroupKind{Kind: "Gadget"}, nil},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"v1beta9"}},
		{schema.GroupKind{Group: "example.com", Kind: "Widget"}, nil},
	} {
		if _, err := m.RESTMapping(c.gk, c.versions...); !meta.IsNoMatchError(err) {
			t.Errorf("RESTMapping(%s, %q) = %v, want no match", c.gk, c.versions, err)
		}
	}

	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.example.com"},
		"spec": map[string]any{
			"group": "example.com", "scope": "Cluster",
			"names": map[string]any{"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	ctx := context.Background()
	if _, err := conn.Manager().ApplyAllStaged(ctx, []*unstructured.Unstructured{crd}, ssa.ApplyOptions{WaitInterval: 100 * time.Millisecond, WaitTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	mapping, err := m.RESTMapping(schema.GroupKind{Group: "example.com", Kind: "Widget"})
	if err != nil {
		t.Fatalf("RESTMapping(Widget) after its definition = %v", err)
	}
	if want := (schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}); mapping.Resource != want || mapping.Scope.Name() != meta.RESTScopeNameRoot {
		t.Errorf("RESTMapping(Widget) = %s scoped %s, want %s cluster-scoped", mapping.Resource, mapping.Scope.Name(), want)
	}

	// The resource-first methods ask the cluster.
	if gvk, err := m.KindFor(schema.GroupVersionResource{Group: "apps", Resource: "deployment"}); err != nil || gvk != (schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}) {
		t.Errorf("KindFor(apps deployment) = %s, %v", gvk, err)
	}
	if gvr, err := m.ResourceFor(schema.GroupVersionResource{Group: "example.com", Resource: "widget"}); err != nil || gvr.Resource != "widgets" {
		t.Errorf("ResourceFor(example.com widget) = %s, %v", gvr, err)
	}
	if s, err := m.ResourceSingularizer("configmaps"); err != nil || s != "configmap" {
		t.Errorf("ResourceSingularizer(configmaps) = %q, %v", s, err)
	}
}

package clusters

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/e2e/testbed"
)

func TestConnectionClientServesUnstructuredObjectsOfEveryVerbAndScope(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes API server")
	}
	f := testbed.StartT(t, testbed.Options{Names: []string{"verbs"}})
	conn, err := Connect("verbs", f.Cluster("verbs").RESTConfig(), Options{FieldManager: "tandem", RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, ctx := conn.Client(), t.Context()
	u := func(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion(apiVersion)
		obj.SetKind(kind)
		obj.SetNamespace(namespace)
		obj.SetName(name)
		return obj
	}

	// A namespace given to a cluster-scoped kind is ignored, as
	// controller-runtime's client ignores it.
	ns := u("v1", "Namespace", "default", "verbs")
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if ns.GetUID() == "" || ns.GetKind() != "Namespace" {
		t.Fatalf("created Namespace: uid %q kind %q, want the server's answer as a Namespace", ns.GetUID(), ns.GetKind())
	}

	cm := u("v1", "ConfigMap", "verbs", "settings")
	cm.Object["data"] = map[string]any{"mode": "a"}
	dryRun := cm.DeepCopy()
	if err := c.Patch(ctx, dryRun, client.Apply, client.FieldOwner("tandem"), client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if len(dryRun.GetManagedFields()) == 0 || dryRun.GetKind() != "ConfigMap" {
		t.Fatalf("dry-run apply answered %v, want the object as the server would store it", dryRun.Object)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), u("v1", "ConfigMap", "", "")); !apierrors.IsNotFound(err) {
		t.Fatalf("after a dry-run apply: %v, want the ConfigMap not found", err)
	}
	if err := c.Patch(ctx, cm, client.Apply, client.FieldOwner("tandem")); err != nil {
		t.Fatal(err)
	}
	cm.Object["data"] = map[string]any{"mode": "b"}
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(ctx, cm, client.RawPatch(types.MergePatchType, []byte(`{"data":{"extra":"1"}}`))); err != nil {
		t.Fatal(err)
	}
	got := u("v1", "ConfigMap", "", "")
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil {
		t.Fatal(err)
	}
	if data, _, _ := unstructured.NestedStringMap(got.Object, "data"); data["mode"] != "b" || data["extra"] != "1" {
		t.Fatalf("ConfigMap data %v, want mode b from the update and extra from the patch", data)
	}

	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("v1")
	list.SetKind("ConfigMapList")
	if err := c.List(ctx, list, client.InNamespace("verbs"), client.MatchingFields{"metadata.name": "settings"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].GetName() != "settings" || list.GetKind() != "ConfigMapList" {
		t.Fatalf("listed %d items as %s, want the ConfigMap alone as a ConfigMapList", len(list.Items), list.GetKind())
	}

	if err := c.Delete(ctx, cm, client.Preconditions{UID: new(types.UID("not-its-uid"))}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with another object's UID: %v, want a conflict", err)
	}
	if err := c.Delete(ctx, cm, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), got); !apierrors.IsNotFound(err) {
		t.Fatalf("after deleting: %v, want the ConfigMap not found", err)
	}

	// Typed objects take controller-runtime's way.
	var typed corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: "verbs"}, &typed); err != nil || typed.UID != ns.GetUID() {
		t.Fatalf("typed get of the Namespace: uid %q, %v; want %q", typed.UID, err, ns.GetUID())
	}
}

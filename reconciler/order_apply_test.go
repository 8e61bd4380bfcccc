package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestSortForApplyStagesDefinitionsAndClassesBeforeTheirUsers(t *testing.T) {
	obj := func(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion(apiVersion)
		o.SetKind(kind)
		o.SetNamespace(namespace)
		o.SetName(name)
		return o
	}
	objs := []*unstructured.Unstructured{
		obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "guard"),
		obj("apps/v1", "Deployment", "edge", "inference"),
		obj("factory.example.com/v1", "Namespace", "edge", "line-1"),
		obj("v1", "ConfigMap", "edge", "settings"),
		obj("v1", "ConfigMap", "cloud", "settings"),
		obj("storage.k8s.io/v1", "StorageClass", "", "fast"),
		obj("factory.example.com/v1", "LineClass", "", "assembly"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
		obj("v1", "Namespace", "", "edge"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "lineclasses.factory.example.com"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "namespaces.factory.example.com"),
		obj("v1", "Service", "edge", "inference"),
	}
	SortForApply(objs)
	var got []string
	for _, o := range objs {
		got = append(got, o.GroupVersionKind().GroupKind().String()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	want := []string{
		"CustomResourceDefinition.apiextensions.k8s.io /lineclasses.factory.example.com",
		"CustomResourceDefinition.apiextensions.k8s.io /namespaces.factory.example.com",
		"Namespace /edge",
		"ClusterRole.rbac.authorization.k8s.io /reader",
		"StorageClass.storage.k8s.io /fast",
		"LineClass.factory.example.com /assembly",
		"Namespace.factory.example.com edge/line-1",
		"ConfigMap cloud/settings",
		"ConfigMap edge/settings",
		"Service edge/inference",
		"Deployment.apps edge/inference",
		"ValidatingWebhookConfiguration.admissionregistration.k8s.io /guard",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apply order (-want +got):\n%s", diff)
	}
}

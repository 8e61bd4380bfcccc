package reconciler

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// HealthAnnotation set to HealthIgnore on an object of a render keeps a
// pass from waiting for it: it counts as healthy once applied.
const (
	HealthAnnotation = "tandem.dev/health"
	HealthIgnore     = "ignore"
)

// statusless are the built-in kinds whose API types have no status: kstatus
// finds them Current as soon as they exist, so once their apply succeeded
// a pass has nothing to wait for, and opens no watch to see it.
var statusless = map[schema.GroupKind]bool{
	{Kind: "ConfigMap"}:      true,
	{Kind: "Secret"}:         true,
	{Kind: "ServiceAccount"}: true,
	{Kind: "LimitRange"}:     true,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               true,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:              true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:               true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:              true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                  true,
}

// waitsFor reports whether a pass waits for obj to become healthy.
func waitsFor(obj *unstructured.Unstructured) bool {
	return obj.GetAnnotations()[HealthAnnotation] != HealthIgnore && !statusless[obj.GroupVersionKind().GroupKind()]
}

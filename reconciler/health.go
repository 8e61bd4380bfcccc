package reconciler

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// HealthAnnotation set to HealthIgnore on an object of a render keeps a
// pass from waiting for it: it counts as healthy once applied.
const (
	HealthAnnotation = "tandem.dev/health"
	HealthIgnore     = "ignore"
)

// waitsFor reports whether a pass waits for obj to become healthy.
func waitsFor(obj *unstructured.Unstructured) bool {
	return obj.GetAnnotations()[HealthAnnotation] != HealthIgnore
}

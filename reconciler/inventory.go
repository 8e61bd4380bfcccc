package reconciler

import (
	"cmp"
	"maps"
	"slices"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// staleMembers returns the live members a render no longer contains, in
// apply order (pruning deletes them in reverse).
func staleMembers(desired, live map[object.ObjMetadata]*unstructured.Unstructured) []*unstructured.Unstructured {
	var stale []*unstructured.Unstructured
	for _, key := range slices.SortedFunc(maps.Keys(live), compareObjects) {
		if _, ok := desired[key]; !ok {
			stale = append(stale, live[key])
		}
	}
	return stale
}

// compareObjects orders objects as ssa applies them: CRDs and namespaces
// first, webhooks last, then by namespace and name.
func compareObjects(a, b object.ObjMetadata) int {
	if a.GroupKind != b.GroupKind {
		if ssa.IsLessThan(a.GroupKind, b.GroupKind) {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

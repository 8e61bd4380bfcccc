package reconciler

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// inventoryOf returns the group-kinds and namespaces of a set of objects,
// as an ApplySet parent records them.
func inventoryOf(objs map[object.ObjMetadata]*unstructured.Unstructured) ([]schema.GroupKind, []string) {
	gks := make(map[schema.GroupKind]bool)
	namespaces := make(map[string]bool)
	for key := range objs {
		gks[key.GroupKind] = true
		if key.Namespace != "" {
			namespaces[key.Namespace] = true
		}
	}
	return slices.Collect(maps.Keys(gks)), slices.Sorted(maps.Keys(namespaces))
}

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

// parseList splits a comma-separated annotation value.
func parseList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

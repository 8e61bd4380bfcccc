package reconciler

import (
	"cmp"
	"slices"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SortForApply sorts the objects of a tier in the order a pass applies
// them, as ssa's ApplyAllStaged does: CRDs, Namespaces and ClusterRoles
// first, then classes (StorageClass, IngressClass, …), then everything
// else, each stage in compareObjects order. A CRD so comes before the
// objects of its kind, whatever the kind is named.
func SortForApply(objs []*unstructured.Unstructured) {
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(cmp.Compare(applyStage(a), applyStage(b)),
			compareObjects(object.UnstructuredToObjMetadata(a), object.UnstructuredToObjMetadata(b)))
	})
}

// applyStages is how many stages ApplyAllStaged applies in.
const applyStages = 3

// applyStage is the stage of ApplyAllStaged that applies o.
func applyStage(o *unstructured.Unstructured) int {
	switch {
	case utils.IsClusterDefinition(o):
		return 0
	case utils.IsClassDefinition(o):
		return 1
	default:
		return 2
	}
}

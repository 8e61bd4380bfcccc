package clusters

import (
	"bytes"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

// Changed reports whether a member's change from old to new is one a pass
// may have to undo, telling it from the changes tandem's own applies and
// Kubernetes' own components make. It reads metadata alone, the managed
// fields above all:
//
//   - A write by tandem's field manager moves the time of its Apply entry:
//     such a change is tandem's own, whatever else it did. A manager's
//     entry takes the time of that manager's writes only, so a hand change
//     never moves it, even one that takes fields away from tandem.
//   - Writes through a subresource (status, scale's own entry) and by the
//     components fieldset.ExemptManagers names (a Deployment's revision
//     annotation) are never drift, as a pass sees it.
//   - Any other change of the managed fields, of any manager's fields or
//     time, tandem's included, is a change by hand or by another
//     controller: a field taken from tandem (kubectl scale, edit, label)
//     or added beside its own.
//
// A change of resource version alone, a resync or a status write, is
// none. A nil old is an object that appeared: a change unless tandem's
// Apply entry is its newest, as when a pass creates it.
func Changed(old, new *metav1.PartialObjectMetadata, manager string) bool {
	mine := applyEntry(new, manager)
	if old == nil {
		return mine == nil || slices.ContainsFunc(driftEntries(new, manager), func(e metav1.ManagedFieldsEntry) bool {
			return e.Manager != manager && e.Time != nil && mine.Time != nil && e.Time.After(mine.Time.Time)
		})
	}
	if old.ResourceVersion == new.ResourceVersion {
		return false
	}
	if before := applyEntry(old, manager); mine != nil && (before == nil || !sameTime(before.Time, mine.Time)) {
		return false
	}
	return !slices.EqualFunc(driftEntries(old, manager), driftEntries(new, manager), sameEntry)
}

// applyEntry returns the managed-fields entry of manager's applies to the
// object itself, nil when there is none.
func applyEntry(obj *metav1.PartialObjectMetadata, manager string) *metav1.ManagedFieldsEntry {
	for i, e := range obj.ManagedFields {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return &obj.ManagedFields[i]
		}
	}
	return nil
}

// driftEntries returns the managed-fields entries whose changes may be
// drift: those of writes to the object itself by managers not exempt.
func driftEntries(obj *metav1.PartialObjectMetadata, manager string) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, e := range obj.ManagedFields {
		if e.Subresource == "" && (e.Manager == manager || !slices.Contains(fieldset.ExemptManagers, e.Manager)) {
			out = append(out, e)
		}
	}
	return out
}

func sameEntry(a, b metav1.ManagedFieldsEntry) bool {
	return a.Manager == b.Manager && a.Operation == b.Operation && a.APIVersion == b.APIVersion &&
		sameTime(a.Time, b.Time) && sameFields(a.FieldsV1, b.FieldsV1)
}

func sameTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

func sameFields(a, b *metav1.FieldsV1) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Raw, b.Raw)
}

// slim is what a watch keeps of a member: its identity, resource version
// and the managed-fields entries Changed reads. Labels, annotations
// (kubectl's last-applied configuration among them) and the entries of
// status writers stay out of memory.
func slim(obj *metav1.PartialObjectMetadata, manager string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta: obj.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            obj.Name,
			Namespace:       obj.Namespace,
			UID:             obj.UID,
			ResourceVersion: obj.ResourceVersion,
			ManagedFields:   driftEntries(obj, manager),
		},
	}
}

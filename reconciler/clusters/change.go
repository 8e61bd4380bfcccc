package clusters

import (
	"bytes"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/tandem-gitops/tandem/reconciler/fieldset"
)

// change is what a watch event says of a member.
type change int

const (
	// unchanged: nothing a pass may have to undo, or tandem's own write.
	unchanged change = iota
	// changedByOthers: a write by someone else.
	changedByOthers
	// lostFieldsOnly: a write that moved no writer's time and took fields
	// from tandem: someone else's, unless tandem itself wrote the object
	// within that second, dropping fields it no longer sets.
	lostFieldsOnly
)

// classify tells what a member's change from old to new is: one a pass
// may have to undo, or a write of tandem's own applies or of Kubernetes'
// own components. It reads metadata alone, the managed fields, and finds
// who wrote:
//
//   - A write moves the time of its writer's managed-fields entry, or
//     makes one, and no other: another manager's entry may lose fields to
//     it, never its time. A write by tandem's field manager is tandem's
//     own; one by any other manager a change by hand (kubectl scale, edit,
//     label) or by another controller.
//   - Times have a resolution of a second, so a write may move none: a
//     manager writing twice within a second. Then a write that took
//     fields from tandem's entry is lostFieldsOnly, one that took none, as
//     tandem's own correction within the second of its last write, is no
//     change.
//   - The writes of the components fieldset.ExemptManagers names (a
//     Deployment's revision annotation) and through the status
//     subresource are never drift, as a pass sees it, and are not read.
//
// A change of resource version alone, a resync or a status write, is
// none. A nil old is an object that appeared: a change unless tandem's
// entry is its newest, as when a pass creates it.
func classify(old, new *metav1.PartialObjectMetadata, manager string) change {
	after := watchedEntries(new, manager)
	if old == nil {
		var newest *metav1.ManagedFieldsEntry
		for i, e := range after {
			if newest == nil || e.Time != nil && newest.Time != nil && e.Time.After(newest.Time.Time) ||
				e.Manager == manager && sameTime(e.Time, newest.Time) {
				newest = &after[i]
			}
		}
		if newest == nil || newest.Manager != manager {
			return changedByOthers
		}
		return unchanged
	}
	if old.ResourceVersion == new.ResourceVersion {
		return unchanged
	}
	// Look at every entry: an update a relist gives may hold tandem's
	// write and a later one by hand at once.
	before := watchedEntries(old, manager)
	tandemMoved := false
	for _, e := range after {
		i := slices.IndexFunc(before, func(b metav1.ManagedFieldsEntry) bool { return sameWriter(b, e) })
		if i < 0 || !sameTime(before[i].Time, e.Time) {
			if e.Manager != manager {
				return changedByOthers
			}
			tandemMoved = true
		}
	}
	if tandemMoved {
		return unchanged
	}
	if lostFields(applyEntry(old, manager), applyEntry(new, manager)) {
		return lostFieldsOnly
	}
	return unchanged
}

// lostFields reports whether tandem's apply entry lost fields from before
// to after, or went.
func lostFields(before, after *metav1.ManagedFieldsEntry) bool {
	if before == nil || before.FieldsV1 == nil {
		return false
	}
	if after == nil || after.FieldsV1 == nil {
		return true
	}
	if bytes.Equal(before.FieldsV1.Raw, after.FieldsV1.Raw) {
		return false
	}
	was, now := fieldpath.NewSet(), fieldpath.NewSet()
	if was.FromJSON(bytes.NewReader(before.FieldsV1.Raw)) != nil || now.FromJSON(bytes.NewReader(after.FieldsV1.Raw)) != nil {
		return true
	}
	return !was.Difference(now).Empty()
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

// watchedEntries returns the managed-fields entries whose writers may
// drift an object: all but those of the status subresource and of exempt
// managers other than manager.
func watchedEntries(obj *metav1.PartialObjectMetadata, manager string) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, e := range obj.ManagedFields {
		if e.Subresource != "status" && (e.Manager == manager || !slices.Contains(fieldset.ExemptManagers, e.Manager)) {
			out = append(out, e)
		}
	}
	return out
}

// sameWriter reports whether two entries are of the same writer: manager,
// operation and subresource.
func sameWriter(a, b metav1.ManagedFieldsEntry) bool {
	return a.Manager == b.Manager && a.Operation == b.Operation && a.Subresource == b.Subresource
}

func sameTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// slim is what a watch keeps of a member: its identity, resource version
// and what classify reads of its managed fields, the writers and their
// times, and the fields of tandem's applies alone. Labels, annotations
// (kubectl's last-applied configuration among them) and the entries of
// status writers stay out of memory.
func slim(obj *metav1.PartialObjectMetadata, manager string) *metav1.PartialObjectMetadata {
	entries := watchedEntries(obj, manager)
	for i, e := range entries {
		if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			entries[i].FieldsV1 = nil
		}
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: obj.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            obj.Name,
			Namespace:       obj.Namespace,
			UID:             obj.UID,
			ResourceVersion: obj.ResourceVersion,
			ManagedFields:   entries,
		},
	}
}

package clusters

import (
	"maps"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestClassifyTellsHandChangesFromTandemsOwnWrites(t *testing.T) {
	at := func(s int) *metav1.Time {
		tm := metav1.NewTime(time.Date(2026, 12, 2, 7, 0, s, 0, time.UTC))
		return &tm
	}
	fields := func(raw string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(raw)} }
	const replicas = `{"f:spec":{"f:replicas":{}}}`
	const template = `{"f:spec":{"f:replicas":{},"f:template":{}}}`
	tandem := func(s int, f string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "tandem", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "apps/v1", Time: at(s), FieldsV1: fields(f)}
	}
	other := func(manager, subresource string, s int, f string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1", Time: at(s), FieldsV1: fields(f), Subresource: subresource}
	}
	obj := func(rv string, entries ...metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "inference", ResourceVersion: rv, ManagedFields: entries}}
	}
	base := obj("10", tandem(1, template))
	tests := []struct {
		name     string
		old, new *metav1.PartialObjectMetadata
		want     change
	}{
		{"created by tandem", nil, base, unchanged},
		{"created by hand", nil, obj("10", other("kubectl-create", "", 1, template)), changedByOthers},
		{"recreated by hand after tandem", nil, obj("10", tandem(1, template), other("kubectl-edit", "", 2, `{"f:data":{}}`)), changedByOthers},
		{"a resync", base, obj("10", tandem(1, template)), unchanged},
		{"tandem applied again", base, obj("11", tandem(2, replicas)), unchanged},
		{"tandem took its fields back from kubectl scale", obj("11", tandem(1, template), other("kubectl", "scale", 2, replicas)),
			obj("12", tandem(3, template)), unchanged},
		{"a status write", base, obj("11", tandem(1, template), other("kube-controller-manager", "status", 2, `{"f:status":{}}`)), unchanged},
		{"the Deployment controller's revision annotation", base,
			obj("11", tandem(1, template), other("kube-controller-manager", "", 2, `{"f:metadata":{"f:annotations":{}}}`)), unchanged},
		{"kubectl scale took replicas from tandem", base, obj("11", tandem(1, `{"f:spec":{"f:template":{}}}`), other("kubectl", "scale", 2, replicas)), changedByOthers},
		{"kubectl edit added a field", base, obj("11", tandem(1, template), other("kubectl-edit", "", 2, `{"f:spec":{"f:paused":{}}}`)), changedByOthers},
		{"kubectl edit changed its own field again", obj("11", tandem(1, template), other("kubectl-edit", "", 2, `{"f:spec":{"f:paused":{}}}`)),
			obj("12", tandem(1, template), other("kubectl-edit", "", 3, `{"f:spec":{"f:paused":{}}}`)), changedByOthers},
		{"managed fields cleared by hand", base, obj("11"), lostFieldsOnly},
		{"tandem corrected within the second of its last apply", obj("11", tandem(1, `{"f:spec":{"f:template":{}}}`), other("kubectl", "scale", 2, replicas)),
			obj("12", tandem(1, template)), unchanged},
		{"fields removed within the second of tandem's apply", base, obj("11", tandem(1, `{"f:spec":{"f:template":{}}}`)), lostFieldsOnly},
		{"tandem's apply and an edit by hand after it, in one update a relist gives", base,
			obj("12", tandem(2, template), other("kubectl-edit", "", 3, `{"f:spec":{"f:paused":{}}}`)), changedByOthers},
		{"a status write by another controller", base, obj("11", tandem(1, template), other("operator", "status", 2, `{"f:status":{}}`)), unchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.old, tt.new, "tandem"); got != tt.want {
				t.Errorf("classify = %v, want %v", got, tt.want)
			}
			if tt.old == nil {
				return
			}
			// A watch keeps members slim: the answer is the same.
			if got := classify(slim(tt.old, "tandem"), slim(tt.new, "tandem"), "tandem"); got != tt.want {
				t.Errorf("classify on slim members = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAMemberStoreTellsWhatARelistFoundChanged(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 2, 7, 0, 1, 0, time.UTC))
	later := metav1.NewTime(at.Add(time.Second))
	written := func(name, uid, rv string, entries ...metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "factory", Name: name, UID: types.UID(uid),
			ResourceVersion: rv, ManagedFields: entries}}
	}
	tandem := metav1.ManagedFieldsEntry{Manager: "tandem", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1", Time: &at,
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{}}`)}}
	edit := metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &later,
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{"f:mode":{}}}`)}}

	w := (&Conn{name: "plant-a"}).Watch("tandem")
	key := watched{id: "applyset-x", gk: schema.GroupKind{Kind: "ConfigMap"}}
	s := &memberStore{w: w, key: key, synced: make(chan struct{}), members: map[string]*metav1.PartialObjectMetadata{}}
	member := func(name string) object.ObjMetadata {
		return object.ObjMetadata{Namespace: "factory", Name: name, GroupKind: key.gk}
	}

	// The first list, made by someone else or not, is where changes
	// start from.
	s.replace([]metav1.PartialObjectMetadata{*written("settings", "1", "10", tandem), *written("thresholds", "2", "11", tandem),
		*written("by-hand", "3", "12", edit), *written("pruned", "4", "13", tandem)})
	select {
	case <-s.synced:
	default:
		t.Fatal("the first list did not mark the store synced")
	}
	if got := w.Take(); len(got) != 0 {
		t.Fatalf("the first list told changes %v, want none", got)
	}

	// The watch broke off; meanwhile settings was edited, thresholds
	// deleted by hand, pruned deleted by tandem, and one created by hand.
	w.Expect("4")
	s.replace([]metav1.PartialObjectMetadata{*written("settings", "1", "20", tandem, edit), *written("by-hand", "3", "12", edit),
		*written("new", "5", "21", edit)})
	got := w.Take()
	want := map[object.ObjMetadata]string{member("settings"): key.id, member("thresholds"): key.id, member("new"): key.id}
	if !maps.Equal(got, want) {
		t.Errorf("the relist told %v, want %v: the edit, the deletion by hand and the creation, not tandem's deletion nor what stayed", got, want)
	}

	// Watched again: a deletion by hand is told, with the member as last
	// seen.
	s.delete(written("by-hand", "3", "12"))
	if got := w.Take(); !maps.Equal(got, map[object.ObjMetadata]string{member("by-hand"): key.id}) {
		t.Errorf("a deletion told %v, want by-hand", got)
	}
	if len(s.members) != 2 {
		t.Errorf("the store holds %d members, want settings and new", len(s.members))
	}
}

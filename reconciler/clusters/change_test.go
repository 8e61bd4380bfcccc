package clusters

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

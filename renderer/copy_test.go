package renderer

import (
	"maps"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestSetCopiedSetsWhatSetNestedFieldSetsAndLeavesSharedMapsAlone(t *testing.T) {
	tests := []struct {
		name string
		obj  map[string]any
		path []string
		// want, when set, is what setCopied makes where SetNestedField
		// panics: on a nil map on the way.
		want map[string]any
	}{
		{"field of an existing map", map[string]any{"spec": map[string]any{"replicas": int64(1), "paused": false}}, []string{"spec", "replicas"}, nil},
		{"missing maps on the way", map[string]any{"kind": "ConfigMap"}, []string{"metadata", "labels", LabelSite}, nil},
		{"nil map on the way", map[string]any{"metadata": map[string]any{"labels": map[string]any(nil)}}, []string{"metadata", "labels", LabelSite},
			map[string]any{"metadata": map[string]any{"labels": map[string]any{LabelSite: "v"}}}},
		{"a list on the way", map[string]any{"spec": []any{"a"}}, []string{"spec", "replicas"}, nil},
		{"a scalar on the way", map[string]any{"metadata": map[string]any{"labels": "x"}}, []string{"metadata", "labels", LabelSite}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := tt.want, error(nil)
			if want == nil {
				want = runtime.DeepCopyJSON(tt.obj)
				wantErr = unstructured.SetNestedField(want, "v", tt.path...)
			}
			before := runtime.DeepCopyJSON(tt.obj)
			got := maps.Clone(tt.obj)
			err := setCopied(got, "v", tt.path...)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("error %v, SetNestedField's %v", err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, SetNestedField made %v", got, want)
			}
			if !reflect.DeepEqual(tt.obj, before) {
				t.Errorf("the shared object changed: %v, was %v", tt.obj, before)
			}
		})
	}
}

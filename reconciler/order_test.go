package reconciler

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDependencies(t *testing.T) {
	tier := func(sol, name string, deps ...string) TierSet {
		return TierSet{Solution: sol, Tier: name, DependsOn: deps}
	}
	tests := []struct {
		name     string
		tiers    []TierSet
		wantDeps [][]int
		wantErrs []bool
	}{
		{
			name:     "chain",
			tiers:    []TierSet{tier("s", "edge", "platform"), tier("s", "platform"), tier("s", "ml", "edge", "platform")},
			wantDeps: [][]int{{1}, nil, {0, 1}},
			wantErrs: []bool{false, false, false},
		},
		{
			name:     "dependency not on this cluster",
			tiers:    []TierSet{tier("s", "edge", "cloud")},
			wantDeps: [][]int{nil},
			wantErrs: []bool{false},
		},
		{
			name:     "same tier name in another solution",
			tiers:    []TierSet{tier("a", "edge", "platform"), tier("b", "platform")},
			wantDeps: [][]int{nil, nil},
			wantErrs: []bool{false, false},
		},
		{
			name:     "cycle fails its tiers, dependents wait",
			tiers:    []TierSet{tier("s", "a", "b"), tier("s", "b", "a"), tier("s", "c", "a")},
			wantDeps: [][]int{nil, nil, {0}},
			wantErrs: []bool{true, true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deps, errs := dependencies(tt.tiers)
			if fmt.Sprint(deps) != fmt.Sprint(tt.wantDeps) {
				t.Errorf("deps = %v, want %v", deps, tt.wantDeps)
			}
			for i, e := range errs {
				if (e != nil) != tt.wantErrs[i] {
					t.Errorf("tier %s: error %v, want error %t", tt.tiers[i].Tier, e, tt.wantErrs[i])
				}
			}
		})
	}
}

func TestStaleMembersInDeleteOrder(t *testing.T) {
	key := func(o *unstructured.Unstructured) object.ObjMetadata { return object.UnstructuredToObjMetadata(o) }
	ns, cm, dep, kept := namespace("edge"), configMap("edge", "a", nil), deployment("edge", "b", 1), configMap("edge", "kept", nil)
	desired := map[object.ObjMetadata]*unstructured.Unstructured{key(kept): kept}
	live := map[object.ObjMetadata]*unstructured.Unstructured{key(dep): dep, key(kept): kept, key(cm): cm, key(ns): ns}

	var got []string
	for _, o := range staleMembers(desired, live) {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	// Apply order; pruning deletes in reverse: the Deployment first, the
	// Namespace last.
	want := []string{"Namespace/edge", "ConfigMap/a", "Deployment/b"}
	if !slices.Equal(got, want) {
		t.Errorf("staleMembers = %v, want %v", got, want)
	}
}

func TestBackoffDoublesUpToLimit(t *testing.T) {
	var got []time.Duration
	for failures := 1; failures <= 7; failures++ {
		got = append(got, backoff(10*time.Second, 5*time.Minute, failures))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
}

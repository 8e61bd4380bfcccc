package reconciler

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// unschedulable is a Deployment no node can run: it never becomes
// Available.
func unschedulable(ns, name string) *unstructured.Unstructured {
	d := deployment(ns, name, 1)
	if err := unstructured.SetNestedStringMap(d.Object, map[string]string{"tandem.dev/nowhere": "true"},
		"spec", "template", "spec", "nodeSelector"); err != nil {
		panic(err)
	}
	return d
}

func TestNewTargetPreemptsAHealthWaitThatHoldsNoSlot(t *testing.T) {
	f := testFleet(t)
	opts := testOptions(t)
	// One slot, and a wait far longer than the test: only preemption and
	// waits that hold no slot let it pass.
	opts.Concurrency, opts.HealthTimeout, opts.DriftInterval = 1, time.Hour, time.Hour
	r := New(fleetResolver(f, nil), opts)
	stuck := func(rev string, d *unstructured.Unstructured) Target {
		return Target{Cluster: "cloud", Tiers: []TierSet{{Solution: "stuck", Tier: "cloud", Revision: rev,
			Objects: []*unstructured.Unstructured{namespace("stuck"), d}}}}
	}
	free := func(rev string) Target {
		return Target{Cluster: "plant-a", Tiers: []TierSet{{Solution: "free", Tier: "edge", Revision: rev,
			Objects: []*unstructured.Unstructured{namespace("free"), configMap("free", "settings", map[string]any{"k": rev})}}}}
	}
	r.SetTargets([]Target{stuck("rev-1", unschedulable("stuck", "app")), free("rev-1")})
	results, stop := runInBackground(t, r)
	defer stop()
	awaitResult(t, results, "wait for the stuck Deployment", func(res Result) bool {
		return res.Solution == "stuck" && res.Phase == PhaseProgressing
	})

	// The other cluster's new revision takes the only slot at once.
	r.SetTargets([]Target{stuck("rev-1", unschedulable("stuck", "app")), free("rev-2")})
	awaitResult(t, results, "plant-a Ready at rev-2", func(res Result) bool {
		return res.Solution == "free" && res.Revision == "rev-2" && res.Phase == PhaseReady
	})

	// The fix for the stuck cluster does not wait for the old wait to end.
	r.SetTargets([]Target{stuck("rev-2", deployment("stuck", "app", 1)), free("rev-2")})
	res := awaitResult(t, results, "cloud settled at rev-2", func(res Result) bool {
		return res.Solution == "stuck" && res.Revision == "rev-2" && !res.Finished.IsZero()
	})
	requirePhase(t, res, PhaseReady)
}

// widgets is a CustomResourceDefinition of a kind no controller serves.
func widgets() *unstructured.Unstructured {
	return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", map[string]any{"spec": map[string]any{
		"group": "example.com",
		"scope": "Namespaced",
		"names": map[string]any{"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
		"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
			"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
	}})
}

// neverCurrent is a Widget whose status never reaches Current: it says it
// observed no generation, as kustomize-controller's test resource does.
func neverCurrent(ns, name string) *unstructured.Unstructured {
	return obj("example.com/v1", "Widget", ns, name, map[string]any{"status": map[string]any{"observedGeneration": int64(-1)}})
}

func TestTierWithoutHealthWaitIsReadyOnceAppliedAndItsDependentsProceed(t *testing.T) {
	f := testFleet(t)
	opts := testOptions(t)
	opts.HealthTimeout = 3 * time.Second
	r := New(fleetResolver(f, nil), opts)
	ctx := context.Background()
	target := func(crs TierSet) []Target {
		crs.Solution, crs.Tier, crs.Revision, crs.DependsOn = "widgets", "crs", "rev-1", []string{"defs"}
		return []Target{{Cluster: "plant-a", Tiers: []TierSet{
			{Solution: "widgets", Tier: "defs", Revision: "rev-1", Objects: []*unstructured.Unstructured{widgets(), namespace("widgets")}},
			crs,
			{Solution: "widgets", Tier: "app", Revision: "rev-1", DependsOn: []string{"crs"},
				Objects: []*unstructured.Unstructured{configMap("widgets", "app", map[string]any{"k": "v"})}},
		}}}
	}
	phases := func(results []Result) string {
		var s []string
		for _, res := range results {
			s = append(s, res.Tier+"="+string(res.Phase))
		}
		return strings.Join(s, " ")
	}

	// Waited for, the Widget fails its tier and holds back the next.
	results := r.Apply(ctx, target(TierSet{Objects: []*unstructured.Unstructured{neverCurrent("widgets", "w")}}), nil)
	if got := phases(results); got != "app=Failed crs=Failed defs=Ready" {
		t.Fatalf("phases %s, want app=Failed crs=Failed defs=Ready", got)
	}
	if !strings.Contains(results[1].Message, "Widget/widgets/w") {
		t.Errorf("the health failure %q does not name the Widget", results[1].Message)
	}

	// health: {wait: false} on the tier.
	results = r.Apply(ctx, target(TierSet{NoWait: true, Objects: []*unstructured.Unstructured{neverCurrent("widgets", "w")}}), nil)
	if got := phases(results); got != "app=Ready crs=Ready defs=Ready" {
		t.Errorf("with the tier not waited for: phases %s, want all Ready", got)
	}

	// tandem.dev/health: ignore on the object.
	ignored := neverCurrent("widgets", "w")
	ignored.SetAnnotations(map[string]string{HealthAnnotation: HealthIgnore})
	ignored.Object["spec"] = map[string]any{"size": int64(2)}
	results = r.Apply(ctx, target(TierSet{Objects: []*unstructured.Unstructured{ignored}}), nil)
	if got := phases(results); got != "app=Ready crs=Ready defs=Ready" {
		t.Errorf("with the object ignored: phases %s, want all Ready", got)
	}
}

func TestCallerDeadlineRecordsTheHealthFailureOnTheCluster(t *testing.T) {
	f := testFleet(t)
	kube := kubeClient(t, f, "plant-a")
	opts := testOptions(t)
	opts.HealthTimeout = time.Hour
	r := New(fleetResolver(f, nil), opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "late", Tier: "edge", Revision: "r1",
		Objects: []*unstructured.Unstructured{namespace("late"), unschedulable("late", "app")}}}}}, nil))
	requirePhase(t, res, PhaseFailed)
	if !strings.Contains(res.Message, "Deployment/late/app") {
		t.Errorf("message %q does not name the Deployment", res.Message)
	}
	if got := parent(t, kube, "late", "edge").Annotations; got[applyset.PhaseAnnotation] != string(PhaseFailed) || !strings.Contains(got[applyset.MessageAnnotation], "Deployment/late/app") {
		t.Errorf("the cluster records %s %q, want the health failure", got[applyset.PhaseAnnotation], got[applyset.MessageAnnotation])
	}
}

func TestSupersededPassTakesNoSlotAndPassesNoDependency(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := []chan struct{}{make(chan struct{})}
	close(done[0])
	for range 200 {
		s := make(slots, 1)
		if s.take(ctx) == nil {
			t.Fatal("a canceled pass took a free slot")
		}
		turn, err := s.begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if (&slot{turn: turn}).take(ctx) == nil {
			t.Fatal("a canceled pass took its turn's held slot")
		}
		turn.end()
		if waitFor(ctx, []TierSet{{Tier: "platform"}}, []int{0}, done, []Result{{Phase: PhaseReady}}) == nil {
			t.Fatal("a canceled pass went on after a Ready dependency")
		}
	}
}

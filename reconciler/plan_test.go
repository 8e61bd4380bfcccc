package reconciler

import (
	"context"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// onlyPlan returns the single plan of a pass, failing otherwise.
func onlyPlan(t *testing.T, plans []Plan) Plan {
	t.Helper()
	if len(plans) != 1 {
		t.Fatalf("got %d plans, want 1: %+v", len(plans), plans)
	}
	if plans[0].Err != nil {
		t.Fatalf("%s/%s/%s: %v", plans[0].Cluster, plans[0].Solution, plans[0].Tier, plans[0].Err)
	}
	return plans[0]
}

// actions maps each object of a plan to its action.
func actions(p Plan) map[string]ssa.Action {
	m := make(map[string]ssa.Action, len(p.Changes))
	for _, c := range p.Changes {
		m[c.Subject] = c.Action
	}
	return m
}

func requireActions(t *testing.T, p Plan, want map[string]ssa.Action) {
	t.Helper()
	got := actions(p)
	for subject, action := range want {
		if got[subject] != action {
			t.Errorf("%s: %q, want %q", subject, got[subject], action)
		}
	}
	if len(got) != len(want) {
		t.Errorf("plan has %d objects, want %d: %v", len(got), len(want), got)
	}
}

func requireNoWrites(t *testing.T, counter *requestCounter) {
	t.Helper()
	if n := counter.writes.Load(); n != 0 {
		t.Errorf("the plan wrote %d times:\n%s", n, counter)
	}
}

func TestPlanOnAnEmptyClusterCreatesEverything(t *testing.T) {
	f := testFleet(t)
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	secret := obj("v1", "Secret", "plan-new", "credentials", map[string]any{
		"data":       map[string]any{"token": "c2VjcmV0"},
		"stringData": map[string]any{"password": "hunter2"},
	})
	target := []Target{{Cluster: "cloud", Tiers: []TierSet{{Solution: "plan-new", Tier: "cloud", Revision: "rev-1", Objects: []*unstructured.Unstructured{
		namespace("plan-new"),
		configMap("plan-new", "settings", map[string]any{"mode": "cloud"}),
		secret,
		deployment("plan-new", "ingest", 2),
	}}}}}

	p := onlyPlan(t, r.Plan(context.Background(), target))
	requireActions(t, p, map[string]ssa.Action{
		"Namespace/plan-new":          ssa.CreatedAction,
		"ConfigMap/plan-new/settings": ssa.CreatedAction,
		"Secret/plan-new/credentials": ssa.CreatedAction,
		"Deployment/plan-new/ingest":  ssa.CreatedAction,
	})
	requireNoWrites(t, counter)
	t.Logf("plan of 4 new objects: %d requests:\n%s", counter.requests.Load(), counter)
	for _, c := range p.Changes {
		if c.Live != nil || c.Planned == nil {
			t.Errorf("%s: live %v, planned %v; want only the planned object", c.Subject, c.Live != nil, c.Planned != nil)
		}
		if c.Planned.GetLabels()[applyset.PartOfLabel] != applyset.ID("plan-new.cloud") {
			t.Errorf("%s would be created without the ApplySet label", c.Subject)
		}
		if c.ObjMetadata.GroupKind.Kind == "Secret" {
			if text := strings.Join([]string{c.Planned.Object["data"].(map[string]any)["token"].(string),
				c.Planned.Object["stringData"].(map[string]any)["password"].(string)}, " "); text != "*** ***" {
				t.Errorf("Secret values are not masked: %s", text)
			}
		}
	}
	if secret.Object["stringData"].(map[string]any)["password"] != "hunter2" {
		t.Error("planning changed the rendered Secret")
	}
	var ns corev1.Namespace
	if err := kubeClient(t, f, "cloud").Get(context.Background(), client.ObjectKey{Name: "plan-new"}, &ns); err == nil {
		t.Error("the plan created applyset.Namespace/plan-new")
	}
}

func TestPlanAfterApplyIsUnchangedWithoutWrites(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	target := []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "plan-noop", Tier: "edge", Revision: "rev-1", Objects: []*unstructured.Unstructured{
		namespace("plan-noop"),
		configMap("plan-noop", "settings", map[string]any{"mode": "edge"}),
		configMap("plan-noop", "labels", map[string]any{"site": "plant-a"}),
		deployment("plan-noop", "inference", 2),
		deployment("plan-noop", "ingest", 1),
	}}}}}
	requirePhase(t, onlyResult(t, r.Apply(ctx, target, nil)), PhaseReady)

	counter.reset()
	p := onlyPlan(t, r.Plan(ctx, target))
	if c := p.Counts(); c.Unchanged != 5 || c.Created+c.Configured+c.Deleted+c.Skipped != 0 {
		t.Errorf("counts %+v, want 5 unchanged", c)
	}
	requests := counter.requests.Load()
	t.Logf("plan of an unchanged site: %d requests, %d writes for 5 objects of 3 group-kinds:\n%s", requests, counter.writes.Load(), counter)
	requireNoWrites(t, counter)
	// One list of ApplySet parents for the site, one list per group-kind,
	// as for a pass that applies.
	if requests > 1+3 {
		t.Errorf("the plan made %d requests, want at most 4", requests)
	}
}

func TestPlanShowsAChangedReplicaCountFromADryRun(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	target := func(replicas int64) []Target {
		return []Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "plan-scale", Tier: "edge", Revision: "rev-1", Objects: []*unstructured.Unstructured{
			namespace("plan-scale"),
			deployment("plan-scale", "inference", replicas),
		}}}}}
	}
	requirePhase(t, onlyResult(t, r.Apply(ctx, target(1), nil)), PhaseReady)

	counter.reset()
	p := onlyPlan(t, r.Plan(ctx, target(3)))
	requireActions(t, p, map[string]ssa.Action{
		"Namespace/plan-scale":            ssa.UnchangedAction,
		"Deployment/plan-scale/inference": ssa.ConfiguredAction,
	})
	requireNoWrites(t, counter)
	t.Logf("plan of a changed Deployment: %d requests:\n%s", counter.requests.Load(), counter)
	c := p.Changes[1]
	live, _, _ := unstructured.NestedInt64(c.Live.Object, "spec", "replicas")
	planned, _, _ := unstructured.NestedInt64(c.Planned.Object, "spec", "replicas")
	if live != 1 || planned != 3 {
		t.Errorf("replicas live %d, planned %d; want 1 and 3", live, planned)
	}
	// The dry-run answer is the server's: defaulted fields are filled in.
	if strategy, _, _ := unstructured.NestedString(c.Planned.Object, "spec", "strategy", "type"); strategy != "RollingUpdate" {
		t.Errorf("planned object has strategy %q, want the server's default RollingUpdate", strategy)
	}
	if _, ok := c.Live.Object["metadata"].(map[string]any)["managedFields"]; ok {
		t.Error("the live object keeps its managed fields")
	}
	res := onlyResult(t, r.Apply(ctx, target(1), nil))
	if n := res.Counts().Unchanged; n != 2 {
		t.Errorf("after the plan, %d objects unchanged, want 2: the plan changed the cluster\n%s", n, res.ChangeSet)
	}
}

func TestPlanPrunesMembersLeavingTheRender(t *testing.T) {
	r, kube, _ := pruneFixture(t, "plan-prune")
	ctx := context.Background()
	cm, _ := exists(t, kube, "plan-prune", "c")
	cm.Annotations = map[string]string{PruneAnnotation: PruneDisabled}
	if err := kube.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	plan := func(allowEmpty bool, names ...string) Plan {
		var objs []*unstructured.Unstructured
		if len(names) > 0 {
			objs = append(objs, namespace("plan-prune"))
		}
		for _, n := range names {
			objs = append(objs, configMap("plan-prune", n, map[string]any{"k": n}))
		}
		plans := r.Plan(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{
			{Solution: "plan-prune", Tier: "edge", Revision: "rev-2", Objects: objs},
		}, AllowEmpty: allowing(allowEmpty, "plan-prune")}})
		if len(plans) != 1 {
			t.Fatalf("got %d plans, want 1", len(plans))
		}
		return plans[0]
	}

	p := plan(false, "a")
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	requireActions(t, p, map[string]ssa.Action{
		"Namespace/plan-prune":   ssa.UnchangedAction,
		"ConfigMap/plan-prune/a": ssa.UnchangedAction,
		"ConfigMap/plan-prune/b": ssa.DeletedAction,
		"ConfigMap/plan-prune/c": ssa.SkippedAction,
	})
	for _, c := range p.Changes {
		switch c.ObjMetadata.Name {
		case "b":
			if c.Live == nil || c.Planned != nil {
				t.Errorf("pruned %s: want the live object only", c.Subject)
			}
		case "c":
			if _, member := c.Planned.GetLabels()[applyset.PartOfLabel]; member || c.Live.GetLabels()[applyset.PartOfLabel] == "" {
				t.Errorf("skipped %s: want it planned without its ApplySet label", c.Subject)
			}
		}
	}
	for _, n := range []string{"b", "c"} {
		if _, ok := exists(t, kube, "plan-prune", n); !ok {
			t.Errorf("the plan deleted ConfigMap/plan-prune/%s", n)
		}
	}

	// c, annotated prune: disabled, would stay: three would be pruned.
	p = plan(false)
	if p.Err == nil || !strings.Contains(p.Err.Error(), "refusing to prune all 3 objects") {
		t.Errorf("plan of an empty render: %v, want it refused", p.Err)
	}
	p = plan(true)
	if c := p.Counts(); p.Err != nil || c.Deleted != 3 || c.Skipped != 1 {
		t.Errorf("plan of an allowed empty render: %+v, %v; want 3 deleted, 1 skipped", c, p.Err)
	}
}

func TestPlanReportsAnUnreachableClusterAndPlansTheOthers(t *testing.T) {
	f := testFleet(t)
	resolver := clusters.ResolverFunc(func(ctx context.Context, name string) (*rest.Config, error) {
		if name == "gone" {
			// Nothing listens on port 1.
			return &rest.Config{Host: "https://127.0.0.1:1", BearerToken: "x", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, nil
		}
		return fleetResolver(f, nil).Resolve(ctx, name)
	})
	r := New(resolver, testOptions(t))
	var targets []Target
	for _, name := range []string{"cloud", "gone"} {
		targets = append(targets, Target{Cluster: name, Tiers: []TierSet{{Solution: "plan-reach", Tier: "all", Revision: "rev-1",
			Objects: []*unstructured.Unstructured{namespace("plan-reach")}}}})
	}
	plans := r.Plan(context.Background(), targets)
	if len(plans) != 2 {
		t.Fatalf("got %d plans, want 2", len(plans))
	}
	if plans[0].Err != nil || plans[0].Counts().Created != 1 {
		t.Errorf("cloud: %+v, %v; want applyset.Namespace/plan-reach created", plans[0].Counts(), plans[0].Err)
	}
	if !plans[1].Unreachable || plans[1].Err == nil || !strings.Contains(plans[1].Err.Error(), "cluster gone") {
		t.Errorf("gone: unreachable %t, error %v; want it unreachable, named", plans[1].Unreachable, plans[1].Err)
	}
}

func TestPlanCreatesObjectsInANamespaceAnotherTierCreates(t *testing.T) {
	f := testFleet(t)
	r := New(fleetResolver(f, nil), testOptions(t))
	plans := r.Plan(context.Background(), []Target{{Cluster: "plant-a", Tiers: []TierSet{
		{Solution: "plan-tiers", Tier: "platform", Revision: "rev-1", Objects: []*unstructured.Unstructured{namespace("plan-tiers")}},
		{Solution: "plan-tiers", Tier: "app", Revision: "rev-1", DependsOn: []string{"platform"},
			Objects: []*unstructured.Unstructured{configMap("plan-tiers", "settings", map[string]any{"k": "v"})}},
	}}})
	if len(plans) != 2 {
		t.Fatalf("got %d plans, want 2", len(plans))
	}
	for _, p := range plans {
		if p.Err != nil || p.Counts().Created != 1 {
			t.Errorf("tier %s: %+v, %v; want its object created", p.Tier, p.Counts(), p.Err)
		}
	}
}

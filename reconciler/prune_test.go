package reconciler

import (
	"context"
	"strings"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tandem-gitops/tandem/reconciler/applyset"
)

// pruneFixture applies a namespace with ConfigMaps a, b and c as solution
// sol, tier edge, on plant-a.
func pruneFixture(t *testing.T, sol string) (*Reconciler, client.Client, func(rev string, names ...string) Result) {
	t.Helper()
	f := testFleet(t)
	r := New(fleetResolver(f, nil), testOptions(t))
	apply := func(rev string, names ...string) Result {
		objs := []*unstructured.Unstructured{namespace(sol)}
		for _, n := range names {
			objs = append(objs, configMap(sol, n, map[string]any{"k": n}))
		}
		return onlyResult(t, r.Apply(context.Background(), []Target{{Cluster: "plant-a", Tiers: []TierSet{
			{Solution: sol, Tier: "edge", Revision: rev, Objects: objs},
		}}}, nil))
	}
	requirePhase(t, apply("rev-1", "a", "b", "c"), PhaseReady)
	return r, kubeClient(t, f, "plant-a"), apply
}

func exists(t *testing.T, kube client.Client, ns, name string) (*corev1.ConfigMap, bool) {
	t.Helper()
	var cm corev1.ConfigMap
	err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return &cm, cm.DeletionTimestamp == nil
}

func TestPruneDeletesObjectsLeavingTheRender(t *testing.T) {
	_, kube, apply := pruneFixture(t, "prune")
	res := apply("rev-2", "a", "c")
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Deleted != 1 || c.Unchanged != 3 {
		t.Errorf("counts %+v, want 1 deleted, 3 unchanged\n%s", c, res.ChangeSet)
	}
	if _, ok := exists(t, kube, "prune", "b"); ok {
		t.Error("ConfigMap/prune/b was not pruned")
	}
	for _, n := range []string{"a", "c"} {
		if _, ok := exists(t, kube, "prune", n); !ok {
			t.Errorf("ConfigMap/prune/%s is gone", n)
		}
	}
}

func TestPruneOrphansObjectsWithPruneDisabled(t *testing.T) {
	_, kube, apply := pruneFixture(t, "orphan")
	ctx := context.Background()
	cm, _ := exists(t, kube, "orphan", "b")
	cm.Annotations = map[string]string{PruneAnnotation: PruneDisabled}
	if err := kube.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}

	res := apply("rev-2", "a")
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Deleted != 1 || c.Skipped != 1 {
		t.Errorf("counts %+v, want c deleted and b skipped\n%s", c, res.ChangeSet)
	}
	cm, ok := exists(t, kube, "orphan", "b")
	if !ok {
		t.Fatal("ConfigMap/orphan/b annotated prune: disabled was deleted")
	}
	if _, member := cm.Labels[applyset.PartOfLabel]; member {
		t.Error("orphaned ConfigMap/orphan/b still carries the ApplySet label")
	}
	// Orphaned, it is no longer ours: later passes leave it alone.
	res = apply("rev-3", "a")
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Skipped+c.Deleted != 0 {
		t.Errorf("later pass touched the orphan: %+v\n%s", c, res.ChangeSet)
	}
}

func TestPruneSkipsObjectsWithoutApplySetLabel(t *testing.T) {
	_, kube, apply := pruneFixture(t, "foreign")
	foreign := &corev1.ConfigMap{}
	foreign.Namespace, foreign.Name = "foreign", "created-by-hand"
	foreign.Data = map[string]string{"owner": "someone else"}
	if err := kube.Create(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	requirePhase(t, apply("rev-2", "a"), PhaseReady)
	if _, ok := exists(t, kube, "foreign", "created-by-hand"); !ok {
		t.Error("an object without the ApplySet label was deleted")
	}
}

func TestEmptyRenderIsRefusedUnlessAllowed(t *testing.T) {
	r, kube, _ := pruneFixture(t, "empty")
	ctx := context.Background()
	empty := func(allow bool) Result {
		return onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{
			{Solution: "empty", Tier: "edge", Revision: "rev-2"},
		}, AllowEmpty: allowing(allow, "empty")}}, nil))
	}

	res := empty(false)
	requirePhase(t, res, PhaseFailed)
	if !strings.Contains(res.Message, "refusing to prune all 4 objects") {
		t.Errorf("message %q does not say why", res.Message)
	}
	if _, ok := exists(t, kube, "empty", "a"); !ok {
		t.Fatal("a refused empty render pruned ConfigMap/empty/a")
	}

	res = empty(true)
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Deleted != 4 {
		t.Errorf("counts %+v, want 4 deleted\n%s", c, res.ChangeSet)
	}
	if _, ok := exists(t, kube, "empty", "a"); ok {
		t.Error("an allowed empty render left ConfigMap/empty/a")
	}
}

func TestRemovedSolutionIsRefusedUnlessAllowed(t *testing.T) {
	r, kube, _ := pruneFixture(t, "removed")
	ctx := context.Background()
	// The cluster is given with no tiers: the render no longer targets it.
	remove := func(allow bool) Result {
		return onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", AllowEmpty: allowing(allow, "removed")}}, nil))
	}

	res := remove(false)
	requirePhase(t, res, PhaseFailed)
	if res.Solution != "removed" || res.Tier != "edge" || res.Revision != "rev-1" {
		t.Errorf("result of %s/%s at %s, want removed/edge at rev-1", res.Solution, res.Tier, res.Revision)
	}
	if !strings.Contains(res.Message, "refusing to prune all 4 objects") || !strings.Contains(res.Message, "spec.allowEmpty") {
		t.Errorf("message %q does not say why nor how to allow it", res.Message)
	}
	if _, ok := exists(t, kube, "removed", "a"); !ok {
		t.Fatal("a refused removal pruned ConfigMap/removed/a")
	}

	res = remove(true)
	requirePhase(t, res, PhaseReady)
	if c := res.Counts(); c.Deleted != 4 {
		t.Errorf("counts %+v, want 4 deleted\n%s", c, res.ChangeSet)
	}
	if _, ok := exists(t, kube, "removed", "a"); ok {
		t.Error("an allowed removal left ConfigMap/removed/a")
	}
	var parent corev1.Secret
	err := kube.Get(ctx, client.ObjectKey{Namespace: applyset.Namespace, Name: applyset.ParentName("removed", "edge")}, &parent)
	if !apierrors.IsNotFound(err) {
		t.Errorf("the ApplySet parent of the removed solution is still there (%v)", err)
	}
	if res := r.Apply(ctx, []Target{{Cluster: "plant-a"}}, nil); len(res) != 0 {
		t.Errorf("a pass after the removal has results %+v, want none", res)
	}
}

// allowing is Target.AllowEmpty naming sol when allow is set.
func allowing(allow bool, sol string) []string {
	if allow {
		return []string{sol}
	}
	return nil
}

func TestMovingAnObjectBetweenTiersKeepsIt(t *testing.T) {
	f := testFleet(t)
	ctx := context.Background()
	kube := kubeClient(t, f, "plant-a")
	r := New(fleetResolver(f, nil), testOptions(t))
	apply := func(rev string, platform, app []*unstructured.Unstructured) {
		t.Helper()
		for _, res := range r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{
			{Solution: "move", Tier: "platform", Revision: rev, Objects: platform},
			{Solution: "move", Tier: "app", Revision: rev, DependsOn: []string{"platform"}, Objects: app},
		}}}, nil) {
			requirePhase(t, res, PhaseReady)
		}
	}
	apply("rev-1",
		[]*unstructured.Unstructured{namespace("move"), configMap("move", "shared", map[string]any{"k": "v"})},
		[]*unstructured.Unstructured{configMap("move", "app", map[string]any{"k": "v"})})
	var ns corev1.Namespace
	if err := kube.Get(ctx, client.ObjectKey{Name: "move"}, &ns); err != nil {
		t.Fatal(err)
	}
	shared, _ := exists(t, kube, "move", "shared")

	// The namespace and a ConfigMap move from tier platform to tier app.
	apply("rev-2",
		[]*unstructured.Unstructured{configMap("move", "platform", map[string]any{"k": "v"})},
		[]*unstructured.Unstructured{namespace("move"), configMap("move", "shared", map[string]any{"k": "v"}),
			configMap("move", "app", map[string]any{"k": "v"})})

	var after corev1.Namespace
	if err := kube.Get(ctx, client.ObjectKey{Name: "move"}, &after); err != nil {
		t.Fatal(err)
	}
	if after.UID != ns.UID || after.DeletionTimestamp != nil {
		t.Fatal("Namespace/move was deleted on its way from tier platform to tier app")
	}
	if after.Labels[applyset.PartOfLabel] != applyset.ID(applyset.ParentName("move", "app")) {
		t.Errorf("Namespace/move is a member of %q, want tier app's ApplySet", after.Labels[applyset.PartOfLabel])
	}
	if cm, ok := exists(t, kube, "move", "shared"); !ok || cm.UID != shared.UID {
		t.Error("ConfigMap/move/shared was deleted on its way from tier platform to tier app")
	}
}

func TestPruneLeavesAnObjectRecreatedSinceItWasListed(t *testing.T) {
	r, kube, _ := pruneFixture(t, "recreated")
	ctx := context.Background()
	c, err := r.connection(ctx, "plant-a")
	if err != nil {
		t.Fatal(err)
	}
	id := applyset.ID(applyset.ParentName("recreated", "edge"))
	live, err := c.ListMembers(ctx, id, map[schema.GroupKind]string{{Kind: "ConfigMap"}: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	listed := live[object.ObjMetadata{Namespace: "recreated", Name: "b", GroupKind: schema.GroupKind{Kind: "ConfigMap"}}]
	if listed == nil {
		t.Fatal("ConfigMap/recreated/b is not listed as a member")
	}

	// Someone deletes b and creates it anew, between the list and the prune.
	old, _ := exists(t, kube, "recreated", "b")
	if err := kube.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	again := &corev1.ConfigMap{}
	again.Namespace, again.Name, again.Labels = "recreated", "b", map[string]string{applyset.PartOfLabel: id}
	if err := kube.Create(ctx, again); err != nil {
		t.Fatal(err)
	}

	p := &tierPass{opts: &r.opts, cluster: c, id: id, result: Result{ChangeSet: ssa.NewChangeSet()}}
	err = p.prune(ctx, []*unstructured.Unstructured{listed}, nil)
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/recreated/b") {
		t.Errorf("prune of a re-created object: %v, want an error naming ConfigMap/recreated/b", err)
	}
	if cm, ok := exists(t, kube, "recreated", "b"); !ok || cm.UID != again.UID {
		t.Error("the re-created ConfigMap/recreated/b was deleted")
	}
}

func TestObjectMovingToATierThatDoesNotApplyYetIsStillPruned(t *testing.T) {
	f := testFleet(t)
	r := New(fleetResolver(f, nil), testOptions(t))
	kube := kubeClient(t, f, "plant-a")
	ctx := context.Background()
	tier := func(name, rev string, deps []string, objs ...*unstructured.Unstructured) TierSet {
		return TierSet{Solution: "mv", Tier: name, Revision: rev, DependsOn: deps, Objects: objs}
	}
	rejected := configMap("mv", "bad", nil)
	rejected.Object["data"] = "not a map"
	requirePhase(t, onlyResult(t, r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{
		tier("a", "r1", nil, namespace("mv"), configMap("mv", "x", map[string]any{"k": "v"})),
	}}}, nil)), PhaseReady)
	// x moves from a to b, but b waits for c, which fails.
	for _, res := range r.Apply(ctx, []Target{{Cluster: "plant-a", Tiers: []TierSet{
		tier("a", "r2", nil, namespace("mv")),
		tier("b", "r2", []string{"c"}, configMap("mv", "x", map[string]any{"k": "v"})),
		tier("c", "r2", nil, rejected),
	}}}, nil) {
		if want := map[string]Phase{"a": PhaseReady, "b": PhaseFailed, "c": PhaseFailed}[res.Tier]; res.Phase != want {
			t.Errorf("r2 %s: %s (%s), want %s", res.Tier, res.Phase, res.Message, want)
		}
	}
	// Then the render drops it: the tier whose label it still carries
	// prunes it.
	for _, res := range r.Apply(ctx, []Target{{Cluster: "plant-a", AllowEmpty: []string{"mv"}, Tiers: []TierSet{tier("a", "r3", nil, namespace("mv"))}}}, nil) {
		t.Logf("r3 %s: %s %s", res.Tier, res.Phase, res.Message)
	}
	if _, ok := exists(t, kube, "mv", "x"); ok {
		t.Error("ConfigMap/mv/x, dropped from the render on its way to another tier, was never pruned")
	}
}

package reconciler

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestFlapsBackOffObjectsChangedBackSoonAfterEveryCorrection(t *testing.T) {
	cm := object.ObjMetadata{Namespace: "edge", Name: "settings", GroupKind: schema.GroupKind{Kind: "ConfigMap"}}
	other := object.ObjMetadata{Namespace: "edge", Name: "labels", GroupKind: schema.GroupKind{Kind: "ConfigMap"}}
	start := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	type step struct {
		after   time.Duration // since the previous step
		changed []object.ObjMetadata
		// pass is a pass that ends at this step instead of a change,
		// putting back what changed unless it found nothing to.
		pass, nothing bool
		wait          time.Duration
		reported      []object.ObjMetadata
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a single change is corrected after the debounce", []step{
			{changed: []object.ObjMetadata{cm}, wait: debounce},
		}},
		{"a burst before the pass is one change", []step{
			{changed: []object.ObjMetadata{cm}, wait: debounce},
			{after: 50 * time.Millisecond, changed: []object.ObjMetadata{cm}, wait: debounce},
			{after: 50 * time.Millisecond, changed: []object.ObjMetadata{cm}, wait: debounce},
		}},
		{"changed back after each correction: doubling, reported once", []step{
			{changed: []object.ObjMetadata{cm}, wait: debounce},
			{after: time.Second, pass: true},
			{after: 10 * time.Millisecond, changed: []object.ObjMetadata{cm}, wait: debounce + flapBase, reported: []object.ObjMetadata{cm}},
			{after: time.Second, pass: true},
			{after: 10 * time.Millisecond, changed: []object.ObjMetadata{cm}, wait: debounce + 2*flapBase},
			{after: 2 * time.Second, pass: true},
			{after: 10 * time.Millisecond, changed: []object.ObjMetadata{cm, other}, wait: debounce + 4*flapBase},
		}},
		{"capped", []step{
			{changed: []object.ObjMetadata{cm}}, {pass: true},
			{changed: []object.ObjMetadata{cm}, reported: []object.ObjMetadata{cm}}, {pass: true},
			{changed: []object.ObjMetadata{cm}}, {pass: true},
			{changed: []object.ObjMetadata{cm}}, {pass: true},
			{changed: []object.ObjMetadata{cm}}, {pass: true},
			{changed: []object.ObjMetadata{cm}, wait: debounce + 5*time.Second},
		}},
		{"a change the pass found nothing to put back for is none to fight over", []step{
			{changed: []object.ObjMetadata{cm}}, {pass: true, nothing: true},
			{changed: []object.ObjMetadata{cm}, wait: debounce}, {pass: true},
			{changed: []object.ObjMetadata{cm}, wait: debounce + flapBase, reported: []object.ObjMetadata{cm}},
		}},
		{"quiet for the grace period: corrected at once again, and reported anew", []step{
			{changed: []object.ObjMetadata{cm}}, {pass: true},
			{changed: []object.ObjMetadata{cm}, wait: debounce + flapBase, reported: []object.ObjMetadata{cm}}, {pass: true},
			{after: flapGrace + time.Second, changed: []object.ObjMetadata{cm}, wait: debounce}, {pass: true},
			{changed: []object.ObjMetadata{cm}, wait: debounce + flapBase, reported: []object.ObjMetadata{cm}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flaps{limit: 5 * time.Second}
			now := start
			for i, s := range tt.steps {
				now = now.Add(s.after)
				if s.pass {
					f.passed(now, map[object.ObjMetadata]bool{cm: !s.nothing, other: !s.nothing})
					continue
				}
				wait, reported := f.changed(s.changed, now)
				if s.wait != 0 && wait != s.wait {
					t.Errorf("step %d: wait %s, want %s", i, wait, s.wait)
				}
				if !slices.Equal(reported, s.reported) {
					t.Errorf("step %d: reported %v, want %v", i, reported, s.reported)
				}
			}
		})
	}
}

// watchTarget is a tier of a namespace, two ConfigMaps and a Deployment.
func watchTarget(ns, rev string) Target {
	return Target{Cluster: "plant-a", Tiers: []TierSet{{Solution: ns, Tier: "edge", Revision: rev,
		Objects: []*unstructured.Unstructured{
			namespace(ns),
			configMap(ns, "settings", map[string]any{"mode": rev}),
			configMap(ns, "sentinel", map[string]any{"k": "v"}),
			deployment(ns, "inference", 2),
		}}}}
}

// scaleByHand scales a Deployment through its scale subresource, as
// kubectl scale does.
func scaleByHand(t *testing.T, kube client.Client, ns, name string, replicas int32) {
	t.Helper()
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = ns, name
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}
	if err := kube.SubResource("scale").Update(context.Background(), d, client.WithSubResourceBody(scale), client.FieldOwner("kubectl")); err != nil {
		t.Fatalf("kubectl scale %s/%s: %v", ns, name, err)
	}
}

// editByHand changes a ConfigMap's key as kubectl edit does.
func editByHand(t *testing.T, kube client.Client, ns, name, key, value string) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	cm.Namespace, cm.Name = ns, name
	patch := []byte(`{"data":{"` + key + `":"` + value + `"}}`)
	if err := kube.Patch(context.Background(), cm, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatalf("kubectl edit %s/%s: %v", ns, name, err)
	}
}

func replicasOf(t *testing.T, kube client.Client, ns, name string) int32 {
	t.Helper()
	var d appsv1.Deployment
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// final matches the final results of a pass.
func final(res Result) bool { return res.Phase != PhaseProgressing }

// runWatched runs a reconciler of the ConfigMap and Deployment of
// watchTarget(name) on plant-a, with a drift interval of an hour so that
// only the watch can explain a pass after the first, and returns a client
// of plant-a, the reconciler, its results and what stops it.
func runWatched(t *testing.T, name string) (client.Client, *Reconciler, <-chan Result, func()) {
	f := testFleet(t)
	opts := testOptions(t)
	opts.DriftInterval = time.Hour
	r := New(fleetResolver(f, nil), opts)
	r.SetTargets([]Target{watchTarget(name, "rev-1")})
	results, stop := runInBackground(t, r)
	return kubeClient(t, f, "plant-a"), r, results, stop
}

func TestRunCorrectsAHandScaleOnTheWatchLongBeforeTheDriftInterval(t *testing.T) {
	kube, _, results, stop := runWatched(t, "watch-scale")
	defer stop()
	awaitResult(t, results, "the first pass", readyAt("rev-1"))

	scaled := time.Now()
	scaleByHand(t, kube, "watch-scale", "inference", 5)
	res := awaitResult(t, results, "a pass that undid the scale", final)
	took := time.Since(scaled)
	requirePhase(t, res, PhaseReady)
	if res.Corrected != 1 {
		t.Errorf("corrected %d, want 1\n%s", res.Corrected, res.ChangeSet)
	}
	if n := replicasOf(t, kube, "watch-scale", "inference"); n != 2 {
		t.Errorf("%d replicas after the correction, want 2", n)
	}
	t.Logf("hand scale corrected %s after it, with a drift interval of an hour", took.Round(time.Millisecond))

	// Deleted by hand: put back.
	cm, _ := exists(t, kube, "watch-scale", "sentinel")
	if err := kube.Delete(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	res = awaitResult(t, results, "a pass that undid the delete", final)
	requirePhase(t, res, PhaseReady)
	if res.Corrected != 1 {
		t.Errorf("corrected %d after the delete, want 1\n%s", res.Corrected, res.ChangeSet)
	}
	if _, ok := exists(t, kube, "watch-scale", "sentinel"); !ok {
		t.Error("the deleted ConfigMap was not put back")
	}
}

func TestRunMakesNoPassOfItsOwnApplies(t *testing.T) {
	kube, r, results, stop := runWatched(t, "watch-own")
	defer stop()
	var finals []Result
	record := func(match func(Result) bool) func(Result) bool {
		return func(res Result) bool {
			if final(res) {
				finals = append(finals, res)
			}
			return match(res)
		}
	}
	awaitResult(t, results, "rev-1", record(readyAt("rev-1")))
	// rev-2 changes a ConfigMap and the Deployment's template: tandem's
	// writes, then the Deployment controller's and the scheduler's.
	rev2 := watchTarget("watch-own", "rev-2")
	rev2.Tiers[0].Objects[3].Object["spec"].(map[string]any)["template"].(map[string]any)["metadata"] = map[string]any{
		"labels": map[string]any{"app": "inference"}, "annotations": map[string]any{"rev": "2"}}
	r.SetTargets([]Target{rev2})
	awaitResult(t, results, "rev-2", record(readyAt("rev-2")))

	// A change by hand after tandem's own: the watch sees it after them,
	// so the next pass is the one that undoes it, and none came before.
	// The key added by hand is removed by handing kubectl-edit's fields to
	// tandem first: a rewrite of the managed fields that is tandem's too.
	editByHand(t, kube, "watch-own", "sentinel", "extra", "by hand")
	res := awaitResult(t, results, "the pass that undid the edit", record(final))
	if res.Corrected != 1 || len(res.Drift) != 1 {
		t.Errorf("corrected %d, drift %+v; want 1, the key added by hand\n%s", res.Corrected, res.Drift, res.ChangeSet)
	}
	scaleByHand(t, kube, "watch-own", "inference", 4)
	res = awaitResult(t, results, "the pass that undid the scale", record(final))
	if res.Corrected != 1 {
		t.Errorf("corrected %d, want 1\n%s", res.Corrected, res.ChangeSet)
	}
	var got []string
	for _, f := range finals {
		got = append(got, f.Revision+" "+string(f.Phase)+" "+f.Message)
		if len(f.Contested) > 0 {
			t.Errorf("pass reports %v contested, with nothing fighting tandem", f.Contested)
		}
	}
	if len(finals) != 4 {
		t.Errorf("%d passes, want 4 (rev-1, rev-2, the two corrections):\n%v", len(finals), got)
	}
}

func TestWatchedPassOverAnUnchangedSiteMakesNoRequests(t *testing.T) {
	f := testFleet(t)
	kube := kubeClient(t, f, "plant-a")
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	target := watchTarget("watch-noop", "rev-1")
	ctx := context.Background()
	watched := passMode{watch: true}
	pass := func(mode passMode) Result {
		t.Helper()
		res := onlyResult(t, r.reconcileCluster(ctx, ctx, target, nil, mode))
		requirePhase(t, res, PhaseReady)
		return res
	}
	pass(watched)
	defer r.unwatch("plant-a")
	counter.reset()
	if res := pass(watched); counter.requests.Load() != 0 || res.Counts().Unchanged != 4 {
		t.Errorf("watched pass over the unchanged site: %d requests, %d unchanged; want 0, 4\n%s", counter.requests.Load(), res.Counts().Unchanged, counter)
	}
	counter.reset()
	pass(passMode{watch: true, full: true})
	if counter.requests.Load() == 0 || counter.writes.Load() != 0 {
		t.Errorf("full re-check: %d requests, %d writes; want some, 0", counter.requests.Load(), counter.writes.Load())
	}

	w := r.changesOf("plant-a")
	editByHand(t, kube, "watch-noop", "settings", "mode", "by hand")
	select {
	case <-w.Changes():
	case <-time.After(waitTimeout):
		t.Fatal("the watch saw no change")
	}
	if res := pass(watched); res.Corrected != 1 {
		t.Errorf("watched pass after a change by hand corrected %d, want 1", res.Corrected)
	}
	counter.reset()
	pass(watched)
	if counter.requests.Load() != 0 {
		t.Errorf("watched pass after the correction: %d requests, want 0\n%s", counter.requests.Load(), counter)
	}
}

func TestRunBacksOffAnObjectChangedBackAfterEveryCorrection(t *testing.T) {
	kube, _, results, stop := runWatched(t, "watch-flap")
	defer stop()
	awaitResult(t, results, "the first pass", readyAt("rev-1"))

	// Another controller fights tandem: it changes the ConfigMap back as
	// soon as tandem corrected it.
	var took []time.Duration
	var contested [][]string
	for i := range 4 {
		changed := time.Now()
		editByHand(t, kube, "watch-flap", "settings", "mode", "fought")
		res := awaitResult(t, results, "a correction", final)
		took = append(took, time.Since(changed))
		if res.Corrected != 1 {
			t.Fatalf("fight %d: corrected %d, want 1\n%s", i, res.Corrected, res.ChangeSet)
		}
		contested = append(contested, res.Contested)
	}
	t.Logf("corrections came %v after each change", took)
	if took[0] > 2*time.Second {
		t.Errorf("the first change was corrected after %s, want within seconds", took[0])
	}
	for i := 1; i < len(took); i++ {
		if want := flapBase << (i - 1); took[i] < want {
			t.Errorf("fight %d corrected after %s, want a backoff of at least %s", i, took[i], want)
		}
	}
	want := [][]string{nil, {"ConfigMap/watch-flap/settings"}, nil, nil}
	if !slices.EqualFunc(contested, want, slices.Equal) {
		t.Errorf("contested %v, want the ConfigMap reported once, when backing off began: %v", contested, want)
	}
}

// TestAClusterThatComesBackHasOneKeeperAndItsWatch drops plant-a from the
// targets and gives it back at once, as a shard lost and taken again does:
// the new keeper starts once the old one has ended, and its watch still
// sees a change by hand.
func TestAClusterThatComesBackHasOneKeeperAndItsWatch(t *testing.T) {
	kube, r, results, stop := runWatched(t, "watch-back")
	defer stop()
	awaitResult(t, results, "the first pass", readyAt("rev-1"))
	r.SetTargets(nil)
	r.SetTargets([]Target{watchTarget("watch-back", "rev-2")})
	awaitResult(t, results, "the pass of the cluster back", readyAt("rev-2"))
	scaleByHand(t, kube, "watch-back", "inference", 5)
	awaitResult(t, results, "a pass that undid the hand scale", func(res Result) bool { return final(res) && res.Corrected > 0 })
	if n := replicasOf(t, kube, "watch-back", "inference"); n != 2 {
		t.Errorf("%d replicas after the correction, want 2", n)
	}
}

func TestWatchedPassOfANewRevisionListsOnlyTheKindsTheLastPassWroteOrWaitedFor(t *testing.T) {
	f := testFleet(t)
	kube := kubeClient(t, f, "plant-a")
	counter := &requestCounter{}
	r := New(fleetResolver(f, counter), testOptions(t))
	const ns = "watch-lists"
	target := func(rev string) Target {
		return Target{Cluster: "plant-a", Tiers: []TierSet{{Solution: ns, Tier: "edge", Revision: rev,
			Objects: []*unstructured.Unstructured{
				namespace(ns),
				configMap(ns, "settings", map[string]any{"mode": rev}),
				obj("v1", "Secret", ns, "credentials", map[string]any{"stringData": map[string]any{"token": "t"}}),
				obj("v1", "ServiceAccount", ns, "edge", nil),
				deployment(ns, "inference", 1),
			}}}}
	}
	ctx := context.Background()
	pass := func(rev string) Result {
		t.Helper()
		res := onlyResult(t, r.reconcileCluster(ctx, ctx, target(rev), nil, passMode{watch: true}))
		requirePhase(t, res, PhaseReady)
		return res
	}
	// listed returns the resources the last pass listed members of.
	listed := func() []string {
		var resources []string
		for _, line := range strings.Split(counter.String(), "\n") {
			path, query, _ := strings.Cut(strings.TrimPrefix(line, "GET "), "?")
			if !strings.HasPrefix(line, "GET ") || strings.Contains(path, "/namespaces/") || strings.Contains(query, "watch=") ||
				!strings.Contains(query, "labelSelector=") {
				continue
			}
			resources = append(resources, path[strings.LastIndex(path, "/")+1:])
		}
		slices.Sort(resources)
		return resources
	}

	pass("rev-1")
	defer r.unwatch("plant-a")
	counter.reset()
	pass("rev-2")
	all := []string{"configmaps", "deployments", "namespaces", "secrets", "serviceaccounts"}
	if got := listed(); !slices.Equal(got, all) {
		t.Errorf("the pass after the one that created everything listed %q, want %q", got, all)
	}
	// rev-2 wrote the ConfigMap alone; the Namespace and the Deployment
	// are waited for. The Secret and the ServiceAccount are as listed.
	counter.reset()
	res := pass("rev-3")
	if got, want := listed(), []string{"configmaps", "deployments", "namespaces"}; !slices.Equal(got, want) {
		t.Errorf("rev-3 listed %q, want %q: the kinds rev-2 wrote or waited for\n%s", got, want, counter)
	}
	if c := res.Counts(); c.Configured != 1 || c.Unchanged != 4 {
		t.Errorf("rev-3: %+v, want the ConfigMap configured and 4 unchanged", c)
	}

	// A member deleted by hand: the watch no longer vouches for what was
	// kept, and the next revision lists every kind and finds it gone.
	w := r.changesOf("plant-a")
	secret := &corev1.Secret{}
	secret.Namespace, secret.Name = ns, "credentials"
	if err := kube.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Changes():
	case <-time.After(waitTimeout):
		t.Fatal("the watch saw no deletion")
	}
	counter.reset()
	res = pass("rev-4")
	if got := listed(); !slices.Equal(got, all) {
		t.Errorf("after a deletion by hand rev-4 listed %q, want %q", got, all)
	}
	if c := res.Counts(); c.Created != 1 || c.Configured != 1 {
		t.Errorf("rev-4: %+v, want the Secret created again and the ConfigMap configured", c)
	}
}

package reconciler

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRunUndoesDriftOnInterval(t *testing.T) {
	f := testFleet(t)
	kube := kubeClient(t, f, "cloud")
	opts := testOptions(t)
	opts.DriftInterval = 500 * time.Millisecond
	r := New(fleetResolver(f, nil), opts)
	r.SetTargets([]Target{{Cluster: "cloud", Tiers: []TierSet{{Solution: "run", Tier: "cloud", Revision: "rev-1",
		Objects: []*unstructured.Unstructured{namespace("run"), configMap("run", "settings", map[string]any{"k": "v"})}}}}})
	results, stop := runInBackground(t, r)
	defer stop()

	awaitResult(t, results, "the first pass", func(res Result) bool { return res.Phase == PhaseReady })
	cm, _ := exists(t, kube, "run", "settings")
	if err := kube.Delete(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	// The next pass comes within the drift interval.
	awaitResult(t, results, "a pass that undid the drift", func(res Result) bool {
		return res.Phase == PhaseReady && res.Corrected == 1
	})
	if _, ok := exists(t, kube, "run", "settings"); !ok {
		t.Error("the deleted ConfigMap was not put back")
	}
}

func TestRunKeepsAClusterWhoseTargetWasBrieflyGone(t *testing.T) {
	f := testFleet(t)
	opts := testOptions(t)
	opts.DriftInterval = time.Hour
	r := New(fleetResolver(f, nil), opts)
	target := func(rev string) []Target {
		return []Target{{Cluster: "cloud", Tiers: []TierSet{{Solution: "gone", Tier: "cloud", Revision: rev,
			Objects: []*unstructured.Unstructured{namespace("gone")}}}}}
	}
	r.SetTargets(target("rev-1"))
	results, stop := runInBackground(t, r)
	defer stop()
	awaitResult(t, results, "cloud Ready at rev-1", readyAt("rev-1"))

	// The cluster's keeper wakes to find its target gone, before Run has
	// seen it go; then the cluster comes back. The keeper takes the first
	// wake-up between passes; the second only once it found no target.
	r.mu.Lock()
	delete(r.targets, "cloud")
	wake := r.wake["cloud"]
	r.mu.Unlock()
	for range 2 {
		wake <- struct{}{}
		waitUntil(t, func() bool { return len(wake) == 0 })
	}
	r.SetTargets(target("rev-2"))
	awaitResult(t, results, "cloud Ready at rev-2", readyAt("rev-2"))
}

// readyAt matches a final Ready result at rev.
func readyAt(rev string) func(Result) bool {
	return func(res Result) bool { return res.Phase == PhaseReady && res.Revision == rev }
}

func TestSetTargetsWakesOnlyClustersWhoseTiersChanged(t *testing.T) {
	targets := func(plantRevision string) []Target {
		var ts []Target
		for _, c := range []string{"cloud", "plant-a"} {
			rev := "rev-1"
			if c == "plant-a" {
				rev = plantRevision
			}
			ts = append(ts, Target{Cluster: c, Tiers: []TierSet{{Solution: "wake", Tier: "all", Revision: rev,
				Objects: []*unstructured.Unstructured{namespace("wake"), configMap("wake", "settings", map[string]any{"k": rev})}}}})
		}
		return ts
	}
	// The keepers' wake-ups, without keepers to take them: what
	// SetTargets sends is what stays in them.
	r := New(nil, Options{})
	r.SetTargets(targets("rev-1"))
	wake := map[string]chan struct{}{"cloud": make(chan struct{}, 1), "plant-a": make(chan struct{}, 1)}
	r.mu.Lock()
	maps.Copy(r.wake, wake)
	r.mu.Unlock()

	// Equal targets, built anew, as the daemon gives them at every wave.
	r.SetTargets(targets("rev-1"))
	if len(wake["cloud"])+len(wake["plant-a"]) != 0 {
		t.Errorf("equal targets woke cloud %d and plant-a %d times, want neither", len(wake["cloud"]), len(wake["plant-a"]))
	}
	r.SetTargets(targets("rev-2"))
	if n := len(wake["cloud"]); n != 0 {
		t.Errorf("cloud, given what it had, was woken %d times, want none", n)
	}
	if n := len(wake["plant-a"]); n != 1 {
		t.Errorf("plant-a, given rev-2, was woken %d times, want once", n)
	}
}

func TestRunReconcilesEachClusterOncePerTargetChange(t *testing.T) {
	f := testFleet(t)
	opts := testOptions(t)
	opts.DriftInterval = time.Hour
	r := New(fleetResolver(f, nil), opts)
	target := func(cloudRev, plantRev string) []Target {
		var ts []Target
		for c, rev := range map[string]string{"cloud": cloudRev, "plant-a": plantRev} {
			ts = append(ts, Target{Cluster: c, Tiers: []TierSet{{Solution: "once", Tier: "all", Revision: rev,
				Objects: []*unstructured.Unstructured{namespace("once"), configMap("once", "settings", map[string]any{"k": rev})}}}})
		}
		return ts
	}
	r.SetTargets(target("rev-1", "rev-1"))
	results, stop := runInBackground(t, r)
	defer stop()
	passes := map[Key][]string{}
	record := func(res Result) bool {
		if !res.Finished.IsZero() {
			passes[res.Key] = append(passes[res.Key], res.Revision)
		}
		return false
	}
	await := func(what string, key Key, rev string) {
		awaitResult(t, results, what, func(res Result) bool {
			record(res)
			return res.Key == key && readyAt(rev)(res)
		})
	}
	cloud, plant := Key{"cloud", "once", "all"}, Key{"plant-a", "once", "all"}
	await("cloud at rev-1", cloud, "rev-1")
	if len(passes[plant]) == 0 {
		await("plant-a at rev-1", plant, "rev-1")
	}

	// plant-a's target changes, then cloud's: each result of a cluster
	// comes in the order of its passes, so cloud's rev-2 pass ends the
	// window in which a needless pass of cloud at rev-1 would show.
	r.SetTargets(target("rev-1", "rev-1"))
	r.SetTargets(target("rev-1", "rev-2"))
	await("plant-a at rev-2", plant, "rev-2")
	r.SetTargets(target("rev-2", "rev-2"))
	await("cloud at rev-2", cloud, "rev-2")
	if got := passes[cloud]; !slices.Equal(got, []string{"rev-1", "rev-2"}) {
		t.Errorf("cloud passes %v, want one per revision", got)
	}
	if got := passes[plant]; !slices.Equal(got, []string{"rev-1", "rev-2"}) {
		t.Errorf("plant-a passes %v, want one per revision", got)
	}
}

// runInBackground runs r until the returned stop is called, and returns
// the results it sends.
func runInBackground(t *testing.T, r *Reconciler) (<-chan Result, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan Result, 4096)
	stopped := make(chan error)
	go func() { stopped <- r.Run(ctx, results) }()
	var once sync.Once
	return results, func() {
		once.Do(func() {
			cancel()
			if err := <-stopped; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		})
	}
}

// awaitResult reads results until one matches, failing after waitTimeout.
func awaitResult(t *testing.T, ch <-chan Result, what string, match func(Result) bool) Result {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case res := <-ch:
			if match(res) {
				return res
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, waitTimeout)
		}
	}
}

// waitTimeout bounds waits for what the fleet does in well under a second,
// generously: the machines running the tests may be loaded.
const waitTimeout = 2 * time.Minute

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package reconciler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRunUndoesDriftOnInterval(t *testing.T) {
	f := clusters(t)
	kube := kubeClient(t, f, "cloud")
	opts := testOptions(t)
	opts.DriftInterval = 500 * time.Millisecond
	// Status holds only the latest pass, and the next one comes within the
	// drift interval: watch every pass for the one that undid the drift.
	corrected := make(chan struct{}, 1)
	observe := opts.Observe
	opts.Observe = func(res Result) {
		observe(res)
		if res.Phase == PhaseReady && res.Corrected == 1 {
			select {
			case corrected <- struct{}{}:
			default:
			}
		}
	}
	r := New(fleetResolver(f, nil), opts)
	r.SetTargets([]Target{{Cluster: "cloud", Tiers: []TierSet{{Solution: "run", Tier: "cloud", Revision: "rev-1",
		Objects: []*unstructured.Unstructured{namespace("run"), configMap("run", "settings", map[string]any{"k": "v"})}}}}})
	stop := runInBackground(t, r)
	defer stop()

	waitUntil(t, func() bool { _, ok := exists(t, kube, "run", "settings"); return ok })
	cm, _ := exists(t, kube, "run", "settings")
	if err := kube.Delete(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	select {
	case <-corrected:
	case <-time.After(waitTimeout):
		t.Fatalf("no pass undid the drift within %s", waitTimeout)
	}
	if _, ok := exists(t, kube, "run", "settings"); !ok {
		t.Error("the deleted ConfigMap was not put back")
	}
}

func TestRunKeepsAClusterWhoseTargetWasBrieflyGone(t *testing.T) {
	f := clusters(t)
	opts := testOptions(t)
	opts.DriftInterval = time.Hour
	r := New(fleetResolver(f, nil), opts)
	target := func(rev string) []Target {
		return []Target{{Cluster: "cloud", Tiers: []TierSet{{Solution: "gone", Tier: "cloud", Revision: rev,
			Objects: []*unstructured.Unstructured{namespace("gone")}}}}}
	}
	r.SetTargets(target("rev-1"))
	stop := runInBackground(t, r)
	defer stop()
	waitUntil(t, func() bool { return statusAt(r, "cloud", "rev-1") })

	// The cluster's keeper wakes to find its target gone, before Run has
	// seen it go; then the cluster comes back.
	r.mu.Lock()
	delete(r.targets, "cloud")
	r.wake["cloud"] <- struct{}{}
	r.mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	r.SetTargets(target("rev-2"))
	waitUntil(t, func() bool { return statusAt(r, "cloud", "rev-2") })
}

func TestSetTargetsWakesOnlyClustersWhoseTiersChanged(t *testing.T) {
	f := clusters(t)
	opts := testOptions(t)
	opts.DriftInterval = time.Hour
	var mu sync.Mutex
	passes := map[string]int{}
	observe := opts.Observe
	opts.Observe = func(res Result) {
		observe(res)
		if !res.Finished.IsZero() {
			mu.Lock()
			passes[res.Cluster]++
			mu.Unlock()
		}
	}
	countOf := func(cluster string) int {
		mu.Lock()
		defer mu.Unlock()
		return passes[cluster]
	}
	r := New(fleetResolver(f, nil), opts)
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
	r.SetTargets(targets("rev-1"))
	stop := runInBackground(t, r)
	defer stop()
	waitUntil(t, func() bool { return countOf("cloud") == 1 && countOf("plant-a") == 1 })

	// Equal targets, built anew, as the daemon gives them at every wave.
	r.SetTargets(targets("rev-1"))
	r.SetTargets(targets("rev-2"))
	waitUntil(t, func() bool { return countOf("plant-a") == 2 })
	time.Sleep(time.Second)
	if n := countOf("cloud"); n != 1 {
		t.Errorf("cloud, given what it had, was reconciled %d times, want once", n)
	}
	if n := countOf("plant-a"); n != 2 {
		t.Errorf("plant-a was reconciled %d times, want twice: once per revision", n)
	}
}

// statusAt reports whether every status of a cluster is Ready at rev.
func statusAt(r *Reconciler, cluster, rev string) bool {
	found := false
	for _, st := range r.Status() {
		if st.Cluster != cluster {
			continue
		}
		if st.Phase != PhaseReady || st.Revision != rev {
			return false
		}
		found = true
	}
	return found
}

// runInBackground runs r until the returned stop is called.
func runInBackground(t *testing.T, r *Reconciler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- r.Run(ctx) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-stopped; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		})
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

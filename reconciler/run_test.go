package reconciler

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRunUndoesDriftOnInterval(t *testing.T) {
	f := clusters(t)
	kube := kubeClient(t, f, "cloud")
	opts := testOptions(t)
	opts.DriftInterval = 500 * time.Millisecond
	r := New(fleetResolver(f, nil), opts)
	r.SetTargets([]Target{{Cluster: "cloud", Tiers: []TierSet{{Solution: "run", Tier: "cloud", Revision: "rev-1",
		Objects: []*unstructured.Unstructured{namespace("run"), configMap("run", "settings", map[string]any{"k": "v"})}}}}})

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-stopped; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	}()

	waitUntil(t, func() bool { _, ok := exists(t, kube, "run", "settings"); return ok })
	cm, _ := exists(t, kube, "run", "settings")
	if err := kube.Delete(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		st := r.Status()
		return len(st) == 1 && st[0].Phase == PhaseReady && st[0].Corrected == 1
	})
	if _, ok := exists(t, kube, "run", "settings"); !ok {
		t.Error("the deleted ConfigMap was not put back")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package reconciler

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// counted returns the sum of the samples of metric in registry whose
// labels include labels.
func counted(t *testing.T, registry *prometheus.Registry, metric string, labels map[string]string) float64 {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, fam := range families {
		if fam.GetName() != metric {
			continue
		}
		for _, m := range fam.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for k, v := range labels {
				match = match && have[k] == v
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestWatchRestartsAreCountedPerCluster(t *testing.T) {
	f := testFleet(t)
	var refuseWatches atomic.Bool
	cfg, proxy := proxied(t, f.Cluster("plant-a").RESTConfig(), func(rt http.RoundTripper) http.RoundTripper { return rt },
		func(r *http.Request) bool { return refuseWatches.Load() && r.URL.Query().Get("watch") == "true" })
	traffic := clusters.NewTraffic()
	registry := prometheus.NewRegistry()
	registry.MustRegister(traffic)
	opts := testOptions(t)
	opts.DriftInterval, opts.Traffic = time.Hour, traffic
	r := New(clusters.ResolverFunc(func(context.Context, string) (*rest.Config, error) { return rest.CopyConfig(cfg), nil }), opts)
	r.SetTargets([]Target{{Cluster: "plant-a", Tiers: []TierSet{{Solution: "watch-restart", Tier: "edge", Revision: "rev-1",
		Objects: []*unstructured.Unstructured{namespace("watch-restart"), configMap("watch-restart", "settings", map[string]any{"a": "1"})}}}}})
	results, stop := runInBackground(t, r)
	defer stop()
	awaitResult(t, results, "the first pass", readyAt("rev-1"))
	if n := counted(t, registry, "tandem_cluster_watch_restarts_total", nil); n != 0 {
		t.Fatalf("%v watch restarts while the cluster answered, want 0", n)
	}
	if n := counted(t, registry, "tandem_cluster_requests_total", map[string]string{"cluster": "plant-a", "code": "2xx"}); n == 0 {
		t.Fatal("no requests to plant-a counted after a pass")
	}

	// The watches break, and the cluster refuses to watch again: each
	// has to list and watch anew.
	refuseWatches.Store(true)
	proxy.CloseClientConnections()
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for counted(t, registry, "tandem_cluster_watch_restarts_total", map[string]string{"cluster": "plant-a"}) == 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no watch restart of plant-a counted within %s of its watches breaking", waitTimeout)
		}
	}
	if n := counted(t, registry, "tandem_cluster_requests_total", map[string]string{"cluster": "plant-a", "method": "GET", "code": "4xx"}); n == 0 {
		t.Error("the refused watches are not counted as 4xx requests")
	}
}

package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/tandem-gitops/tandem/e2e/testbed"
	"github.com/tandem-gitops/tandem/reconciler"
	"github.com/tandem-gitops/tandem/reconciler/clusters"
)

// scrape reads the daemon's /metrics and returns the sum of the samples of
// metric whose labels include labels.
func scrape(t *testing.T, h http.Handler, metric string, labels map[string]string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	var sum float64
	for _, m := range families[metric].GetMetric() {
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
	return sum
}

func TestClusterRequestCountersMoveAfterAPass(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes control plane")
	}
	fleet := testbed.StartT(t, testbed.Options{Names: []string{"plant-a"}})
	resolver := clusters.ResolverFunc(func(_ context.Context, name string) (*rest.Config, error) {
		if c := fleet.Cluster(name); c != nil {
			return c.RESTConfig(), nil
		}
		return nil, fmt.Errorf("no cluster %s", name)
	})
	traffic := clusters.NewTraffic()
	applier := reconciler.New(resolver, reconciler.Options{Traffic: traffic})
	d := New(Config{Source: fakeSource{}, Applier: applier, Collectors: []prometheus.Collector{traffic}})
	h := d.Handler(nil)

	if n := scrape(t, h, "tandem_cluster_requests_total", map[string]string{"cluster": "plant-a"}); n != 0 {
		t.Fatalf("requests to plant-a before any pass: %v, want 0", n)
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName("factory-edge")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results := applier.Apply(ctx, []reconciler.Target{{Cluster: "plant-a", Tiers: []reconciler.TierSet{
		{Solution: "smart-factory", Tier: "edge", Revision: "main@sha1:1", Objects: []*unstructured.Unstructured{ns}},
	}}}, nil)
	if len(results) != 1 || results[0].Phase != reconciler.PhaseReady {
		t.Fatalf("pass results %+v, want one Ready", results)
	}

	tests := []struct {
		metric string
		labels map[string]string
	}{
		{"tandem_cluster_requests_total", map[string]string{"cluster": "plant-a", "method": "GET", "code": "2xx"}},
		{"tandem_cluster_requests_total", map[string]string{"cluster": "plant-a", "method": "PATCH", "code": "2xx"}},
		{"tandem_cluster_request_bytes_total", map[string]string{"cluster": "plant-a"}},
		{"tandem_cluster_response_bytes_total", map[string]string{"cluster": "plant-a"}},
	}
	for _, tt := range tests {
		if n := scrape(t, h, tt.metric, tt.labels); n <= 0 {
			t.Errorf("%s%v after a pass = %v, want more than 0", tt.metric, tt.labels, n)
		}
	}
	if n := scrape(t, h, "tandem_cluster_requests_total", map[string]string{"cluster": "cloud"}); n != 0 {
		t.Errorf("requests to cloud, which no target names: %v, want 0", n)
	}
}
